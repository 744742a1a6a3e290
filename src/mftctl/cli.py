"""The command line: parse, call one tool function, render. Heavy imports (torch, scikit-learn,
matplotlib, even the database layer) happen inside the commands that need them, so that
`mftctl --help` starts at once."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console

from .errors import MftctlError, environment_message
from .terminal import safe

app = typer.Typer(
    name="mftctl",
    help="A command-line laboratory for blob formation in two-layer denoising networks.\n\n"
    "Example: mftctl train --preset quick && mftctl list",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.\n\nExample: mftctl db info", no_args_is_help=True)
config_app = typer.Typer(help="Presets and config keys.\n\nExample: mftctl config show quick", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")


def _console(stderr: bool = False) -> Console:
    # Piped output (logs, CI, `| less`) has no width; rich would assume 80 and crush the tables.
    probe = Console(stderr=stderr)
    wide = not probe.is_terminal and "COLUMNS" not in os.environ
    # soft_wrap: a line of text (a file path to copy, a message) is never broken at the terminal's width.
    return Console(stderr=stderr, width=160, soft_wrap=True) if wide else Console(stderr=stderr, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class ConfigView(StrEnum):
    diff = "diff"
    full = "full"


DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="SQLite file (default: $MFTCTL_DB, else ./mftctl.db).", show_default=False),
]
PresetOption = Annotated[str | None, typer.Option("--preset", "-p", help="Named preset (`mftctl presets`).")]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML or JSON file of config sections.", exists=True, dir_okay=False),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one key, e.g. --set training.learning_rate=0.01 (repeatable)."),
]


def handles_errors(fn):
    """The one error boundary: MftctlError -> `Error: ...` on stderr, exit code 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MftctlError as exc:
            _error_line(str(exc))
        except (typer.Exit, KeyboardInterrupt):
            raise
        except Exception as exc:  # the machine's failures (disk full, a vanished file) are one line too
            message = environment_message(exc)
            if message is None:
                raise
            _error_line(message)

    return wrapper


