"""mftctl: train, diagnose and compare two-layer denoising networks whose weight pairs form blobs.

The public Python entry points are `mftctl.measure_blobs(pairs)` and `mftctl.measure_stability(reports,
clouds)` (see docs/science.md); they are imported on first use, so that `mftctl --help` and `mftctl list`
never load torch.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["measure_blobs", "measure_stability"]


def __getattr__(name: str) -> Any:
    if name == "measure_blobs":
        from .science.blobs import measure_blobs

        return measure_blobs
    if name == "measure_stability":
        from .science.stability import measure_stability

        return measure_stability
    raise AttributeError(f"module 'mftctl' has no attribute {name!r}")
