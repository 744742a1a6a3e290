"""`mftctl plot`: gather a run's (or a sweep's) data from the store and hand it to plots.py, which draws."""

from __future__ import annotations

from pathlib import Path

from ..analysis.sweep_stability import sweep_stability
from ..checkpoints.load import load_run_checkpoint
from ..errors import MftctlError
from ..store import layout, reads
from ..store.engine import Store
from ..store.tables import BLOB_COLUMNS, EPOCH_VALUE_COLUMNS, Run
from .compare import refuse_repeated
from .diagnose import diagnose_checkpoint
from .drawing import Figure, draw_all
from .report import blob_headline
from .stability import runs_stability
from .trajectories import run_tracks

MAX_EVOLUTION_FRAMES = 8
MAX_STABILITY_PANELS = 12


def _figure_folder(folder: Path) -> Path:
    """The folder the figures go into, made; refused in one line when it is a file or cannot be made."""
    try:
        if folder.exists() and not folder.is_dir():
            raise MftctlError(f"{folder} is a file; give a folder for the figures")
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in a path given from Python
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MftctlError(f"cannot make the figure folder {str(folder)!r}: {reason}; give another folder") from None
    return folder


def _curve(store: Store, run: Run, differing: list[str] | None = None):
    from .plots import Curve

    label = f"run {run.id} {run.name}"
    if differing:  # several runs: the legend names what tells them apart
        from ..config import flatten
        from ..short_names import label as short_label

        label = f"run {run.id}: {short_label(flatten(run.config), keys=differing)}"
    if run.kind == "stage2":
        from ..stage2.summary import child_method

        label += f" ({child_method(run)})"
    epochs = reads.epochs(store, run.id)
    if not epochs:
        raise MftctlError(f"run {run.id} has no completed epoch yet ({run.status}); nothing to plot")
    columns = EPOCH_VALUE_COLUMNS + BLOB_COLUMNS
    return Curve(label, [e.epoch for e in epochs], {name: [getattr(e, name) for e in epochs] for name in columns})


def _differing(runs: list[Run]) -> list[str]:
    """The config keys whose values differ among the runs (none for one run)."""
    if len(runs) < 2:
        return []
    from ..config import flatten

    configs = [flatten(r.config) for r in runs]
    keys = sorted(set().union(*configs))
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def _title(run: Run, extra: str = "") -> str:
    from ..config import flatten
    from ..short_names import HEADLINE_KEYS, label

    return f"run {run.id} {run.name} ({run.preset}) · {label(flatten(run.config), keys=list(HEADLINE_KEYS))}{extra}"


def _frames(store: Store, run: Run) -> list[tuple[int, object]]:
    from ..science.diagnostics import pairs_of

    checkpoints = reads.checkpoints(store, run.id)
    if len(checkpoints) > MAX_EVOLUTION_FRAMES:  # evenly spaced, always the first and the last
        step = (len(checkpoints) - 1) / (MAX_EVOLUTION_FRAMES - 1)
        checkpoints = [checkpoints[round(i * step)] for i in range(MAX_EVOLUTION_FRAMES)]
    return [(c.epoch, pairs_of(load_run_checkpoint(store, run, c.epoch).model())) for c in checkpoints]


def plot_runs(
    store: Store,
    run_ids: list[int],
    *,
    epoch: int | None = None,
    fmt: str = "png",
    out: Path | None = None,
    animate: bool = False,
) -> list[Path]:
    """Write the figures of one run (or the overlaid curves of several) and return their paths."""
    from ..config import validate
    from ..science.baselines import reference_losses
    from . import plots

    refuse_repeated(run_ids, "plot")
    runs = reads.runs_by_id(store, run_ids)
    curves = [_curve(store, r, _differing(runs)) for r in runs]
    first = runs[0]
    if len(runs) > 1:
        folder = out or store.runs_dir / ("compare-" + "-".join(str(r.id) for r in runs))
    else:
        folder = out or layout.run_dir(store, first.id)
    # Made before anything is computed, so a folder that cannot be made is refused before the
    # analysis below is cached (a later diagnose would otherwise answer from that cache).
    _figure_folder(folder)
    # One run with weights: its (cached) analysis, which holds the reference losses as well.
    analysis = None
    if len(runs) == 1 and reads.checkpoints(store, first.id):
        analysis = diagnose_checkpoint(store, first.id, epoch=epoch)
    references = analysis["references"] if analysis else reference_losses(validate(first.config))
    if analysis and analysis.get("optimal_decoder"):  # the floor a decoder could reach with this encoder
        references = references | {"optimal_decoder": analysis["optimal_decoder"]}
    if len(runs) > 1:
        title = "runs " + ", ".join(f"{r.id} ({r.name})" for r in runs)
        figures: list[Figure] = [
            (plots.plot_curves, (curves, references, title, folder / f"curves.{fmt}")),
            (plots.plot_diagnostics, (curves, title, folder / f"diagnostics.{fmt}")),
        ]
        try:  # runs of one shape with blob reports: their matched blobs overlaid
            stability = runs_stability(store, runs)
        except MftctlError:
            return draw_all(figures)
        heading = "blob stability: each run's blobs, matched by position"
        figures.append((plots.plot_stability, ([(title, stability)], heading, folder / f"stability.{fmt}")))
        return draw_all(figures)
    figures = [
        (plots.plot_curves, (curves, references, _title(first), folder / f"curves.{fmt}")),
        (plots.plot_diagnostics, (curves, _title(first), folder / f"diagnostics.{fmt}")),
    ]
    tracks = run_tracks(reads.epochs(store, first.id))
    if tracks:  # the blobs' paths, from the epoch rows' blob reports
        title = _title(first, "\neach blob's path through training")
        figures.append((plots.plot_trajectories, (tracks, title, folder / f"trajectories.{fmt}")))
    children = reads.children(store, first.id)
    if children:
        family = [curves[0]] + [_curve(store, c) for c in children if reads.epochs(store, c.id)]
        title = _title(first, "\nwith its stage-2 children")
        figures.append((plots.plot_curves, (family, references, title, folder / f"children.{fmt}")))
        from ..stage2.summary import stored_summaries

        summaries = stored_summaries(store, reads.epochs(store, first.id), children)
        if any(m.final is not None for m in summaries):
            stage2_title = _title(first, "\nstage 2: each method over its traces")
            args = (summaries, f"parent run {first.id}", stage2_title, folder / f"stage2.{fmt}")
            figures.append((plots.plot_stage2_methods, args))
    if analysis is not None:  # weights saved: the pair clouds too
        figures += _cloud_figures(store, first, analysis, fmt, folder, animate)
    # Everything is read from the store by now; the drawing alone is shared out (drawing.py).
    return draw_all(figures)