def _error_line(message: str) -> None:
    one_line = message.replace("\n", "\\n")  # user text inside a message must not break the line
    err_console.print(f"[red]Error:[/] {safe(one_line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1) from None


def print_data(text: str) -> None:
    """Machine-readable output goes to stdout untouched by rich."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


# --- train -----------------------------------------------------------------------------------------


@app.command()
@handles_errors
def train(
    preset: PresetOption = None,
    config_file: ConfigFileOption = None,
    set_: SetOption = None,
    epochs: Annotated[int | None, typer.Option(help="Shortcut for --set training.epochs=N.")] = None,
    seed: Annotated[int | None, typer.Option(help="Shortcut for --set seed=N.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (--set device=...).")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the run (default run-ID).")] = None,
    detach: Annotated[bool, typer.Option(help="Start the worker and return at once with the run id.")] = False,
    resume: Annotated[
        int | None,
        typer.Option(
            help="Continue crashed/killed/failed run ID from its last good "
            "checkpoint (same run id; other options ignored)."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Train one run in a worker subprocess, with live progress.

    The config is the preset (default reference_3blob), then --config, then each --set.

    Example: mftctl train --preset quick --set training.learning_rate=0.01
    """
    from .config import load_config
    from .devices import check_device
    from .runner import check_fits, create_run, start_worker
    from .store import open_store

    if resume is not None:
        _resume(resume, detach, db)
        return
    overrides = list(set_ or [])
    overrides += [f"training.epochs={epochs}"] * (epochs is not None) + [f"seed={seed}"] * (seed is not None)
    overrides += [f'device="{device}"'] * (device is not None)
    config = load_config(preset, config_file, overrides)
    check_fits(config)
    check_device(config.device)  # refuse before any row is written
    store = open_store(db)
    run = create_run(store, config, name=name, preset=preset or "reference_3blob")
    if detach:
        proc = start_worker(store, run.id, detach=True)
        console.print(
            f"run [bold]{run.id}[/] started in the background (pid {proc.pid}); follow it with `mftctl show {run.id}`"
        )
        return
    _run_attached(store, run.id, config)
    _finish_message(store, run.id)


def _resume(run_id: int, detach: bool, db) -> None:  # noqa: ANN001
    from .config import config_from_json
    from .runner import prepare_resume, start_worker
    from .store import open_store

    store = open_store(db, create=False)
    store.reconcile()
    epoch, skipped = prepare_resume(store, run_id)
    for reason in skipped:
        err_console.print(f"passing over checkpoint {reason}")
    console.print(
        f"run [bold]{run_id}[/] resumes after epoch {epoch}"
        if epoch
        else f"run [bold]{run_id}[/] has no good checkpoint: it restarts from epoch 1"
    )
    if detach:
        start_worker(store, run_id, detach=True)
        return
    _run_attached(store, run_id, config_from_json(store.get_run(run_id).config_json))
    _finish_message(store, run_id)


def _run_attached(store, run_id: int, config) -> None:  # noqa: ANN001
    """Start the run's worker and show its progress; Ctrl-C stops it and marks it killed."""
    from .progress import follow
    from .runner import progress_state, start_worker, stop_worker

    proc = start_worker(store, run_id)
    try:
        follow(proc, progress_state(config), f"run {run_id}", console)
    except KeyboardInterrupt:
        stop_worker(proc, store, run_id)
        err_console.print(f"run {run_id} stopped and marked killed")
        raise typer.Exit(130) from None


def _finish_message(store, run_id: int) -> None:  # noqa: ANN001
    from .render import fmt

    store.reconcile()
    run = store.get_run(run_id)
    if run.status == "completed":
        console.print(
            f"run [bold]{run.id}[/] completed: {run.epochs_done} epochs, test loss {fmt(run.last_test_loss)} "
            f"(best {fmt(run.best_test_loss)}), {fmt(run.train_seconds, 3)} s training. "
            f"Next: `mftctl show {run.id}`"
        )
        return
    lines = (run.error or "").strip().splitlines() or ["no reason recorded"]
    # A traceback's last line names the exception; a message recorded first (disk full) says more.
    reason = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    raise MftctlError(f"run {run.id} {run.status}: {reason}; `mftctl show {run.id}` has the details")


# --- list / show -------------------------------------------------------------------------------------


@app.command("list")
@handles_errors
def list_(
    sort: Annotated[str | None, typer.Option(help="Column or config key; '-' prefix for descending.")] = None,
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Filter KEY OP VALUE, e.g. status=completed, training.learning_rate>=0.01, "
            "status=failed,crashed (repeatable; all must hold)."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="At most N runs (default 50 for a table, all otherwise)."),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    db: DbOption = None,
) -> None:
    """List runs: one SQL query, sorted and filtered by any metric or config key.

    Example: mftctl list --sort -silhouette --where status=completed --limit 10
    """
    from .catalog import open_catalog, resolve_db_path
    from .query import parse_where, sort_spec
    from .render import run_record, runs_table, to_csv, to_json

    if limit is not None and not 1 <= limit < 2**63:
        raise MftctlError(f"--limit must be a positive number of runs, not {limit}")
    column, descending = sort_spec(sort)
    filters = [parse_where(w) for w in where or []]
    path = resolve_db_path(db)
    catalog = open_catalog(path)
    if catalog is None or catalog.has_running():  # create/upgrade the file, or find dead workers: the full store
        from .store import open_store

        store = open_store(path)
        store.reconcile()
        store.close()
        catalog = open_catalog(path)
    if limit is None and format is Format.table:
        limit = 50
    runs = catalog.list_runs(sort=column, desc=descending or desc, filters=filters, limit=limit or None)
    if format is Format.json:
        print_data(to_json([run_record(r, with_config=True) for r in runs]))
    elif format is Format.csv:
        print_data(to_csv([run_record(r, with_config=True) for r in runs]))
    else:
        console.print(runs_table(runs, title=f"{len(runs)} of {catalog.count_runs()} runs in {safe(path)}"))


