"""Commands on single runs: train, list, show, rm, export."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import MftctlError
from ..terminal import safe
from .common import (
    ConfigFileOption,
    DbOption,
    Format,
    PresetOption,
    SetOption,
    WhereOption,
    console,
    err_console,
    print_data,
    print_records,
    print_wide_or_fitted,
    resolve_runs,
    run_arg,
)


class ConfigView(StrEnum):
    diff = "diff"
    full = "full"


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


def train(
    preset: PresetOption = None,
    config_file: ConfigFileOption = None,
    set_: SetOption = None,
    epochs: Annotated[int | None, typer.Option(help="Shortcut for --set training.epochs=N.")] = None,
    seed: Annotated[int | None, typer.Option(help="Shortcut for --set seed=N.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (--set device=...).")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the run (default run-ID).")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Tag the run (repeatable; `list --where tag=NAME`).", metavar="TAG")
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note on the run, shown by `show`.")] = None,
    detach: Annotated[bool, typer.Option(help="Start the worker and return at once with the run id.")] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue crashed/killed/failed RUN (id or name) from its last good "
            "checkpoint (same run id; other options ignored).",
            metavar="RUN",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Train one run in a worker subprocess, with live progress.

    The config is the preset (default reference_3blob), then --config, then each --set.

    Example: mftctl train --preset quick --set training.learning_rate=0.01
    """
    from ..runs.train import RunInterrupted, TrainRequest, train_run

    if resume is not None:
        _resume(resolve_runs(db, [resume])[0], detach, db)
        return
    overrides = list(set_ or [])
    overrides += [f"training.epochs={epochs}"] * (epochs is not None) + [f"seed={seed}"] * (seed is not None)
    overrides += [f'device="{device}"'] * (device is not None)
    request = TrainRequest(preset, config_file, overrides, name, list(tag or []), note)
    try:
        trained = train_run(db, request, detach=detach, console=console)
    except RunInterrupted as stop:
        err_console.print(f"run {stop.run_id} stopped and marked killed")
        raise typer.Exit(130) from None
    run = trained.run
    if detach:
        console.print(
            f"run [bold]{run.id}[/] started in the background (pid {trained.pid}); "
            f"follow it with `mftctl follow {run.id}`"
        )
        return
    _completed_message(run)


def _resume(run_id: int, detach: bool, db: str | None) -> None:
    from ..runs.launch import start_worker
    from ..runs.resume import queue_resume
    from ..store import open_settled

    store = open_settled(db)
    epoch, skipped = queue_resume(store, run_id)
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
    run_attached(store, run_id)
    from ..runs.train import finished

    _completed_message(finished(store, run_id))


def run_attached(store, run_id: int, early=None) -> None:
    """The run in the foreground; Ctrl-C stops it, marks it killed and exits 130."""
    from ..runs.attached import run_attached as follow_run

    try:
        follow_run(store, run_id, console, early)
    except KeyboardInterrupt:
        err_console.print(f"run {run_id} stopped and marked killed")
        raise typer.Exit(130) from None


def _completed_message(run) -> None:
    from ..terminal import fmt

    console.print(
        f"run [bold]{run.id}[/] completed: {run.epochs_done} epochs, test loss {fmt(run.last_test_loss)} "
        f"(best {fmt(run.best_test_loss)}), {fmt(run.train_seconds, 3)} s training. "
        f"Next: `mftctl show {run.id}`"
    )


