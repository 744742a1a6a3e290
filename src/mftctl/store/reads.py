"""Reads: small typed queries over the store. None of them writes.

(`mftctl list` has its own read path without the ORM: catalog.py.)
"""

from __future__ import annotations

import operator

from sqlmodel import col, func, select

from ..errors import StoreError
from ..status import ACTIVE, RunStatus
from .engine import Store
from .tables import Checkpoint, Diagnosis, Epoch, Run, RunTag, Sweep

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def row_id(value: object, what: str = "run") -> int:
    """An id as the database binds it, from any integral value — int, numpy.int64 (a loop over a pandas
    frame gives those), a string of digits — or a one-line refusal. Never a membership test over a range:
    for a type that is not int that walks all 2**64 numbers."""
    if isinstance(value, str) and value.strip().lstrip("+-").isdecimal():
        return int(value.strip())
    lister = "mftctl sweep list" if what == "sweep" else "mftctl list"
    refusal = StoreError(f"{what} id {value!r} is not a whole number; give an id as `{lister}` shows it")
    if isinstance(value, bool | float | str) or value is None:
        raise refusal
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise refusal from None


def ids_named(store: Store, names: list[str]) -> dict[str, list[int]]:
    """Each name's run ids, in id order (an empty list: no run has it)."""
    with store.read() as s:
        rows = list(s.exec(select(Run.name, Run.id).where(col(Run.name).in_(names)).order_by(col(Run.id))))
    found: dict[str, list[int]] = {name: [] for name in names}
    for name, run_id in rows:
        found[name].append(run_id)
    return found


def _bindable(row: int) -> bool:
    """Whether the database can bind the number (no row can have one that it cannot)."""
    return INT64_MIN <= row <= INT64_MAX


def find_run(store: Store, run_id: int) -> Run | None:
    run_id = row_id(run_id)
    if not _bindable(run_id):
        return None
    with store.read() as s:
        return s.get(Run, run_id)


def get_run(store: Store, run_id: int) -> Run:
    return runs_by_id(store, [run_id])[0]


def runs_by_id(store: Store, run_ids: list[int]) -> list[Run]:
    """The runs, in the order asked; a one-line error naming every id that is not there."""
    run_ids = [row_id(i) for i in run_ids]
    wanted = [i for i in run_ids if _bindable(i)]
    with store.read() as s:
        found = {r.id: r for r in s.exec(select(Run).where(col(Run.id).in_(wanted)))}
    missing = [str(i) for i in run_ids if i not in found]
    if missing:
        raise StoreError(f"no run with id {', '.join(missing)} in {store.location.shown}; `mftctl list` shows the runs")
    return [found[i] for i in run_ids]


def run_ids(store: Store) -> list[int]:
    with store.read() as s:
        return list(s.exec(select(Run.id).order_by(col(Run.id))))


def active_run_ids(store: Store) -> set[int]:
    with store.read() as s:
        return set(s.exec(select(Run.id).where(col(Run.status).in_(ACTIVE))))


def running_runs(store: Store) -> list[Run]:
    with store.read() as s:
        return list(s.exec(select(Run).where(Run.status == RunStatus.running)))


def count_runs(store: Store) -> int:
    with store.read() as s:
        return s.exec(select(func.count()).select_from(Run)).one()


def children(store: Store, run_id: int) -> list[Run]:
    with store.read() as s:
        return list(s.exec(select(Run).where(Run.parent_id == run_id).order_by(col(Run.id))))


def pinned_epochs(store: Store, run_id: int) -> dict[int, list[int]]:
    """The run's checkpoint epochs that its children were planned from (stage 2 rebuilds a child's encoder
    from the parent's checkpoint when the child starts, and its lineage names it): epoch -> child ids."""
    pinned: dict[int, list[int]] = {}
    for child in children(store, run_id):
        epoch = child.extra.get("parent_epoch")
        if isinstance(epoch, int):
            pinned.setdefault(epoch, []).append(child.id)
    return pinned


def epochs(store: Store, run_id: int) -> list[Epoch]:
    return epochs_of(store, [run_id])


