"""Figures: each function takes data and a path, writes one file (Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator

from ..metrics import named
from ..science.records import FORMED_SEPARATION

if TYPE_CHECKING:
    from ..analysis.sweep_summary import SweepSummary

# One colour per blob, in the order blobs are reported (centre first, then by mass).
BLOB_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
REFERENCE_STYLE = {
    "zero": ("output 0", "#7f7f7f"),
    "identity": ("identity", "#bcbd22"),
    "bayes": ("Bayes posterior mean", "#17becf"),
    "optimal_decoder": ("exact decoder for the plotted checkpoint's encoder", "#9467bd"),
}
ENC_LABEL = "encoder weight W1[i, j]"
DEC_LABEL = "decoder weight W2[j, i]"


@dataclass
class Curve:
    """One run's per-epoch series, for the loss and diagnostics figures: `series` holds a list per epoch
    column of the store (train_loss, test_loss_on, separation, ...)."""

    label: str
    epoch: list[int]
    series: dict[str, list[float | None]]

    def __getitem__(self, column: str) -> list[float | None]:
        return self.series[column]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _reference_lines(ax, references: dict[str, Any] | None, floor: float) -> None:
    """Horizontal reference lines; one far below the curves (Bayes is often ~0) is named, not drawn,
    so that it does not squash the curves against the top of a log axis."""
    for key, ref in (references or {}).items():
        if ref is None or key not in REFERENCE_STYLE:
            continue
        label, colour = REFERENCE_STYLE[key]
        if ref["loss"] < floor:
            ax.plot([], [], color=colour, linestyle=":", label=f"{label} ({ref['loss']:.2g}, below the axis)")
            continue
        ax.axhline(ref["loss"], color=colour, linestyle=":", linewidth=1.2, label=f"{label} ({ref['loss']:.3g})")


def plot_curves(curves: Sequence[Curve], references: dict[str, Any] | None, title: str, path: Path) -> Path:
    """Test (solid) and train (dashed) loss per epoch, log scale, with the reference lines. One run:
    total, on and off parts; several runs: the total of each, overlaid."""
    fig, ax = plt.subplots(figsize=(8, 5))
    if len(curves) == 1:
        c = curves[0]
        for split, style in (("test", {"marker": "o", "markersize": 3}), ("train", {"linestyle": "--", "alpha": 0.6})):
            for part, name, colour in (("", "total", "black"), ("_on", "on", "#d62728"), ("_off", "off", "#1f77b4")):
                ax.plot(c.epoch, c[f"{split}_loss{part}"], color=colour, label=f"{split} {name}", **style)
    else:
        for i, c in enumerate(curves):
            colour = plt.cm.tab10(i % 10)
            ax.plot(c.epoch, c["test_loss"], color=colour, marker="o", markersize=3, label=f"{c.label} test")
            ax.plot(c.epoch, c["train_loss"], color=colour, linestyle="--", alpha=0.5, label=f"{c.label} train")
    # A part can be 0 throughout (no inactive coordinate when sparsity = d): the log axis ignores it.
    positive = [v for c in curves for column, series in c.series.items() if "_loss" in column for v in series]
    lowest = min((v for v in positive if v is not None and v > 0), default=1.0)
    _reference_lines(ax, references, floor=lowest / 20)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (run's loss definition, L2 penalty excluded)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) == 1:
        ax.legend(fontsize=8, ncol=2)
    else:  # many runs: keep the legend off the curves
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


# What a blob panel's axis says of its metric beyond the metric's label.
PANEL_LABELS = {
    "separation": "separation (shallowest valley depth)",
    "silhouette": "silhouette (pairs in blobs)",
}


def plot_diagnostics(curves: Sequence[Curve], title: str, path: Path) -> Path:
    panels = named(panel=True)  # the registry's blob panels (metrics.py), each with its fixed range
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), layout="constrained")
    for ax, metric in zip(axes, panels, strict=True):
        for i, c in enumerate(curves):
            values = [np.nan if v is None else v for v in c[metric.epoch_column]]
            ax.plot(c.epoch, values, marker="o", markersize=3, color=plt.cm.tab10(i % 10), label=c.label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(PANEL_LABELS.get(metric.name, metric.label))
        ax.grid(True, alpha=0.3)
        if metric.digits == 0:  # a count
            ax.yaxis.get_major_locator().set_params(integer=True)
        if metric.limits is not None:
            ax.set_ylim(*metric.limits)
    if len(curves) > 1:
        axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_trajectories(tracks: Sequence[Any], title: str, path: Path) -> Path:
    """Each blob's centre (both weights), mass and width against the epoch: one colour per blob track."""
    from .trajectories import PANELS

    fig, axes = plt.subplots(1, 4, figsize=(18, 4), layout="constrained")
    for k, track in enumerate(tracks):
        colour = plt.cm.tab10(k % 10)
        for ax, values in zip(axes, track.panels(), strict=True):
            line = np.asarray(values, dtype=float)  # an unknown width (None) is a gap in its line
            ax.plot(track.epochs, line, marker="o", markersize=3, color=colour, label=f"blob {k}")
    for ax, label in zip(axes, PANELS, strict=True):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[2].set_yscale("log")
    if 1 < len(tracks) <= 10:
        axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def _per_blob(mixture: dict[str, Any], blobs: list[dict[str, Any]]) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """The mixture's components grouped by the measured blob nearest each mean (distances in each blob's
    widths), each group moment-matched to one Gaussian: (mass, mean, covariance) per blob. A heavy-tailed
    blob the shape model fits with two components is still one blob."""
    weights = np.asarray(mixture["weights"], dtype=float)
    means = np.asarray(mixture["means"], dtype=float)
    covs = np.asarray(mixture["covariances"], dtype=float)
    centres = np.array([b["centre"] for b in blobs], dtype=float)
    widths = np.array([np.maximum(np.asarray(b.get("width") or [1.0, 1.0], dtype=float), 1e-12) for b in blobs])
    nearest = np.argmin((((means[:, None, :] - centres[None]) / widths[None]) ** 2).sum(axis=2), axis=1)
    merged = []
    for blob in range(len(blobs)):
        own = nearest == blob
        if not own.any():
            continue
        w = weights[own] / weights[own].sum()
        mean = (w[:, None] * means[own]).sum(axis=0)
        spread = means[own] - mean
        cov = (w[:, None, None] * (covs[own] + spread[:, :, None] * spread[:, None, :])).sum(axis=0)
        merged.append((float(blobs[blob]["mass"]), mean, cov))
    return merged


