"""Commands that annotate runs: tag, note."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import MftctlError
from ..terminal import safe
from .common import DbOption, console, resolve_runs, run_arg


def tag(
    args: Annotated[
        list[str], typer.Argument(help="RUN... NAME: the runs (ids or names), then the tag.", metavar="RUN... NAME")
    ],
    remove: Annotated[bool, typer.Option("--remove", "-r", help="Take the tag off the runs instead.")] = False,
    db: DbOption = None,
) -> None:
    """Tag runs, to find them again with `mftctl list --where tag=NAME`.

    Example: mftctl tag 3 4 baseline   |   mftctl tag 4 baseline --remove
    """
    from ..runs.annotate import tag_runs
    from ..store import open_store

    if len(args) < 2:
        raise MftctlError("give one or more run ids, then the tag: `mftctl tag 3 4 baseline`")
    *runs, name = args
    done = tag_runs(open_store(db, create=False), resolve_runs(db, runs), name, remove=remove)
    verb = "untagged" if remove else "tagged"
    console.print(f"{verb} run(s) {', '.join(map(str, done))} {'' if remove else 'with '}#{safe(name)}")


def note(
    run: Annotated[str, run_arg()],
    text: Annotated[str, typer.Argument(help="The note (an empty string clears it).")],
    db: DbOption = None,
) -> None:
    """Write a note on a run, shown by `show` and kept in `export`.

    Example: mftctl note 3 "lr too high: blobs merge after epoch 12"
    """
    from ..runs.annotate import note_run
    from ..store import open_store

    run_id = resolve_runs(db, [run])[0]
    note_run(open_store(db, create=False), run_id, text)
    console.print(f"run {run_id}: note {'cleared' if not text.strip() else 'saved'}")


def register(app: typer.Typer) -> None:
    app.command()(tag)
    app.command()(note)
