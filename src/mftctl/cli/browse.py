"""`mftctl ui`: the lab in a browser (web/app.py, Dash), or the raw tables and SQL (Datasette)."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ..errors import MftctlError
from ..terminal import safe
from .common import DbOption, console


def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to serve on (127.0.0.1: this machine only).")] = "127.0.0.1",
    datasette: Annotated[
        bool, typer.Option("--datasette", help="Serve the raw tables and SQL instead (SQLite stores; Datasette).")
    ] = False,
    db: DbOption = None,
) -> None:
    """The lab in a browser, read-only, on SQLite or PostgreSQL: runs paged, sorted and filtered in the
    database with their blob thumbnails, their curves overlaid and coloured by any key (mean ± std over
    seeds on request), a run's page (blob trajectories, its mixture, stage-2 children per method), a
    sweep's pivot, parallel coordinates and gallery of blobs; pages of running runs update on their own,
    and the URL holds the view. Needs `pip install 'mftctl\\[ui]'`. Ctrl-C stops it.

    Example: mftctl ui --port 8001   then open http://127.0.0.1:8001
    """
    from ..store import open_store

    store = open_store(db, create=False)
    # SIGTERM (a service manager, `kill`) ends the server as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    if datasette:
        _serve_datasette(store, host, port)
        return
    from ..web.datasette import check_port_free

    try:
        from ..web.app import build_app
    except ImportError:
        raise MftctlError("`mftctl ui` needs Dash; install it with `pip install 'mftctl[ui]'`") from None
    check_port_free(host, port)
    app = build_app(store)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"serving {safe(store.location.shown)} read-only at http://{shown}:{port}/ ; Ctrl-C stops")
    try:
        app.run(host=host, port=port, debug=False, dev_tools_silence_routes_logging=True)
    except KeyboardInterrupt:
        pass


def _serve_datasette(store, host: str, port: int) -> None:
    from ..web.datasette import serve

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
