"""Mean ± std over what was measured, the one definition every summary (sweep cells, stage-2 methods,
stability) reports with."""

from __future__ import annotations

import statistics


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the values present (None: none, or one for the std)."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return statistics.fmean(present), (statistics.stdev(present) if len(present) > 1 else None)
