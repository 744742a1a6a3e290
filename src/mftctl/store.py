"""The run store: SQLModel tables, the engine, schema migrations and every query. Nothing else writes SQL.

Concurrency: WAL journal, a 30 s busy timeout, and `BEGIN IMMEDIATE` for every write transaction, so
a writer takes the lock up front and waits for it rather than failing with "database is locked" when
it would have upgraded a read lock. Transactions are short: one per epoch.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, create_engine, func, select

from .catalog import resolve_db_path
from .errors import StoreError
from .faults import maybe_crash
from .migrations import MIGRATION_TABLE, MIGRATIONS

BUSY_TIMEOUT_S = 30
# A running worker touches its heartbeat this often; a run silent for STALE_AFTER_S is crashed.
HEARTBEAT_S = 10
STALE_AFTER_S = 120

# The blob measurement's summary columns, on every epoch row and (from the latest epoch) on the run.
BLOB_COLUMNS = ("n_clusters", "separation", "silhouette", "correlation", "noise_fraction", "symmetry_error")

ACTIVE = ("queued", "running")
OWNER_FILE = ".mftctl-database"  # in each run folder: the name of the database that made it
FINISHED = ("completed", "failed", "killed", "crashed")


def now() -> datetime:
    return datetime.now(UTC)


def blob_summary(diagnostics: dict[str, Any] | None) -> dict[str, Any]:
    """The BLOB_COLUMNS values of a blob report (`measure_blobs(...).as_dict()`); the first release's
    reports named the count n_clusters and had no separation."""
    diag = diagnostics or {}
    values = {key: diag.get(key) for key in BLOB_COLUMNS}
    values["n_clusters"] = diag.get("n_blobs", diag.get("n_clusters"))
    return values


def epoch_blob_method(epoch: Epoch | None) -> str | None:
    diag = epoch.diagnostics if epoch is not None else None
    return diag.get("method") if diag else None


# --- tables -------------------------------------------------------------------------------------


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    kind: str = "train"  # train | stage2
    parent_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    sweep_id: int | None = Field(default=None, index=True)
    status: str = Field(default="queued", index=True)  # queued running completed failed killed crashed
    preset: str | None = Field(default=None, index=True)
    config_json: str
    config_hash: str = Field(index=True)
    seed: int
    device: str | None = None  # the torch device the worker actually used
    host: str | None = None
    pid: int | None = None
    created_at: datetime = Field(default_factory=now, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None  # the traceback of a failed run, or why it was marked crashed/killed
    extra_json: str | None = None  # kind-specific facts (stage 2: parent epoch, mixture, sampling seed)
    # Summary, kept current every epoch so that `list` sorts and filters without touching epochs.
    epochs_total: int = 0
    epochs_done: int = 0
    last_train_loss: float | None = None
    last_test_loss: float | None = Field(default=None, index=True)
    best_test_loss: float | None = Field(default=None, index=True)
    samples_per_s: float | None = None
    train_seconds: float = 0.0
    n_clusters: int | None = Field(default=None, index=True)
    silhouette: float | None = Field(default=None, index=True)
    correlation: float | None = None
    noise_fraction: float | None = None
    symmetry_error: float | None = None
    separation: float | None = Field(default=None, index=True)
    # Which blob measurement made the numbers above: None for the first release's sampled DBSCAN
    # (`mftctl reanalyse` replaces them from the checkpoints).
    blob_method: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_json)

    @property
    def extra(self) -> dict[str, Any]:
        return json.loads(self.extra_json) if self.extra_json else {}


class Epoch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    train_loss: float
    train_loss_on: float
    train_loss_off: float
    test_loss: float
    test_loss_on: float
    test_loss_off: float
    seconds: float
    train_seconds: float
    samples_per_s: float
    lr: float
    n_clusters: int | None = None
    noise_fraction: float | None = None
    silhouette: float | None = None
    correlation: float | None = None
    symmetry_error: float | None = None
    diagnostics_json: str | None = None  # the whole blob report: per blob mass, centre, depth
    separation: float | None = None

    @property
    def diagnostics(self) -> dict[str, Any] | None:
        return json.loads(self.diagnostics_json) if self.diagnostics_json else None


class Checkpoint(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    path: str  # relative to the database's folder
    bytes: int
    sha256: str
    created_at: datetime = Field(default_factory=now)
    kind: str = "full"  # full (resumable) | weights (the model alone: figures, diagnose, stage 2)


class Diagnosis(SQLModel, table=True):
    """The full `diagnose` analysis of one checkpoint, kept so a second look is a lookup."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    epoch: int
    version: int
    result_json: str
    created_at: datetime = Field(default_factory=now)


