"""The lab's interactive figures (plotly, whose plotly.js ships inside the dash wheel: nothing is fetched
from the network): curves overlaid and coloured by a key, a run's curves, a sweep's pivot and parallel
coordinates, a search's history."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

from ..short_names import number
from .data import CURVES, Series

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SCALE = "Viridis"
# Beyond this many lines an overlay draws no markers: hundreds of runs' points cost the browser more than
# they tell (200 runs × 20 epochs: 4,000 markers).
MARKERS_UP_TO = 20


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


class Palette:
    """Colours for a key's values: a continuous scale for numbers (logarithmic where they span a decade or
    more, as a log-uniform search's do), one qualitative colour per value otherwise."""

    def __init__(self, values: list[Any]):
        present = [v for v in values if v is not None]
        self.continuous = bool(present) and _numeric(present) and len(set(present)) > 2
        self.values = sorted(set(map(str, present))) if not self.continuous else []
        self.log, self.lo, self.hi = False, 0.0, 1.0
        if self.continuous:
            lo, hi = min(present), max(present)
            self.log = lo > 0 and hi / lo >= 10
            self.lo, self.hi = (math.log10(lo), math.log10(hi)) if self.log else (lo, hi)

    def position(self, value: Any) -> float:
        x = math.log10(value) if self.log else value
        return 0.5 if self.hi == self.lo else (x - self.lo) / (self.hi - self.lo)

    def colour(self, value: Any) -> str:
        if value is None:
            return "#999999"
        if self.continuous:
            return sample_colorscale(SCALE, [self.position(value)])[0]
        return qualitative.Plotly[self.values.index(str(value)) % len(qualitative.Plotly)]


def _cycle(i: int) -> str:
    return qualitative.Plotly[i % len(qualitative.Plotly)]


def overlay(series: list[Series], metric: str, colour_key: str | None, dash_key: str | None) -> go.Figure:
    """Each series one line (meta "run"), coloured by `colour_key` and dashed by `dash_key`; a group of
    seeds is its mean with a ± std band (meta "band")."""
    label, log = CURVES[metric]
    fig = go.Figure()
    palette = Palette([s.keys.get(colour_key) for s in series]) if colour_key else None
    dashes = sorted({str(s.keys.get(dash_key)) for s in series}) if dash_key else []
    for i, s in enumerate(series):
        colour = palette.colour(s.keys.get(colour_key)) if palette and colour_key else _cycle(i)
        dash = DASHES[dashes.index(str(s.keys.get(dash_key))) % len(DASHES)] if dash_key else "solid"
        name = s.label
        if colour_key:
            name += f" · {colour_key} {number(s.keys.get(colour_key))}"
        if dash_key:
            name += f" · {dash_key} {number(s.keys.get(dash_key))}"
        if s.spread is not None:
            upper = [
                m + d if m is not None and d is not None else None for m, d in zip(s.values, s.spread, strict=True)
            ]
            lower = [
                m - d if m is not None and d is not None else None for m, d in zip(s.values, s.spread, strict=True)
            ]
            fig.add_trace(
                go.Scatter(
                    x=s.epochs + s.epochs[::-1],
                    y=upper + lower[::-1],
                    fill="toself",
                    fillcolor=colour,
                    opacity=0.18,
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    meta="band",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=s.epochs,
                y=s.values,
                mode="lines+markers" if len(series) <= MARKERS_UP_TO else "lines",
                name=name,
                meta="run",
                line={"color": colour, "dash": dash, "width": 2},
                marker={"size": 4},
            )
        )
    if palette is not None and palette.continuous:  # the scale itself, as a colour bar beside the plot
        ticks = [palette.lo + (palette.hi - palette.lo) * t for t in (0, 0.5, 1)]
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                showlegend=False,
                hoverinfo="skip",
                meta="scale",
                marker={
                    "colorscale": SCALE,
                    "cmin": palette.lo,
                    "cmax": palette.hi,
                    "color": [palette.lo],
                    "showscale": True,
                    "colorbar": {
                        "title": {"text": f"{colour_key}{' (log)' if palette.log else ''}"},
                        "tickvals": ticks,
                        "ticktext": [f"{10**t if palette.log else t:.3g}" for t in ticks],
                    },
                },
            )
        )
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title=label,
        yaxis_type="log" if log else "linear",
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"font": {"size": 10}, "orientation": "h", "y": -0.18, "yanchor": "top"},  # below: the bar is right
        height=520,
        uirevision="overlay",  # a refresh keeps the user's zoom
    )
    return fig


