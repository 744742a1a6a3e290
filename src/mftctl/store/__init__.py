"""The store: every run, epoch, checkpoint, analysis and sweep, in SQLite (default) or PostgreSQL.
Nothing outside this package writes SQL.

    location.py  where it is (--db / $MFTCTL_DB / ./mftctl.db; a file or a URL)   no SQLAlchemy
    migrations.py the schema, as append-only named migrations                      no SQLAlchemy
    catalog.py   the fast read path of `list` (plain sqlite3 / psycopg)            no SQLAlchemy
    tables.py    the SQLModel table models
    engine.py    opening: engines, sessions, migrations applied once
    reads.py     queries (read only)
    writes.py    the run lifecycle and every other write
    layout.py    where run files live
    liveness.py  dead workers -> crashed; open_settled, how every command opens the store
    gc.py        files no row accounts for

The heavy modules load on first use: `from mftctl.store import open_store` works, and importing the
package itself costs nothing.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Store": "engine",
    "open_store": "engine",
    "open_settled": "liveness",
    "upgrade": "engine",
    "schema_status": "engine",
    "Run": "tables",
    "Epoch": "tables",
    "Checkpoint": "tables",
    "Diagnosis": "tables",
    "Sweep": "tables",
    "now": "tables",
    "blob_summary": "tables",
    "BLOB_COLUMNS": "tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'mftctl.store' has no attribute {name!r}")