def _ellipses(ax, mixture: dict[str, Any] | None, blobs: list[dict[str, Any]] | None = None) -> None:
    """1σ and 2σ ellipses, one per measured blob (its components merged: _per_blob) where the blobs are
    given, else one per component; each labelled with its mass above its 2σ ellipse, on a white ground."""
    if not mixture or np.asarray(mixture["means"]).shape[1] != 2:
        return
    if blobs:
        shapes = _per_blob(mixture, blobs)
    else:
        shapes = [
            (float(w), np.asarray(m), np.asarray(c))
            for w, m, c in zip(mixture["weights"], mixture["means"], mixture["covariances"], strict=True)
        ]
    for i, (mass, mean, cov) in enumerate(shapes):
        vals, vecs = np.linalg.eigh(np.asarray(cov))
        angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
        colour = BLOB_COLOURS[i % len(BLOB_COLOURS)]
        for n_sigma, style in ((1, "-"), (2, "--")):
            width, height = 2 * n_sigma * np.sqrt(np.maximum(vals[::-1], 0))
            ax.add_patch(
                Ellipse(mean, width, height, angle=angle, fill=False, color=colour, linestyle=style, linewidth=1.5)
            )
        above = np.asarray(mean) + [0.0, 2 * np.sqrt(max(float(np.asarray(cov)[1, 1]), 0.0))]
        ax.annotate(
            f"{mass:.0%}",
            above,
            color=colour,
            fontsize=8,
            fontweight="bold",
            ha="center",
            xytext=(0, 3),
            textcoords="offset points",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )


