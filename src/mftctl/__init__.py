"""mftctl: train, diagnose and compare two-layer denoising networks whose weight pairs form blobs.

The public Python entry points are `mftctl.train(preset, set={...})` (one run, as `mftctl train`),
`mftctl.measure_blobs(pairs)` and `mftctl.measure_stability(reports,
clouds)` (see docs/science.md), `mftctl.solve_decoder(run_id)` (the exact decoder of a run's encoder), and
`mftctl.list_runs(where=..., sort=...)` (`list` as a pandas DataFrame), `mftctl.predict_blobs(preset)`
(the ansatz's blobs, as `mftctl theory`), and
`mftctl.diagnose(run_id)` and `mftctl.plot(run_id)`, the commands of those names for a loop in Python or a
notebook, which pays the imports once instead of once per command (docs/user-guide.md). All are imported
on first use, so that `mftctl --help` and `mftctl list` never load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import pandas

__version__ = "0.1.0"
__all__ = [
    "diagnose",
    "list_runs",
    "measure_blobs",
    "measure_stability",
    "plot",
    "predict_blobs",
    "solve_decoder",
    "train",
]


def __dir__() -> list[str]:  # the public API, not this module's imports
    return sorted([*__all__, "__version__"])


def train(
    preset: str | None = None,
    *,
    config: str | Path | None = None,
    set: dict[str, Any] | list[str] | None = None,  # the CLI's --set, by its own name
    name: str | None = None,
    tags: list[str] | None = None,
    note: str | None = None,
    detach: bool = False,
    progress: bool = False,
    db: str | Path | None = None,
) -> dict[str, Any]:
    """`mftctl train`: one run, trained in its worker subprocess, returned as `show RUN --format json`
    has it (a dict). `preset` (default reference_3blob), then the `config` file, then `set`: a dict of
    dotted keys to values (`{"training.epochs": 3, "device": "cpu"}`) or `--set` lines. `detach`: return at
    once with the queued run. `progress`: draw the progress bar on the terminal. A refused config, or a
    run that fails, raises mftctl.errors.MftctlError with the command's one-line message."""
    import json
    from pathlib import Path

    from rich.console import Console

    from .analysis.report import run_report
    from .errors import MftctlError, python_boundary
    from .render.records import run_json, to_json
    from .runs.train import TrainRequest, train_run

    with python_boundary():
        if preset is not None and not isinstance(preset, str):
            raise MftctlError(f"preset {preset!r} is not a preset name; `mftctl presets` lists them")
        _flag(detach, "detach")
        _flag(progress, "progress")
        request = TrainRequest(
            preset,
            None if config is None else Path(config),
            _override_lines(set),
            name,
            list(tags or []),
            note,
        )
        trained = train_run(
            None if db is None else str(db), request, detach=detach, console=Console(quiet=not progress)
        )
        report = run_report(None if db is None else str(db), trained.run.id)
        return json.loads(
            to_json(run_json(report.run, report.epochs, report.checkpoints, report.children, report.tags))
        )


def _override_lines(values: object) -> list[str]:
    """`set` as `--set` lines: a list of them as given, or a dict's values written as TOML values."""
    import json

    from .errors import MftctlError

    if values is None:
        return []
    if isinstance(values, list | tuple) and all(isinstance(v, str) for v in values):
        return list(values)
    if not isinstance(values, dict):
        raise MftctlError(f"set {values!r} is not a dict of keys to values or a list of 'key=value' lines")
    lines = []
    for key, value in values.items():
        if not isinstance(key, str):
            raise MftctlError(f"set key {key!r} is not a dotted config key such as 'training.epochs'")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = json.dumps(value)  # a TOML basic string, or the number as written
        else:
            raise MftctlError(f"set {key}={value!r}: give a number, a string or True/False")
        lines.append(f"{key}={text}")
    return lines


def diagnose(
    run_id: int, *, epoch: int | None = None, recompute: bool = False, db: str | Path | None = None
) -> dict[str, Any]:
    """`mftctl diagnose RUN --format json`, as a dict: the same keys and values, cached the same way.
    `run_id`: any whole number (an int, numpy's, a string of digits). `db`: a SQLite file or PostgreSQL
    URL (default: $MFTCTL_DB, else ./mftctl.db). Bad input raises mftctl.errors.MftctlError with the
    command's one-line message."""
    import json

    from .analysis.diagnose import diagnose_checkpoint
    from .errors import python_boundary
    from .render.records import to_json
    from .store import open_settled
    from .store.reads import row_id
    from .threads import claim_process

    claim_process()
    with python_boundary():
        run = row_id(run_id)  # refused at once, before any database is opened
        chosen = _whole_or_none(epoch, "epoch")
        _flag(recompute, "recompute")
        found = diagnose_checkpoint(open_settled(db), run, epoch=chosen, recompute=recompute)
        return json.loads(to_json(found))


def plot(
    run_ids: int | list[int],  # or any whole numbers, as diagnose takes them
    *,
    epoch: int | None = None,
    out: str | Path | None = None,
    fmt: str = "png",
    animate: bool = False,
    db: str | Path | None = None,
) -> list[Path]:
    """`mftctl plot RUN [RUN ...]`: writes the same figures and returns their paths."""
    from pathlib import Path
    from typing import get_args

    from .analysis.figures import plot_runs
    from .choices import FigureFormat
    from .errors import MftctlError, python_boundary
    from .store import open_settled
    from .store.reads import row_id
    from .threads import claim_process

    claim_process()
    with python_boundary():
        formats = get_args(FigureFormat)
        if fmt not in formats:
            raise MftctlError(f"fmt {fmt!r} is not a figure format; give {', '.join(formats)}")
        ids = [row_id(r) for r in (list(run_ids) if isinstance(run_ids, list | tuple) else [run_ids])]
        if not ids:
            raise MftctlError("give at least one run id")
        _flag(animate, "animate")
        folder = None if out is None else Path(out)
        return plot_runs(
            open_settled(db), ids, epoch=_whole_or_none(epoch, "epoch"), fmt=fmt, out=folder, animate=animate
        )


