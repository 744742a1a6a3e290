"""`mftctl ui`: the lab in a browser (Dash: its assets, plotly.js included, ship in its wheel, so the page
works offline on a cluster). Read-only over either backend, through the store's read layer:

- `/` the runs: a table sortable and filterable by any column (and by `mftctl list --where` terms),
  each row with its blob-scatter thumbnail; the selected runs' curves overlaid, coloured by any key (a
  continuous scale for numbers), dashed by a second, grouped over seeds as mean ± std on request.
- `/run/ID` a run: its curves, its blob scatter, config, tags, note, stage-2 children, checkpoints.
- `/sweep/ID` a sweep: the pivot of a metric over two keys, parallel coordinates, a gallery of its cells'
  blob scatters, and a search's history.
- `/sweeps` every sweep.

Pages that show an active run refresh themselves every few seconds. The view's whole state (the
selection, the keys, the metric) is the URL's query, so a URL shares a view. Links are relative to the
server's root (no host in them). Thumbnails are drawn on first request and cached outside the store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import Dash, Input, Output, State, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import abort, send_file

from ..config import flatten
from ..errors import MftctlError
from ..short_names import short
from ..store import reads
from ..store.engine import Store
from ..terminal import fmt
from . import charts
from .data import (
    CONFIG_COLUMNS,
    CURVES,
    NUMERIC_COLUMNS,
    PAGE_SIZE,
    RUN_COLUMNS,
    RunsPage,
    any_active,
    key_choices,
    overlay_series,
    runs_page,
    table_filters,
    table_sort,
)
from .thumbs import thumbnail

REFRESH_MS = 3000
STYLE = {"fontFamily": "system-ui, sans-serif", "margin": "0 24px 24px 24px"}


def _query(search: str | None) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}


def _ids(text: str | None) -> list[int]:
    return [int(part) for part in (text or "").split(",") if part.strip().isdigit()]


def _error(message: str) -> html.Div:
    """A page that says what is wrong and where to go instead (never a traceback)."""
    return html.Div(
        [html.H3("Nothing to show here"), html.P(message, id="error"), dcc.Link("back to the runs", href="/")],
        className="error",
    )


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
                return _runs_page(store, _query(search))
            if parts == ["sweeps"]:
                return _sweeps_page(store)
            if len(parts) == 2 and parts[0] == "run":
                return _run_page(store, reads.row_id(parts[1]))
            if len(parts) == 2 and parts[0] == "sweep":
                return _sweep_page(store, reads.sweep_by_ref(store, parts[1]).id, _query(search))
        except MftctlError as exc:
            return _error(str(exc))
        return _error(f"no page {path!r}: the pages are /, /run/ID, /sweep/ID and /sweeps")

    _runs_callbacks(app, store)
    _run_callbacks(app, store)
    _sweep_callbacks(app, store)
    return app


# --- the runs --------------------------------------------------------------------------------------------


def _runs_page(store: Store, query: dict[str, str]) -> Any:
    options = [{"label": k, "value": k} for k in key_choices(store)]
    where, filter_query = query.get("where", ""), query.get("filter", "")
    sort_by = _sort_by(query.get("sort"))
    selected = sorted(set(_ids(query.get("runs"))))  # ids no run has simply select nothing
    page = int(query["page"]) - 1 if query.get("page", "").isdigit() else 0
    try:
        first = runs_page(store, table_filters(_terms(where), filter_query), table_sort(sort_by), page)
        problem = ""
    except MftctlError as exc:  # a malformed view in a shared URL: the table unfiltered, and why
        first, problem = runs_page(store, []), f"where: {exc}"
        where, filter_query, sort_by = "", "", []
    columns = [{"name": "blobs", "id": "thumb", "presentation": "markdown"}]
    shown = (*RUN_COLUMNS, *(short(k) for k in CONFIG_COLUMNS), "tags")
    columns += [_column(c) for c in shown]
    return html.Div(
        [
            html.Div(
                [
                    _labelled(
                        "curve",
                        dcc.Dropdown(
                            id="metric", options=list(CURVES), value=query.get("metric", "test_loss"), clearable=False
                        ),
                    ),
                    _labelled("colour by", dcc.Dropdown(id="colour", options=options, value=query.get("colour"))),
                    _labelled("dash by", dcc.Dropdown(id="dash", options=options, value=query.get("dash"))),
                    _labelled(
                        "seeds",
                        dcc.Checklist(
                            id="group",
                            options=[{"label": " mean ± std over seeds", "value": "seeds"}],
                            value=["seeds"] if query.get("group") == "seeds" else [],
                        ),
                    ),
                    _labelled(
                        "where (as `mftctl list --where`, comma between terms)",
                        dcc.Input(id="where", value=where, debounce=True, style={"width": "100%"}),
                    ),
                ],
                style={"display": "grid", "gridTemplateColumns": "1fr 1fr 1fr 1fr 2fr", "gap": "12px"},
            ),
            html.Div(problem, id="where-error", style={"color": "#b00"}),
            _graph(id="overlay", figure=charts.overlay([], query.get("metric", "test_loss"), None, None)),
            html.Div(id="selection-note", style={"color": "#555"}),
            html.Div(_matching(first), id="matching", style={"color": "#555", "fontSize": "13px"}),
            # The selection is of runs (their ids), kept across pages, sorts, filters and refreshes.
            dcc.Store(id="selected", data=selected),
            dcc.Store(id="drawn"),  # what the overlay was last drawn for
            dcc.Store(id="shown", data=_shown(first.page, sort_by, filter_query, where)),
            dash_table.DataTable(  # type: ignore[attr-defined]  # dash_table has no type information
                id="runs",
                columns=columns,
                data=_linked(first.rows),
                row_selectable="multi",
                selected_rows=_selected_rows(first.rows, selected),
                # Paged, sorted and filtered in the database: the browser holds one page of rows.
                page_action="custom",
                page_current=first.page,
                page_size=PAGE_SIZE,
                page_count=first.pages,
                sort_action="custom",
                sort_mode="single",
                sort_by=sort_by,
                filter_action="custom",
                filter_query=filter_query,
                markdown_options={"link_target": "_self"},
                style_cell={"fontSize": "13px", "textAlign": "right", "padding": "2px 6px"},
                style_cell_conditional=[{"if": {"column_id": "thumb"}, "width": "90px"}],
                css=[{"selector": "td[data-dash-column=thumb] img", "rule": "height: 72px"}],
            ),
        ]
    )


def _column(name: str) -> dict[str, Any]:
    """A runs-table column: the name a link; numbers typed numeric, so that the filter row reads a bare
    `0.01` as = 0.01 (and a word in a text column as `contains`)."""
    if name == "name":
        return {"name": name, "id": name, "presentation": "markdown"}
    return {"name": name, "id": name, "type": "numeric" if name in NUMERIC_COLUMNS else "text"}


def _triggers(ctx: Any) -> set[str]:
    """Every input that changed for this call ("tick.n_intervals", "runs.sort_by", ...). Dash merges
    changes that arrive together into one call, so `ctx.triggered_id` (the first of them) is not enough:
    a selection that came with a refresh tick is still a new selection."""
    return {t["prop_id"] for t in ctx.triggered}


def _sort_by(sort: str | None) -> list[dict[str, str]]:
    """`?sort=-test_loss` as DataTable's sort_by."""
    if not sort or sort.lstrip("-") not in (*RUN_COLUMNS, *(short(k) for k in CONFIG_COLUMNS)):
        return []
    return [{"column_id": sort.lstrip("-"), "direction": "desc" if sort.startswith("-") else "asc"}]