def _finite(points: np.ndarray) -> np.ndarray:
    """The pairs a figure can place: a run that diverged leaves NaN or infinite weights, which are left
    out here as the blob measurement leaves them out."""
    if np.isfinite(points.sum()):  # one pass, no mask: the common case
        return points
    return points[np.isfinite(points).all(axis=1)]


def _limits(points: np.ndarray, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    points = _finite(points)
    if not len(points):  # every pair non-finite: an empty figure on unit axes
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (lo[0] - pad * span[0], hi[0] + pad * span[0]), (lo[1] - pad * span[1], hi[1] + pad * span[1])


def _hexbin(ax, points: np.ndarray, limits, gridsize: int = 120):
    # Fewer, larger hexagons for small clouds, so that a quick run's scatter still reads as a density.
    gridsize = int(min(gridsize, max(20, np.sqrt(len(points)) / 2)))
    (x0, x1), (y0, y1) = limits
    return ax.hexbin(
        points[:, 0],
        points[:, 1],
        gridsize=gridsize,
        bins="log",
        cmap="viridis",
        mincnt=1,
        extent=(x0, x1, y0, y1),
        linewidths=0,
    )


def plot_scatter(
    pairs: np.ndarray,
    off_path: np.ndarray,
    mixture: dict[str, Any] | None,
    title: str,
    path: Path,
    blobs: list[dict[str, Any]] | None = None,
) -> Path:
    """Density of all on-path pairs with one ellipse per measured blob (`blobs`; the GMM's components
    merged per blob) and marginal histograms, beside the off-path control on the same axes."""
    pairs, off_path = _finite(pairs), _finite(off_path)
    fig = plt.figure(figsize=(14, 6.5))
    grid = fig.add_gridspec(2, 4, width_ratios=[4, 1, 0.7, 4.6], height_ratios=[1, 4], hspace=0.05, wspace=0.08)
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    side = fig.add_subplot(grid[1, 1], sharey=ax)
    ctrl = fig.add_subplot(grid[1, 3], sharex=ax, sharey=ax)
    limits = _limits(np.concatenate([pairs, off_path]))
    hb = _hexbin(ax, pairs, limits)
    _ellipses(ax, mixture, blobs)
    ax.set_xlabel(ENC_LABEL)
    ax.set_ylabel(DEC_LABEL)
    top.hist(pairs[:, 0], bins=200, range=limits[0], color="#444444", log=True)
    side.hist(pairs[:, 1], bins=200, range=limits[1], color="#444444", log=True, orientation="horizontal")
    top.set_ylabel("pairs")
    side.set_xlabel("pairs")
    top.tick_params(labelbottom=False)
    side.tick_params(labelleft=False)
    top.set_title(f"on path (W1[i,j], W2[j,i]): {len(pairs):,} pairs", fontsize=10)
    _hexbin(ctrl, off_path, limits)
    ctrl.set_xlabel(ENC_LABEL)
    ctrl.set_ylabel("decoder weight W2[k, i], k ≠ j")
    ctrl.set_title(
        f"off-path control: {len(off_path):,} pairs with no shared path\n"
        "(the product of the marginals: on-path blobs missing here come from the path)",
        fontsize=10,
    )
    fig.colorbar(hb, ax=ctrl, label="pairs per hexagon (log)")
    fig.suptitle(title)
    return _save(fig, path)


def plot_evolution(frames: Sequence[tuple[int, np.ndarray]], title: str, path: Path) -> Path:
    """The pair density at several epochs as small multiples on shared axes."""
    frames = [(epoch, _finite(points)) for epoch, points in frames]
    n = len(frames)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.6 * cols + 1, 3.4 * rows + 0.4),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    limits = _limits(np.concatenate([p for _, p in frames]))
    drawn = []
    for ax, (epoch, points) in zip(axes.flat, frames, strict=False):
        drawn.append(_hexbin(ax, points, limits, gridsize=80))
        ax.set_title(f"epoch {epoch}", fontsize=10)
    # One colour scale for every panel, so that a colour means the same density at every epoch.
    from matplotlib.colors import LogNorm

    top = max(
        (float(np.max(h.get_array())) for h in drawn if h.get_array() is not None and h.get_array().size), default=1.0
    )
    for hexes in drawn:
        hexes.set_norm(LogNorm(vmin=1, vmax=max(top, 1.0 + 1e-9)))
    fig.colorbar(drawn[0], ax=axes, label="weight pairs per hexagon (log)", shrink=0.8)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(ENC_LABEL, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(DEC_LABEL, fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def animate_evolution(frames: Sequence[tuple[int, np.ndarray]], title: str, path: Path) -> Path:
    """The same frames as a GIF, one epoch per frame."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    limits = _limits(np.concatenate([p for _, p in frames]))
    fig, ax = plt.subplots(figsize=(5.5, 5))

    def draw(i: int):
        ax.clear()
        epoch, points = frames[i]
        _hexbin(ax, points, limits, gridsize=90)
        ax.set_xlabel(ENC_LABEL)
        ax.set_ylabel(DEC_LABEL)
        ax.set_title(f"{title}\nepoch {epoch}", fontsize=9)
        return []

    anim = FuncAnimation(fig, draw, frames=len(frames), blit=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=2))
    plt.close(fig)
    return path


def _cluster_colour(k) -> str:
    return "#bbbbbb" if k is None else BLOB_COLOURS[int(round(k)) % len(BLOB_COLOURS)]


def plot_sweep_panels(summary: SweepSummary, path: Path) -> Path:
    """The research code's three panels, labelled by the varied values: training time against final
    loss coloured by cluster count (reference starred), cluster count per cell with the target line,
    separation per cell with the line above which blobs count as formed."""
    cells = summary.finished
    if not cells:
        raise ValueError("no completed cell to plot")
    keys = [k for k in summary.varied if k != "seed"]
    labels = [c.short_label for c in cells]  # `c0 lr=0.01 batch=200`: the cells as `sweep show` names them
    key_names = ", ".join(k.rsplit(".", 1)[-1] for k in keys) or "cell"
    # Long labels (a search's trials, three keys) crowd the points and the ticks: there the cells go by their
    # ids, and a key below the panels gives each id its values.
    keyed = len(cells) > 8 or max(len(label) for label in labels) > 24
    shown = [c.cell for c in cells] if keyed else labels
    x = np.arange(len(cells))
    rows_per_column = 6
    key_columns = -(-len(cells) // rows_per_column) if keyed else 0
    key_height = 0.22 * min(len(cells), rows_per_column) + 0.3 if keyed else 0.0
    fig = plt.figure(figsize=(17, 5.5 + key_height), layout="constrained")
    panels, below = fig.subfigures(2, 1, height_ratios=[5.5, max(key_height, 1e-3)]) if keyed else (fig, None)
    axes = panels.subplots(1, 3)
    ax = axes[0]
    for c, label in zip(cells, shown, strict=True):
        ax.scatter(
            c.train_seconds,
            c.test_loss,
            color=_cluster_colour(c.n_clusters),
            s=70,
            edgecolor="black",
            zorder=3,
        )
        if c.is_reference:
            ax.scatter(
                c.train_seconds,
                c.test_loss,
                marker="*",
                s=450,
                facecolor="none",
                edgecolor="red",
                linewidth=1.5,
                zorder=4,
                label="reference",
            )
        ax.annotate(label, (c.train_seconds, c.test_loss), fontsize=7, xytext=(5, 4), textcoords="offset points")
    for k in sorted({round(c.n_clusters) for c in cells if c.n_clusters is not None}):
        ax.scatter([], [], color=_cluster_colour(k), edgecolor="black", label=f"{k} blob{'s' * (k != 1)}")
    ax.set_xlabel("training time (s, mean over seeds)")
    ax.set_ylabel("final test loss (mean over seeds)")
    ax.set_title("training efficiency (each point a cell)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1]
    clusters = [c.n_clusters if c.n_clusters is not None else np.nan for c in cells]
    ax.bar(x, clusters, color=[_cluster_colour(c.n_clusters) for c in cells], edgecolor="black")
    target = summary.expected_clusters
    ax.axhline(target, color="green", linestyle="--", label=f"target {target}")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("blobs (final epoch, mean over seeds)")
    ax.set_title("cluster formation")
    ax.legend(fontsize=8)
    ax = axes[2]
    sep = [c.separation if c.separation is not None else np.nan for c in cells]
    ax.bar(x, sep, color="#4c72b0", edgecolor="black")
    ax.axhline(FORMED_SEPARATION, color="gray", linestyle="--", linewidth=1)
    ax.text(len(cells) - 0.45, FORMED_SEPARATION + 0.02, "formed", fontsize=8, color="gray", ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("separation (0: one blob, 1: empty valleys)")
    ax.set_title("blob quality")
    for ax in axes[1:]:
        if keyed:
            ax.set_xticks(x, shown, rotation=90 if len(cells) > 16 else 0, fontsize=8)
            ax.set_xlabel("cell (values in the key below)")
        else:
            ax.set_xticks(x, shown, rotation=35, ha="right", fontsize=8)
            ax.set_xlabel(key_names)
        ax.set_xlim(-0.6, len(cells) - 0.4)
        ax.grid(True, axis="y", alpha=0.3)
    if keyed:  # each id's values, in columns of six beneath the panels
        columns = [labels[i : i + rows_per_column] for i in range(0, len(labels), rows_per_column)]
        key = below.subplots()
        key.axis("off")
        for i, column in enumerate(columns):
            key.text(
                i / max(key_columns, 1), 1.0, "\n".join(column), va="top", ha="left", fontsize=8, family="monospace"
            )
    fig.suptitle(f"sweep {summary.sweep} {summary.name}: {summary.runs} runs, success rate {summary.success_rate:.0%}")
    return _save(fig, path)


def _tick(value: float) -> str:
    """An axis end for reading: a whole number whole (1000, not 1e+03), else three significant digits."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e7 else f"{value:.3g}"


def plot_sweep_heatmap(summary: SweepSummary, keys: list[str], path: Path) -> Path:
    """Final test loss (mean over seeds) over the two varied keys."""
    xs = sorted({c.values[keys[0]] for c in summary.cells}, key=str)
    ys = sorted({c.values[keys[1]] for c in summary.cells}, key=str)
    if all(isinstance(v, int | float) for v in xs):
        xs = sorted(xs)
    if all(isinstance(v, int | float) for v in ys):
        ys = sorted(ys)
    grid = np.full((len(ys), len(xs)), np.nan)
    for c in summary.cells:
        if c.test_loss is not None:
            grid[ys.index(c.values[keys[1]]), xs.index(c.values[keys[0]])] = c.test_loss
    fig, ax = plt.subplots(figsize=(1.3 * len(xs) + 3, 1.0 * len(ys) + 2.5))
    im = ax.imshow(grid, cmap="viridis_r", origin="lower", aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(
                j,
                i,
                f"{value:.3g}",
                ha="center",
                va="center",
                color="black",
                fontsize=9,
                fontweight="bold",
                path_effects=[patheffects.withStroke(linewidth=3, foreground="white")],
            )
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(keys[0])
    ax.set_ylabel(keys[1])
    fig.colorbar(im, ax=ax, label="final test loss (mean over seeds)")
    ax.set_title(f"sweep {summary.sweep} {summary.name}")
    return _save(fig, path)


def plot_stage2_methods(summaries: Sequence[Any], parent_label: str, title: str, path: Path) -> Path:
    """Each stage-2 method's final and best test loss, mean ± std over its traces, against the parent's."""
    rows = [m for m in summaries if m.final is not None]
    if not rows:
        raise ValueError("no completed stage-2 child to plot")
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.55 * len(rows)), layout="constrained")
    y = np.arange(len(rows))
    ax.errorbar(
        [m.final for m in rows],
        y - 0.12,
        xerr=[m.final_std or 0 for m in rows],
        fmt="o",
        capsize=4,
        label="final test loss",
    )
    ax.errorbar(
        [m.best for m in rows],
        y + 0.12,
        xerr=[m.best_std or 0 for m in rows],
        fmt="s",
        capsize=4,
        label="best test loss",
        alpha=0.7,
    )
    parent = rows[0].parent_loss
    if parent is not None:
        ax.axvline(parent, color="black", linestyle="--", linewidth=1, label=f"{parent_label} ({parent:.3g})")
    ax.set_yticks(y, [f"{m.method} (×{m.completed}, reached {m.reached})" for m in rows])
    ax.invert_yaxis()
    ax.set_xlabel("test loss (mean ± std over traces)")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    # Below the axes, so that it never hides a method's marker.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3, frameon=False)
    return _save(fig, path)


def plot_sweep_parallel(summary: SweepSummary, path: Path) -> Path:
    """Parallel coordinates: one line per completed cell through its varied keys, final test loss and
    separation (each axis scaled to its own range, log for keys spanning a decade), coloured by separation."""
    from ..short_names import short

    cells = summary.finished
    keys = [k for k in summary.varied if k != "seed"]
    axes_spec = [(short(k), [c.values.get(k) for c in cells]) for k in keys]
    axes_spec += [("final test loss", [c.test_loss for c in cells]), ("separation", [c.separation for c in cells])]
    numeric = [(name, values) for name, values in axes_spec if all(isinstance(v, int | float) for v in values)]
    if len(numeric) < 2 or not cells:
        raise ValueError("a parallel-coordinates figure needs completed cells and two numeric axes")
    scaled, names = [], []
    for name, values in numeric:
        v = np.asarray(values, dtype=float)
        logged = bool(v.min() > 0 and v.max() / v.min() >= 10)
        if logged:
            v = np.log10(v)
        names.append(f"{name}\n(log)" if logged else name)  # the axis says how its values are spaced
        span = v.max() - v.min()
        scaled.append((v - v.min()) / span if span else np.full_like(v, 0.5))
    scaled = np.stack(scaled, axis=1)
    fig, ax = plt.subplots(figsize=(1.8 * len(numeric) + 2, 5), layout="constrained")
    separation = np.array([c.separation if c.separation is not None else np.nan for c in cells])
    colours = plt.cm.viridis(np.nan_to_num(separation, nan=0.0))
    x = np.arange(len(numeric))
    for row, colour, cell in zip(scaled, colours, cells, strict=True):
        label = "the reference cell (bold)" if cell.is_reference else None
        ax.plot(x, row, color=colour, linewidth=2.5 if cell.is_reference else 1.2, alpha=0.85, label=label)
    if any(c.is_reference for c in cells):
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    for i, (_, values) in enumerate(numeric):
        ax.axvline(i, color="gray", linewidth=0.8)
        ax.text(i, -0.06, _tick(min(values)), ha="center", va="top", fontsize=8)
        ax.text(i, 1.04, _tick(max(values)), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    fig.colorbar(plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0, 1)), ax=ax, label="separation")
    ax.set_title(f"sweep {summary.sweep} {summary.name}: varied keys against final loss and blob score")
    return _save(fig, path)


