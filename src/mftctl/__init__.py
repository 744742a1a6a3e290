"""mftctl: train, diagnose and compare two-layer denoising networks whose weight pairs form blobs.

The public Python entry points are `mftctl.measure_blobs(pairs)` and `mftctl.measure_stability(reports,
clouds)` (see docs/science.md), and `mftctl.diagnose(run_id)` and `mftctl.plot(run_id)`, the commands of
those names for a loop in Python or a notebook, which pays the imports once instead of once per command
(docs/user-guide.md). All are imported on first use, so that `mftctl --help` and `mftctl list` never
load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"
__all__ = ["diagnose", "measure_blobs", "measure_stability", "plot"]


def diagnose(
    run_id: int, *, epoch: int | None = None, recompute: bool = False, db: str | Path | None = None
) -> dict[str, Any]:
    """`mftctl diagnose RUN --format json`, as a dict: the same keys and values, cached the same way.
    `db`: a SQLite file or PostgreSQL URL (default: $MFTCTL_DB, else ./mftctl.db). Bad input raises
    mftctl.errors.MftctlError with the command's one-line message."""
    import json

    from .analysis.diagnose import diagnose_checkpoint
    from .render.records import to_json
    from .store import open_settled

    return json.loads(to_json(diagnose_checkpoint(open_settled(db), run_id, epoch=epoch, recompute=recompute)))


def plot(
    run_ids: int | list[int],
    *,
    epoch: int | None = None,
    out: str | Path | None = None,
    fmt: str = "png",
    animate: bool = False,
    db: str | Path | None = None,
) -> list[Path]:
    """`mftctl plot RUN [RUN ...]`: writes the same figures and returns their paths."""
    from pathlib import Path
    from typing import get_args

    from .analysis.figures import plot_runs
    from .choices import FigureFormat
    from .errors import MftctlError
    from .store import open_settled

    formats = get_args(FigureFormat)
    if fmt not in formats:
        raise MftctlError(f"fmt {fmt!r} is not a figure format; give {', '.join(formats)}")
    ids = [run_ids] if isinstance(run_ids, int) else list(run_ids)
    if not ids:
        raise MftctlError("give at least one run id")
    folder = None if out is None else Path(out)
    return plot_runs(open_settled(db), ids, epoch=epoch, fmt=fmt, out=folder, animate=animate)


def __getattr__(name: str) -> Any:
    if name == "measure_blobs":
        from .science.blobs import measure_blobs

        return measure_blobs
    if name == "measure_stability":
        from .science.stability import measure_stability

        return measure_stability
    raise AttributeError(f"module 'mftctl' has no attribute {name!r}")
