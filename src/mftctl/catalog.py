"""The fast read path of `mftctl list`: the run table through the standard library's sqlite3.

Importing SQLAlchemy and SQLModel costs about 0.6 s, more than listing 10,000 runs should take in all.
This module reads the same table with the same column names and no ORM; `store.py` stays the only
writer and the owner of the schema, and `list` falls back to it when the schema needs an upgrade or a
run shows `running` and must be checked for a dead worker.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import StoreError
from .migrations import MIGRATION_NAMES

DEFAULT_DB = "mftctl.db"
DATETIME_COLUMNS = ("created_at", "started_at", "finished_at", "heartbeat_at")
OPERATORS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def resolve_db_path(option: str | Path | None = None) -> Path:
    """--db, else $MFTCTL_DB, else ./mftctl.db: always a file on disk."""
    path = Path(option or os.environ.get("MFTCTL_DB") or DEFAULT_DB)
    if str(path) == ":memory:" or str(path).startswith("file:"):
        raise StoreError(f"--db {path}: mftctl needs a database file that its workers can open; give a file path")
    if path.is_dir():
        raise StoreError(f"--db {path} is a folder; give the path of a database file, e.g. {path / DEFAULT_DB}")
    return path


@dataclass
class RunFilter:
    """One `--where` condition: column (a run column, or a JSON path into the config), op, value."""

    column: str
    op: str
    value: Any
    json_path: str | None = None


class RunView:
    """A run row with the attribute names of `store.Run`, for reading and rendering."""

    def __init__(self, row: sqlite3.Row):
        self._data = dict(row)
        for key in DATETIME_COLUMNS:
            if self._data.get(key):
                self._data[key] = datetime.fromisoformat(self._data[key])

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self._data["config_json"])

    @property
    def extra(self) -> dict[str, Any]:
        return json.loads(self._data["extra_json"]) if self._data.get("extra_json") else {}


class Catalog:
    def __init__(self, path: Path):
        self.path = path
        uri = f"file:{quote(str(path))}?mode=ro"  # quoted: `?`, `#` and `%` in a path are not URI syntax
        try:
            self.con = sqlite3.connect(uri, uri=True, timeout=30)
            self.con.row_factory = sqlite3.Row
            self.con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}; check the file or use another --db") from None

    def applied_migrations(self) -> list[str] | None:
        try:
            return [r[0] for r in self.con.execute("SELECT name FROM mftctl_migrations ORDER BY name")]
        except sqlite3.Error:
            return None

    def has_running(self) -> bool:
        return self.con.execute("SELECT 1 FROM run WHERE status = 'running' LIMIT 1").fetchone() is not None

    def count_runs(self) -> int:
        return self.con.execute("SELECT count(*) FROM run").fetchone()[0]

    def list_runs(
        self,
        *,
        sort: str | None = None,
        desc: bool = False,
        filters: list[RunFilter] | None = None,
        limit: int | None = None,
    ) -> list[RunView]:
        """One query: WHERE from the filters, ORDER BY a column or config path (nulls last), LIMIT."""
        where, params = [], []
        for f in filters or []:
            target = "json_extract(config_json, ?)" if f.json_path else f.column
            if f.json_path:
                params.append(f.json_path)
            if isinstance(f.value, list):
                marks = ", ".join("?" * len(f.value))
                where.append(f"{target} {'NOT IN' if f.op == '!=' else 'IN'} ({marks})")
                params.extend(f.value)
            elif f.value is None:
                where.append(f"{target} IS {'NOT ' if f.op == '!=' else ''}NULL")
            else:
                where.append(f"{target} {OPERATORS[f.op]} ?")
                params.append(f.value)
        sql = "SELECT * FROM run"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if desc else "ASC"
        if sort:
            key = "json_extract(config_json, ?)" if sort.startswith("$") else sort
            if sort.startswith("$"):
                params.append(sort)
            sql += f" ORDER BY {key} IS NULL, {key} {direction}, id {direction}"
            if sort.startswith("$"):
                params.append(sort)
        else:
            sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [RunView(row) for row in self.con.execute(sql, params)]

    def close(self) -> None:
        self.con.close()


def open_catalog(path: Path) -> Catalog | None:
    """A read-only catalog, or None when the full store must open the file (missing, old schema)."""
    if not path.exists():
        return None
    catalog = Catalog(path)
    applied = catalog.applied_migrations()
    if applied is None or applied != MIGRATION_NAMES:
        catalog.close()
        return None
    return catalog
