"""`mftctl export`: runs (with their flattened config) and every epoch, as CSV or JSON files for pandas."""

from __future__ import annotations

from pathlib import Path

from ..errors import MftctlError
from ..render.records import run_record, to_csv, to_json
from ..runs.query import list_runs
from ..store import reads
from ..store.engine import Store
from ..store.tables import BLOB_COLUMNS, EPOCH_VALUE_COLUMNS

EPOCH_EXPORT_COLUMNS = ("run_id", "epoch", *EPOCH_VALUE_COLUMNS, *BLOB_COLUMNS)


def export_runs(store: Store, out: Path, *, where: list[str] | None = None, fmt: str = "csv") -> list[Path]:
    """Write runs.FMT and epochs.FMT into the folder `out`; returns their paths."""
    if out.exists() and not out.is_dir():
        raise MftctlError(f"{out} is a file; give a folder for runs.{fmt} and epochs.{fmt}")
    runs = list_runs(store.location, where=where, sort="id").runs
    epochs = [{c: getattr(e, c) for c in EPOCH_EXPORT_COLUMNS} for e in reads.epochs_of(store, [r.id for r in runs])]
    records = [run_record(r, with_config=True) for r in runs]
    out.mkdir(parents=True, exist_ok=True)
    write = to_csv if fmt == "csv" else to_json
    paths = [out / f"runs.{fmt}", out / f"epochs.{fmt}"]
    paths[0].write_text(write(records))
    paths[1].write_text(write(epochs))
    return paths
