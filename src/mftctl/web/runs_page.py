"""The runs page (`/`): the runs table — paged, sorted and filtered in the database, its ticks kept as
run ids across pages — and the ticked runs' curves overlaid, coloured and dashed by any key. The whole
view is the URL's query."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from dash import Dash, Input, Output, State, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from ..errors import MftctlError
from ..store.engine import Store
from . import charts
from .data import (
    CURVES,
    NUMERIC_COLUMNS,
    PAGE_SIZE,
    TABLE_COLUMNS,
    RunsPage,
    any_active,
    key_choices,
    overlay_series,
    page_of_runs,
    table_filters,
    table_sort,
)
from .parts import graph, labelled


def _ids(text: str | None) -> list[int]:
    return [int(part) for part in (text or "").split(",") if part.strip().isdecimal()]


def layout(store: Store, query: dict[str, str]) -> Any:
    options = [{"label": k, "value": k} for k in key_choices(store)]
    where, filter_query = query.get("where", ""), query.get("filter", "")
    sort_by = _sort_by(query.get("sort"))
    selected = sorted(set(_ids(query.get("runs"))))  # ids no run has simply select nothing
    page = int(query["page"]) - 1 if query.get("page", "").isdecimal() else 0
    try:
        first = page_of_runs(store, table_filters(_terms(where), filter_query), table_sort(sort_by), page)
        problem = ""
    except MftctlError as exc:  # a malformed view in a shared URL: the table unfiltered, and why
        first, problem = page_of_runs(store, []), f"where: {exc}"
        where, filter_query, sort_by = "", "", []
    columns = [{"name": "blobs", "id": "thumb", "presentation": "markdown"}]
    columns += [_column(c) for c in TABLE_COLUMNS]
    return html.Div(
        [
            html.Div(
                [
                    labelled(
                        "curve",
                        dcc.Dropdown(
                            id="metric", options=list(CURVES), value=query.get("metric", "test_loss"), clearable=False
                        ),
                    ),
                    labelled("colour by", dcc.Dropdown(id="colour", options=options, value=query.get("colour"))),
                    labelled("dash by", dcc.Dropdown(id="dash", options=options, value=query.get("dash"))),
                    labelled(
                        "seeds",
                        dcc.Checklist(
                            id="group",
                            options=[{"label": " mean ± std over seeds", "value": "seeds"}],
                            value=["seeds"] if query.get("group") == "seeds" else [],
                        ),
                    ),
                    labelled(
                        "where (as `mftctl list --where`, comma between terms)",
                        dcc.Input(id="where", value=where, debounce=True, style={"width": "100%"}),
                    ),
                ],
                style={"display": "grid", "gridTemplateColumns": "1fr 1fr 1fr 1fr 2fr", "gap": "12px"},
            ),
            html.Div(problem, id="where-error", style={"color": "#b00"}),
            graph(id="overlay", figure=charts.overlay([], query.get("metric", "test_loss"), None, None)),
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
                css=[
                    {"selector": "td[data-dash-column=thumb] img", "rule": "height: 72px"},
                    # A word filters in any case (the database's LIKE on lower()): no case toggle to offer.
                    {"selector": ".dash-filter--case", "rule": "display: none"},
                ],
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
    if not sort or sort.lstrip("-") not in TABLE_COLUMNS or sort.lstrip("-") == "tags":  # no order by tags
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


def register(app: Dash, store: Store) -> None:
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
            shown = page_of_runs(store, table_filters(_terms(where), filter_query), table_sort(sort_by), page or 0)
        except MftctlError as exc:
            what = "where" if "where.value" in triggers else "filter"
            # The rows shown stay, their ticks put back (the table emptied them when its filter changed).
            view = _shown(table_page, sort_by, filter_query, where)
            ticks = _selected_rows(data or [], selected or [])
            return no_update, ticks, no_update, no_update, no_update, view, f"{what}: {exc}"
        rows = _linked(shown.rows)
        view = _shown(shown.page, sort_by, filter_query, where)
        return rows, _selected_rows(rows, selected or []), shown.pages, shown.page, _matching(shown), view, ""
