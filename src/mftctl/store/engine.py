"""Opening a store: the engine (SQLite in WAL mode, or PostgreSQL), its sessions, and the migrations.

Concurrency. SQLite: WAL journal, a 30 s busy timeout, and `BEGIN IMMEDIATE` for every write
transaction, so a writer takes the lock up front and waits for it rather than failing with "database is
locked" when it would have upgraded a read lock. PostgreSQL: row locks (`SELECT ... FOR UPDATE` in the
lifecycle writes) and a transaction-scoped advisory lock around the migrations, so that two processes
opening a new database together apply them once. A pool of one connection per process (two more at
most, briefly): workers and Slurm array tasks are many processes, and a large pool in each is what
exhausts a shared server. Transactions are short: one per epoch.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import QueuePool, StaticPool
from sqlmodel import Session, create_engine

from ..errors import StoreError
from .location import Location, postgres_driver, resolve_location
from .migrations import MIGRATION_TABLE, MIGRATION_TABLE_DDL, MIGRATIONS, for_dialect
from .snapshot import is_read_only, snapshot
from .tables import now

BUSY_TIMEOUT_S = 30
# Any constant: the key of the advisory lock that serialises migrations on PostgreSQL.
MIGRATION_LOCK = 0x6D667463
RUNS_DIR_SETTING = "runs_dir"


@dataclass
class Store:
    """An open mftctl store: its engine and the folder its run files live in. Reads and writes are the
    functions of reads.py and writes.py; this holds the connection and hands out sessions."""

    location: Location
    engine: Engine
    runs_dir: Path  # one folder per run: checkpoints, worker.log
    root: Path  # recorded checkpoint paths are relative to this folder
    read_only: bool = False  # a snapshot of a store on read-only media: reads only

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None on PostgreSQL."""
        return self.location.path

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def __post_init__(self) -> None:
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: on SQLite it holds the database's write lock from its first statement."""
        if self.read_only:
            raise StoreError(
                f"{self.location.shown} is read-only, and this command writes to it; copy the database "
                "(with its runs folder) somewhere writable, or make it writable"
            )
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def sqlite_runs_dir(db_path: Path) -> Path:
    """The folder of an SQLite database's run files, named after the database so that two databases in one
    folder never share one: mftctl.db -> mftctl-runs/, one.db -> one-runs/, other names -> NAME.runs/."""
    name = db_path.name
    return db_path.parent / (name[:-3] + "-runs" if name.endswith(".db") else name + ".runs")


def _sqlite_engine(path: Path, copy: sqlite3.Connection | None = None) -> Engine:
    # The file is opened by sqlite3 itself, so a path is always a path: `?`, `#` or `%` in it are never
    # read as parts of a URL. A read-only store is its in-memory copy (snapshot.py), one connection.
    if copy is not None:
        engine = create_engine("sqlite://", creator=lambda: copy, poolclass=StaticPool)
    else:
        # A pool of connections as a file URL would get (QueuePool): the `sqlite://` URL alone would give
        # SingletonThreadPool, one connection per thread closed past its fifth thread under the others' feet
        # — which a threaded reader (`mftctl ui`'s web server) meets at once.
        engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False),
            poolclass=QueuePool,
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(location: Location) -> Engine:
    postgres_driver(location)
    return create_engine(
        location.sqlalchemy_url,
        pool_size=1,  # one connection kept per process (a worker's training thread) ...
        max_overflow=2,  # ... and at most two more, briefly (its heartbeat thread)
        pool_pre_ping=True,  # a connection the server dropped (restart, idle timeout) is replaced, not an error
        pool_recycle=600,
        connect_args={"connect_timeout": 10, "application_name": "mftctl"},
    )


# --- migrations ----------------------------------------------------------------------------------------


def _applied_migrations(conn: Connection) -> list[str] | None:
    """The names applied, [] for an empty database, None for a database that is something else."""
    tables = set(inspect(conn).get_table_names())
    if MIGRATION_TABLE not in tables:
        return None if tables else []
    return [r[0] for r in conn.execute(text(f"SELECT name FROM {MIGRATION_TABLE} ORDER BY name"))]


def _check_not_newer(shown: str, applied: list[str]) -> None:
    known = {name for name, _ in MIGRATIONS}
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"{shown} was written by a newer mftctl (schema {unknown[-1]}, this mftctl knows up to "
            f"{MIGRATIONS[-1][0]}); upgrade mftctl (`pip install -U mftctl`) or use another --db"
        )


def _not_ours(shown: str, dialect: str) -> StoreError:
    kind = "an SQLite file" if dialect == "sqlite" else "a PostgreSQL database with other tables"
    return StoreError(f"{shown} is {kind} but not an mftctl database; use another --db")


def schema_status(store: Store) -> tuple[list[str], list[str]]:
    """(applied, pending) migration names."""
    with store.engine.connect() as conn:
        applied = _applied_migrations(conn) or []
    return applied, [name for name, _ in MIGRATIONS if name not in applied]


