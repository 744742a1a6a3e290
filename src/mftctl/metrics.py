"""Every metric a run is listed, sorted, searched, pivoted, compared and drawn by, declared once.

Plain data (no ORM, no torch), so that `mftctl list`'s fast path can read it. Each metric says what it is
called, where it lives (the run's summary column, the epoch column it summarises), how the run's value
follows from its epochs (`summary`), how it is shown, and where it may be used. These read it:

- `store/writes._refresh_summary` — the run's summary columns from its epoch rows, by each `summary` rule;
- `store/columns.RUN_ALIASES` — the metrics' other names for `--sort`, `--where`, `--columns`;
- `search/space.OBJECTIVES` — what a search may aim at (`objective`), and what its pruner reads per epoch;
- `analysis/sweep_summary.PIVOT_METRICS` — what `sweep show --pivot` may show (`pivot`);
- `analysis/compare.METRICS` — the measured rows of `mftctl compare` (`compare`);
- `analysis/plots.plot_diagnostics` — the blob panels of a run's curves (`panel`, `limits`).

The columns themselves are declared by the schema's history (`store/migrations.py`, hand-written on
purpose) and the ORM (`store/tables.py`); tests/test_metrics.py holds both against this table.
Adding a metric: docs/architecture.md, "Adding a metric".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a run's summary value follows from its epoch rows:
#   last      the latest epoch's value            min       the lowest over its epochs
#   sum       the sum over its epochs             measured  the latest epoch that has a blob report
#   formed    the epoch since which the blobs have stayed formed (science/records.formed_epoch)
Summary = Literal["last", "min", "sum", "measured", "formed"]


@dataclass(frozen=True)
class Metric:
    name: str  # the public name: `list --format json`'s key, `--sort`/`--where`/`--columns`, a search objective
    column: str  # the run's summary column (store/tables.Run)
    label: str  # what a table row, an axis or a pivot title calls it
    summary: Summary
    epoch_column: str | None = None  # the epoch column it summarises (None: no per-epoch value)
    aliases: tuple[str, ...] = ()  # more names `--sort`, `--where`, `--columns` and a search file accept
    digits: int = 4  # shown with this many significant digits
    higher_is_better: bool = False
    objective: bool = True  # a search may aim at it
    pivot: bool = False  # `sweep show --pivot --metric` may show it
    compare: bool = False  # a row of `mftctl compare`
    compare_key: str = ""  # that row's key in `compare --format json`, where it is not the name
    panel: bool = False  # a panel of a run's blob curves (`plot`'s diagnostics figure)
    limits: tuple[float, float] | None = None  # that panel's fixed y range; None: the data's


# In the order `mftctl compare` shows its measured rows.
METRICS: tuple[Metric, ...] = (
    Metric("test_loss", "last_test_loss", "final test loss", "last", "test_loss", ("loss",), pivot=True, compare=True),
    Metric("best_test_loss", "best_test_loss", "best test loss", "min", "test_loss", ("best_loss",), compare=True),
    Metric("train_loss", "last_train_loss", "final train loss", "last", "train_loss", compare=True),
    Metric(
        "n_clusters",
        "n_clusters",
        "blobs",
        "measured",
        "n_clusters",
        ("n_blobs",),
        digits=0,
        pivot=True,
        compare=True,
        compare_key="n_blobs",
        panel=True,
    ),
    Metric(
        "separation",
        "separation",
        "separation",
        "measured",
        "separation",
        digits=3,
        higher_is_better=True,
        pivot=True,
        compare=True,
        panel=True,
        limits=(-0.02, 1.02),
    ),
    Metric(
        "silhouette",
        "silhouette",
        "silhouette",
        "measured",
        "silhouette",
        digits=3,
        higher_is_better=True,
        pivot=True,
        compare=True,
        panel=True,
        limits=(-1.0, 1.0),
    ),
    Metric(
        "correlation",
        "correlation",
        "encoder–decoder correlation",
        "measured",
        "correlation",
        digits=3,
        compare=True,
        panel=True,
    ),
    Metric(
        "train_seconds", "train_seconds", "training seconds", "sum", "train_seconds", digits=3, pivot=True, compare=True
    ),
    Metric("samples_per_s", "samples_per_s", "samples / s", "last", "samples_per_s", digits=3, compare=True),
    Metric("noise_fraction", "noise_fraction", "noise fraction", "measured", "noise_fraction", digits=3),
    Metric("symmetry_error", "symmetry_error", "symmetry error", "measured", "symmetry_error", digits=3),
    Metric("formed_epoch", "formed_epoch", "epoch the blobs formed", "formed", None, digits=0, pivot=True),
)


def per_epoch(metric: Metric) -> bool:
    """Whether the metric has a value at every epoch that a search's pruner can read (the lowest so far for
    a `min` metric); a sum over epochs and the formation epoch have none."""
    return metric.epoch_column is not None and metric.summary in ("last", "min", "measured")


BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def named(*, objective: bool = False, pivot: bool = False, compare: bool = False, panel: bool = False) -> list[Metric]:
    """The metrics with each trait asked for, in the table's order."""
    wanted = {"objective": objective, "pivot": pivot, "compare": compare, "panel": panel}
    return [m for m in METRICS if all(getattr(m, trait) for trait, asked in wanted.items() if asked)]


def compare_key(metric: Metric) -> str:
    return metric.compare_key or metric.name


def aliases() -> dict[str, str]:
    """Each metric's other names -> its public name."""
    return {alias: m.name for m in METRICS for alias in m.aliases}
