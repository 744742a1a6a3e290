"""`mftctl ui`: the store in a web page (Datasette)."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ..terminal import safe
from .common import DbOption, console


def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to serve on (127.0.0.1: this machine only).")] = "127.0.0.1",
    db: DbOption = None,
) -> None:
    """Browse the store in a web page: every table, a runs leaderboard, a sweep's cells, a run's epochs, and
    the run folders (figures) — read-only, with Datasette (`pip install 'mftctl\\[ui]'`). Ctrl-C stops it.

    Example: mftctl ui --port 8001   then open http://127.0.0.1:8001
    """
    from ..store import open_store
    from ..web.datasette import serve

    store = open_store(db, create=False)
    # SIGTERM (a service manager, `kill`) ends Datasette too, as Ctrl-C does, instead of orphaning it.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    with tempfile.TemporaryDirectory(prefix="mftctl-ui-") as folder:
        proc, name = serve(store, host, port, Path(folder) / "metadata.json")
        console.print(
            f"serving {safe(store.path)} read-only at http://{host}:{port}/ "
            f"(leaderboard: /{safe(name)}/leaderboard); Ctrl-C stops"
        )
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()


def register(app: typer.Typer) -> None:
    app.command()(ui)
