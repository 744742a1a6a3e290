"""A store on read-only media is readable: list, show, db info, export and diagnose answer from it, an older
schema too; a command that writes refuses in one line; the files are never touched. A real read-only
tmpfs (root on Linux; CI runs as root), since root ignores permission bits."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from helpers import SETS, copy_database, invoke, mounted_tmpfs, old_schema_database, one_line_refusal
from mftctl.store.migrations import MIGRATIONS

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or sys.platform != "linux", reason="a read-only mount needs root on Linux"
)


@pytest.fixture
def read_only_mount(tmp_path):
    """A folder to fill, then remount read-only: yields (folder, make_read_only)."""
    with mounted_tmpfs(tmp_path / "media", "20m") as folder:
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def test_a_store_on_read_only_media_is_readable_and_refuses_writes(isolated_db, read_only_mount, tmp_path):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    folder, make_read_only = read_only_mount
    copy_database(isolated_db, folder / "mftctl.db")
    shutil.copytree(isolated_db.parent / "mftctl-runs", folder / "mftctl-runs")
    make_read_only()
    db = folder / "mftctl.db"
    before = db.read_bytes()
    listed = invoke("list", "--db", db, "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [r["status"] for r in json.loads(listed.output)] == ["completed"]
    shown = invoke("show", 1, "--db", db, "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.output)["epochs_done"] == 2
    info = invoke("db", "info", "--db", db)
    assert info.exit_code == 0 and MIGRATIONS[-1][0] in info.output
    exported = invoke("export", tmp_path / "out", "--db", db)
    assert exported.exit_code == 0 and (tmp_path / "out" / "epochs.csv").read_text().count("\n") == 3
    diagnosed = invoke("diagnose", 1, "--db", db, "--format", "json")
    assert diagnosed.exit_code == 0, diagnosed.output
    for args in (("tag", 1, "kept"), ("note", 1, "a note"), ("rm", 1, "--yes")):
        one_line_refusal(invoke(*args, "--db", db), "is read-only")
    assert db.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["mftctl-runs", "mftctl.db"]


def test_an_old_schema_store_on_read_only_media_is_read_through_a_migrated_copy(read_only_mount):
    folder, make_read_only = read_only_mount
    db = folder / "old.db"
    old_schema_database(db, applied=3)
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO run (id, name, kind, status, config_json, config_hash, seed, created_at, epochs_total, "
        "epochs_done, train_seconds) VALUES (1, 'old-run', 'train', 'completed', '{}', 'h', 0, "
        "'2026-01-01 00:00:00', 2, 2, 1.0)"
    )
    con.commit()
    con.close()
    make_read_only()
    before = db.read_bytes()
    listed = invoke("list", "--db", db, "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [r["name"] for r in json.loads(listed.output)] == ["old-run"]
    assert invoke("show", 1, "--db", db).exit_code == 0
    assert db.read_bytes() == before