def solve_decoder(
    run_id: int, *, epoch: int | None = None, samples: int | None = None, db: str | Path | None = None
) -> dict[str, Any]:
    """The exact decoder of a run's encoder at a checkpoint (default: its last): the (W2, b2) that minimise
    the run's training objective for that frozen encoder (docs/science.md, "The exact decoder").
    Returns `weight` (d, h) and `bias` (d,) as numpy arrays, `test` (its loss, loss_on, loss_off on the
    run's test set), `trained` (the trained decoder's), and `gap` = trained / exact − 1. `samples`: fresh
    samples the solve estimates from (default 200,000)."""
    from .analysis.diagnose import solve_checkpoint
    from .errors import python_boundary
    from .store import open_settled
    from .store.reads import row_id
    from .threads import claim_process

    claim_process()
    with python_boundary():
        run_id = row_id(run_id)
        count = _whole_or_none(samples, "samples")
        if count is not None and count < 1:
            from .errors import MftctlError

            raise MftctlError(f"samples {count} must be at least 1")
        return solve_checkpoint(open_settled(db), run_id, epoch=_whole_or_none(epoch, "epoch"), samples=count)


def list_runs(
    *,
    where: str | list[str] | None = None,
    sort: str | None = None,
    limit: int | None = None,
    db: str | Path | None = None,
) -> pandas.DataFrame:
    """`mftctl list --format json` as a pandas DataFrame, one row per run in the same order, its nested
    config flattened into `config.training.learning_rate`-style columns (pandas.json_normalize). `where`
    and `sort` take what `list --where/--sort` take, in the same vocabulary (`lr>0.01`, `-separation`);
    `limit`: at most that many runs (default all). Needs pandas: pip install 'mftctl[pandas]'. (Not
    `mftctl.runs`: that name is the package of run lifecycles, mftctl/runs/.)"""
    import json

    from .errors import MftctlError, python_boundary
    from .render.records import run_record, to_json
    from .runs.query import list_runs as query_runs

    with python_boundary():
        try:
            import pandas
        except ImportError:
            raise MftctlError("mftctl.list_runs() needs pandas: pip install 'mftctl[pandas]'") from None
        conditions = [where] if isinstance(where, str) else where
        if conditions is not None and not all(isinstance(c, str) for c in conditions):
            raise MftctlError(f"where {where!r} is not a condition or a list of them, e.g. where='lr>0.01'")
        if sort is not None and not isinstance(sort, str):
            raise MftctlError(f"sort {sort!r} is not a column name, e.g. sort='-separation'")
        count = _whole_or_none(limit, "limit")
        listing = query_runs(None if db is None else str(db), sort=sort, where=conditions, limit=count)
        records = json.loads(to_json([run_record(r, with_config=True) for r in listing.runs]))
        return pandas.json_normalize(records) if records else pandas.DataFrame()


def predict_blobs(
    preset: str = "demo",
    *,
    set: dict[str, Any] | list[str] | None = None,  # the CLI's --set, by its own name
    k: list[int] | None = None,
    a: list[float] | None = None,
    centre_width: float = 0.1,
    samples: int | None = None,
) -> dict[str, Any]:
    """`mftctl theory PRESET --format json` without the figure: the ansatz (K outliers per unit at ±a,
    exact degrees, annealed signs, N(0, centre_width) elsewhere, decoder solved) over the grid `k` × `a`
    (default K 8, 11, 14, 17, 20 and a 1.25 … 2.0), its best point, predicted blobs and surface
    (docs/science.md, "The ansatz"). Bad input raises MftctlError with the command's one-line message."""
    import json

    from .analysis.theory import predict_for
    from .config_input import load_config
    from .errors import MftctlError, python_boundary
    from .render.records import to_json
    from .threads import claim_process

    claim_process()
    with python_boundary():
        if not isinstance(preset, str):
            raise MftctlError(f"preset {preset!r} is not a preset name; `mftctl presets` lists them")
        ks = [8, 11, 14, 17, 20] if k is None else [_whole_or_none(x, "k") for x in k]
        amplitudes = [1.25, 1.5, 1.75, 2.0] if a is None else a
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in amplitudes):
            raise MftctlError(f"a {a!r} must be a list of numbers, e.g. a=[1.5, 1.75]")
        config = load_config(preset, None, _override_lines(set))
        count = _whole_or_none(samples, "samples")
        prediction = predict_for(config, ks, [float(x) for x in amplitudes], float(centre_width), count)
        return json.loads(to_json({"preset": preset, **prediction.as_dict()}))


def _whole_or_none(value: object, name: str) -> int | None:
    """None, or a whole number (numpy's too); anything else is refused in one line."""
    import operator

    from .errors import MftctlError

    if value is None:
        return None
    try:
        if isinstance(value, bool | float | str):
            raise TypeError
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise MftctlError(f"{name} {value!r} is not a whole number; give e.g. {name}=3, or leave it out") from None


def _flag(value: object, name: str) -> None:
    from .errors import MftctlError

    if not isinstance(value, bool):
        raise MftctlError(f"{name} {value!r} is not True or False")


def __getattr__(name: str) -> Any:
    if name == "measure_blobs":
        from .science.blobs import measure_blobs

        return measure_blobs
    if name == "measure_stability":
        from .science.stability import measure_stability

        return measure_stability
    raise AttributeError(f"module 'mftctl' has no attribute {name!r}")