def _shown(page: int | None, sort_by: Any, filter_query: str | None, where: str | None) -> list[Any]:
    """What the table's rows were read for: its page, order and filters."""
    return [page or 0, sort_by or [], filter_query or "", where or ""]


def _terms(where: str | None) -> list[str]:
    return [t.strip() for t in (where or "").split(",") if t.strip()]


def _matching(page: RunsPage) -> str:
    return f"{page.matching:,} run{'s' if page.matching != 1 else ''} · page {page.page + 1} of {page.pages}"


def _selected_rows(rows: list[dict[str, Any]], selected: list[int]) -> list[int]:
    chosen = set(selected)
    return [i for i, row in enumerate(rows) if row["id"] in chosen]


def _linked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's thumbnail and its name as a link to its page (markdown cells; paths from the root)."""
    for row in rows:
        row["thumb"] = f"![run {row['id']}](/thumb/{row['id']}.png)"
        name = str(row["name"]).replace("[", "\\[").replace("]", "\\]")
        row["name"] = f"[{name}](/run/{row['id']})"
    return rows


def _graph(**kwargs: Any) -> dcc.Graph:
    """A plotly graph without the modebar's link to plotly.com: the page links nowhere off this server."""
    return dcc.Graph(config={"displaylogo": False}, **kwargs)


