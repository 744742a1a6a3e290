"""`mftctl ui`: the store in a web page, read-only, with no code to write — Datasette over the SQLite file
(it reads a database another process is writing), with canned queries for the questions asked most and
the run folders served beside it, so a run's figures are a click away."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import MftctlError
from ..store.engine import Store, sqlite_runs_dir

LEADERBOARD = """
SELECT id, name, status, preset, sweep_id AS sweep, epochs_done AS epochs,
       round(last_test_loss, 4) AS test_loss, round(best_test_loss, 4) AS best_loss,
       n_clusters AS blobs, round(separation, 3) AS separation, round(silhouette, 3) AS silhouette,
       round(train_seconds, 1) AS train_s,
       (SELECT group_concat(tag, ' ') FROM run_tag WHERE run_tag.run_id = run.id) AS tags,
       note, {base} || id || '/curves.png' AS curves, {base} || id || '/diagnostics.png' AS diagnostics
FROM run
WHERE status = 'completed'
ORDER BY separation IS NULL, separation DESC, last_test_loss
LIMIT 200
"""
SWEEP_CELLS = """
SELECT id, name, status, json_extract(extra_json, '$.cell') AS cell, json_extract(extra_json, '$.values') AS "values",
       round(last_test_loss, 4) AS test_loss, n_clusters AS blobs, round(separation, 3) AS separation,
       round(train_seconds, 1) AS train_s
FROM run WHERE sweep_id = :sweep ORDER BY id
"""
RUN_EPOCHS = """
SELECT epoch, round(train_loss, 4) AS train_loss, round(test_loss, 4) AS test_loss, round(test_loss_on, 4) AS on_part,
       round(test_loss_off, 4) AS off_part, n_clusters AS blobs, round(separation, 3) AS separation,
       round(silhouette, 3) AS silhouette, round(seconds, 2) AS seconds
FROM epoch WHERE run_id = :run ORDER BY epoch
"""


def metadata(store: Store, host: str, port: int, name: str | None = None) -> dict[str, Any]:
    """Datasette's metadata: the canned queries, and figures linked by absolute URL (Datasette makes a
    link of any value that is a URL)."""
    base = "'/figures/'"  # relative: no host baked in (served with --host 0.0.0.0 it was unreachable)
    name = name or store.location.file.stem
    return {
        "title": f"mftctl: {store.location.file.name}",
        "description": "Runs, epochs and sweeps of an mftctl store, read-only (`mftctl plot RUN` draws figures).",
        "databases": {
            name: {
                "queries": {
                    "leaderboard": {"title": "Runs leaderboard", "sql": LEADERBOARD.format(base=base)},
                    "sweep_cells": {"title": "A sweep's cells", "sql": SWEEP_CELLS},
                    "run_epochs": {"title": "A run's epochs", "sql": RUN_EPOCHS},
                }
            }
        },
    }


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except socket.gaierror:
            raise MftctlError(
                f"--host {host} is not an address or host name this machine knows; try 127.0.0.1"
            ) from None
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise MftctlError(
                    f"cannot listen on {host}: it is not an address of this machine; use --host 127.0.0.1 "
                    "(or 0.0.0.0 for every interface)"
                ) from None
            raise MftctlError(f"port {port} on {host} is in use ({exc.strerror}); choose another with --port") from None


def _needs_link(store: Store) -> bool:
    return any(c in str(store.path) for c in "?#%")


def served_name(store: Store) -> str:
    """The database file's name as Datasette gets it (its stem names the database in every URL)."""
    if not _needs_link(store):
        return store.location.file.name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in store.location.file.name)


def served_path(store: Store, folder: Path) -> Path:
    """The path Datasette is given. It opens `file:PATH?mode=ro` without quoting PATH, so a `?`, `#` or `%`
    in it would cut the name (and lose mode=ro): such a file is served through a plainly named link."""
    if not _needs_link(store):
        return store.location.file
    link = folder / served_name(store)
    link.unlink(missing_ok=True)
    link.symlink_to(store.location.file.absolute())
    return link


def datasette_command(store: Store, host: str, port: int, metadata_path: Path) -> list[str]:
    if not store.location.is_sqlite:
        raise MftctlError(
            f"`mftctl ui` serves SQLite stores; {store.location.shown} is PostgreSQL. Use `mftctl list`, "
            "`mftctl export` (CSV/JSON for pandas), or a PostgreSQL browser such as pgAdmin on the same database"
        )
    try:
        import datasette  # noqa: F401
    except ImportError:
        raise MftctlError("`mftctl ui` needs Datasette; install it with `pip install 'mftctl[ui]'`") from None
    check_port_free(host, port)
    runs = sqlite_runs_dir(store.location.file)
    if not store.read_only:
        runs.mkdir(parents=True, exist_ok=True)
    served = served_path(store, metadata_path.parent)
    metadata_path.write_text(json.dumps(metadata(store, host, port, served.stem), indent=2))
    # A store on read-only media: Datasette's immutable mode reads it without the -shm file SQLite would make.
    database = ["--immutable", str(served)] if store.read_only else [str(served)]
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        *database,
        "--host",
        host,
        "--port",
        str(port),
        "--metadata",
        str(metadata_path),
        "--static",
        f"figures:{runs}",
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ]


def serve(store: Store, host: str, port: int, metadata_path: Path) -> tuple[subprocess.Popen, str]:
    """Start Datasette (read-only: it opens the file with mode=ro); its process and the database's name in
    its URLs."""
    command = datasette_command(store, host, port, metadata_path)
    return subprocess.Popen(command), Path(served_name(store)).stem
