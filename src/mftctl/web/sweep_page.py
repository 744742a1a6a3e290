"""A sweep's page (`/sweep/ID` or NAME): the pivot of a metric over two keys, parallel coordinates, a
gallery of its cells' blob scatters, a search's history; and `/sweeps`, every sweep."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, html

from ..short_names import short
from ..store import reads
from ..store.engine import Store
from . import charts
from .parts import facts, graph, labelled


def sweeps_layout(store: Store) -> Any:
    sweeps = reads.sweeps(store)
    counts = reads.sweep_status_counts(store)
    if not sweeps:
        return html.P("no sweeps in this store yet (`mftctl sweep FILE`)")
    return facts(
        "sweep",
        [
            (
                dcc.Link(f"sweep {s.id}", href=f"/sweep/{s.id}"),
                f"{s.name} · " + ", ".join(f"{n} {k}" for k, n in sorted(counts.get(s.id, {}).items())),
            )
            for s in sweeps
        ],
    )


def layout(store: Store, sweep_id: int, query: dict[str, str]) -> Any:
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
                    labelled("rows", dcc.Dropdown(id="pivot-rows", options=varied, value=rows, clearable=False)),
                    labelled("columns", dcc.Dropdown(id="pivot-cols", options=varied, value=cols, clearable=False)),
                    labelled(
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
            graph(id="pivot"),
        ]
    if len(summary.finished) > 1:  # one cell has no coordinates to compare
        parts += [html.H4("parallel coordinates"), graph(figure=charts.parallel(summary.finished, varied))]
    parts += [
        html.H4("cells"),
        html.Div(_gallery(summary), id="gallery", style={"display": "flex", "flexWrap": "wrap", "gap": "12px"}),
    ]
    if summary.search is not None:
        objectives = summary.search.objectives
        parts += [html.H4("search history"), graph(figure=charts.search_history(summary.search.trials, objectives))]
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


def register(app: Dash, store: Store) -> None:
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