def epochs_of(store: Store, run_ids: list[int]) -> list[Epoch]:
    with store.read() as s:
        query = select(Epoch).where(col(Epoch.run_id).in_(run_ids)).order_by(col(Epoch.run_id), col(Epoch.epoch))
        return list(s.exec(query))


def epoch_column(store: Store, run_ids: list[int], column: str) -> list[tuple[int, int, float | None]]:
    """(run id, epoch, value) of one epoch column for these runs, in run and epoch order: a search's
    pruner reads one number per epoch, not the blob reports beside it."""
    if not run_ids:
        return []
    with store.read() as s:
        query = (
            select(Epoch.run_id, Epoch.epoch, getattr(Epoch, column))
            .where(col(Epoch.run_id).in_(run_ids))
            .order_by(col(Epoch.run_id), col(Epoch.epoch))
        )
        return [tuple(row) for row in s.exec(query)]


def checkpoints(store: Store, run_id: int) -> list[Checkpoint]:
    with store.read() as s:
        return list(s.exec(select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(col(Checkpoint.epoch))))


def all_checkpoints(store: Store) -> list[Checkpoint]:
    with store.read() as s:
        return list(s.exec(select(Checkpoint)))


def get_diagnosis(store: Store, run_id: int, epoch: int, version: int) -> Diagnosis | None:
    with store.read() as s:
        query = select(Diagnosis).where(
            Diagnosis.run_id == run_id, Diagnosis.epoch == epoch, Diagnosis.version == version
        )
        return s.exec(query).first()


# --- sweeps ----------------------------------------------------------------------------------------------


def find_sweep(store: Store, name: str) -> Sweep | None:
    """The latest sweep of this name: running a sweep file again resumes it."""
    with store.read() as s:
        return s.exec(select(Sweep).where(Sweep.name == name).order_by(col(Sweep.id).desc())).first()


def sweep_by_ref(store: Store, ref: str | int) -> Sweep:
    """A sweep by its id (digits) or its name (the latest sweep of that name, as running its file again
    resumes it), or a one-line StoreError naming the way out."""
    if isinstance(ref, int) or str(ref).strip().lstrip("+-").isdecimal():
        return get_sweep(store, int(ref))
    sweep = find_sweep(store, str(ref))
    if sweep is None:
        raise StoreError(f"no sweep named {str(ref)!r} in {store.location.shown}; `mftctl sweep list` shows them")
    return sweep


def get_sweep(store: Store, sweep_id: int) -> Sweep:
    sweep = None
    sweep_id = row_id(sweep_id, "sweep")
    if _bindable(sweep_id):
        with store.read() as s:
            sweep = s.get(Sweep, sweep_id)
    if sweep is None:
        raise StoreError(f"no sweep with id {sweep_id} in {store.location.shown}; `mftctl sweep list` shows them")
    return sweep


def sweeps(store: Store) -> list[Sweep]:
    with store.read() as s:
        return list(s.exec(select(Sweep).order_by(col(Sweep.id).desc())))


def sweep_status_counts(store: Store) -> dict[int, dict[str, int]]:
    """{sweep id: {status: runs}} over every sweep, in one query."""
    counts: dict[int, dict[str, int]] = {}
    with store.read() as s:
        rows = s.exec(
            select(Run.sweep_id, Run.status, func.count())
            .where(col(Run.sweep_id).is_not(None))
            .group_by(col(Run.sweep_id), col(Run.status))
        )
        for sweep_id, status, n in rows:
            if sweep_id is not None:  # filtered above; said again for the type checker
                counts.setdefault(sweep_id, {})[status] = n
    return counts


def sweep_runs(store: Store, sweep_id: int) -> list[Run]:
    with store.read() as s:
        return list(s.exec(select(Run).where(Run.sweep_id == sweep_id).order_by(col(Run.id))))


def tags_of(store: Store, run_ids: list[int]) -> dict[int, list[str]]:
    """{run id: its tags, sorted} for the runs that have any."""
    tags: dict[int, list[str]] = {}
    with store.read() as s:
        for run_id, tag in s.exec(select(RunTag.run_id, RunTag.tag).where(col(RunTag.run_id).in_(run_ids))):
            tags.setdefault(run_id, []).append(tag)
    return {k: sorted(v) for k, v in tags.items()}