def _labelled(label: str, control: Any) -> html.Div:
    return html.Div([html.Div(label, style={"fontSize": "12px", "color": "#555"}), control])


def _runs_callbacks(app: Dash, store: Store) -> None:
    @app.callback(
        Output("overlay", "figure"),
        Output("selection-note", "children"),
        Output("drawn", "data"),
        Input("selected", "data"),
        Input("metric", "value"),
        Input("colour", "value"),
        Input("dash", "value"),
        Input("group", "value"),
        Input("tick", "n_intervals"),
        State("drawn", "data"),
    )
    def _overlay(selected, metric, colour, dash, group, tick, drawn):
        from dash import ctx

        ids = sorted(selected or [])
        wanted = [ids, metric, colour, dash, group or []]
        if _triggers(ctx) == {"tick.n_intervals"} and drawn == wanted and not (ids and any_active(store, ids)):
            # Nothing changes while no selected run trains. A tick still redraws a figure that is not of
            # the view asked for: Dash can drop a change that comes while this callback is in flight.
            raise PreventUpdate
        keys = [k for k in (colour, dash) if k]
        series = overlay_series(store, ids, metric, keys, "seeds" in (group or [])) if ids else []
        note = (
            f"{len(ids)} run(s) selected: " + ", ".join(f"run {i}" for i in ids)
            if ids
            else "select runs in the table to overlay their curves"
        )
        return charts.overlay(series, metric, colour, dash), note, wanted

    @app.callback(
        Output("url", "search"),
        Input("selected", "data"),
        Input("metric", "value"),
        Input("colour", "value"),
        Input("dash", "value"),
        Input("group", "value"),
        Input("where", "value"),
        Input("runs", "sort_by"),
        Input("runs", "filter_query"),
        Input("runs", "page_current"),
        State("url", "search"),
    )
    def _view(selected, metric, colour, dash, group, where, sort_by, filter_query, page, search):
        """The whole view in the URL's query: a URL shares it."""
        key, desc = table_sort(sort_by)
        state = {
            "runs": ",".join(map(str, sorted(selected or []))),
            "metric": metric,
            "colour": colour,
            "dash": dash,
            "group": "seeds" if "seeds" in (group or []) else None,
            "where": where or None,
            "sort": f"{'-' if desc else ''}{(sort_by or [{}])[0].get('column_id')}" if key else None,
            "filter": filter_query or None,
            "page": str(page + 1) if page else None,
        }
        wanted = "?" + urlencode({k: v for k, v in state.items() if v})
        if wanted == search:
            raise PreventUpdate
        return wanted

    @app.callback(
        Output("selected", "data"),
        Input("runs", "selected_rows"),
        State("runs", "data"),
        State("selected", "data"),
        State("shown", "data"),
        State("runs", "page_current"),
        State("runs", "sort_by"),
        State("runs", "filter_query"),
        State("where", "value"),
        prevent_initial_call=True,
    )
    def _select(rows, data, selected, shown, page_current, sort_by, filter_query, where):
        """The page's ticks replace what was selected among its own runs; runs on other pages stay."""
        page = {row["id"] for row in data or []}
        ticked = {data[i]["id"] for i in rows or [] if i < len(data or [])}
        if shown == _shown(page_current, sort_by, filter_query, where):
            now = sorted((set(selected or []) - page) | ticked)
        elif ticked:  # a tick on the rows still shown while the next page loads: added, nothing taken away
            now = sorted(set(selected or []) | ticked)
        else:
            # The table empties its ticks itself as soon as the page, order or filter changes, before the
            # new rows arrive: that is not the user unticking the rows still shown.
            raise PreventUpdate
        if now == sorted(selected or []):
            raise PreventUpdate
        return now

    @app.callback(
        Output("runs", "data"),
        Output("runs", "selected_rows"),
        Output("runs", "page_count"),
        Output("runs", "page_current"),
        Output("matching", "children"),
        Output("shown", "data"),
        Output("where-error", "children"),
        Input("runs", "page_current"),
        Input("runs", "sort_by"),
        Input("runs", "filter_query"),
        Input("where", "value"),
        Input("tick", "n_intervals"),
        State("selected", "data"),
        State("runs", "data"),
        State("shown", "data"),
        prevent_initial_call=True,  # the page is laid out with its first rows
    )
    def _rows(page, sort_by, filter_query, where, tick, selected, data, shown_view):
        from dash import ctx

        triggers = _triggers(ctx)
        current = shown_view == _shown(page, sort_by, filter_query, where)
        if triggers == {"tick.n_intervals"} and current and not any_active(store):
            raise PreventUpdate  # (a tick reads rows that are not of the view asked for again, as above)
        table_page = page
        if triggers & {"where.value", "runs.sort_by", "runs.filter_query"} and "runs.page_current" not in triggers:
            page = 0  # a new filter or order starts at its first page
        try:
            shown = runs_page(store, table_filters(_terms(where), filter_query), table_sort(sort_by), page or 0)
        except MftctlError as exc:
            what = "where" if "where.value" in triggers else "filter"
            # The rows shown stay, their ticks put back (the table emptied them when its filter changed).
            view = _shown(table_page, sort_by, filter_query, where)
            ticks = _selected_rows(data or [], selected or [])
            return no_update, ticks, no_update, no_update, no_update, view, f"{what}: {exc}"
        rows = _linked(shown.rows)
        view = _shown(shown.page, sort_by, filter_query, where)
        return rows, _selected_rows(rows, selected or []), shown.pages, shown.page, _matching(shown), view, ""


