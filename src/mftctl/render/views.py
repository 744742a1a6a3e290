"""The terminal's views: rich tables and panels built from store rows and summaries. Functions take
data and return renderables; the CLI prints them. What scripts read (JSON, CSV) is records.py."""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..config import flatten
from ..status import RunStatus
from ..terminal import fmt, fmt_pm, plain, safe

if TYPE_CHECKING:
    from ..analysis.sweep_summary import CellSummary, SweepSummary
    from ..store.tables import Checkpoint, Epoch, Run, Sweep


def _status_style(status: str) -> str:
    return RunStatus(status).style if status in RunStatus.__members__ else ""


def _status(status: str) -> str:
    style = _status_style(status)
    return f"[{style}]{safe(status)}[/]" if style else safe(status)


def fit_to_width(
    build: Callable[[frozenset[str]], Table], droppable: tuple[str, ...], width: int | None, give: int = 0
) -> Table:
    """The table `build(hidden)` makes, with the columns of `droppable` hidden in that order until its
    natural width (every cell whole on one line), less `give` characters its one wrapping column can give
    up, fits `width`; a caption says how many were hidden. `width` None: every column. (Rich's own
    narrowest measure counts a no-wrap number by its longest word, so it cannot say what fits.)"""
    from rich.console import Console
    from rich.measure import Measurement

    hidden: list[str] = []
    table = build(frozenset())
    if width is None:
        return table
    probe = Console(width=10_000)
    for name in droppable:
        if Measurement.get(probe, probe.options, table).maximum - give <= width:
            break
        hidden.append(name)
        table = build(frozenset(hidden))
    if hidden:
        note = f"{len(hidden)} columns hidden at this width: --wide shows them"
        table.caption = f"{table.caption}\n{note}" if table.caption else note
    return table


# What `list` hides first on a narrow terminal: the columns read least at a glance. id, name, status,
# epochs, test loss and separation always stay.
RUNS_TABLE_DROPPABLE = ("created", "samples/s", "preset", "opt", "silh.", "best", "d×h", "lr", "K")


def runs_table(runs: list[Run], title: str | None = None, width: int | None = None) -> Table:
    """`list`'s table; at `width` columns, the least read columns hidden until it fits (fit_to_width)."""
    return fit_to_width(lambda hidden: _runs_table(runs, title, hidden), RUNS_TABLE_DROPPABLE, width)


def _runs_table(runs: list[Run], title: str | None, hidden: frozenset[str]) -> Table:
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    from ..short_names import HEADLINE_KEYS, short

    # d and h share a column; the table stops at the learning rate so that names keep their width at 160
    # columns (a wider table cut a long run name short).
    headline = HEADLINE_KEYS[2:4]
    columns = (
        "id",
        "name",
        "status",
        "preset",
        "d×h",
        *(short(key) for key in headline),
        "ep",
        "test loss",
        "best",
        "K",
        "sep.",
        "silh.",
        "samples/s",
        "created",
    )
    old_method = False
    shown = [name not in hidden for name in columns]
    for name in itertools.compress(columns, shown):
        left = name in ("name", "status", "preset", "opt", "created")
        # A name that must still shrink folds onto a second line rather than lose its end to an ellipsis.
        table.add_column(
            name,
            justify="left" if left else "right",
            no_wrap=name not in ("name", "preset"),
            overflow="fold" if name == "name" else "ellipsis",
        )
    for run in runs:
        c = run.config
        flat = flatten(c)
        name = safe(run.name) if run.parent_id is None else f"{safe(run.name)} ← {run.parent_id}"
        if getattr(run, "tags", None):
            name += " [dim]" + safe(" ".join(f"#{t}" for t in run.tags)) + "[/]"
        cells = (
            str(run.id),
            name,
            _status(run.status),
            run.preset or "-",
            f"{c['data']['d']}×{c['model']['hidden_size']}",
            *(fmt(flat.get(key)) for key in headline),
            f"{run.epochs_done}/{run.epochs_total}",
            fmt(run.last_test_loss),
            fmt(run.best_test_loss),
            *_blob_cells(run),
            fmt(run.samples_per_s, 3),
            run.created_at.strftime("%m-%d %H:%M") if run.created_at else "-",
        )
        table.add_row(*itertools.compress(cells, shown))
        old_method = old_method or is_old_blob_method(run)
    if old_method:
        table.caption = OLD_METHOD_NOTE
    return table


OLD_MARK = "†"
OLD_METHOD_NOTE = (
    f"{OLD_MARK} blob numbers from the first release's sampled DBSCAN (not comparable): "
    "`mftctl reanalyse --all` measures them again from the checkpoints"
)