class Sweep(SQLModel, table=True):
    """A sweep file as it was run; its cells are runs with this sweep_id."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    file_text: str
    file_path: str | None = None
    meta_json: str = "{}"  # varied keys, reference cell, expected cluster count
    created_at: datetime = Field(default_factory=now)

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_json)


def _make_engine(path: Path) -> Engine:
    # The file is opened by sqlite3 itself, so a path is always a path: `?`, `#` or `%` in it are never
    # read as parts of a URL.
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def runs_dir_of(db_path: Path) -> Path:
    """The folder of a database's run files, named after the database so that two databases in one
    folder never share one: mftctl.db -> mftctl-runs/, one.db -> one-runs/, other names -> NAME.runs/."""
    name = db_path.name
    return db_path.parent / (name[:-3] + "-runs" if name.endswith(".db") else name + ".runs")


class Store:
    """An open mftctl database and the folder of run artefacts beside it."""

    def __init__(self, path: Path, engine: Engine):
        self.path = path
        self.engine = engine
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")

    @property
    def runs_dir(self) -> Path:
        return runs_dir_of(self.path)

    def run_dir(self, run_id: int) -> Path:
        return self.runs_dir / str(run_id)

    def new_checkpoint_path(self, run_id: int, epoch: int, kind: str = "full") -> Path:
        """Where the checkpoint of this epoch is written (its `.tmp` sibling first)."""
        return self.run_dir(run_id) / f"{'epoch' if kind == 'full' else 'weights'}_{epoch:04d}.pt"

    def claim_run_dir(self, run_id: int) -> Path:
        """Create the run's folder, marked as this database's (gc removes only folders it owns)."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OWNER_FILE).write_text(self.path.name + "\n")
        return folder

    def owns(self, folder: Path) -> bool:
        try:
            return (folder / OWNER_FILE).read_text().strip() == self.path.name
        except OSError:
            return False

    def checkpoint_files(self, run_id: int) -> list[tuple[int | None, Path]]:
        """(epoch, path) of every checkpoint-like file in the run's folder, `.tmp` leftovers included; epoch
        None where the name carries none."""
        found: list[tuple[int | None, Path]] = []
        for path in sorted(self.run_dir(run_id).glob("*_*.pt*")):
            prefix, _, rest = path.name.partition("_")
            if prefix not in ("epoch", "weights"):
                continue
            digits = rest.split(".")[0]
            found.append((int(digits) if digits.isdigit() else None, path))
        return found

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # --- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        name: str,
        config_json: str,
        config_hash: str,
        seed: int,
        epochs_total: int,
        preset: str | None = None,
        kind: str = "train",
        parent_id: int | None = None,
        sweep_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Run:
        run = Run(
            name=name,
            kind=kind,
            preset=preset,
            config_json=config_json,
            config_hash=config_hash,
            seed=seed,
            epochs_total=epochs_total,
            parent_id=parent_id,
            sweep_id=sweep_id,
            extra_json=json.dumps(extra) if extra else None,
        )
        with self.write() as s:
            s.exec(
                text(
                    "UPDATE mftctl_counter SET value = max(value, (SELECT coalesce(max(id), 0) FROM run)) + 1 "
                    "WHERE name = 'run'"
                )
            )
            run.id = s.exec(text("SELECT value FROM mftctl_counter WHERE name = 'run'")).one()[0]
            s.add(run)
            s.flush()
            if not name:
                run.name = f"run-{run.id}"
        return run

    def find_run(self, run_id: int) -> Run | None:
        if not -(2**63) <= run_id < 2**63:  # no such row can exist, and SQLite cannot bind the number
            return None
        with self.read() as s:
            return s.get(Run, run_id)

    def get_run(self, run_id: int) -> Run:
        run = self.find_run(run_id)
        if run is None:
            raise StoreError(f"no run with id {run_id} in {self.path}; `mftctl list` shows the runs")
        return run

    def mark_running(self, run_id: int, *, pid: int, device: str) -> bool:
        """queued -> running, atomically; False if the run was not queued (someone else took it)."""
        with self.write() as s:
            run = s.get(Run, run_id)
            if run is None or run.status != "queued":
                return False
            t = now()
            run.status, run.pid, run.host, run.device = "running", pid, socket.gethostname(), device
            run.started_at = run.heartbeat_at = t
        return True

    def heartbeat(self, run_id: int) -> None:
        with self.write() as s:
            s.exec(text("UPDATE run SET heartbeat_at = :t WHERE id = :id"), params={"t": now(), "id": run_id})

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> bool:
        """Active -> a finished status; a run already finished keeps the status it has."""
        assert status in FINISHED
        with self.write() as s:
            run = s.get(Run, run_id)
            if run is None or run.status not in ACTIVE:
                return False
            run.status, run.error, run.finished_at = status, error, now()
        return True

    def record_epoch(self, run_id: int, values: dict[str, Any], diagnostics: dict[str, Any] | None) -> None:
        """The epoch row and the run's summary columns, in one short transaction."""
        summary = blob_summary(diagnostics)
        row = Epoch(
            run_id=run_id, **values, **summary, diagnostics_json=json.dumps(diagnostics) if diagnostics else None
        )
        with self.write() as s:
            s.add(row)
            s.flush()
            maybe_crash("epoch-write", values["epoch"])
            run = s.get(Run, run_id)
            run.epochs_done = max(run.epochs_done, values["epoch"])
            run.last_train_loss, run.last_test_loss = values["train_loss"], values["test_loss"]
            run.best_test_loss = min(x for x in (run.best_test_loss, values["test_loss"]) if x is not None)
            run.samples_per_s = values["samples_per_s"]
            run.train_seconds += values["train_seconds"]
            run.heartbeat_at = now()
            if diagnostics is not None:
                for key, value in summary.items():
                    setattr(run, key, value)
                run.blob_method = diagnostics.get("method")

    def replace_blob_measurements(self, run_id: int, reports: dict[int, dict[str, Any]]) -> None:
        """New blob reports for some epochs of a run ({epoch: report}), and the run's summary columns
        again from its latest epoch row, in one transaction (`mftctl reanalyse`)."""
        with self.write() as s:
            for epoch in s.exec(select(Epoch).where(Epoch.run_id == run_id, col(Epoch.epoch).in_(list(reports)))):
                for key, value in blob_summary(reports[epoch.epoch]).items():
                    setattr(epoch, key, value)
                epoch.diagnostics_json = json.dumps(reports[epoch.epoch])
            s.flush()
            last = s.exec(select(Epoch).where(Epoch.run_id == run_id).order_by(Epoch.epoch.desc())).first()
            run = s.get(Run, run_id)
            if last is not None and last.diagnostics_json is not None:
                for key in BLOB_COLUMNS:
                    setattr(run, key, getattr(last, key))
                run.blob_method = epoch_blob_method(last)

    def record_checkpoint(
        self, run_id: int, epoch: int, path: Path, size: int, sha256: str, kind: str = "full"
    ) -> None:
        """Record a checkpoint file, replacing the row of the same epoch if there is one (a full
        checkpoint slimmed to its weights)."""
        rel = os.path.relpath(path, self.path.parent)
        with self.write() as s:
            old = s.exec(select(Checkpoint).where(Checkpoint.run_id == run_id, Checkpoint.epoch == epoch)).first()
            if old is not None:
                s.delete(old)
                s.flush()
            s.add(Checkpoint(run_id=run_id, epoch=epoch, path=rel, bytes=size, sha256=sha256, kind=kind))

    def drop_checkpoint(self, run_id: int, epoch: int) -> None:
        """The row, then the file: a crash in between leaves an orphan file for gc, never a row without one."""
        with self.write() as s:
            row = s.exec(select(Checkpoint).where(Checkpoint.run_id == run_id, Checkpoint.epoch == epoch)).first()
            if row is None:
                return
            path = self.path.parent / row.path
            s.delete(row)
        path.unlink(missing_ok=True)

    def epochs(self, run_id: int) -> list[Epoch]:
        with self.read() as s:
            return list(s.exec(select(Epoch).where(Epoch.run_id == run_id).order_by(Epoch.epoch)))

    def checkpoints(self, run_id: int) -> list[Checkpoint]:
        with self.read() as s:
            return list(s.exec(select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.epoch)))

    def get_diagnosis(self, run_id: int, epoch: int, version: int) -> Diagnosis | None:
        with self.read() as s:
            query = select(Diagnosis).where(
                Diagnosis.run_id == run_id, Diagnosis.epoch == epoch, Diagnosis.version == version
            )
            return s.exec(query).first()

    def save_diagnosis(self, run_id: int, epoch: int, version: int, result: dict[str, Any]) -> None:
        """Replace any earlier analysis of the same checkpoint and version."""
        with self.write() as s:
            old = s.exec(
                select(Diagnosis).where(
                    Diagnosis.run_id == run_id, Diagnosis.epoch == epoch, Diagnosis.version == version
                )
            ).first()
            if old is not None:
                s.delete(old)
                s.flush()
            s.add(Diagnosis(run_id=run_id, epoch=epoch, version=version, result_json=json.dumps(result)))

    def checkpoint_path(self, ckpt: Checkpoint) -> Path:
        return self.path.parent / ckpt.path

    def children(self, run_id: int) -> list[Run]:
        with self.read() as s:
            return list(s.exec(select(Run).where(Run.parent_id == run_id).order_by(Run.id)))

    # --- sweeps ----------------------------------------------------------------------------------

    def create_sweep(self, *, name: str, file_text: str, file_path: str | None, meta: dict[str, Any]) -> Sweep:
        sweep = Sweep(name=name, file_text=file_text, file_path=file_path, meta_json=json.dumps(meta))
        with self.write() as s:
            s.add(sweep)
        return sweep

    def find_sweep(self, name: str) -> Sweep | None:
        """The latest sweep of this name: running a sweep file again resumes it."""
        with self.read() as s:
            return s.exec(select(Sweep).where(Sweep.name == name).order_by(Sweep.id.desc())).first()

    def get_sweep(self, sweep_id: int) -> Sweep:
        if not -(2**63) <= sweep_id < 2**63:
            raise StoreError(f"no sweep with id {sweep_id} in {self.path}; `mftctl sweep list` shows them")
        with self.read() as s:
            sweep = s.get(Sweep, sweep_id)
        if sweep is None:
            raise StoreError(f"no sweep with id {sweep_id} in {self.path}; `mftctl sweep list` shows them")
        return sweep

    def sweeps(self) -> list[Sweep]:
        with self.read() as s:
            return list(s.exec(select(Sweep).order_by(Sweep.id.desc())))

    def sweep_status_counts(self) -> dict[int, dict[str, int]]:
        """{sweep id: {status: runs}} over every sweep, in one query."""
        counts: dict[int, dict[str, int]] = {}
        with self.read() as s:
            rows = s.exec(
                select(Run.sweep_id, Run.status, func.count())
                .where(col(Run.sweep_id).is_not(None))
                .group_by(Run.sweep_id, Run.status)
            )
            for sweep_id, status, n in rows:
                counts.setdefault(sweep_id, {})[status] = n
        return counts

    def sweep_runs(self, sweep_id: int) -> list[Run]:
        with self.read() as s:
            return list(s.exec(select(Run).where(Run.sweep_id == sweep_id).order_by(Run.id)))

    def prepare_resume(self, run_id: int, epoch: int) -> None:
        """Back to `queued`, keeping epochs and checkpoints up to `epoch` (the checkpoint resumed from) and
        dropping later ones, so that every epoch is recorded once after the resumed run finishes."""
        with self.write() as s:
            run = s.get(Run, run_id)
            if run is None or run.status in ACTIVE:
                return
            for table in ("epoch", "checkpoint", "diagnosis"):
                s.exec(
                    text(f"DELETE FROM {table} WHERE run_id = :id AND epoch > :e"), params={"id": run_id, "e": epoch}
                )
            kept = list(s.exec(select(Epoch).where(Epoch.run_id == run_id).order_by(Epoch.epoch)))
            last = kept[-1] if kept else None
            run.status, run.error, run.finished_at, run.pid = "queued", None, None, None
            run.epochs_done = last.epoch if last else 0
            run.last_train_loss = last.train_loss if last else None
            run.last_test_loss = last.test_loss if last else None
            run.best_test_loss = min((e.test_loss for e in kept), default=None)
            run.train_seconds = sum(e.train_seconds for e in kept)
            for key in BLOB_COLUMNS:
                setattr(run, key, getattr(last, key) if last else None)
            run.blob_method = epoch_blob_method(last)
            extra = run.extra
            extra["resume_from_epoch"] = epoch
            run.extra_json = json.dumps(extra)
        for file_epoch, path in self.checkpoint_files(run_id):
            if file_epoch is not None and file_epoch > epoch:
                path.unlink()

    # --- deleting and collecting garbage ---------------------------------------------------------

    def delete_runs(self, run_ids: list[int]) -> None:
        """Rows and files together. Refuses running runs, and parents whose children are not deleted too."""
        import shutil

        ids = set(run_ids)
        with self.write() as s:
            runs = [s.get(Run, i) for i in sorted(ids)]
            missing = [i for i, r in zip(sorted(ids), runs, strict=True) if r is None]
            if missing:
                raise StoreError(f"no run with id {', '.join(map(str, missing))}; nothing was deleted")
            busy = [r.id for r in runs if r.status == "running"]
            if busy:
                raise StoreError(f"run {', '.join(map(str, busy))} is running; stop it first (nothing was deleted)")
            kids = s.exec(select(Run.id).where(col(Run.parent_id).in_(ids), col(Run.id).not_in(ids))).all()
            if kids:
                raise StoreError(
                    f"runs {', '.join(map(str, kids))} are children of runs being deleted; delete them "
                    "too (nothing was deleted)"
                )
            files = [
                self.path.parent / c.path for c in s.exec(select(Checkpoint).where(col(Checkpoint.run_id).in_(ids)))
            ]
            for table in ("diagnosis", "checkpoint", "epoch"):
                s.exec(text(f"DELETE FROM {table} WHERE run_id IN ({','.join(map(str, ids))})"))
            for run in sorted(runs, key=lambda r: -r.id):  # children (always newer) before their parents
                s.delete(run)
                s.flush()
        # The files this store recorded, wherever they lie (a run of an old database may have written into
        # a folder it shared), and the run's own folder in this store's runs folder; nothing else.
        for path in files:
            path.unlink(missing_ok=True)
        for run_id in ids:
            shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def garbage(self) -> tuple[list[Path], list[Checkpoint]]:
        """(files in this store's runs folder that no row accounts for, checkpoint rows whose file is gone).
        Folders of queued and running runs are left alone: their workers write there. Call reconcile()
        first, so that a dead worker's run is not taken for a live one."""
        with self.read() as s:
            run_ids = set(s.exec(select(Run.id)).all())
            active = set(s.exec(select(Run.id).where(col(Run.status).in_(ACTIVE))).all())
            rows = list(s.exec(select(Checkpoint)))
        recorded = {(self.path.parent / c.path).resolve() for c in rows}
        orphans: list[Path] = []
        if self.runs_dir.exists():
            for folder in sorted(self.runs_dir.iterdir()):
                if not folder.is_dir() or not folder.name.isdigit():
                    continue
                if int(folder.name) not in run_ids:
                    # Only a folder this database made is its garbage: an unmarked one may belong to another
                    # database that shared the folder before runs folders were named after databases.
                    if self.owns(folder):
                        orphans.append(folder)
                    continue
                if int(folder.name) in active:  # its worker may be writing a checkpoint right now
                    continue
                orphans.extend(f for _, f in self.checkpoint_files(int(folder.name)) if f.resolve() not in recorded)
        lost = [c for c in rows if not (self.path.parent / c.path).exists()]
        return orphans, lost

    def delete_checkpoint_rows(self, ids: list[int]) -> None:
        with self.write() as s:
            for ckpt_id in ids:
                row = s.get(Checkpoint, ckpt_id)
                if row is not None:
                    s.delete(row)

    def epochs_of(self, run_ids: list[int]) -> list[Epoch]:
        with self.read() as s:
            query = select(Epoch).where(col(Epoch.run_id).in_(run_ids)).order_by(Epoch.run_id, Epoch.epoch)
            return list(s.exec(query))

    # --- crash reconciliation -------------------------------------------------------------------

    def reconcile(self, *, stale_after_s: float = STALE_AFTER_S) -> list[int]:
        """Mark `crashed` every running run whose worker is gone: its pid is dead on this host, or its
        heartbeat is older than stale_after_s (another host, or a hung machine). Returns their ids."""
        host = socket.gethostname()
        with self.read() as s:
            running = list(s.exec(select(Run).where(Run.status == "running")))
        t = now()
        dead = []
        for run in running:
            if run.host == host and run.pid is not None:
                gone = not _worker_alive(run.pid)
            else:
                gone = run.heartbeat_at is None or (t - run.heartbeat_at).total_seconds() > stale_after_s
            if gone:
                dead.append(run.id)
        for run_id in dead:
            self.finish_run(
                run_id,
                "crashed",
                "the worker process ended without reporting (killed or out of "
                "memory); `mftctl show` lists the epochs it completed",
            )
        return dead

    def run_ids(self) -> list[int]:
        with self.read() as s:
            return list(s.exec(select(Run.id).order_by(Run.id)))

    def count_runs(self) -> int:
        with self.read() as s:
            return s.exec(select(func.count()).select_from(Run)).one()


