"""`mftctl ui`: the lab in a browser (Dash: its assets, plotly.js included, ship in its wheel, so the page
works offline on a cluster). Read-only over either backend, through the store's read layer:

- `/` the runs: a table sortable and filterable by any column (and by `mftctl list --where` terms),
  each row with its blob-scatter thumbnail; the selected runs' curves overlaid, coloured by any key (a
  continuous scale for numbers), dashed by a second, grouped over seeds as mean ± std on request.
- `/run/ID` a run: its curves, its blob scatter, config, tags, note, stage-2 children, checkpoints.
- `/sweep/ID` a sweep: the pivot of a metric over two keys, parallel coordinates, a gallery of its cells'
  blob scatters, and a search's history.
- `/sweeps` every sweep.

Each page is a module (runs_page, run_page, sweep_page: its layout and its callbacks), built of parts.py;
what they show is read in data.py and drawn in charts.py. Pages that show an active run refresh
themselves every few seconds. The view's whole state (the
selection, the keys, the metric) is the URL's query, so a URL shares a view. Links are relative to the
server's root (no host in them). Thumbnails are drawn on first request and cached outside the store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from dash import Dash, Input, Output, State, dcc, html
from flask import abort, send_file

from ..errors import MftctlError
from ..store import reads
from ..store.engine import Store
from . import run_page, runs_page, sweep_page
from .parts import error_page
from .thumbs import thumbnail

REFRESH_MS = 3000
STYLE = {"fontFamily": "system-ui, sans-serif", "margin": "0 24px 24px 24px"}


def _query(search: str | None) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}


def build_app(store: Store) -> Dash:
    app = Dash(
        __name__,
        title="mftctl",
        update_title=None,  # type: ignore[arg-type]  # documented: None keeps the title while updating
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    server = app.server

    @server.route("/thumb/<int:run_id>.png")
    def _thumb(run_id: int) -> Any:
        try:
            return send_file(thumbnail(store, run_id), mimetype="image/png", max_age=60)
        except MftctlError:
            abort(404)

    @server.route("/scatter/<int:run_id>.png")
    def _scatter(run_id: int) -> Any:
        try:
            return send_file(thumbnail(store, run_id, large=True), mimetype="image/png", max_age=60)
        except MftctlError:
            abort(404)

    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Div(
                [
                    html.B("mftctl", style={"marginRight": "16px"}),
                    dcc.Link("runs", href="/", style={"marginRight": "12px"}),
                    dcc.Link("sweeps", href="/sweeps"),
                    html.Span(f" · {store.location.shown}", style={"color": "#777", "marginLeft": "12px"}),
                ],
                style={"padding": "10px 0", "borderBottom": "1px solid #ddd", "marginBottom": "12px"},
            ),
            html.Div(id="page"),
            dcc.Interval(id="tick", interval=REFRESH_MS),
        ],
        style=STYLE,
    )

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    def _route(path: str | None, search: str | None) -> Any:
        parts = [p for p in (path or "/").split("/") if p]
        try:
            if not parts:
                return runs_page.layout(store, _query(search))
            if parts == ["sweeps"]:
                return sweep_page.sweeps_layout(store)
            if len(parts) == 2 and parts[0] == "run":
                return run_page.layout(store, reads.row_id(parts[1]))
            if len(parts) == 2 and parts[0] == "sweep":
                return sweep_page.layout(store, reads.sweep_by_ref(store, parts[1]).id, _query(search))
        except MftctlError as exc:
            return error_page(str(exc))
        return error_page(f"no page {path!r}: the pages are /, /run/ID, /sweep/ID and /sweeps")

    runs_page.register(app, store)
    run_page.register(app, store)
    sweep_page.register(app, store)
    return app
