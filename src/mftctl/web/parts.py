"""What every page of the lab is made of: a graph without links off the server, a labelled control, a
two-column table, and the page that says what is wrong."""

from __future__ import annotations

from typing import Any

from dash import dcc, html


def graph(**kwargs: Any) -> dcc.Graph:
    """A plotly graph without the modebar's link to plotly.com: the page links nowhere off this server."""
    return dcc.Graph(config={"displaylogo": False}, **kwargs)


def labelled(label: str, control: Any) -> html.Div:
    return html.Div([html.Div(label, style={"fontSize": "12px", "color": "#555"}), control])


def facts(kind: str, rows: list[tuple[Any, Any]]) -> html.Table:
    """Two columns, a name (grey) and its value; the table's class is `{kind}-table`."""
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


def error_page(message: str) -> html.Div:
    """A page that says what is wrong and where to go instead (never a traceback)."""
    return html.Div(
        [html.H3("Nothing to show here"), html.P(message, id="error"), dcc.Link("back to the runs", href="/")],
        className="error",
    )
