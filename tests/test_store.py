import os
import sqlite3
import subprocess
import sys

import pytest
from sqlmodel import SQLModel

from helpers import add_run
from mftctl.errors import StoreError
from mftctl.runs.query import parse_where, sort_spec
from mftctl.store import liveness, open_store, reads, writes
from mftctl.store.migrations import MIGRATIONS


def test_blank_database_gets_every_migration_and_tables_match_models(isolated_db):
    store = open_store(isolated_db)
    con = sqlite3.connect(isolated_db)
    applied = [r[0] for r in con.execute("SELECT name FROM mftctl_migrations ORDER BY name")]
    assert applied == [name for name, _ in MIGRATIONS]
    for table in SQLModel.metadata.sorted_tables:
        columns = {r[1] for r in con.execute(f"PRAGMA table_info({table.name})")}
        assert columns == {c.name for c in table.columns}, table.name
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_upgrade_from_the_first_schema(isolated_db):
    con = sqlite3.connect(isolated_db)
    con.execute("CREATE TABLE mftctl_migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME)")
    for statement in MIGRATIONS[0][1]:
        con.execute(statement)
    con.execute("INSERT INTO mftctl_migrations VALUES (?, '2026-01-01')", (MIGRATIONS[0][0],))
    con.commit()
    with pytest.raises(StoreError, match="needs a schema upgrade"):
        open_store(isolated_db, migrate=False)
    store = open_store(isolated_db)
    assert reads.count_runs(store) == 0
    assert {r[0] for r in con.execute("SELECT name FROM mftctl_migrations")} == {n for n, _ in MIGRATIONS}


def test_newer_schema_is_refused_untouched(isolated_db):
    open_store(isolated_db).close()
    con = sqlite3.connect(isolated_db)
    con.execute("INSERT INTO mftctl_migrations VALUES ('999_future', '2030-01-01')")
    con.commit()
    before = isolated_db.read_bytes()
    with pytest.raises(StoreError, match="written by a newer mftctl .*999_future"):
        open_store(isolated_db)
    assert isolated_db.read_bytes() == before


def test_non_database_files_are_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database .*junk.db"):
        open_store(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not an mftctl database"):
        open_store(other)
    with pytest.raises(StoreError, match="no database at"):
        open_store(tmp_path / "absent.db", create=False)


@pytest.mark.backends
def test_missing_run_id(store):
    with pytest.raises(StoreError, match="no run with id 99"):
        reads.get_run(store, 99)


@pytest.mark.backends
def test_list_sorts_filters_and_limits_in_sql(store):
    add_run(store, lr=0.01, silhouette=0.2, test_loss=5.0)
    add_run(store, lr=0.05, silhouette=0.9, test_loss=7.0)
    add_run(store, lr=0.03, silhouette=None, test_loss=6.0, status="failed")
    from mftctl.store.catalog import open_catalog

    catalog = open_catalog(store.location)

    def ids(runs):
        return [r.id for r in runs]

    col, desc = sort_spec("-silhouette")
    assert ids(catalog.list_runs(sort=col, desc=desc)) == [2, 1, 3]  # NULL last both ways
    col, desc = sort_spec("silhouette")
    assert ids(catalog.list_runs(sort=col, desc=desc)) == [1, 2, 3]
    col, desc = sort_spec("training.learning_rate")
    assert ids(catalog.list_runs(sort=col, desc=desc)) == [1, 3, 2]
    col, desc = sort_spec("learning_rate")  # a unique leaf name stands for its dotted key
    assert ids(catalog.list_runs(sort=col, desc=True)) == [2, 3, 1]
    assert ids(catalog.list_runs(filters=[parse_where("training.learning_rate>=0.03")])) == [3, 2]
    assert ids(catalog.list_runs(filters=[parse_where("status=completed")], sort="id")) == [1, 2]
    assert ids(catalog.list_runs(filters=[parse_where("status=failed,crashed")])) == [3]
    assert ids(catalog.list_runs(filters=[parse_where("test_loss<6.5"), parse_where("status!=failed")])) == [1]
    assert ids(catalog.list_runs(limit=2)) == [3, 2]
    # The same conditions on every backend: strings, lists and numbers inside the stored config.
    assert ids(catalog.list_runs(filters=[parse_where("training.optimizer=adam")], sort="id")) == [1, 2, 3]
    assert ids(catalog.list_runs(filters=[parse_where("training.learning_rate=0.01,0.05")], sort="id")) == [1, 2]
    assert ids(catalog.list_runs(filters=[parse_where("training.learning_rate!=0.01,0.05")])) == [3]
    assert ids(catalog.list_runs(filters=[parse_where("name=run-2")])) == [2]
    assert ids(catalog.list_runs(filters=[parse_where("name=5")])) == []  # a number against a text column
    assert ids(catalog.list_runs(filters=[parse_where("silhouette=null")])) == [3]
    catalog.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learningrate>1", "unknown column 'learningrate'"),
        ("status", "cannot read --where"),
        ("seed>1,2", "a list of values only goes with = or !="),
    ],
)
def test_bad_where(text, message):
    from mftctl.errors import MftctlError

    with pytest.raises(MftctlError, match=message):
        parse_where(text)


