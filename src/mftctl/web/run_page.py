"""A run's page (`/run/ID`): its curves with the reference lines, its blob scatter (with the mixture
`mftctl diagnose` stored), its blob trajectories, facts, stage-2 children per method, checkpoints and
config; live while it trains."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from ..config import flatten
from ..store import reads
from ..store.engine import Store
from ..terminal import fmt, fmt_pm
from . import charts
from .data import any_active
from .parts import facts, graph


def layout(store: Store, run_id: int) -> Any:
    from ..analysis.trajectories import run_tracks

    run = reads.get_run(store, run_id)
    config = flatten(run.config)
    epochs = reads.epochs(store, run.id)
    children = reads.children(store, run.id)
    checkpoints = reads.checkpoints(store, run.id)
    tags = reads.tags_of(store, [run.id]).get(run.id, [])
    about = [
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
            graph(id="run-curves", figure=charts.run_curves(epochs, _references(run))),
            html.Div(
                [
                    html.Img(src=f"/scatter/{run.id}.png", id="run-scatter", style={"height": "416px"}),
                    facts("run", about),
                ],
                style={"display": "flex", "gap": "24px", "alignItems": "flex-start"},
            ),
            html.H4("blob trajectories"),
            graph(id="run-trajectories", figure=charts.trajectories(run_tracks(epochs))),
            html.H4("stage-2 children"),
            _children(store, run, epochs, children),
            html.H4("checkpoints"),
            facts("checkpoint", [(c.epoch, f"{c.kind} · {c.bytes:,} bytes") for c in checkpoints])
            if checkpoints
            else html.P("none"),
            html.H4("config"),
            facts("config", sorted(config.items())),
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
                fmt_pm(m.final, m.final_std),
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
        facts(
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


def register(app: Dash, store: Store) -> None:
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
