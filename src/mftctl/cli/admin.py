"""Housekeeping: presets and config keys, the database (info, upgrade, gc), and the internal worker."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..terminal import safe
from .common import ConfigFileOption, DbOption, Format, SetOption, console, err_console, print_data

db_app = typer.Typer(help="Database maintenance.\n\nExample: mftctl db info", no_args_is_help=True)
config_app = typer.Typer(help="Presets and config keys.\n\nExample: mftctl config show quick", no_args_is_help=True)


def presets(
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """List the named presets with their main settings.

    Example: mftctl presets
    """
    from ..config import preset_dict, preset_names, without_retired
    from ..render.records import to_json
    from ..render.views import presets_table

    if format is not Format.table:
        print_data(to_json({name: without_retired(preset_dict(name)) for name in preset_names()}))
        return
    console.print(presets_table())
    console.print("Full values: `mftctl config show PRESET`")


@config_app.command("show")
def config_show(
    preset: Annotated[str, typer.Argument(help="A preset name.")] = "reference_3blob",
    config_file: ConfigFileOption = None,
    set_: SetOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """Print a full, validated config: a preset plus an optional file and overrides.

    Example: mftctl config show quick --set training.epochs=2 --format json
    """
    from ..config_input import load_config
    from ..render.views import config_table

    config = load_config(preset, config_file, set_ or [])
    if format is not Format.table:
        print_data(config.model_dump_json(indent=2))
        return
    console.print(config_table(config, f"config ({preset})"))


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply pending schema migrations (mftctl also does this on first use).

    Example: mftctl db upgrade --db old.db
    """
    from ..store import open_store, schema_status, upgrade

    store = open_store(db, create=False, migrate=False, check_pending=False)
    applied = upgrade(store)
    where = safe(store.location)
    console.print(
        f"{where}: applied {', '.join(applied)}"
        if applied
        else f"{where}: schema is current ({schema_status(store)[0][-1]})"
    )


@db_app.command("info")
def db_info(db: DbOption = None) -> None:
    """Where the database is, its schema version and how many runs it holds.

    Example: mftctl db info
    """
    from ..render.views import kv_table
    from ..store import open_store, reads, schema_status

    # Opened as it is: info reports pending migrations, it never applies them.
    store = open_store(db, create=False, migrate=False, check_pending=False)
    applied, pending = schema_status(store)
    where = str(store.path.resolve()) if store.path else store.location.shown
    console.print(
        kv_table(
            "database",
            [
                ("store", safe(where)),
                ("engine", store.dialect),
                ("schema", applied[-1] if applied else "-"),
                ("pending migrations", ", ".join(pending) or "none"),
                ("runs", reads.count_runs(store)),
                ("artefacts", safe(store.runs_dir.resolve())),
            ],
        )
    )


def gc(
    dry_run: Annotated[bool, typer.Option(help="Report, delete nothing.")] = False,
    db: DbOption = None,
) -> None:
    """Remove checkpoint files no row accounts for, and checkpoint rows whose files are gone.

    Example: mftctl gc --dry-run
    """
    from ..store import open_settled
    from ..store.gc import collect, find_garbage

    store = open_settled(db)
    garbage = find_garbage(store)
    for path in garbage.orphans:
        console.print(f"{'would remove' if dry_run else 'removed'} file {safe(path)}", soft_wrap=True)
    for ckpt in garbage.lost:
        verb = "would drop" if dry_run else "dropped"
        console.print(f"{verb} row: run {ckpt.run_id} epoch {ckpt.epoch} ({safe(ckpt.path)} is gone)")
    if not dry_run:
        collect(store, garbage)
    console.print(
        f"{len(garbage.orphans)} orphan file(s), {len(garbage.lost)} row(s) without a file" + (" (dry run)" * dry_run)
    )
    if garbage.unplaced:
        runs = sorted({c.run_id for c in garbage.unplaced})
        err_console.print(
            f"kept {len(garbage.unplaced)} checkpoint row(s) of run(s) {', '.join(map(str, runs[:10]))}: their files "
            f"are not in a folder this database made under {safe(store.runs_dir)} (is MFTCTL_RUNS_DIR right? a "
            "copy of the database?)",
            soft_wrap=True,
        )


def worker(
    run_id: Annotated[int | None, typer.Argument(help="Run to execute.")] = None,
    serve: Annotated[bool, typer.Option(help="Train the runs whose ids arrive on stdin, one per line.")] = False,
    db: DbOption = None,
) -> None:
    """Internal: the subprocess that trains runs. Example: mftctl worker 3 --db mftctl.db"""
    from ..errors import MftctlError
    from ..runs.worker import run_worker
    from ..runs.worker import serve as serve_runs

    if (run_id is None) != serve:
        raise MftctlError("give a run id, or --serve (one of them)")
    code = serve_runs(db) if serve or run_id is None else run_worker(db, run_id)
    # Every run is recorded and the store closed: skip the interpreter's teardown, which after a run
    # frees its tensors and torch's modules one by one (0.3-0.9 s of every worker's wall here).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def register(app: typer.Typer) -> None:
    app.command()(presets)
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
    app.command()(gc)
    app.command(hidden=True)(worker)
