"""A store on read-only media (an archived project, a read-only mount, a file without write permission),
read through an in-memory copy.

SQLite cannot open a WAL database read-only unless it may create the `-shm` file beside it, and an older
schema needs its migrations before today's queries can read it. The copy answers both: the file is read
once (`mode=ro`, else `immutable=1` when not even the `-shm` file can be made), its pending migrations are
applied to the copy, and every read command works on it; nothing is ever written to the file. Free of
SQLAlchemy, like catalog.py, which uses it too.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from .migrations import MIGRATION_TABLE, MIGRATION_TABLE_DDL, MIGRATIONS


def is_read_only(path: Path) -> bool:
    """Whether the database file, or the folder its journal files would go in, cannot be written."""
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    # Quoted: `?`, `#` and `%` in a path are not URI syntax.
    return f"file:{quote(str(path.absolute()))}?{'immutable=1' if immutable else 'mode=ro'}"


def snapshot(path: Path) -> sqlite3.Connection:
    """An in-memory copy of the database at path, with the migrations it lacks applied to the copy (a
    database from a newer mftctl is copied as it is: opening refuses it by its migration names)."""
    try:
        source = sqlite3.connect(read_only_uri(path), uri=True)
        source.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:  # a WAL file whose -shm cannot be created: read the file as it lies
        source = sqlite3.connect(read_only_uri(path, immutable=True), uri=True)
    copy = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        source.backup(copy)
    finally:
        source.close()
    tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and MIGRATION_TABLE not in tables:
        return copy  # not an mftctl database: opening says so
    applied = {r[0] for r in copy.execute(f"SELECT name FROM {MIGRATION_TABLE}")} if tables else set()
    known = {name for name, _ in MIGRATIONS}
    if applied - known:
        return copy
    copy.execute(MIGRATION_TABLE_DDL)
    for name, statements in MIGRATIONS:
        if name not in applied:
            for statement in statements:
                copy.execute(statement)
            copy.execute(f"INSERT INTO {MIGRATION_TABLE} (name, applied_at) VALUES (?, datetime('now'))", (name,))
    copy.commit()
    return copy
