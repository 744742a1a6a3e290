"""mftctl: train, diagnose and compare two-layer denoising networks whose weight pairs form blobs.

The public Python entry point is `mftctl.measure_blobs(pairs)` (see docs/science.md); it is imported
on first use, so that `mftctl --help` and `mftctl list` never load torch.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["measure_blobs"]


def __getattr__(name: str) -> Any:
    if name == "measure_blobs":
        from .science.blobs import measure_blobs

        return measure_blobs
    raise AttributeError(f"module 'mftctl' has no attribute {name!r}")