def upgrade(store: Store) -> list[str]:
    """Apply pending migrations in one transaction under the write lock; returns the names applied."""
    applied_now = []
    with store._writer.connect() as conn, conn.begin():
        if store.dialect == "postgresql":  # a second process opening a new database waits here, then sees them
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        applied = _applied_migrations(conn)
        if applied is None:
            raise _not_ours(store.location.shown, store.dialect)
        _check_not_newer(store.location.shown, applied)
        conn.execute(text(for_dialect(MIGRATION_TABLE_DDL, store.dialect)))
        for name, statements in MIGRATIONS:
            if name in applied:
                continue
            for statement in statements:
                conn.exec_driver_sql(for_dialect(statement, store.dialect))
            conn.execute(
                text(f"INSERT INTO {MIGRATION_TABLE} (name, applied_at) VALUES (:name, :at)"),
                {"name": name, "at": now()},
            )
            applied_now.append(name)
    return applied_now


# --- opening -------------------------------------------------------------------------------------------


def _refuse_newer_read_only(location: Location) -> None:
    """Check an SQLite file's schema version through a read-only connection first: opening it for writing
    switches it to WAL, which rewrites header bytes of a file a newer mftctl owns."""
    from .catalog import Catalog

    try:
        catalog = Catalog(location)
    except StoreError:
        return  # not readable as SQLite: the full open below says why
    try:
        applied = catalog.applied_migrations()
    finally:
        catalog.close()
    if applied:
        _check_not_newer(location.shown, applied)


def _postgres_runs_dir(store: Store) -> Path:
    """A PostgreSQL store's folder of run files: $MFTCTL_RUNS_DIR where set (a node that mounts the shared
    folder elsewhere), else the one recorded in the store when it was made (./mftctl-runs of whoever made
    it), so that every client and compute node finds the same files."""
    if os.environ.get("MFTCTL_RUNS_DIR"):
        return Path(os.environ["MFTCTL_RUNS_DIR"]).resolve()
    query = text("SELECT value FROM mftctl_setting WHERE name = :n")
    with store.read() as s:
        row = s.connection().execute(query, {"n": RUNS_DIR_SETTING}).first()
    if row is not None:
        return Path(row[0])
    with store.write() as s:  # the first process to open a new store records where its files go
        s.connection().execute(
            text("INSERT INTO mftctl_setting (name, value) VALUES (:n, :v) ON CONFLICT (name) DO NOTHING"),
            {"n": RUNS_DIR_SETTING, "v": str((Path.cwd() / "mftctl-runs").resolve())},
        )
        row = s.connection().execute(query, {"n": RUNS_DIR_SETTING}).one()
    return Path(row[0])


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(getattr(exc, "orig", None) or exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def open_store(
    where: str | Path | Location | None = None,
    *,
    create: bool = True,
    migrate: bool = True,
    check_pending: bool = True,
) -> Store:
    """Open (and create, and upgrade) the store. Workers pass migrate=False: only the parent upgrades;
    `db upgrade` passes check_pending=False to open an old database and upgrade it itself."""
    location = where if isinstance(where, Location) else resolve_location(where)
    if location.is_sqlite:
        path = location.file
        if path.exists():
            _refuse_newer_read_only(location)
        elif not create:
            raise StoreError(f"no database at {path}; train a run first or point --db / MFTCTL_DB at one")
        elif not path.parent.exists():
            raise StoreError(f"cannot create database {path}: folder {path.parent} does not exist")
        runs_dir = sqlite_runs_dir(path)
        if path.exists() and is_read_only(path):
            try:
                copy = snapshot(path)
            except sqlite3.DatabaseError as exc:
                raise StoreError(
                    f"cannot open database {location.shown}: {exc}; check the file or use another --db"
                ) from None
            store = Store(location, _sqlite_engine(path, copy), runs_dir, path.parent, read_only=True)
        else:
            store = Store(location, _sqlite_engine(path), runs_dir, path.parent)
    else:
        engine = _postgres_engine(location)
        store = Store(location, engine, Path.cwd(), Path.cwd())
    try:
        with store.engine.connect() as conn:
            applied = _applied_migrations(conn)
        if applied is None:
            raise _not_ours(location.shown, store.dialect)
        _check_not_newer(location.shown, applied)
        pending = [name for name, _ in MIGRATIONS if name not in applied]
        if pending and check_pending:
            if not migrate:
                raise StoreError(
                    f"{location.shown} needs a schema upgrade ({', '.join(pending)}); run `mftctl db upgrade`"
                )
            upgrade(store)
        if not location.is_sqlite and (check_pending or "007_setting" in applied):
            # Checkpoint paths are recorded relative to the runs folder itself, so that a node which
            # mounts it elsewhere ($MFTCTL_RUNS_DIR) still finds them.
            store.runs_dir = store.root = _postgres_runs_dir(store)
    except (DatabaseError, OperationalError, sqlite3.DatabaseError) as exc:
        store.close()
        advice = "check the file or use another --db" if location.is_sqlite else "check the server, user and database"
        raise StoreError(f"cannot open database {location.shown}: {_first_line(exc)}; {advice}") from None
    except StoreError:
        store.close()
        raise
    return store