def run_curves(epochs: list[Any], references: dict[str, float] | None = None) -> go.Figure:
    """A run's losses (log axis, with its reference lines), separation and blob count per epoch."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("loss", "separation", "blobs"), horizontal_spacing=0.08)
    x = [e.epoch for e in epochs]
    for name, colour in (("train_loss", "#1f77b4"), ("test_loss", "#d62728")):
        fig.add_trace(go.Scatter(x=x, y=[getattr(e, name) for e in epochs], name=name, line={"color": colour}), 1, 1)
    # Reference lines as traces (a shape on a log axis would take log10 of its position): dotted, named.
    floor = min((v for e in epochs for v in (e.train_loss, e.test_loss) if v and v > 0), default=None)
    for name, value in (references or {}).items():
        if value and value > 0 and x and (floor is None or value >= floor / 100):  # ~0 (Bayes) is not drawn
            fig.add_trace(
                go.Scatter(
                    x=[x[0], x[-1]],
                    y=[value, value],
                    mode="lines",
                    name=f"{name} ({value:.3g})",
                    line={"dash": "dot", "color": "#777777", "width": 1},
                ),
                1,
                1,
            )
    fig.add_trace(go.Scatter(x=x, y=[e.separation for e in epochs], name="separation", line={"color": "#2ca02c"}), 1, 2)
    fig.add_trace(go.Scatter(x=x, y=[e.n_clusters for e in epochs], name="blobs", line={"color": "#9467bd"}), 1, 3)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[-0.02, 1.02], row=1, col=2)
    fig.update_layout(height=330, margin={"l": 50, "r": 20, "t": 40, "b": 40}, uirevision="run")
    return fig


def pivot_heatmap(
    rows: list[Any], columns: list[Any], grid: dict[tuple, Any], row_key: str, col_key: str, title: str
) -> go.Figure:
    z = [[grid.get((r, c)) for c in columns] for r in rows]
    text = [[("" if v is None else f"{v:.3g}") for v in line] for line in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(number(c)) for c in columns],
            y=[str(number(r)) for r in rows],
            text=text,
            texttemplate="%{text}",
            colorscale=SCALE,
            colorbar={"title": {"text": title}},
        )
    )
    fig.update_layout(xaxis_title=col_key, yaxis_title=row_key, height=420, margin={"l": 70, "r": 20, "t": 30, "b": 50})
    return fig


def parallel(cells: list[Any], keys: list[str]) -> go.Figure:
    """Parallel coordinates of the cells: their varied numeric keys (log where they span a decade), final
    test loss and separation, coloured by separation."""
    dims = []
    for key in keys:
        values = [c.values.get(key) for c in cells]
        if not values or not _numeric(values):
            continue
        log = min(values) > 0 and max(values) / min(values) >= 10
        shown = [math.log10(v) for v in values] if log else values
        dims.append({"label": f"{key.rsplit('.', 1)[-1]}{' (log10)' if log else ''}", "values": shown})
    dims.append({"label": "final test loss", "values": [c.test_loss for c in cells]})
    separation = [c.separation if c.separation is not None else 0.0 for c in cells]
    dims.append({"label": "separation", "values": separation})
    fig = go.Figure(go.Parcoords(dimensions=dims, line={"color": separation, "colorscale": SCALE, "showscale": True}))
    fig.update_layout(height=380, margin={"l": 60, "r": 60, "t": 50, "b": 30})
    return fig


def search_history(trials: list[Any], objectives: list[str]) -> go.Figure:
    """Every completed trial's first objective by trial number, the best so far as a step line; with two
    objectives, a second panel of both, the Pareto front marked."""
    done = [t for t in trials if t.values]
    two = len(objectives) > 1
    fig = make_subplots(rows=1, cols=2 if two else 1, subplot_titles=("history", "both objectives" if two else None))
    x = [t.number for t in done]
    y = [t.values[0] for t in done]
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=objectives[0]), 1, 1)
    best: list[float] = []
    maximise = objectives[0].startswith("-")
    for value in y:
        best.append(value if not best else (max(best[-1], value) if maximise else min(best[-1], value)))
    fig.add_trace(go.Scatter(x=x, y=best, mode="lines", line={"shape": "hv"}, name="best so far"), 1, 1)
    if two:
        front = [t for t in done if getattr(t, "best", False)]
        fig.add_trace(
            go.Scatter(x=[t.values[0] for t in done], y=[t.values[1] for t in done], mode="markers", name="trials"),
            1,
            2,
        )
        fig.add_trace(
            go.Scatter(
                x=[t.values[0] for t in front],
                y=[t.values[1] for t in front],
                mode="markers",
                marker={"symbol": "star", "size": 12},
                name="Pareto front",
            ),
            1,
            2,
        )
    fig.update_layout(height=360, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def trajectories(tracks: list[Any]) -> go.Figure:
    """Each blob followed through the epochs (analysis/trajectories.py): its centre's encoder and decoder
    weights, its mass (log) and its width, one colour per blob, as `mftctl plot` draws them."""
    from ..analysis.trajectories import PANELS

    fig = make_subplots(rows=1, cols=4, subplot_titles=PANELS, horizontal_spacing=0.06)
    for k, track in enumerate(tracks):
        colour = _cycle(k)
        for col, values in enumerate(track.panels(), start=1):
            fig.add_trace(
                go.Scatter(
                    x=track.epochs,
                    y=values,
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colour},
                    name=f"blob {k}",
                    legendgroup=f"blob {k}",
                    showlegend=col == 1,
                    meta="blob",
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=300, margin={"t": 40, "b": 40, "l": 50, "r": 20}, legend={"orientation": "h", "y": -0.3})
    return fig