def _worker_alive(pid: int) -> bool:
    """True if pid is a live (not zombie) mftctl process. Checking the command line guards against
    the pid having been reused by an unrelated process since the worker died."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux: trust kill(0)
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return state != "Z" and b"mftctl" in cmdline


# --- opening and upgrading ------------------------------------------------------------------------


def _applied_migrations(conn) -> list[str] | None:  # noqa: ANN001
    tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
    if MIGRATION_TABLE not in tables:
        return None if tables else []
    return [r[0] for r in conn.exec_driver_sql(f"SELECT name FROM {MIGRATION_TABLE} ORDER BY name")]


def schema_status(store: Store) -> tuple[list[str], list[str]]:
    """(applied, pending) migration names."""
    with store.engine.connect() as conn:
        applied = _applied_migrations(conn) or []
    return applied, [name for name, _ in MIGRATIONS if name not in applied]


def _check_not_newer(path: Path, applied: list[str]) -> None:
    known = {name for name, _ in MIGRATIONS}
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"{path} was written by a newer mftctl (schema {unknown[-1]}, this mftctl knows up to "
            f"{MIGRATIONS[-1][0]}); upgrade mftctl (`pip install -U mftctl`) or use another --db"
        )


def _refuse_newer_read_only(path: Path) -> None:
    """Check the schema version through a read-only connection first: opening a database for writing
    switches it to WAL, which rewrites header bytes of a file a newer mftctl owns."""
    from .catalog import Catalog

    try:
        catalog = Catalog(path)
    except StoreError:
        return  # not readable as SQLite: the full open below says why
    try:
        applied = catalog.applied_migrations()
    finally:
        catalog.close()
    if applied:
        _check_not_newer(path, applied)


def upgrade(store: Store) -> list[str]:
    """Apply pending migrations under the write lock; returns the names applied."""
    applied_now = []
    with store._writer.connect() as conn, conn.begin():
        applied = _applied_migrations(conn)
        if applied is None:
            raise StoreError(f"{store.path} is an SQLite file but not an mftctl database; use another --db")
        _check_not_newer(store.path, applied)
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {MIGRATION_TABLE} (name VARCHAR PRIMARY KEY, applied_at DATETIME)"
        )
        for name, statements in MIGRATIONS:
            if name in applied:
                continue
            for statement in statements:
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql(
                f"INSERT INTO {MIGRATION_TABLE} (name, applied_at) VALUES (?, ?)", (name, now().isoformat())
            )
            applied_now.append(name)
    return applied_now


def open_store(
    path: str | Path | None = None, *, create: bool = True, migrate: bool = True, check_pending: bool = True
) -> Store:
    """Open (and create, and upgrade) the database. Workers pass migrate=False: only the parent upgrades;
    `db upgrade` passes check_pending=False to open an old database and upgrade it itself."""
    path = resolve_db_path(path)
    if path.exists():
        _refuse_newer_read_only(path)
    if not path.exists():
        if not create:
            raise StoreError(f"no database at {path}; train a run first or point --db / MFTCTL_DB at one")
        if not path.parent.exists():
            raise StoreError(f"cannot create database {path}: folder {path.parent} does not exist")
    store = Store(path, _make_engine(path))
    try:
        with store.engine.connect() as conn:
            applied = _applied_migrations(conn)
        if applied is None:
            raise StoreError(f"{path} is an SQLite file but not an mftctl database; use another --db")
        _check_not_newer(path, applied)
        pending = [name for name, _ in MIGRATIONS if name not in applied]
        if pending and check_pending:
            if not migrate:
                raise StoreError(f"{path} needs a schema upgrade ({', '.join(pending)}); run `mftctl db upgrade`")
            upgrade(store)
    except (DatabaseError, OperationalError, sqlite3.DatabaseError) as exc:
        store.close()
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise StoreError(f"cannot open database {path}: {reason}; check the file or use another --db") from None
    except StoreError:
        store.close()
        raise
    return store