# One marker per run in the stability overlay (cycled past eight runs).
RUN_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def plot_stability(groups: Sequence[tuple[str, Any]], title: str, path: Path) -> Path:
    """Each group's runs overlaid (analysis/stability.RunsStability): the pooled pair density in grey, and
    every run's blobs as its marker at their centre with a ±1 width ellipse, coloured by the reference blob
    each is matched to (an unmatched blob in black). One panel per group (a sweep cell, or the runs given)."""
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel()[len(groups) :]:
        ax.axis("off")
    for ax, (label, stability) in zip(axes.ravel(), groups, strict=False):
        report = stability.report
        if stability.clouds is not None:
            pooled = _finite(np.concatenate([np.asarray(c)[:: max(1, len(c) // 50_000)] for c in stability.clouds]))
            ax.hexbin(pooled[:, 0], pooled[:, 1], gridsize=90, bins="log", cmap="Greys", mincnt=1, linewidths=0)
        for k, (run, run_report, match) in enumerate(
            zip(stability.runs, stability.reports, report.matches, strict=True)
        ):
            colour_of = {j: BLOB_COLOURS[i % len(BLOB_COLOURS)] for i, j in enumerate(match) if j is not None}
            marker = RUN_MARKERS[k % len(RUN_MARKERS)]
            for j, blob in enumerate(run_report["blobs"]):
                colour = colour_of.get(j, "black")
                ax.scatter(
                    *blob["centre"],
                    marker=marker,
                    s=28,
                    color=colour,
                    edgecolors="white",
                    linewidths=0.5,
                    zorder=3,
                    label=f"run {run.id}" if j == 0 else None,
                )
                width = blob.get("width")
                if width:
                    ax.add_patch(
                        Ellipse(
                            blob["centre"],
                            2 * width[0],
                            2 * width[1],
                            fill=False,
                            color=colour,
                            linewidth=0.8,
                            alpha=0.7,
                            zorder=2,
                        )
                    )
        agree = round(report.count_agreement * report.runs)
        drift = "-" if report.drift is None else f"{report.drift:.2f}"
        ax.set_title(
            f"{label}\n{report.verdict}: {agree}/{report.runs} runs with {report.modal_count} blob(s), drift {drift}",
            fontsize=9,
        )
        ax.set_xlabel(ENC_LABEL, fontsize=8)
        ax.set_ylabel(DEC_LABEL, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if report.runs <= 8:
            ax.legend(fontsize=6, loc="best", markerscale=0.8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_theory_surface(prediction, title: str, path: Path) -> Path:
    """The ansatz's test loss over (K, a) (science/theory.py), its minimum marked."""
    ks = sorted({p.k for p in prediction.surface})
    amplitudes = sorted({p.a for p in prediction.surface})
    grid = np.full((len(ks), len(amplitudes)), np.nan)
    for p in prediction.surface:
        grid[ks.index(p.k), amplitudes.index(p.a)] = p.loss
    fig, ax = plt.subplots(figsize=(1.1 * len(amplitudes) + 3, 0.5 * len(ks) + 2.2), layout="constrained")
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis_r")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(
            j,
            i,
            f"{value:.3g}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > np.nanmean(grid) else "black",
        )
    best = prediction.best
    ax.scatter(
        [amplitudes.index(best.a)],
        [ks.index(best.k)],
        marker="s",
        s=380,
        facecolor="none",
        edgecolor="red",
        linewidth=2,
    )
    ax.set_xticks(range(len(amplitudes)), [f"{a:g}" for a in amplitudes])
    ax.set_yticks(range(len(ks)), [str(k) for k in ks])
    ax.set_xlabel("a: outlier magnitude |W1|")
    ax.set_ylabel("K: outliers per hidden unit")
    fig.colorbar(image, ax=ax, label="test loss, decoder solved (red: the minimum)")
    ax.set_title(f"{title}\ncentre width σ_c = {prediction.centre_width:g}", fontsize=10)
    return _save(fig, path)


def plot_thumbnail(
    pairs: np.ndarray | None,
    blobs: list[dict[str, Any]] | None,
    caption: str,
    path: Path,
    *,
    mixture: dict[str, Any] | None = None,
    inches: float = 2.4,
) -> Path:
    """A blob scatter for galleries and tables (`mftctl ui`): the pairs' density, a ring on each measured
    blob's centre, and a caption; a run with no weights yet gets a card that says so. With a `mixture`
    (the shape model `mftctl diagnose` fitted), its 1σ and 2σ ellipses per blob, as `plot` draws them."""
    fig, ax = plt.subplots(figsize=(inches, inches), dpi=80, layout="constrained")
    if pairs is None or not len(_finite(pairs)):
        ax.text(0.5, 0.5, "no weights yet", ha="center", va="center", fontsize=9, color="#777777")
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        pairs = _finite(pairs)
        _hexbin(ax, pairs, _limits(pairs))
        for blob in blobs or []:
            centre = blob.get("centre")
            if centre is not None:
                ax.scatter(*centre, s=90, facecolor="none", edgecolor="red", linewidth=1.2)
        _ellipses(ax, mixture, blobs)
        ax.tick_params(labelsize=6 if inches < 4 else 9)
        if inches >= 4:
            ax.set_xlabel(ENC_LABEL)
            ax.set_ylabel(DEC_LABEL)
    ax.set_title(caption, fontsize=8 if inches < 4 else 10)
    return _save(fig, path)