# --- a run -----------------------------------------------------------------------------------------------


def _run_page(store: Store, run_id: int) -> Any:
    from ..analysis.trajectories import run_tracks

    run = reads.get_run(store, run_id)
    config = flatten(run.config)
    epochs = reads.epochs(store, run.id)
    children = reads.children(store, run.id)
    checkpoints = reads.checkpoints(store, run.id)
    tags = reads.tags_of(store, [run.id]).get(run.id, [])
    facts = [
        ("status", run.status),
        ("kind", run.kind),
        ("preset", run.preset),
        ("seed", run.seed),
        ("parent", run.parent_id),
        ("sweep", run.sweep_id),
        ("tags", " ".join(tags) or "-"),
        ("note", run.note or "-"),
    ]
    return html.Div(
        [
            html.H3(f"run {run.id} {run.name}"),
            html.Div(
                [
                    html.Span("epochs "),
                    html.Span(f"{run.epochs_done}/{run.epochs_total}", id="epochs-done"),
                    html.Span(" · test loss "),
                    html.Span(fmt(run.last_test_loss), id="run-loss"),
                ],
            ),
            dcc.Store(id="run-id", data=run.id),
            _graph(id="run-curves", figure=charts.run_curves(epochs, _references(run))),
            html.Div(
                [
                    html.Img(src=f"/scatter/{run.id}.png", id="run-scatter", style={"height": "416px"}),
                    _table("run", facts),
                ],
                style={"display": "flex", "gap": "24px", "alignItems": "flex-start"},
            ),
            html.H4("blob trajectories"),
            _graph(id="run-trajectories", figure=charts.trajectories(run_tracks(epochs))),
            html.H4("stage-2 children"),
            _children(store, run, epochs, children),
            html.H4("checkpoints"),
            _table("checkpoint", [(c.epoch, f"{c.kind} · {c.bytes:,} bytes") for c in checkpoints])
            if checkpoints
            else html.P("none"),
            html.H4("config"),
            _table("config", sorted(config.items())),
        ]
    )


