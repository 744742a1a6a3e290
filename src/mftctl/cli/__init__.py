"""The command line: each command parses its options, calls one library function and renders the result.
Heavy imports (torch, scikit-learn, matplotlib, even SQLAlchemy) happen inside the commands that need
them, so that `mftctl --help` and `mftctl list` start at once. Errors become one line at one boundary
(common.BoundaryGroup), around every command.

    runs.py      train, list, show, compare, stop, rm, export
    annotate.py  tag, note
    browse.py    ui (Datasette)
    sweeps.py    sweep run | show | list
    stage2.py    stage2
    analysis.py  diagnose, plot, stability, reanalyse
    admin.py     presets, config show, db info | upgrade, gc, worker (internal)
"""

from __future__ import annotations

import sys

import typer

from ..terminal import safe
from ..threads import claim_process
from . import admin, analysis, annotate, browse, runs, stage2, sweeps, theory
from .common import BoundaryGroup, console, err_console, reflow_help

app = typer.Typer(
    name="mftctl",
    cls=BoundaryGroup,
    help="A command-line laboratory for blob formation in two-layer denoising networks.\n\n"
    "Example: mftctl train --preset quick && mftctl list",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    add_completion=False,
)
for group in (runs, annotate, sweeps, stage2, analysis, theory, browse, admin):
    group.register(app)
reflow_help(app)


def main() -> None:
    """The console script: click's usage errors (a run id that is not a number, an unknown option) also
    become one `Error:` line and exit code 1, like every other refusal."""
    try:  # typer >= 0.20 vendors click; older ones use the click package
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover
        from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]

    claim_process()  # before anything loads torch: its threads wait as threads.py says
    undecodable = next((arg for arg in sys.argv[1:] if _not_utf8(arg)), None)
    if undecodable is not None:
        # Python keeps such bytes as lone surrogates, which no database, terminal or file can take.
        shown = undecodable.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        err_console.print(
            f"[red]Error:[/] argument '{safe(shown)}' is not UTF-8 text; mftctl takes names, tags, notes and "
            "paths in UTF-8 (check the terminal's or script's encoding)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
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


def _not_utf8(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


__all__ = ["app", "main"]
