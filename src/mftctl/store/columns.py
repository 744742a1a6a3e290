"""The run row as users see it: the one list of its public names (what `list --format json|csv`,
`show --format json` and `export` write, in this order, and what `--sort`, `--where` and `--columns`
accept), the column behind each, and which columns hold text or times.

Plain data on purpose: `mftctl list` reads runs through store/catalog.py without importing SQLModel
(0.3 s of start-up); tables.Run declares the same columns for the ORM, and tests/test_run_record.py
holds every name here against it.
"""

from __future__ import annotations

from ..metrics import BY_NAME
from ..metrics import aliases as metric_aliases

# public name -> Run column, in the record's order (a run's tags come before its note: see run_record;
# a key added later goes just before the tags)
RUN_FIELDS = {
    "id": "id",
    "name": "name",
    "kind": "kind",
    "parent": "parent_id",
    "sweep": "sweep_id",
    "status": "status",
    "preset": "preset",
    "seed": "seed",
    "device": "device",
    "epochs_done": "epochs_done",
    "epochs_total": "epochs_total",
    "train_loss": "last_train_loss",
    "test_loss": "last_test_loss",
    "best_test_loss": "best_test_loss",
    "samples_per_s": "samples_per_s",
    "train_seconds": "train_seconds",
    "n_clusters": "n_clusters",
    "separation": "separation",
    "silhouette": "silhouette",
    "correlation": "correlation",
    "noise_fraction": "noise_fraction",
    "symmetry_error": "symmetry_error",
    "blob_method": "blob_method",
    "config_hash": "config_hash",
    "created": "created_at",
    "started": "started_at",
    "finished": "finished_at",
    "formed_epoch": "formed_epoch",
    "note": "note",
}

# More names that `--sort`, `--where` and `--columns` accept for the same columns: the metrics' own
# (metrics.py) and a few of the row's.
RUN_ALIASES = {
    "hash": "config_hash",
    "epochs": "epochs_done",
    **{alias: BY_NAME[name].column for alias, name in metric_aliases().items()},
    "host": "host",
}

# Columns that are not part of the record: the worker's bookkeeping, the config and kind-specific facts.
RUN_INTERNAL = ("pid", "heartbeat_at", "error", "config_json", "extra_json", "host")

DATETIME_COLUMNS = ("created_at", "started_at", "finished_at", "heartbeat_at")
TEXT_COLUMNS = ("name", "kind", "status", "preset", "config_hash", "device", "host", "blob_method", "note")