def is_old_blob_method(run) -> bool:
    return run.n_clusters is not None and run.blob_method is None


def _blob_cells(run) -> tuple[str, str, str]:
    """K, separation and silhouette of a run; numbers by the old method carry a mark."""
    mark = OLD_MARK if is_old_blob_method(run) else ""
    return fmt(run.n_clusters) + mark, fmt(run.separation, 3), fmt(run.silhouette, 3) + mark


# What `show`'s epochs table hides first on a narrow terminal; the epoch, its losses, K and separation stay.
EPOCHS_TABLE_DROPPABLE = ("train on", "train off", "samples/s", "s", "corr", "lr", "silh.", "test on", "test off")


def epochs_table(epochs: list[Epoch], width: int | None = None) -> Table:
    """`show`'s epochs; at `width` columns, the least read hidden until it fits (fit_to_width)."""
    return fit_to_width(lambda hidden: _epochs_table(epochs, hidden), EPOCHS_TABLE_DROPPABLE, width)


def _epochs_table(epochs: list[Epoch], hidden: frozenset[str]) -> Table:
    table = Table(title="epochs", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    names = ("ep", "train", "train on", "train off", "test", "test on", "test off", "lr", "K", "sep.", "silh.")
    names += ("corr", "s", "samples/s")
    for name in names:
        if name not in hidden:  # `on` and `off` under their loss: the header says which part of the data
            table.add_column(name.split()[-1] if name.endswith(("on", "off")) else name, justify="right", no_wrap=True)
    for e in epochs:
        cells = (
            str(e.epoch),
            fmt(e.train_loss),
            fmt(e.train_loss_on),
            fmt(e.train_loss_off),
            fmt(e.test_loss),
            fmt(e.test_loss_on),
            fmt(e.test_loss_off),
            fmt(e.lr, 3),
            fmt(e.n_clusters)
            + (OLD_MARK if e.n_clusters is not None and not (e.diagnostics or {}).get("method") else ""),
            fmt(e.separation, 3),
            fmt(e.silhouette, 3),
            fmt(e.correlation, 3),
            fmt(e.seconds, 3),
            fmt(e.samples_per_s, 3),
        )
        table.add_row(*(cell for name, cell in zip(names, cells, strict=True) if name not in hidden))
    return table


def reanalysis_table(results) -> Table:
    table = Table(title="blobs measured again", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("run", "epochs measured", "kept (no checkpoint)", "K", "sep.", "note"):
        table.add_column(name, justify="left" if name == "note" else "right")
    for r in results:
        table.add_row(
            str(r.run),
            str(len(r.epochs)),
            str(len(r.kept)),
            fmt(r.n_blobs) + (OLD_MARK if r.n_blobs is not None and r.blob_method is None else ""),
            fmt(r.separation, 3),
            safe(r.skipped or ""),
        )
    return table


def checkpoints_table(checkpoints: list[Checkpoint]) -> Table:
    table = Table(title="checkpoints", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("epoch", "kind", "path", "bytes", "sha256"):
        table.add_column(name, no_wrap=name == "path")
    for ck in checkpoints:
        table.add_row(str(ck.epoch), ck.kind, safe(ck.path), f"{ck.bytes:,}", ck.sha256[:12])
    return table


def kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """Key/value rows; string values are shown as typed (escaped), rich Text keeps its style."""
    table = Table(title=safe(title), show_header=False, title_justify="left", box=box.SIMPLE, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        if isinstance(value, Text):
            table.add_row(safe(key), value)
        else:
            table.add_row(safe(key), safe(value) if isinstance(value, str) else fmt(value))
    return table


def _threads_fact(numerics: dict[str, Any]) -> str:
    """`2 (affinity: 2 CPUs; wait GOMP_SPINCOUNT=1000 (mftctl)); torch 2.13.0+cpu`; runs recorded before
    the thread policy have the count alone."""
    if "threads" not in numerics:
        return "-"
    origin = "; ".join(
        str(part)
        for part in (numerics.get("threads_from"), numerics.get("wait_policy") and f"wait {numerics['wait_policy']}")
        if part
    )
    text = f"{numerics['threads']}" + (f" ({origin})" if origin else "")
    return text + (f"; torch {numerics['torch']}" if numerics.get("torch") else "")


# What a run's extra holds that `show` leaves to `--format json`: the stage-2 mixture's parameters, the
# threads (shown above), and a search trial's sampler state (Optuna's own bookkeeping).
LINEAGE_HIDDEN = ("mixture", "numerics")


def _lineage_value(key: str, value: Any) -> str:
    """A lineage entry for reading: a cell's or a trial's values as `lr 0.004589, batch 500`, never JSON."""
    from ..short_names import short

    if key == "search" and isinstance(value, dict):  # a trial: its sampled values, not the sampler's state
        value = value.get("params", {})
    if isinstance(value, dict):
        return ", ".join(f"{short(str(k))} {_lineage_value(str(k), v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_lineage_value(key, v) for v in value) or "-"
    return safe(fmt(value, 4) if isinstance(value, float) else fmt(value))


def run_detail(
    run: Run,
    epochs: list[Epoch],
    checkpoints: list[Checkpoint],
    config_rows: list[tuple[str, Any]],
    children: list[Run],
    config_title: str,
    tags: list[str],
    width: int | None = None,
) -> Group:
    status = Text(run.status, style=_status_style(run.status))
    wall = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
    facts = [
        ("run", f"{run.id}  {run.name}"),
        ("kind", run.kind),
        ("status", status),
        ("parent", fmt(run.parent_id)),
        ("preset", fmt(run.preset)),
        ("seed", fmt(run.seed)),
        ("device", fmt(run.device)),
        ("threads", _threads_fact(run.extra.get("numerics") or {})),
        ("host / pid", f"{fmt(run.host)} / {fmt(run.pid)}"),
        ("created", fmt(run.created_at)),
        ("started", fmt(run.started_at)),
        ("finished", fmt(run.finished_at)),
        ("wall seconds", fmt(wall)),
        ("epochs", f"{run.epochs_done}/{run.epochs_total}"),
        ("test loss (last / best)", f"{fmt(run.last_test_loss)} / {fmt(run.best_test_loss)}"),
        ("config hash", run.config_hash),
        ("tags", " ".join(tags) or "-"),
        ("note", run.note or "-"),
    ]
    parts: list[Any] = [kv_table("run", facts)]
    parts.append(kv_table(config_title, config_rows) if config_rows else f"[bold]{config_title}[/]")
    lineage = [(k, _lineage_value(k, v)) for k, v in run.extra.items() if k not in LINEAGE_HIDDEN]
    if lineage:
        parts.append(kv_table("lineage", lineage))
    if epochs:
        parts.append(epochs_table(epochs, width))
    if checkpoints:
        parts.append(checkpoints_table(checkpoints))
    if children:
        parts.append(runs_table(children, title="children"))
    if run.error:
        parts.append(f"[red]error:[/]\n{safe(run.error.rstrip(), multiline=True)}")
    return Group(*parts)


def _vec(values) -> str:
    return "(" + ", ".join(fmt(v, 3) for v in values) + ")"


def diagnosis_view(result: dict[str, Any]) -> Group:
    """`mftctl diagnose`: the blob measurement (the same numbers as the epoch row), its blobs, the GMM
    shape model and its BIC per K, losses beside their references."""
    on, off = result["on_path"], result["off_path"]
    summary = Table(
        title=f"run {result['run']} · epoch {result['epoch']} · {result['pairs']:,} weight pairs"
        + (" (cached)" if result.get("cached") else ""),
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    columns = ("pairs", "blobs", "state", "separation", "silhouette", "noise", "symmetry err", "corr", "GMM comp.")
    for name in columns:
        summary.add_column(name, justify="right" if name != "pairs" else "left")
    from ..science.blobs import blob_state

    # The off-path pairs share no path: whatever "blobs" they show is the product of the marginals, the
    # control the on-path count is read against, never structure of its own.
    rows = ((escape("on path  W1[i,j], W2[j,i]"), on), (escape("off path W1[i,j], W2[k,i] (control)"), off))
    for label, m in rows:
        summary.add_row(
            label,
            str(m["n_blobs"]),
            blob_state(m["n_blobs"], m["separation"]),
            fmt(m["separation"], 3),
            fmt(m["silhouette"], 3),
            f"{m['noise_fraction']:.2%}",
            fmt(m["symmetry_error"], 3),
            fmt(m["correlation"], 3),
            str(m["gmm"]["k"]),
        )
    blobs = Table(title="blobs (on path)", header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("blob", "share of pairs", "centre (enc, dec)", "peak (enc, dec)", "valley depth"):
        blobs.add_column(name, justify="right")
    for i, b in enumerate(on["blobs"]):
        blobs.add_row(str(i), f"{b['mass']:.2%}", _vec(b["centre"]), _vec(b["peak"]), fmt(b["depth"], 3))
    gmm = on["gmm"]
    comps = Table(
        title=f"on-path GMM shape model, BIC picks {gmm['k']} component(s) (full covariance; not a blob count)",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    for name in ("component", "weight", "mean (enc, dec)", "std (enc, dec)", "corr"):
        comps.add_column(name, justify="right")
    for i, (w, mean, cov) in enumerate(zip(gmm["weights"], gmm["means"], gmm["covariances"], strict=True)):
        sd = [cov[0][0] ** 0.5, cov[1][1] ** 0.5]
        corr = cov[0][1] / (sd[0] * sd[1]) if sd[0] and sd[1] else None
        comps.add_row(str(i), f"{w:.2%}", _vec(mean), _vec(sd), fmt(corr, 3))
    bic = Table(title="BIC by K (lower is better)", header_style="bold", box=box.SIMPLE_HEAD)
    bic.add_column("K", justify="right")
    bic.add_column("on path", justify="right")
    bic.add_column("off path", justify="right")
    for k, (a, b) in enumerate(itertools.zip_longest(on["gmm"]["bic"], off["gmm"]["bic"]), start=1):
        mark = lambda v, best: f"[bold]{fmt(v, 6)}[/]" if v is not None and v == min(best) else fmt(v, 6)  # noqa: E731
        bic.add_row(str(k), mark(a, on["gmm"]["bic"]), mark(b, off["gmm"]["bic"]))
    losses = Table(title="test loss against references", header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("predictor", "loss", "on", "off"):
        losses.add_column(name, justify="right" if name != "predictor" else "left")
    rows = [("this checkpoint", result["test"])]
    if result.get("optimal_decoder"):  # diagnoses cached before the exact decoder have none
        rows.append(("exact decoder, same encoder", result["optimal_decoder"]))
    rows += [(REFERENCE_NAMES[k], v) for k, v in result["references"].items() if v is not None]
    for name, v in rows:
        losses.add_row(name, fmt(v["loss"]), fmt(v["loss_on"]), fmt(v["loss_off"]))
    summary.caption = (
        "the on-path blobs are the measurement; the off-path row is its control (pairs that share no path)"
    )
    parts: list[Any] = [summary, comps, blobs, bic, losses]
    parts += _reference_comments(result)
    gap = (result.get("optimal_decoder") or {}).get("gap")
    if gap is not None:
        parts.append(
            f"the trained decoder is {100 * gap:.1f}% above the exact decoder for the same encoder "
            "(the optimiser's unfinished work at this checkpoint)"
        )
    return Group(*parts)


REFERENCE_NAMES = {"zero": "output 0", "identity": "identity", "bayes": "Bayes posterior mean"}


def _reference_comments(result: dict[str, Any]) -> list[str]:
    """What the reference rows say about this checkpoint, in words."""
    refs = {k: v for k, v in result["references"].items() if v is not None}
    loss = result["test"]["loss"]
    said = []
    bayes = refs.get("bayes")
    if bayes is not None:
        floor = "about 0: at this noise the active coordinates are never in doubt" if bayes["loss"] < 1e-3 else None
        said.append(f"Bayes posterior mean: the lowest loss any denoiser can reach, {floor or fmt(bayes['loss'])}")
    identity = refs.get("identity")
    if identity is not None and loss > identity["loss"]:
        said.append(
            f"this checkpoint ({fmt(loss)}) is worse than returning its input ({fmt(identity['loss'])}): "
            "it has not learned to denoise yet"
        )
    zero = refs.get("zero")
    if zero is not None and loss >= zero["loss"]:
        said.append(f"this checkpoint is no better than answering 0 ({fmt(zero['loss'])})")
    return said


def stage2_table(parent: Run, children: list[Run], epochs: dict[int, list[Epoch]]) -> Table:
    """Children against the parent's test loss at the fitted checkpoint, and how fast they got there."""
    from ..stage2.summary import child_method, time_to_reach

    table = Table(title=f"stage 2 children of run {parent.id}", header_style="bold", box=box.SIMPLE_HEAD)
    for name in (
        "run",
        "method",
        "mixture",
        "h'",
        "status",
        "final test",
        "best test",
        "parent test",
        "reaches parent at",
    ):
        table.add_column(name, justify="left" if name in ("method", "mixture", "status") else "right")
    parent_epochs = {e.epoch: e for e in epochs.get(parent.id, [])}
    for child in children:
        extra = child.extra
        target = parent_epochs.get(extra.get("parent_epoch"))
        reach = time_to_reach(epochs.get(child.id, []), target.test_loss) if target else None
        table.add_row(
            str(child.id),
            child_method(child),
            "-" if extra.get("control") == "parent" else extra.get("mixture_kind", "-"),
            str(child.config["model"]["hidden_size"]),
            child.status,
            fmt(child.last_test_loss),
            fmt(child.best_test_loss),
            fmt(target.test_loss if target else None),
            f"epoch {reach[0]} ({reach[1]:.1f} s)" if reach else "not reached",
        )
    return table


def stage2_summary_table(parent: Run, summaries) -> Table:
    """Each stage-2 method's children of a parent: mean ± std over traces against the parent's loss."""
    table = Table(
        title=f"stage 2 of run {parent.id}: each method over its traces", header_style="bold", box=box.SIMPLE_HEAD
    )
    names = ("method", "traces", "final test", "best test", "parent test", "gap", "ceiling", "vs ceiling")
    for name in (*names, "reached parent", "in"):
        table.add_column(name, justify="left" if name == "method" else "right")
    for m in summaries:
        above = m.gap_to_ceiling
        table.add_row(
            m.method,
            f"{m.completed}/{m.traces}",
            fmt_pm(m.final, m.final_std),
            fmt_pm(m.best, m.best_std),
            fmt(m.parent_loss),
            fmt(m.gap),
            fmt(m.ceiling),
            "-" if above is None else f"{100 * above:+.1f}%",
            f"{m.reached}/{m.completed}",
            "-" if m.seconds_to_reach is None else f"{m.seconds_to_reach:.1f} s",
        )
    table.caption = "ceiling: the parent's own encoder with its decoder solved exactly (no optimiser noise)"
    return table


def sweep_plan_table(spec, plans) -> Table:
    """`sweep --dry-run`: every expanded cell, its varied values and what running would do."""
    table = Table(title=f"sweep {safe(spec.name)}: {len(spec.cells)} cells", header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("cell", justify="right")
    for key in spec.varied:
        table.add_column(key, justify="right")
    table.add_column("hash")
    table.add_column("run", justify="right")
    table.add_column("action")
    for cell, plan in zip(spec.cells, plans, strict=True):
        table.add_row(
            str(cell.index),
            *(fmt(cell.values.get(k)) for k in spec.varied),
            cell.hash[:10],
            fmt(plan.run_id),
            plan.action,
        )
    return table


# What `sweep show` hides first on a narrow terminal; the cell, its seeds, its loss and separation stay.
SWEEP_TABLE_DROPPABLE = ("silh.", "formed at", "stability", "speed-up", "train s", "K", "done")


def sweep_summary_view(summary: SweepSummary, width: int | None = None) -> Group:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items()))
    rate = summary.success_rate
    head = (
        f"[bold]sweep {summary.sweep} {safe(summary.name)}[/]: {summary.runs} runs ({counts}); success rate {rate:.0%}"
        if rate is not None
        else f"sweep {summary.sweep}: no runs"
    )
    labels = [plain(c.short_label) + (" (reference)" if c.is_reference else "") for c in summary.cells]
    give = max((len(x) - max(map(len, x.split())) for x in labels), default=0)  # it wraps between words
    table = fit_to_width(lambda hidden: _cells_table(summary, hidden), SWEEP_TABLE_DROPPABLE, width, give)

    def listed(cells: list[CellSummary]) -> Text:
        return Text("\n".join(plain(c.short_label) for c in cells) or "-")  # one cell per line

    best = kv_table(
        "best cells",
        [
            ("fastest", listed(summary.fastest)),
            ("lowest final test loss", listed(summary.lowest_loss)),
            (f"best blobs (blobs near {summary.expected_clusters}, then separation)", listed(summary.best_blobs)),
            ("blobs formed first (every seed)", listed(summary.formed_first)),
            ("most stable blobs over seeds", listed(summary.most_stable)),
        ],
    )
    if summary.search is not None:
        from .search import search_results_view

        return Group(head, table, best, search_results_view(summary.search))
    return Group(head, table, best)


def _cells_table(summary: SweepSummary, hidden: frozenset[str]) -> Table:
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    # Numbers are never cut: on a narrow terminal the cell's label wraps between its key=value words.
    names = (
        "cell",
        "seeds",
        "done",
        "final test loss",
        "train s",
        "speed-up",
        "K",
        "separation",
        "silh.",
        "formed at",
        "stability",
    )
    shown = [name not in hidden for name in names]
    for name in itertools.compress(names, shown):
        if name == "cell":  # the one column that wraps: the table's narrowest is every number whole
            table.add_column(name)
        else:
            table.add_column(name, justify="right", no_wrap=True, min_width=len(name) if len(name) < 9 else 12)
    for c in sorted(summary.cells, key=lambda c: (c.test_loss is None, c.test_loss or 0)):
        cells = (
            safe(c.short_label) + (" [dim](reference)[/]" if c.is_reference else ""),
            str(c.seeds),
            str(c.completed),
            fmt_pm(c.test_loss, c.test_loss_std),
            fmt_pm(c.train_seconds, c.train_seconds_std, 3),
            "-" if c.speedup is None else f"{c.speedup:.2f}×",
            fmt(c.n_clusters, 2) + (OLD_MARK if c.old_blob_method else ""),
            fmt_pm(c.separation, c.separation_std, 3),
            fmt(c.silhouette, 3),
            f"{fmt_pm(c.formed_epoch, c.formed_epoch_std, 3)} ({c.formed}/{c.completed})" if c.completed else "-",
            _stability_cell(c),
        )
        table.add_row(*itertools.compress(cells, shown))
    if any(c.old_blob_method for c in summary.cells):
        table.caption = OLD_METHOD_NOTE
    return table


def _stability_cell(c: CellSummary) -> str:
    """`stable 3/3 0.02`: the verdict, the seeds with the modal blob count, the largest drift in widths."""
    if c.stability is None:
        return "-"
    agree = round((c.count_agreement or 0) * c.completed)
    return f"{c.stability} {agree}/{c.completed} {fmt(c.drift, 2)}"


def _sweep_size(sweep: Sweep) -> str:
    """`4`, `1 × 3 seeds`, or `24 trials (search)`: cells as `sweep show` counts them, seeds apart."""
    meta = sweep.meta
    if "search" in meta:
        return f"{meta.get('trials')} trials (search)"
    if "cells" not in meta:
        return "-"
    seeds = meta.get("seeds")
    if seeds is None:  # a sweep recorded before the seeds were: its file says
        try:
            listed = tomllib.loads(sweep.file_text).get("seeds")
        except tomllib.TOMLDecodeError:
            listed = None
        seeds = len(listed) if isinstance(listed, list) and listed else 1
    cells = meta["cells"] // seeds if meta["cells"] % seeds == 0 else meta["cells"]
    return f"{cells} × {seeds} seeds" if seeds > 1 and cells != meta["cells"] else str(meta["cells"])


def sweeps_table(sweeps: list[Sweep], counts: dict[int, dict[str, int]]) -> Table:
    table = Table(title="sweeps", header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("id", "name", "cells", "runs by status", "created"):
        table.add_column(name)
    for sw in sweeps:
        by = counts.get(sw.id, {})
        table.add_row(
            str(sw.id),
            safe(sw.name),
            _sweep_size(sw),
            ", ".join(f"{n} {s}" for s, n in sorted(by.items())) or "-",
            fmt(sw.created_at),
        )
    return table


def presets_table() -> Table:
    from ..config import preset_names, preset_summary

    rows = [preset_summary(name) for name in preset_names()]
    table = Table(title="presets", header_style="bold")
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*(fmt(v) for v in row.values()))
    return table


def config_table(config, title: str) -> Table:
    from ..config import describe

    table = Table(title=title, header_style="bold")
    for col in ("key", "value", "meaning"):
        table.add_column(col)
    for key, value, meaning in describe(config):
        table.add_row(key, safe(value), meaning)
    return table


def comparison_table(comparison) -> Table:
    """`mftctl compare`: a column per run; numbers after the first run show their delta against it."""
    runs = comparison.runs
    table = Table(
        title=f"runs {', '.join(str(r.id) for r in runs)} (deltas against run {runs[0].id})",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("")
    for run in runs:
        table.add_column(f"{run.id} {safe(run.name)}", justify="right")

    def cell(value: Any, delta: float | None, first: bool) -> str:
        if isinstance(value, list):  # a matched blob's (encoder, decoder) centre or width
            return "(" + ", ".join(fmt(v, 3) for v in value) + ")"
        text = safe(value) if isinstance(value, str) else fmt(value)
        if first or delta is None or delta == 0:
            return text
        return f"{text} [dim]({'+' if delta > 0 else ''}{fmt(delta, 3)})[/]"

    sections = [("config (differing keys)", comparison.config), ("results", comparison.metrics)]
    if comparison.blobs:
        sections.append(("matched blobs", comparison.blobs))
    for title, rows in sections:
        table.add_row(f"[bold]{title}[/]", *([""] * len(runs)))
        for row in rows:
            table.add_row(
                safe(row.label),
                *(cell(v, d, i == 0) for i, (v, d) in enumerate(zip(row.values, row.deltas, strict=True))),
            )
        if not rows:
            table.add_row("[dim](none)[/]", *([""] * len(runs)))
    if comparison.blobs_note:
        table.caption = safe(comparison.blobs_note)
    return table


def sweep_pivot_table(summary: SweepSummary, rows: str, columns: str, metric: str) -> Table:
    """One metric over two varied keys: their values as rows and columns (seeds pooled)."""
    from ..analysis.sweep_summary import PIVOT_METRICS
    from ..short_names import short

    row_values, column_values, cells = summary.pivot(rows, columns, metric)
    title = f"sweep {summary.sweep} {safe(summary.name)}: {PIVOT_METRICS[metric]} (mean over seeds)"
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column(f"{short(rows)} \\ {short(columns)}", style="bold")
    for value in column_values:
        table.add_column(fmt(value), justify="right")
    for row in row_values:
        table.add_row(fmt(row), *(fmt(cells.get((row, col))) for col in column_values))
    return table


def columns_table(runs: list, columns: list, title: str | None = None) -> Table:
    """`list --columns`: the chosen columns, in the order given."""
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(
            safe(column.header), justify="left" if column.column in ("name", "status", "preset") else "right"
        )
    for run in runs:
        table.add_row(*(safe(v) if isinstance(v := column.value(run), str) else fmt(v) for column in columns))
    return table


def _pm_pair(mean, std, digits: int = 3) -> str:
    """(x, y) ± (sx, sy) of a blob's centre or width."""
    if mean is None:
        return "-"
    text = "(" + ", ".join(fmt(v, digits) for v in mean) + ")"
    return text + (" ± (" + ", ".join(fmt(v, 2) for v in std) + ")" if std is not None else "")


def stability_view(stability, cell=None) -> Group:
    """`mftctl stability RUN...`: the verdict, the count agreement, each matched blob, the cloud distance."""
    report = stability.report
    runs = stability.runs
    where = f"cell {safe(cell.short_label)}: " if cell is not None else ""
    agree = round(report.count_agreement * report.runs)
    counts = ", ".join(f"{r.id}: {n}" for r, n in zip(runs, report.counts, strict=True))
    head = (
        f"{where}[bold]{report.verdict}[/] over {report.runs} runs — {agree} of {report.runs} have "
        f"{report.modal_count} blob(s) (blobs per run {counts}); matched to run {runs[report.reference].id}"
    )
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("blob", "runs", "centre (enc, dec)", "mass", "width (enc, dec)", "drift", "mass CV"):
        table.add_column(name, justify="left" if "(" in name else "right")
    for b in report.blobs:
        table.add_row(
            str(b.index) + (" (centre)" if b.index == 0 else ""),
            f"{b.runs}/{report.runs}",
            _pm_pair(b.centre, b.centre_std),
            fmt_pm(b.mass, b.mass_std, 3),
            _pm_pair(b.width, b.width_std),
            fmt(b.drift, 2),
            fmt(b.mass_cv, 2),
        )
    table.caption = (
        "drift: the centre's spread over runs in blob widths; stable: every run the same count, drift ≤ 1, "
        "mass CV ≤ 0.2"
    )
    if report.cloud_distance is None:
        cloud = "pair-cloud distance: - (a run kept no checkpoint at its last measured epoch, or --no-clouds)"
    else:
        cloud = (
            f"pair-cloud distance (sliced W1, pooled-standardised): mean {fmt(report.cloud_distance, 3)}, max "
            f"{fmt(report.cloud_distance_max, 3)}; two halves of one run's sample: {fmt(report.cloud_floor, 3)}"
        )
    parts: list[Any] = [head, table, cloud]
    if stability.note is not None:
        parts.insert(1, Text(f"note: {stability.note}", style="yellow"))
    return Group(*parts)


def condensation_view(report: Any) -> Group:
    """`mftctl condensation RUN`: the snapshots' time course under a line that holds it against 2p."""
    p = report.as_dict()["multiplicity"]
    if report.most_directions == 0:
        verdict = "no condensed directions at any snapshot: each row kept a direction of its own"
    elif report.bound is None:
        verdict = f"at most {report.most_directions} condensed directions; no bound known for this activation"
    else:
        verdict = (
            f"at most 2p = {report.bound} early directions (Zhou et al.); measured at most "
            f"{report.most_directions} — {'within' if report.within_bound else 'ABOVE'} the bound"
        )
    head = f"run {report.run.id} ({safe(report.activation)}, p = {fmt(p)}): {verdict}"
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("step", "directions", "rows in them", "largest", "eff. rank", "nearest cos", "∥ ones", "row norm"):
        table.add_column(name, justify="right")
    for s in report.snapshots:
        table.add_row(
            str(s["step"]),
            str(s["directions"]),
            f"{s['condensed_share']:.0%}",
            str(s["largest"]),
            fmt(s["effective_rank"], 3),
            fmt(s["nearest_cos"], 2),
            fmt(s["ones_alignment"], 2),
            fmt(s["row_norm"], 3),
        )
    table.caption = (
        "directions: groups of ≥ 2 rows whose cosines average ≥ 0.9 (w and −w apart); eff. rank: of the "
        "normalised rows (h: all orthogonal); ∥ ones: mean |cos| with the all-ones input"
    )
    return Group(head, table)


def stability_cells_table(sweep_id: int, results) -> Table:
    """`mftctl stability --sweep ID`: one row per cell, the most stable first."""
    table = Table(
        title=f"sweep {sweep_id}: blob stability over each cell's seeds", header_style="bold", box=box.SIMPLE_HEAD
    )
    for name in ("cell", "seeds", "verdict", "blobs (agree)", "drift", "mass CV", "cloud distance", "floor"):
        table.add_column(name, ratio=1 if name == "cell" else None, justify="left" if name == "cell" else "right")

    def order(item):
        report = None if isinstance(item[1], str) else item[1].report
        return (3, 0.0) if report is None else (report.rank, report.drift if report.drift is not None else 1e18)

    for c, result in sorted(results, key=order):
        if isinstance(result, str):
            table.add_row(safe(c.short_label), str(c.completed), "-", f"[dim]{safe(result)}[/]", "", "", "", "")
            continue
        r = result.report
        table.add_row(
            safe(c.short_label),
            str(r.runs),
            r.verdict,
            f"{r.modal_count} ({round(r.count_agreement * r.runs)}/{r.runs})",
            fmt(r.drift, 2),
            fmt(r.mass_cv, 2),
            fmt(r.cloud_distance, 3),
            fmt(r.cloud_floor, 3),
        )
    return table


def theory_view(prediction) -> Group:
    """`mftctl theory PRESET`: the ansatz's best point, its predicted blobs, and the surface's best rows."""
    best = prediction.best
    head = (
        f"the ansatz's minimum over {len(prediction.surface)} points: K = {best.k} outliers per unit at "
        f"a = {best.a:g}, decoder blob b̄ = {fmt(best.decoder_blob, 4)}, test loss {fmt(best.loss)} "
        f"(σ_c = {prediction.centre_width:g}, d = {prediction.d}, h = {prediction.h})"
    )
    blobs = Table(title="predicted blobs", header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("blob", "centre (enc, dec)", "share of pairs"):
        blobs.add_column(name, justify="right")
    for b in prediction.blobs():
        blobs.add_row(b["name"], _vec(b["centre"]), f"{b['mass']:.2%}")
    surface = Table(title="the loss surface, lowest first", header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("K", "a", "test loss", "b̄"):
        surface.add_column(name, justify="right")
    for p in sorted(prediction.surface, key=lambda p: p.loss)[:8]:
        surface.add_row(str(p.k), f"{p.a:g}", fmt(p.loss), fmt(p.decoder_blob, 4))
    ks = {p.k for p in prediction.surface}
    amplitudes = {p.a for p in prediction.surface}
    edge = [
        what
        for what, value, values in (("K", best.k, ks), ("a", best.a, amplitudes))
        if len(values) > 1 and value in (min(values), max(values))
    ]
    parts: list[Any] = [head, blobs, surface]
    if edge:
        parts.append(f"the minimum lies on the grid's edge in {' and '.join(edge)}: widen --k / --a to find it")
    return Group(*parts)


def given_theory_view(result: dict[str, Any]) -> Group:
    """`mftctl theory --given RUN`: the trained checkpoint beside its exact decoder and the ansatz."""
    m = result["measured"]
    head = (
        f"run {result['run']} · epoch {result['epoch']}: K = {m['k']:.2f} outliers per unit at a = "
        f"{fmt(m['a'], 4)} (measured), centre width σ_c = {fmt(m['centre_width'], 3)}"
    )
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("network", "test loss", "decoder blob b̄"):
        table.add_column(name, justify="right" if name != "network" else "left")
    rows = (
        ("the run's encoder, its trained decoder", result["trained"]),
        ("the run's encoder, the exact decoder", result["exact_decoder"]),
        (
            f"the ansatz at K = {result['ansatz']['k']}, a = {fmt(result['ansatz']['a'], 4)}, decoder solved",
            result["ansatz"],
        ),
    )
    for name, row in rows:
        table.add_row(name, fmt(row["loss"]), fmt(row["decoder_blob"], 4))
    trained, exact = result["trained"]["decoder_blob"], result["exact_decoder"]["decoder_blob"]
    said = f"the exact decoder puts b̄ {100 * (exact / trained - 1):+.1f}% from the trained one" if trained else ""
    return Group(head, table, said)