def follow(
    run: Annotated[str, run_arg()],
    db: DbOption = None,
) -> None:
    """Follow a run that trains elsewhere (detached, in a pool or on a cluster): each epoch as it lands,
    until the run ends. Ctrl-C stops following, never the run.

    Example: mftctl train --preset demo --detach && mftctl follow 1
    """
    from rich.progress import BarColumn, Progress, TextColumn

    from ..runs.follow import watch
    from ..store import open_settled
    from ..terminal import fmt

    store = open_settled(db)
    run_id = resolve_runs(db, [run])[0]
    try:
        with Progress(
            TextColumn("run {task.fields[run]}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} epochs"),
            console=console,
            transient=True,
        ) as bar:
            task = None
            for seen in watch(store, run_id):
                if task is None:
                    task = bar.add_task("", total=seen.run.epochs_total or None, run=run_id)
                for e in seen.new_epochs:
                    k = e.n_clusters
                    blobs = "" if k is None else f" · {k} blob{'s' * (k != 1)}, separation {fmt(e.separation, 3)}"
                    bar.console.print(
                        f"run {run_id} epoch {e.epoch}/{seen.run.epochs_total}: test loss {fmt(e.test_loss)}{blobs}"
                    )
                bar.update(task, completed=seen.run.epochs_done)
    except KeyboardInterrupt:
        console.print(f"stopped following; run {run_id} goes on (`mftctl follow {run_id}` again)")
        return
    from ..runs.train import finished

    _completed_message(finished(store, run_id))  # or the one-line reason it did not complete


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
    columns: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated columns: run columns, config keys or their short names "
            "(lr, batch, h, enc_init, ...), e.g. id,name,lr,batch,test_loss,separation."
        ),
    ] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, however wide the terminal (default: what fits).")
    ] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    db: DbOption = None,
) -> None:
    """List runs: one SQL query, sorted and filtered by any metric, config key or tag.

    The table fits the terminal: on a narrow one the columns read least (created, samples/s, preset, ...)
    are hidden and named under it; --wide shows them all.

    Example: mftctl list --sort -silhouette --where status=completed --where tag=baseline --columns id,lr,separation
    """
    from ..render.records import run_record
    from ..render.views import columns_table, runs_table
    from ..runs.query import list_runs, parse_columns

    chosen = parse_columns(columns) if columns is not None else None
    if limit is None and format is Format.table:
        limit = 50
    listing = list_runs(db, sort=sort, desc=desc, where=where, limit=limit)
    if chosen is not None:
        records = [{c.header: c.value(r) for c in chosen} for r in listing.runs]
    else:
        records = [run_record(r, with_config=True) for r in listing.runs]
    if not print_records(records, format):
        title = f"{len(listing.runs)} of {listing.total} runs in {safe(listing.location)}"
        if chosen:
            console.print(columns_table(listing.runs, chosen, title))
        else:
            print_wide_or_fitted(lambda width: runs_table(listing.runs, title=title, width=width), wide)


def show(
    run_id: Annotated[str, run_arg()],
    config_view: Annotated[
        ConfigView, typer.Option("--config", help="diff: only what differs from the preset; full: every key.")
    ] = ConfigView.diff,
    format: Annotated[
        Format,
        typer.Option(
            "--format", "-f", help="table; json (everything below); csv (its epochs, one row each, for pandas)."
        ),
    ] = Format.table,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every epoch column, however wide the terminal (default: what fits).")
    ] = False,
    db: DbOption = None,
) -> None:
    """One run: status, timings, config, every epoch, checkpoints and children.

    Example: mftctl show 3 --config full
    """
    from ..analysis.report import run_report
    from ..render.records import run_json, to_json
    from ..render.views import run_detail, stage2_summary_table

    report = run_report(db, resolve_runs(db, [run_id])[0])
    if format is Format.csv:
        from ..render.records import epoch_rows

        print_records(epoch_rows(report.run, report.epochs), format)
        return
    if format is not Format.table:
        from dataclasses import asdict

        record = run_json(report.run, report.epochs, report.checkpoints, report.children, report.tags)
        print_data(
            to_json(
                record
                | {"stage2": [asdict(m) | {"gap": m.gap, "gap_to_ceiling": m.gap_to_ceiling} for m in report.stage2]}
            )
        )
        return
    title, rows = report.config_rows(full=config_view is ConfigView.full)
    width = None if wide else console.width
    console.print(
        run_detail(report.run, report.epochs, report.checkpoints, rows, report.children, title, report.tags, width)
    )
    if report.stage2:
        console.print(stage2_summary_table(report.run, report.stage2))