@pytest.mark.backends
def test_status_transitions(store, tiny_config):
    run = add_run(store, status="queued")
    assert writes.mark_running(store, run.id, pid=os.getpid(), device="cpu")
    assert not writes.mark_running(store, run.id, pid=os.getpid(), device="cpu")  # taken already
    assert writes.finish_run(store, run.id, "completed")
    assert not writes.finish_run(store, run.id, "killed")  # finished runs keep their status
    assert reads.get_run(store, run.id).status == "completed"


@pytest.mark.backends
def test_reconcile_marks_dead_workers_crashed(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = add_run(store, status="queued")
    writes.mark_running(store, run.id, pid=dead.pid, device="cpu")
    # A live process stands in for a live worker: its command line names mftctl, as a worker's does.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "mftctl"])
    alive = add_run(store, status="queued")
    writes.mark_running(store, alive.id, pid=live.pid, device="cpu")
    # A live pid that is not mftctl's (a reused pid): a plain program whose command line cannot name mftctl.
    other = subprocess.Popen(["sleep", "60"])
    stranger = add_run(store, status="queued")
    writes.mark_running(store, stranger.id, pid=other.pid, device="cpu")
    try:
        assert liveness.reconcile(store) == [run.id, stranger.id]
        assert reads.get_run(store, run.id).status == "crashed"
        assert "without reporting" in reads.get_run(store, run.id).error
        assert reads.get_run(store, alive.id).status == "running"
    finally:
        for proc in (live, other):
            proc.kill()
            proc.wait()
    assert liveness.reconcile(store) == [alive.id]


@pytest.mark.backends
def test_stale_heartbeat_from_another_host_is_crashed(store):
    from datetime import timedelta

    from mftctl.store import Run, now

    run = add_run(store, status="running")
    with store.write() as s:
        row = s.get(Run, run.id)
        row.host, row.heartbeat_at = "elsewhere", now() - timedelta(seconds=600)
    fresh = add_run(store, status="running")
    with store.write() as s:
        row = s.get(Run, fresh.id)
        row.host, row.heartbeat_at = "elsewhere", now()
    assert liveness.reconcile(store) == [run.id]
    assert reads.get_run(store, fresh.id).status == "running"


@pytest.mark.backends
def test_schema_matches_the_models_on_every_backend(store):
    from sqlalchemy import inspect

    from mftctl.store.engine import schema_status

    applied, pending = schema_status(store)
    assert applied == [name for name, _ in MIGRATIONS] and pending == []
    with store.engine.connect() as conn:
        inspector = inspect(conn)
        for table in SQLModel.metadata.sorted_tables:
            assert {c["name"] for c in inspector.get_columns(table.name)} == {c.name for c in table.columns}


@pytest.mark.backends
def test_integers_up_to_int64_and_times_round_trip(store):
    from datetime import timedelta

    from mftctl.store import Run, now

    run = add_run(store)
    t = now() - timedelta(hours=3)
    with store.write() as s:
        row = s.get(Run, run.id)
        row.seed, row.heartbeat_at = 2**63 - 1, t
    again = reads.get_run(store, run.id)
    assert again.seed == 2**63 - 1 and again.heartbeat_at == t


def test_list_never_imports_torch_or_the_orm(isolated_db, store):
    """`mftctl list` stays interactive: no torch, no SQLAlchemy on its path when nothing is running."""
    add_run(store, status="completed")
    code = (
        "import sys\n"
        "from mftctl.cli import main\n"
        "sys.argv = ['mftctl', 'list', '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'sqlalchemy', 'sklearn', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr
    assert '"status": "completed"' in out.stdout


def test_db_upgrade_applies_the_pending_migrations(isolated_db):
    from helpers import invoke

    con = sqlite3.connect(isolated_db)
    con.execute("CREATE TABLE mftctl_migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME)")
    for name, statements in MIGRATIONS[:5]:
        for statement in statements:
            con.execute(statement)
        con.execute("INSERT INTO mftctl_migrations VALUES (?, '2026-01-01')", (name,))
    con.commit()
    pending = ", ".join(name for name, _ in MIGRATIONS[5:])  # 006_checkpoint_kind, 007_setting, ...
    with pytest.raises(StoreError, match=rf"needs a schema upgrade \({pending}\)"):
        open_store(isolated_db, migrate=False)
    upgraded = invoke("db", "upgrade")
    assert upgraded.exit_code == 0 and f"applied {pending}" in upgraded.output
    assert f"schema is current ({MIGRATIONS[-1][0]})" in invoke("db", "upgrade").output
    columns = {r[1] for r in con.execute("PRAGMA table_info(checkpoint)")}
    assert "kind" in columns
