"""What every command shares: the consoles, the option types, output helpers, and the one error boundary."""

from __future__ import annotations

import inspect
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console

from ..errors import MftctlError, environment_message
from ..terminal import safe
from ..threads import check_environment


def _console(stderr: bool = False) -> Console:
    # Piped output (logs, CI, `| less`) has no width; rich would assume 80 and crush the tables.
    probe = Console(stderr=stderr)
    wide = not probe.is_terminal and "COLUMNS" not in os.environ
    # soft_wrap: a line of text (a file path to copy, a message) is never broken at the terminal's width.
    return Console(stderr=stderr, width=160, soft_wrap=True) if wide else Console(stderr=stderr, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)


def print_wide_or_fitted(build: Any, wide: bool) -> None:
    """Print the table `build(width)` makes: fitted to the terminal's width, or with `wide` every column at
    its natural width (a terminal narrower than that wraps the lines)."""
    if not wide:
        console.print(build(console.width))
        return
    from rich.measure import Measurement

    table = build(None)
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    # Console.print never draws wider than its console: a console of the table's own width does.
    Console(width=max(console.width, natural), soft_wrap=True).print(table)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite file or PostgreSQL URL (postgresql://user@host/db); default: $MFTCTL_DB, else ./mftctl.db.",
        show_default=False,
        metavar="DB",
    ),
]
PresetOption = Annotated[
    str | None, typer.Option("--preset", "-p", help="Named preset (`mftctl presets`).", metavar="NAME")
]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML or JSON file of config sections.", exists=True, dir_okay=False),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override one key, e.g. --set training.learning_rate=0.01 or --set lr=0.01 (repeatable).",
        metavar="KEY=VALUE",
    ),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(help="Select runs with KEY OP VALUE (as `mftctl list --where`; repeatable).", metavar="CONDITION"),
]


def run_arg(help_text: str = "The run: its id, or its name (the first two columns of `mftctl list`).") -> Any:
    """A typer argument that takes a run by id or by name; `resolve_runs` turns it into ids."""
    return typer.Argument(help=help_text, metavar="RUN")


def resolve_runs(db: str | None, refs: list[str]) -> list[int]:
    """Run ids from ids or names, in the order given: a string of digits is an id (no database read); any
    other is a run's name, looked up once for all of them, refused in one line when no run or several
    runs have it."""
    from ..store import reads

    names = [r for r in refs if not r.strip().lstrip("+-").isdecimal()]
    found: dict[str, list[int]] = {}
    if names:
        from ..store import open_settled

        found = reads.ids_named(open_settled(db), list(dict.fromkeys(names)))
    ids = []
    for ref in refs:
        if ref not in found:
            ids.append(reads.row_id(ref))
            continue
        match found[ref]:
            case [one]:
                ids.append(one)
            case []:
                raise MftctlError(f"no run named {ref!r}; `mftctl list` shows every run's id and name")
            case several:
                raise MftctlError(
                    f"{len(several)} runs are named {ref!r} (ids {', '.join(map(str, several))}); give the id"
                )
    return ids


def error_line(message: str) -> None:
    one_line = message.replace("\n", "\\n")  # user text inside a message must not break the line
    err_console.print(f"[red]Error:[/] {safe(one_line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1) from None


def reflow(doc: str | None) -> str | None:
    """A command's docstring as `--help` should print it: each paragraph's source line breaks joined, so
    that the terminal wraps it at its own width (typer keeps them after the first paragraph, which at 80
    columns broke sentences mid-line). A paragraph of list items (`- ...`) keeps its lines."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(
        p if any(line.lstrip().startswith(("-", "•", "\b")) for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


def _flag_type_hidden() -> None:
    """Typer prints every option's type beside it: `<bool>` for a flag, which takes no value. A flag shows
    none (the options that take values keep theirs)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flag_type_hidden()


def reflow_help(app: typer.Typer) -> None:
    """Every command's docstring of the app (and its sub-apps) reflowed for `--help` (see reflow)."""
    for info in app.registered_commands:
        if info.callback is not None and info.help is None:
            info.callback.__doc__ = reflow(info.callback.__doc__)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


class BoundaryGroup(typer.core.TyperGroup):
    """The one error boundary, around every command: MftctlError -> `Error: ...` on stderr, exit code 1,
    no traceback; the machine's failures (a full disk, a vanished file, a lost database) likewise."""

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        # A junk MFTCTL_THREADS (or OMP_NUM_THREADS, SLURM_CPUS_PER_TASK) is refused before any command
        # writes anything. The worker is the exception: it records the refusal on the run it was handed.
        if name != "worker":
            check_environment()
        return name, command, rest

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MftctlError as exc:
            error_line(str(exc))
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            message = environment_message(exc)
            if message is None:
                raise
            error_line(message)


def print_data(text: str) -> None:
    """Machine-readable output goes to stdout untouched by rich."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def print_records(records: list[dict], fmt: Format) -> bool:
    """JSON or CSV of plain records on stdout; False for a table (the caller renders it)."""
    from ..render.records import to_csv, to_json

    if fmt is Format.json:
        print_data(to_json(records))
    elif fmt is Format.csv:
        print_data(to_csv(records))
    return fmt is not Format.table