def _references(run: Any) -> dict[str, float] | None:
    from ..config import validate
    from ..science.baselines import reference_losses

    try:
        refs = reference_losses(validate(run.config))
    except Exception:  # an old row's config: the curves stand without their reference lines
        return None
    return {k: v["loss"] for k, v in refs.items() if isinstance(v, dict) and "loss" in v}


def _children(store: Store, run: Any, epochs: list[Any], children: list[Any]) -> Any:
    """Each stage-2 method's children as `mftctl stage2 summary` reads them (stage2/summary.py: the gap to
    the parent's loss at the checkpoint they were drawn from, and to the ceiling), then every child."""
    if not children:
        return html.P("none")
    from ..stage2.summary import child_method, stored_summaries

    parts: list[Any] = []
    summaries = stored_summaries(store, epochs, children)
    if summaries:
        header = ("method", "traces", "final test", "parent test", "gap", "vs ceiling", "reached parent")
        rows = [
            (
                m.method,
                f"{m.completed}/{m.traces}",
                f"{fmt(m.final)} ± {fmt(m.final_std)}" if m.final_std is not None else fmt(m.final),
                fmt(m.parent_loss),
                fmt(m.gap),
                "-" if m.gap_to_ceiling is None else f"{100 * m.gap_to_ceiling:+.1f}%",
                f"{m.reached}/{m.completed}",
            )
            for m in summaries
        ]
        parts.append(
            html.Table(
                [html.Tr([html.Th(h, style={"paddingRight": "12px"}) for h in header])]
                + [html.Tr([html.Td(v, style={"paddingRight": "12px"}) for v in row]) for row in rows],
                className="stage2-table",
                style={"fontSize": "13px"},
            )
        )
    parts.append(
        _table(
            "child",
            [
                (
                    dcc.Link(f"run {c.id}", href=f"/run/{c.id}"),
                    f"{child_method(c)} · {c.status} · test loss {fmt(c.last_test_loss)}",
                )
                for c in children
            ],
        )
    )
    return html.Div(parts)


def _table(kind: str, rows: list[tuple[Any, Any]]) -> html.Table:
    return html.Table(
        [
            html.Tr(
                [
                    html.Td(
                        k if not isinstance(k, str | int | float) else str(k),
                        style={"paddingRight": "12px", "color": "#555"},
                    ),
                    html.Td(v if not isinstance(v, str | int | float | type(None)) else str(v)),
                ]
            )
            for k, v in rows
        ],
        className=f"{kind}-table",
        style={"fontSize": "13px"},
    )


def _run_callbacks(app: Dash, store: Store) -> None:
    @app.callback(
        Output("run-curves", "figure"),
        Output("run-trajectories", "figure"),
        Output("epochs-done", "children"),
        Output("run-loss", "children"),
        Input("tick", "n_intervals"),
        State("run-id", "data"),
    )
    def _live(tick, run_id):
        from ..analysis.trajectories import run_tracks

        if run_id is None or not any_active(store, [run_id]):
            raise PreventUpdate
        run = reads.get_run(store, run_id)
        epochs = reads.epochs(store, run_id)
        return (
            charts.run_curves(epochs, _references(run)),
            charts.trajectories(run_tracks(epochs)),
            f"{run.epochs_done}/{run.epochs_total}",
            fmt(run.last_test_loss),
        )


# --- sweeps ----------------------------------------------------------------------------------------------


def _sweeps_page(store: Store) -> Any:
    sweeps = reads.sweeps(store)
    counts = reads.sweep_status_counts(store)
    if not sweeps:
        return html.P("no sweeps in this store yet (`mftctl sweep FILE`)")
    return _table(
        "sweep",
        [
            (
                dcc.Link(f"sweep {s.id}", href=f"/sweep/{s.id}"),
                f"{s.name} · " + ", ".join(f"{n} {k}" for k, n in sorted(counts.get(s.id, {}).items())),
            )
            for s in sweeps
        ],
    )


