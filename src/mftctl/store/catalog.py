"""The fast read path of `mftctl list` (and of `--where` selections): the run table through the plain
DB-API driver — the standard library's sqlite3, or psycopg — with no ORM.

Importing SQLAlchemy and SQLModel costs about 0.6 s, more than listing 10,000 runs should take in all.
This module reads the same table with the same column names; writes.py stays the only writer and
migrations.py the owner of the schema, and `list` falls back to the full store when the schema needs an
upgrade or a run shows `running` and must be checked for a dead worker.

The one dialect difference is reading a key of the stored config: SQLite's `json_extract(config_json,
'$.a.b')` gives a typed SQL value; PostgreSQL's `config_json::jsonb #> '{a,b}'` gives a jsonb value, which
compares and sorts by JSON type (numbers as numbers), so values are bound as jsonb there.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from ..config import as_stored_now, default_value
from ..errors import StoreError
from ..status import RunStatus
from .columns import DATETIME_COLUMNS, TEXT_COLUMNS
from .location import Location, postgres_driver
from .migrations import MIGRATION_NAMES
from .snapshot import is_read_only, snapshot

OPERATORS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
CONTAINS = "contains"  # a filter's op of its own: the value's text holds this, in any case (not in `--where`)


def _like(text: Any) -> str:
    """A LIKE pattern for text anywhere in a value, its own % and _ taken literally."""
    escaped = str(text).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class RunFilter:
    """One `--where` condition: column (a run column, or a JSON path into the config), op, value."""

    column: str
    op: str
    value: Any
    json_path: str | None = None


class RunView:
    """A run row with the attribute names of `tables.Run`, for reading and rendering."""

    def __init__(self, row: dict[str, Any]):
        self._data = dict(row)
        for key in DATETIME_COLUMNS:
            if isinstance(self._data.get(key), str):
                self._data[key] = datetime.fromisoformat(self._data[key])

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def config(self) -> dict[str, Any]:
        return as_stored_now(json.loads(self._data["config_json"]))

    @property
    def extra(self) -> dict[str, Any]:
        return json.loads(self._data["extra_json"]) if self._data.get("extra_json") else {}


class _Dialect:
    """How one database spells a bound value and a config key."""

    mark = "?"

    def config_key(self, path: str) -> tuple[str, list[Any]]:
        # A key added after a run was recorded reads as its default, which is what that run trained with.
        default = default_value(path.removeprefix("$."))
        if default is None or isinstance(default, list | dict):
            return "json_extract(config_json, ?)", [path]
        return "coalesce(json_extract(config_json, ?), ?)", [path, default]

    def config_value(self, value: Any) -> tuple[str, Any]:
        return "?", value

    def column_value(self, column: str, value: Any) -> Any:
        return value


class _Postgres(_Dialect):
    mark = "%s"

    def config_key(self, path: str) -> tuple[str, list[Any]]:
        default = default_value(path.removeprefix("$."))
        parts = path.removeprefix("$.").split(".")
        if default is None or isinstance(default, list | dict):
            return "(config_json::jsonb #> %s::text[])", [parts]
        return "coalesce(config_json::jsonb #> %s::text[], %s::jsonb)", [parts, json.dumps(default)]

    def config_value(self, value: Any) -> tuple[str, Any]:
        return "%s::jsonb", json.dumps(value)

    def column_value(self, column: str, value: Any) -> Any:
        # PostgreSQL compares a text column only with text: `--where name=5` means the name "5".
        return str(value) if column in TEXT_COLUMNS and not isinstance(value, str) else value


class Catalog:
    """A read-only connection to the run table."""

    def __init__(self, location: Location):
        self.location = location
        self.con: Any  # an sqlite3 or a psycopg connection
        if location.is_sqlite:
            self.dialect: _Dialect = _Dialect()
            uri = f"file:{quote(str(location.file))}?mode=ro"  # quoted: `?`, `#` and `%` are not URI syntax
            try:
                # On read-only media a WAL database cannot be opened in place: a migrated in-memory copy.
                ro = location.file.exists() and is_read_only(location.file)
                self.con = snapshot(location.file) if ro else sqlite3.connect(uri, uri=True, timeout=30)
                self.con.row_factory = sqlite3.Row
                self.con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot open database {location.shown}: {exc}; check the file or use another --db"
                ) from None
            self._errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        else:
            psycopg = postgres_driver(location)
            from psycopg.rows import dict_row

            self.dialect = _Postgres()
            try:
                self.con = psycopg.connect(
                    "postgresql://" + str(location.url).split("://", 1)[1], connect_timeout=10, row_factory=dict_row
                )
            except psycopg.Error as exc:
                reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                raise StoreError(
                    f"cannot open database {location.shown}: {reason}; check the server, user and database"
                ) from None
            self.con.read_only = True
            self._errors = (psycopg.Error,)

    def _column_mark(self, column: str, value: Any) -> tuple[str, Any]:
        return "?", self.dialect.column_value(column, value)

    def _rows(self, sql: str, params: list[Any] | tuple = ()) -> list[Any]:
        cur = self.con.execute(sql.replace("?", self.dialect.mark), params)
        rows = cur.fetchall()
        if not self.location.is_sqlite:
            self.con.rollback()  # end the read transaction: a long-lived reader must not hold a snapshot
        return rows

    def applied_migrations(self) -> list[str] | None:
        try:
            return [_first(r) for r in self._rows("SELECT name FROM mftctl_migrations ORDER BY name")]
        except self._errors:
            if not self.location.is_sqlite:
                self.con.rollback()
            return None

    def tags(self) -> list[str]:
        """Every tag in use."""
        return [_first(r) for r in self._rows("SELECT DISTINCT tag FROM run_tag ORDER BY tag")]

    def has_running(self) -> bool:
        return bool(self._rows("SELECT 1 FROM run WHERE status = ? LIMIT 1", [RunStatus.running.value]))

    def count_runs(self) -> int:
        return _first(self._rows("SELECT count(*) FROM run")[0])

    def list_runs(
        self,
        *,
        sort: str | None = None,
        desc: bool = False,
        filters: list[RunFilter] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunView]:
        """One query: WHERE from the filters, ORDER BY a column or config path (nulls last), LIMIT and
        OFFSET (a page of the lab's runs table)."""
        where, params = self._where(filters or [])
        sql = "SELECT * FROM run" + where
        direction = "DESC" if desc else "ASC"
        if sort:
            key, key_params = self.dialect.config_key(sort) if sort.startswith("$") else (sort, [])
            sql += f" ORDER BY {key} IS NULL, {key} {direction}, id {direction}"
            params += key_params * 2
        else:
            sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        if offset:
            if not limit and self.location.is_sqlite:
                sql += " LIMIT -1"  # SQLite takes an OFFSET only after a LIMIT (-1: none)
            sql += " OFFSET ?"
            params.append(offset)
        views = [RunView(dict(row)) for row in self._rows(sql, params)]
        self._attach_tags(views)
        return views

    def configs(self) -> Iterator[dict[str, Any]]:
        """Every run's config (as stored now), read without the rest of its row."""
        for row in self._rows("SELECT config_json FROM run"):
            yield as_stored_now(json.loads(_first(row)))

    def count_matching(self, filters: list[RunFilter]) -> int:
        """How many runs the filters keep (the pages of the lab's runs table)."""
        where, params = self._where(filters)
        return _first(self._rows("SELECT count(*) FROM run" + where, params)[0])

    def fingerprint(self) -> tuple[int, int]:
        """(runs, highest id): changes when a run is added or removed, never as runs train. A run's config
        never changes once recorded, so what is read from the configs alone can be kept until this does."""
        row = self._rows("SELECT count(*) AS n, coalesce(max(id), 0) AS top FROM run")[0]
        count, top = row.values() if isinstance(row, dict) else row
        return int(count), int(top)

    def _where(self, filters: list[RunFilter]) -> tuple[str, list[Any]]:
        """The WHERE clause of the filters (all of them hold) and its bound values."""
        where: list[str] = []
        params: list[Any] = []
        for f in filters:
            if f.column == "tag":  # a run has the tag (=), or none of them (!=); a list: any of them
                if f.op == CONTAINS:
                    where.append("id IN (SELECT run_id FROM run_tag WHERE lower(tag) LIKE ? ESCAPE '\\')")
                    params.append(_like(f.value))
                    continue
                tags = f.value if isinstance(f.value, list) else [f.value]
                marks = ", ".join("?" * len(tags))
                where.append(
                    f"id {'NOT IN' if f.op == '!=' else 'IN'} (SELECT run_id FROM run_tag WHERE tag IN ({marks}))"
                )
                params += [str(t) for t in tags]
                continue
            if f.json_path:
                target, target_params = self.dialect.config_key(f.json_path)
                bind: Callable[[Any], tuple[str, Any]] = self.dialect.config_value
            else:
                target, target_params = f.column, []
                bind = partial(self._column_mark, f.column)
            if f.op == CONTAINS:  # text anywhere in the value, any case (the lab's table filter)
                where.append(f"lower(CAST({target} AS TEXT)) LIKE ? ESCAPE '\\'")
                params += target_params + [_like(f.value)]
            elif isinstance(f.value, list):
                bound = [bind(v) for v in f.value]
                where.append(f"{target} {'NOT IN' if f.op == '!=' else 'IN'} ({', '.join(m for m, _ in bound)})")
                params += target_params + [v for _, v in bound]
            elif f.value is None:
                where.append(f"{target} IS {'NOT ' if f.op == '!=' else ''}NULL")
                params += target_params
            else:
                mark, value = bind(f.value)
                where.append(f"{target} {OPERATORS[f.op]} {mark}")
                params += target_params + [value]
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def _attach_tags(self, views: list[RunView]) -> None:
        """Each view's tags, in one query for all of them."""
        by_id: dict[int, list[str]] = {v.id: [] for v in views}
        for start in range(0, len(views), 500):  # stay under any bound-parameter limit
            ids = [v.id for v in views[start : start + 500]]
            marks = ", ".join("?" * len(ids))
            for row in self._rows(f"SELECT run_id, tag FROM run_tag WHERE run_id IN ({marks}) ORDER BY tag", ids):
                values = list(row.values()) if isinstance(row, dict) else list(row)
                by_id[values[0]].append(values[1])
        for view in views:
            view._data["tags"] = by_id[view.id]

    def close(self) -> None:
        self.con.close()


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def open_catalog(location: Location) -> Catalog | None:
    """A read-only catalog, or None when the full store must open the database (missing, old schema)."""
    if location.is_sqlite and not location.file.exists():
        return None
    catalog = Catalog(location)
    applied = catalog.applied_migrations()
    if applied is None or applied != MIGRATION_NAMES:
        catalog.close()
        return None
    return catalog