def _cloud_figures(store: Store, run: Run, analysis: dict, fmt: str, folder: Path, animate: bool) -> list[Figure]:
    """The scatter of the analysed checkpoint's pairs beside the off-path control, and the blob evolution."""
    import numpy as np

    from ..science.diagnostics import off_path_pairs, pairs_of
    from . import plots

    loaded = load_run_checkpoint(store, run, analysis["epoch"])
    model = loaded.model()
    pairs = pairs_of(model)
    control = off_path_pairs(model, len(pairs), np.random.default_rng(loaded.config.seed))
    on = analysis["on_path"]
    extra = (
        f"\nepoch {analysis['epoch']} · {blob_headline(on)} · "
        f"ellipses: one per blob (GMM shape model, {on['gmm']['k']} component(s) merged by blob)"
    )
    scatter = folder / f"scatter_epoch{analysis['epoch']}.{fmt}"
    frames = _frames(store, run)
    figures: list[Figure] = [
        (plots.plot_scatter, (pairs, control, on["gmm"], _title(run, extra), scatter, on.get("blobs"))),
        (plots.plot_evolution, (frames, _title(run, "\nblob evolution"), folder / f"evolution.{fmt}")),
    ]
    if animate:
        figures.append((plots.animate_evolution, (frames, _title(run), folder / "evolution.gif")))
    return figures


def plot_sweep_figures(store: Store, sweep_id: int, *, fmt: str = "png", out: Path | None = None) -> list[Path]:
    """The sweep's summary panels, and a heat map of the final loss when two keys are varied."""
    from ..analysis.sweep_summary import summarize
    from . import plots

    summary = summarize(store, reads.get_sweep(store, sweep_id))
    if not summary.finished:
        raise MftctlError(f"sweep {sweep_id} has no completed cell yet; nothing to plot")
    folder = _figure_folder(out or store.runs_dir / f"sweep-{sweep_id}")
    figures: list[Figure] = [(plots.plot_sweep_panels, (summary, folder / f"sweep.{fmt}"))]
    if summary.search is not None:  # a search: its history and, for two objectives, its front
        from .search_plots import plot_search

        title = f"search {sweep_id} {summary.name}: {summary.search.sampler}, {len(summary.search.trials)} trials"
        figures.append((plot_search, (summary.search, title, folder / f"search.{fmt}")))
    if len([k for k in summary.varied if k != "seed"]) >= 1 and len(summary.finished) >= 2:
        figures.append((plots.plot_sweep_parallel, (summary, folder / f"parallel.{fmt}")))
    keys = [k for k in summary.varied if k != "seed"]
    if len(keys) == 2:
        figures.append((plots.plot_sweep_heatmap, (summary, keys, folder / f"heatmap.{fmt}")))
    seeded = [(c.short_label, r) for c, r in sweep_stability(store, sweep_id) if not isinstance(r, str)]
    if seeded:  # cells with several completed seeds: their matched blobs, a panel per cell (the first twelve)
        title = f"sweep {sweep_id} {summary.name}: blob stability over each cell's seeds"
        figures.append((plots.plot_stability, (seeded[:MAX_STABILITY_PANELS], title, folder / f"stability.{fmt}")))
    return draw_all(figures)
