"""The run's record, the contract of `list/show/export --format json|csv`: its keys, in their order, from
store/columns.py, whose every name stands for a real column of tables.Run."""

import typing
from datetime import datetime

from helpers import add_run
from mftctl.render.records import run_record
from mftctl.store.columns import DATETIME_COLUMNS, RUN_ALIASES, RUN_FIELDS, RUN_INTERNAL, TEXT_COLUMNS
from mftctl.store.tables import Run

# What scripts read today; a key may be added (before tags and note), never renamed or dropped.
RECORD_KEYS = [
    "id", "name", "kind", "parent", "sweep", "status", "preset", "seed", "device", "epochs_done", "epochs_total",
    "train_loss", "test_loss", "best_test_loss", "samples_per_s", "train_seconds", "n_clusters", "separation",
    "silhouette", "correlation", "noise_fraction", "symmetry_error", "blob_method", "config_hash", "created",
    "started", "finished", "formed_epoch", "tags", "note",
]  # fmt: skip


def _kinds() -> dict[str, set[type]]:
    hints = typing.get_type_hints(Run)
    return {name: set(typing.get_args(hints[name])) or {hints[name]} for name in Run.model_fields}


def test_every_public_name_is_a_column_and_every_column_is_public_or_internal():
    columns = set(Run.model_fields)
    named = set(RUN_FIELDS.values()) | set(RUN_ALIASES.values()) | set(RUN_INTERNAL)
    assert named <= columns
    assert columns <= set(RUN_FIELDS.values()) | set(RUN_INTERNAL)


def test_the_catalogs_text_and_time_columns_are_those_of_the_table():
    kinds = _kinds()
    assert set(TEXT_COLUMNS) == {
        c for c, k in kinds.items() if str in k and c not in ("config_json", "extra_json", "error")
    }
    assert set(DATETIME_COLUMNS) == {c for c, k in kinds.items() if datetime in k}


def test_a_run_record_has_the_promised_keys_in_order(store):
    run = add_run(store, test_loss=0.5)
    record = run_record(run)
    assert list(record) == RECORD_KEYS
    assert record["test_loss"] == 0.5 and record["parent"] is None and isinstance(record["created"], str)
    assert list(run_record(run, with_config=True)) == [*RECORD_KEYS, "config"]