def rm(
    run_ids: Annotated[list[str] | None, run_arg("Runs to delete, by id or name.")] = None,
    where: WhereOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")] = False,
    db: DbOption = None,
) -> None:
    """Delete runs: their rows (epochs, checkpoints, analyses) and their files, together.

    Example: mftctl rm 4 5   |   mftctl rm --where status=failed,crashed --yes
    """
    from ..runs.query import select_run_ids
    from ..store import open_settled, writes

    store = open_settled(db)
    ids = select_run_ids(store.location, resolve_runs(db, run_ids) if run_ids else run_ids, where)
    if not ids:
        raise MftctlError("no run selected; give run ids or --where")
    if not yes:
        if not sys.stdin.isatty():
            raise MftctlError(f"about to delete {len(ids)} run(s) ({_ids(ids)}); confirm with --yes")
        typer.confirm(f"Delete {len(ids)} run(s) ({_ids(ids)}) and their files?", abort=True)
    kept = writes.delete_runs(store, ids)
    console.print(f"deleted {len(ids)} run(s): {_ids(ids)}")
    if kept:
        shown = ", ".join(safe(p) for p in kept[:5]) + (f" … (+{len(kept) - 5})" if len(kept) > 5 else "")
        err_console.print(f"kept {len(kept)} file(s) or folder(s) this database did not make: {shown}")


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")


def export(
    out: Annotated[Path, typer.Argument(help="Folder to write runs.FORMAT and epochs.FORMAT into.")],
    where: WhereOption = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or json.")] = ExportFormat.csv,
    db: DbOption = None,
) -> None:
    """Export runs (with their flattened config) and every epoch, for pandas or a spreadsheet.

    Example: mftctl export out/ --where sweep=1   then   pandas.read_csv("out/epochs.csv")
    """
    from ..render.export import export_runs
    from ..store import open_settled

    store = open_settled(db)
    for path in export_runs(store, out, where=where, fmt=format.value):
        print_data(str(path))


def compare(
    run_ids: Annotated[list[str], run_arg("Two or more runs, by id or name; deltas are against the first.")],
    all_: Annotated[bool, typer.Option("--all", help="Every config key, not only those that differ.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Runs side by side: the config keys that differ, then final and best losses, blob numbers, training
    time and speed, with deltas against the first run.

    Example: mftctl compare 3 4 5   |   mftctl compare 3 4 --all --format csv
    """
    from ..analysis.compare import compare_runs
    from ..render.views import comparison_table
    from ..store import open_settled

    store = open_settled(db)
    comparison = compare_runs(store, resolve_runs(db, run_ids), every_key=all_)
    if not print_records(comparison.records(), format):
        console.print(comparison_table(comparison))


def stop(
    run_ids: Annotated[list[str], run_arg("Runs to stop, by id or name (queued or running on this host).")],
    db: DbOption = None,
) -> None:
    """Stop detached or runaway runs: each worker is asked to stop (it records `killed` and keeps its
    checkpoints; `train --resume ID` continues it), and forced after 15 s.

    Example: mftctl stop 7   |   mftctl train --resume 7
    """
    from ..runs.lifecycle import stop_run
    from ..store import open_settled, reads

    store = open_settled(db)
    run_ids = list(dict.fromkeys(resolve_runs(db, run_ids)))  # `stop 4 4` stops run 4 once
    reads.runs_by_id(store, run_ids)  # every id known before any is stopped
    for run_id in run_ids:
        console.print(f"run {run_id}: {stop_run(store, run_id)}")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("list")(list_)
    app.command()(show)
    app.command()(follow)
    app.command()(compare)
    app.command()(stop)
    app.command()(rm)
    app.command()(export)