def _sweep_page(store: Store, sweep_id: int, query: dict[str, str]) -> Any:
    from ..analysis.sweep_summary import PIVOT_METRICS, summarize

    # with stability: each gallery card says how stable its cell's blobs are over its seeds
    summary = summarize(store, reads.get_sweep(store, sweep_id), stability=True)
    varied = [k for k in summary.varied if k != "seed"]
    parts: list[Any] = [
        html.H3(f"sweep {summary.sweep} {summary.name}"),
        html.P(f"{summary.runs} runs · " + ", ".join(f"{n} {k}" for k, n in sorted(summary.statuses.items()))),
        dcc.Store(id="sweep-id", data=summary.sweep),
    ]
    if len(varied) >= 2:
        rows, cols = query.get("rows", varied[0]), query.get("cols", varied[1])
        parts += [
            html.H4("pivot"),
            html.Div(
                [
                    _labelled("rows", dcc.Dropdown(id="pivot-rows", options=varied, value=rows, clearable=False)),
                    _labelled("columns", dcc.Dropdown(id="pivot-cols", options=varied, value=cols, clearable=False)),
                    _labelled(
                        "metric",
                        dcc.Dropdown(
                            id="pivot-metric",
                            options=list(PIVOT_METRICS),
                            value=query.get("metric", "test_loss"),
                            clearable=False,
                        ),
                    ),
                ],
                style={"display": "grid", "gridTemplateColumns": "1fr 1fr 1fr", "gap": "12px"},
            ),
            _graph(id="pivot"),
        ]
    if len(summary.finished) > 1:  # one cell has no coordinates to compare
        parts += [html.H4("parallel coordinates"), _graph(figure=charts.parallel(summary.finished, varied))]
    parts += [
        html.H4("cells"),
        html.Div(_gallery(summary), id="gallery", style={"display": "flex", "flexWrap": "wrap", "gap": "12px"}),
    ]
    if summary.search is not None:
        objectives = summary.search.objectives
        parts += [html.H4("search history"), _graph(figure=charts.search_history(summary.search.trials, objectives))]
    return html.Div(parts)


def _gallery(summary: Any) -> list[Any]:
    cards = []
    for cell in summary.cells:
        first = cell.runs[0] if cell.runs else None
        numbers = f"loss {cell.test_loss:.4g}" if cell.test_loss is not None else "no loss yet"
        if cell.separation is not None:
            numbers += f" · sep {cell.separation:.3f}"
        if cell.stability is not None:  # over its completed seeds (docs/science.md, stability)
            numbers += f" · {cell.stability}"
        cards.append(
            html.Div(
                [
                    html.Img(src=f"/thumb/{first}.png", className="cell-thumb", style={"height": "180px"})
                    if first
                    else None,
                    html.Div(cell.short_label, style={"fontSize": "12px"}),
                    html.Div(
                        f"{numbers} · {cell.completed}/{cell.seeds} seeds", style={"fontSize": "12px", "color": "#555"}
                    ),
                    dcc.Link(f"run {first}", href=f"/run/{first}") if first else None,
                ],
                className="cell-card",
                style={"border": "1px solid #ddd", "padding": "6px", "width": "200px"},
            )
        )
    return cards


def _sweep_callbacks(app: Dash, store: Store) -> None:
    @app.callback(
        Output("pivot", "figure"),
        Input("pivot-rows", "value"),
        Input("pivot-cols", "value"),
        Input("pivot-metric", "value"),
        State("sweep-id", "data"),
    )
    def _pivot(rows, cols, metric, sweep_id):
        from ..analysis.sweep_summary import PIVOT_METRICS, summarize

        summary = summarize(store, reads.get_sweep(store, sweep_id), stability=False)
        row_values, col_values, grid = summary.pivot(rows, cols, metric)
        return charts.pivot_heatmap(row_values, col_values, grid, short(rows), short(cols), PIVOT_METRICS[metric])