@app.command()
@handles_errors
def show(
    run_id: Annotated[int, typer.Argument(help="The run's id (first column of `mftctl list`).")],
    config_view: Annotated[
        ConfigView, typer.Option("--config", help="diff: only what differs from the preset; full: every key.")
    ] = ConfigView.diff,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """One run: status, timings, config, every epoch, checkpoints and children.

    Example: mftctl show 3 --config full
    """
    from .config import config_from_json, diff_from_preset, flatten
    from .render import run_detail, run_record, to_json
    from .store import open_store

    store = open_store(db, create=False)
    store.reconcile()
    run = store.get_run(run_id)
    epochs, checkpoints, children = store.epochs(run_id), store.checkpoints(run_id), store.children(run_id)
    if format is not Format.table:
        record = run_record(run, with_config=True) | {
            "error": run.error,
            "extra": run.extra,
            "epochs": [
                e.model_dump(exclude={"diagnostics_json", "id"}) | {"diagnostics": e.diagnostics} for e in epochs
            ],
            "checkpoints": [c.model_dump(exclude={"id"}) for c in checkpoints],
            "children": [c.id for c in children],
        }
        print_data(to_json(record))
        return
    config = config_from_json(run.config_json)
    if config_view is ConfigView.diff:
        rows: list[tuple[str, Any]] = [
            (k, f"{v[1]}  (preset: {v[0]})") for k, v in diff_from_preset(config, run.preset).items()
        ]
        title = f"config: differences from {run.preset}" + ("" if rows else " (none)")
    else:
        rows = list(flatten(config.model_dump()).items())
        title = "config"
    console.print(run_detail(run, epochs, checkpoints, rows, children, title))


# --- sweeps --------------------------------------------------------------------------------------------


class _DefaultRunGroup(typer.core.TyperGroup):
    """`mftctl sweep FILE` means `mftctl sweep run FILE`; `show` and `list` stay subcommands."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_DefaultRunGroup,
    no_args_is_help=True,
    help="Many runs from one TOML grid file: parallel, resumable, summarised.\n\n"
    "Example: mftctl sweep examples/lr_batch.toml --jobs 2   |   mftctl sweep show 1",
)
app.add_typer(sweep_app, name="sweep")


@sweep_app.command("run")
@handles_errors
def sweep_run(
    file: Annotated[Path | None, typer.Argument(help="The sweep file (TOML).", exists=True, dir_okay=False)] = None,
    jobs: Annotated[int | None, typer.Option(help="Workers at once (default: one per core; one per GPU).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the expanded cells and what would run; run nothing.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed/--no-retry", help="Run failed, crashed and killed cells again.")
    ] = True,
    resume: Annotated[int | None, typer.Option(help="Resume sweep ID from its stored file text.")] = None,
    name: Annotated[str | None, typer.Option(help="Record the sweep under this name instead of the file's.")] = None,
    max_cells: Annotated[
        int, typer.Option(min=1, help="Refuse sweeps with more cells than this (a guard against typos).")
    ] = 10_000,
    db: DbOption = None,
) -> None:
    """Run a sweep file: every cell validated first, then a pool of workers. Running the same file again
    (same name) resumes: completed cells are skipped, failed/crashed/killed/unstarted ones run.

    Example: mftctl sweep examples/lr_batch.toml --jobs 2 --dry-run
    """
    from .devices import check_device, default_jobs
    from .pool import run_pool
    from .render import sweep_plan_table, sweep_summary_view
    from .runner import check_fits
    from .store import open_store
    from .sweep import expand, load_sweep
    from .sweep_runs import materialise, plan_sweep, summarize

    if (file is None) == (resume is None):
        raise MftctlError("give a sweep FILE or --resume SWEEP_ID (one of them)")
    if jobs is not None and jobs < 1:
        raise MftctlError(f"--jobs must be at least 1, not {jobs}")
    # A bad file is refused before the database opens.
    spec = load_sweep(file, name=name, max_cells=max_cells) if file is not None else None
    store = open_store(db)
    store.reconcile()
    if resume is not None:
        previous = store.get_sweep(resume)
        base_dir = Path(previous.file_path).parent if previous.file_path else Path.cwd()
        import tomllib

        spec = expand(tomllib.loads(previous.file_text), name=previous.name, text=previous.file_text, base_dir=base_dir)
        sweep, path = previous, Path(previous.file_path) if previous.file_path else None
    else:
        path = file
        sweep = store.find_sweep(spec.name)
        if sweep is not None and sweep.file_text != spec.text:
            raise MftctlError(
                f"sweep {spec.name!r} (id {sweep.id}) was run from a different file; running this one under "
                f"the same name would mix unlike cells. Give it its own name with --name NAME, or resume the "
                f"old one with --resume {sweep.id}"
            )
    for cell in spec.cells:  # every refusal before the first row
        try:
            check_fits(cell.config, "it")
            check_device(cell.config.device)
        except MftctlError as exc:
            raise MftctlError(f"sweep cell {cell.index} ({cell.label}): {exc}") from None
    plans = plan_sweep(store, spec, sweep=sweep, retry_failed=retry_failed)
    if dry_run:
        console.print(sweep_plan_table(spec, plans))
        todo = sum(p.action in ("new", "retry", "resume-queued") for p in plans)
        console.print(f"{len(plans)} cells, {todo} to run" + (f" (sweep {sweep.id} exists)" if sweep else ""))
        return
    sweep, to_run = materialise(store, spec, path, sweep, plans)
    skipped = len(plans) - len(to_run)
    n_jobs = jobs or default_jobs(len(to_run), spec.cells[0].config.device if spec.cells else "cpu")
    console.print(
        f"sweep [bold]{sweep.id}[/] {safe(spec.name)}: {len(to_run)} to run on {n_jobs} worker(s), "
        f"{skipped} skipped (done or not retried)"
    )
    result = run_pool(store, to_run, jobs=n_jobs, console=console, label=f"sweep {sweep.id}") if to_run else None
    console.print(sweep_summary_view(summarize(store, sweep)))
    if result and result.interrupted:
        err_console.print(f"interrupted: running cells marked killed; `mftctl sweep --resume {sweep.id}` continues")
        raise typer.Exit(130)


@sweep_app.command("show")
@handles_errors
def sweep_show(
    sweep_id: Annotated[int, typer.Argument(help="The sweep's id (`mftctl sweep list`).")],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table, json or csv (one row per cell).")
    ] = Format.table,
    db: DbOption = None,
) -> None:
    """Summarise a sweep: success rate, fastest cells, lowest loss, best blobs, speed-up vs the reference,
    mean ± std over seeds.

    Example: mftctl sweep show 1 --format csv
    """
    from .render import sweep_summary_view, to_csv, to_json
    from .store import open_store
    from .sweep_runs import summarize

    store = open_store(db, create=False)
    store.reconcile()
    summary = summarize(store, store.get_sweep(sweep_id))
    if format is Format.json:
        print_data(to_json(summary))
    elif format is Format.csv:
        print_data(to_csv([{k: v for k, v in c.items() if k not in ("runs", "statuses")} for c in summary["cells"]]))
    else:
        console.print(sweep_summary_view(summary))


@sweep_app.command("list")
@handles_errors
def sweep_list(db: DbOption = None) -> None:
    """List the sweeps in the database with their runs by status.

    Example: mftctl sweep list
    """
    from .render import sweeps_table
    from .store import open_store

    store = open_store(db, create=False)
    console.print(sweeps_table(store.sweeps(), store.sweep_status_counts()))


# --- stage 2 -----------------------------------------------------------------------------------------


class MixtureKind(StrEnum):
    pair = "pair"
    encoder = "encoder"


class Control(StrEnum):
    gmm = "gmm"
    gaussian = "gaussian"
    parent = "parent"


class DecoderInit(StrEnum):
    xavier = "xavier"
    sampled = "sampled"


@app.command()
@handles_errors
def stage2(
    parent_id: Annotated[int, typer.Argument(help="The finished stage-1 run whose weight pairs are fitted.")],
    epoch: Annotated[int | None, typer.Option(help="Parent checkpoint epoch (default: its last).")] = None,
    components: Annotated[
        int | None,
        typer.Option(
            "--components", "-k", help="Mixture components (default stage2.num_clusters, 3 in reference_3blob)."
        ),
    ] = None,
    hidden: Annotated[int | None, typer.Option(help="Hidden units h' of the children (default: the parent's).")] = None,
    traces: Annotated[int, typer.Option(help="Independent encoder samples, one child run each.")] = 1,
    mixture: Annotated[
        MixtureKind,
        typer.Option(
            help="pair: 2-D (encoder, decoder) mixture; encoder: 1-D on encoder entries, as the research code."
        ),
    ] = MixtureKind.pair,
    control: Annotated[
        Control,
        typer.Option(
            help="gmm: sample the mixture; gaussian: one matched-variance "
            "Gaussian (random features); parent: the parent's own encoder."
        ),
    ] = Control.gmm,
    decoder_init: Annotated[
        DecoderInit, typer.Option(help="xavier as stage 1, or the sampled decoder coordinate of each pair.")
    ] = DecoderInit.xavier,
    set_: SetOption = None,
    name: Annotated[str | None, typer.Option(help="Name prefix of the children.")] = None,
    detach: Annotated[bool, typer.Option(help="Start every child in the background and return.")] = False,
    db: DbOption = None,
) -> None:
    """Sample frozen encoders from a finished run's blob mixture and train only their decoders.

    Each trace is a child run (its own worker, epochs and checkpoints) recording its parent, the
    checkpoint epoch, the fitted mixture and the sampling seed.

    Example: mftctl stage2 3 --traces 2   |   mftctl stage2 3 --control gaussian
    """
    from .config import config_from_json
    from .render import stage2_table
    from .runner import start_worker
    from .stage2 import plan_children
    from .store import open_store

    store = open_store(db, create=False)
    store.reconcile()
    with console.status("fitting the mixture..."):
        children = plan_children(
            store,
            parent_id,
            epoch=epoch,
            hidden=hidden,
            overrides=list(set_ or []),
            name=name,
            stage2={
                "num_clusters": components,
                "num_traces": traces,
                "mixture": mixture.value,
                "control": control.value,
                "decoder_init": decoder_init.value,
            },
        )
    console.print(
        f"parent {parent_id}: children {', '.join(str(c.id) for c in children)} "
        f"({control.value}, {mixture.value} mixture)"
    )
    if detach:
        for child in children:
            start_worker(store, child.id, detach=True)
        console.print(f"started in the background; follow with `mftctl list --where parent={parent_id}`")
        return
    try:
        for child in children:
            _run_attached(store, child.id, config_from_json(child.config_json))
    finally:
        for child in children:  # Ctrl-C: the children never started are not left queued
            store.finish_run(child.id, "killed", "never started: the stage-2 command was stopped")
    console.print(stage2_table(store, store.get_run(parent_id), [store.get_run(c.id) for c in children]))


# --- diagnose / plot ---------------------------------------------------------------------------------


class FigureFormat(StrEnum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


EpochOption = Annotated[int | None, typer.Option(help="Checkpoint epoch (default: the run's last).")]


@app.command()
@handles_errors
def diagnose(
    run_id: Annotated[int, typer.Argument(help="The run's id.")],
    epoch: EpochOption = None,
    recompute: Annotated[bool, typer.Option(help="Ignore the cached analysis and compute it again.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Blob analysis of a checkpoint: the blob measurement (the same numbers as `list`), each blob's mass,
    centre and valley depth, the GMM shape model with BIC over K, the off-path control and the reference
    losses. Kept in the database: a second call is a lookup.

    Example: mftctl diagnose 3 --epoch 10
    """
    from .analysis import diagnose as run_diagnose
    from .render import diagnosis_view, to_json
    from .store import open_store

    store = open_store(db, create=False)
    with console.status("analysing weight pairs...") if format is Format.table else contextlib.nullcontext():
        result = run_diagnose(store, run_id, epoch=epoch, recompute=recompute)
    if format is Format.table:
        console.print(diagnosis_view(result))
    else:
        print_data(to_json(result))


@app.command()
@handles_errors
def plot(
    run_ids: Annotated[
        list[int] | None, typer.Argument(help="One run for all its figures; several to overlay curves.")
    ] = None,
    epoch: EpochOption = None,
    format: Annotated[FigureFormat, typer.Option("--format", "-f", help="png, svg or pdf.")] = FigureFormat.png,
    out: Annotated[Path | None, typer.Option(help="Folder for the files (default: the run's folder).")] = None,
    animate: Annotated[bool, typer.Option(help="Also write the blob evolution as a GIF.")] = False,
    sweep: Annotated[
        int | None, typer.Option(help="Plot sweep ID's summary panels (and a heat map for 2 keys).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Draw a run's figures: loss curves with reference lines, diagnostics over epochs, the weight-pair
    scatter with GMM ellipses beside the off-path control, and the blob evolution.

    Example: mftctl plot 3 --animate   |   mftctl plot 3 4 5  (overlaid curves)   |   mftctl plot --sweep 1
    """
    from .figures import plot_runs, plot_sweep
    from .store import open_store

    if bool(run_ids) == (sweep is not None):
        raise MftctlError("give run ids, or --sweep SWEEP_ID (one of them)")
    if out is not None and out.exists() and not out.is_dir():
        raise MftctlError(f"--out {out} is a file; give a folder for the figures")
    store = open_store(db, create=False)
    with console.status("drawing..."):
        if sweep is not None:
            paths = plot_sweep(store, sweep, fmt=format.value, out=out)
        else:
            paths = plot_runs(store, run_ids, epoch=epoch, fmt=format.value, out=out, animate=animate)
    for path in paths:
        print_data(str(path))


@app.command()
@handles_errors
def reanalyse(
    run_ids: Annotated[list[int] | None, typer.Argument(help="Runs to measure again.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every run in the database.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Measure the blobs of stored runs again from their checkpoints, with the current measurement.

    Runs from the first release carry blob numbers from its sampled DBSCAN (marked † in `list`); this
    replaces them epoch by epoch. Epochs without a checkpoint keep their numbers and their mark.

    Example: mftctl reanalyse --all   |   mftctl reanalyse 3 4
    """
    from dataclasses import asdict

    from rich.progress import Progress

    from .reanalysis import checkpoint_count, reanalyse_run, select_runs
    from .render import reanalysis_table, to_json
    from .store import open_store

    store = open_store(db, create=False)
    store.reconcile()
    ids = select_runs(store, run_ids or [], all_)
    results = []
    with Progress(console=err_console, transient=True, disable=format is not Format.table) as progress:
        task = progress.add_task("measuring checkpoints", total=checkpoint_count(store, ids))
        for run_id in ids:
            results.append(reanalyse_run(store, run_id, on_epoch=lambda: progress.advance(task)))
    if format is Format.table:
        console.print(reanalysis_table(results))
    else:
        print_data(to_json([asdict(r) for r in results]))


# --- rm / gc / export ----------------------------------------------------------------------------------


WhereOption = Annotated[
    list[str] | None, typer.Option(help="Select runs with KEY OP VALUE (as `mftctl list --where`; repeatable).")
]


def _select_ids(db, run_ids: list[int] | None, where: list[str] | None) -> list[int]:  # noqa: ANN001
    from .catalog import open_catalog, resolve_db_path
    from .query import parse_where

    ids = list(run_ids or [])
    if where:
        catalog = open_catalog(resolve_db_path(db))
        if catalog is None:
            raise MftctlError(f"no current database at {resolve_db_path(db)}; run `mftctl db info`")
        ids += [r.id for r in catalog.list_runs(filters=[parse_where(w) for w in where])]
    return sorted(set(ids))


@app.command()
@handles_errors
def rm(
    run_ids: Annotated[list[int] | None, typer.Argument(help="Runs to delete.")] = None,
    where: WhereOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")] = False,
    db: DbOption = None,
) -> None:
    """Delete runs: their rows (epochs, checkpoints, analyses) and their files, together.

    Example: mftctl rm 4 5   |   mftctl rm --where status=failed,crashed --yes
    """
    from .store import open_store

    store = open_store(db, create=False)
    store.reconcile()
    ids = _select_ids(db, run_ids, where)
    if not ids:
        raise MftctlError("no run selected; give run ids or --where")
    if not yes:
        if not sys.stdin.isatty():
            raise MftctlError(f"about to delete {len(ids)} run(s) ({_ids(ids)}); confirm with --yes")
        typer.confirm(f"Delete {len(ids)} run(s) ({_ids(ids)}) and their files?", abort=True)
    store.delete_runs(ids)
    console.print(f"deleted {len(ids)} run(s): {_ids(ids)}")


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")


@app.command()
@handles_errors
def gc(
    dry_run: Annotated[bool, typer.Option(help="Report, delete nothing.")] = False,
    db: DbOption = None,
) -> None:
    """Remove checkpoint files no row accounts for, and checkpoint rows whose files are gone.

    Example: mftctl gc --dry-run
    """
    import shutil

    from .store import open_store

    store = open_store(db, create=False)
    orphans, lost = store.garbage()
    for path in orphans:
        console.print(f"{'would remove' if dry_run else 'removed'} file {safe(path)}", soft_wrap=True)
    for ckpt in lost:
        console.print(
            f"{'would drop' if dry_run else 'dropped'} row: run {ckpt.run_id} epoch {ckpt.epoch} ({ckpt.path} is gone)"
        )
    if not dry_run:
        for path in orphans:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        store.delete_checkpoint_rows([c.id for c in lost])
    console.print(f"{len(orphans)} orphan file(s), {len(lost)} row(s) without a file" + (" (dry run)" * dry_run))


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


@app.command()
@handles_errors
def export(
    out: Annotated[Path, typer.Argument(help="Folder to write runs.FORMAT and epochs.FORMAT into.")],
    where: WhereOption = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or json.")] = ExportFormat.csv,
    db: DbOption = None,
) -> None:
    """Export runs (with their flattened config) and every epoch, for pandas or a spreadsheet.

    Example: mftctl export out/ --where sweep=1   then   pandas.read_csv("out/epochs.csv")
    """
    from .catalog import open_catalog, resolve_db_path
    from .query import parse_where
    from .render import run_record, to_csv, to_json
    from .store import Epoch, open_store

    if out.exists() and not out.is_dir():
        raise MftctlError(f"{out} is a file; give a folder for runs.{format.value} and epochs.{format.value}")
    store = open_store(db, create=False)
    store.reconcile()
    catalog = open_catalog(resolve_db_path(db))
    runs = catalog.list_runs(filters=[parse_where(w) for w in where or []], sort="id")
    columns = [c.name for c in Epoch.__table__.columns if c.name not in ("id", "diagnostics_json")]
    epochs = [{c: getattr(e, c) for c in columns} for e in store.epochs_of([r.id for r in runs])]
    records = [run_record(r, with_config=True) for r in runs]
    out.mkdir(parents=True, exist_ok=True)
    write = to_csv if format is ExportFormat.csv else to_json
    (out / f"runs.{format.value}").write_text(write(records))
    (out / f"epochs.{format.value}").write_text(write(epochs))
    print_data(str(out / f"runs.{format.value}"))
    print_data(str(out / f"epochs.{format.value}"))


# --- presets / config ----------------------------------------------------------------------------------


@app.command()
@handles_errors
def presets(
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """List the named presets with their main settings.

    Example: mftctl presets
    """
    from rich.table import Table

    from .config import PRESETS, preset_dict
    from .render import to_json

    if format is not Format.table:
        print_data(to_json({name: preset_dict(name) for name in sorted(PRESETS)}))
        return
    table = Table(title="presets", header_style="bold")
    for col in ("preset", "d", "hidden", "n_train", "batch", "epochs", "optimizer", "lr", "diagnostics"):
        table.add_column(col)
    for name in sorted(PRESETS):
        c = preset_dict(name)
        t = c["training"]
        table.add_row(
            name,
            str(c["data"]["d"]),
            str(c["model"]["hidden_size"]),
            str(c["data"]["n_train"]),
            str(t["batch_size"]),
            str(t["epochs"]),
            t["optimizer"],
            str(t["learning_rate"]),
            str(t["enable_diagnostics"]).lower(),
        )
    console.print(table)
    console.print("Full values: `mftctl config show PRESET`")


@config_app.command("show")
@handles_errors
def config_show(
    preset: Annotated[str, typer.Argument(help="A preset name.")] = "reference_3blob",
    config_file: ConfigFileOption = None,
    set_: SetOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """Print a full, validated config: a preset plus an optional file and overrides.

    Example: mftctl config show quick --set training.epochs=2 --format json
    """
    from rich.table import Table

    from .config import ExperimentConfig, flatten, load_config

    config = load_config(preset, config_file, set_ or [])
    if format is not Format.table:
        print_data(config.model_dump_json(indent=2))
        return
    table = Table(title=f"config ({preset})", header_style="bold")
    for col in ("key", "value", "meaning"):
        table.add_column(col)
    for key, value in flatten(config.model_dump()).items():
        section, _, field = key.rpartition(".")
        model = ExperimentConfig.model_fields[section].annotation if section else ExperimentConfig
        table.add_row(key, str(value), model.model_fields[field].description or "")
    console.print(table)


# --- db ------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
@handles_errors
def db_upgrade(db: DbOption = None) -> None:
    """Apply pending schema migrations (mftctl also does this on first use).

    Example: mftctl db upgrade --db old.db
    """
    from .store import open_store, schema_status, upgrade

    store = open_store(db, create=False, migrate=False, check_pending=False)
    applied = upgrade(store)
    console.print(
        f"{store.path}: applied {', '.join(applied)}"
        if applied
        else f"{store.path}: schema is current ({schema_status(store)[0][-1]})"
    )


@db_app.command("info")
@handles_errors
def db_info(db: DbOption = None) -> None:
    """Where the database is, its schema version and how many runs it holds.

    Example: mftctl db info
    """
    from .render import kv_table
    from .store import open_store, schema_status

    store = open_store(db, create=False)
    applied, pending = schema_status(store)
    console.print(
        kv_table(
            "database",
            [
                ("path", str(store.path.resolve())),
                ("schema", applied[-1] if applied else "-"),
                ("pending migrations", ", ".join(pending) or "none"),
                ("runs", store.count_runs()),
                ("artefacts", str(store.runs_dir.resolve())),
            ],
        )
    )


# --- the worker (internal) ------------------------------------------------------------------------------


@app.command(hidden=True)
@handles_errors
def worker(
    run_id: Annotated[int, typer.Argument(help="Run to execute.")],
    db: DbOption = None,
) -> None:
    """Internal: the subprocess that trains one run. Example: mftctl worker 3 --db mftctl.db"""
    from .worker import run_worker

    raise typer.Exit(run_worker(str(db) if db else None, run_id))


def main() -> None:
    """The console script: click's usage errors (a run id that is not a number, an unknown option) also
    become one `Error:` line and exit code 1, like every other refusal."""
    try:  # typer >= 0.20 vendors click; older ones use the click package
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover
        from click.exceptions import NoArgsIsHelpError, UsageError

    try:
        # Without standalone mode click returns (not raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help())
        sys.exit(0)
    except UsageError as exc:
        hint = f"; see `{exc.ctx.command_path} --help`" if exc.ctx else ""
        err_console.print(f"[red]Error:[/] {exc.format_message()}{hint}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
