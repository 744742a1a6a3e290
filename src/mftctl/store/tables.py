"""The table models, each declared once. The schema itself is migrations.py: these must match it (a test
checks that they do on SQLite and on PostgreSQL), every integer 64-bit as the schema has it there."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from pydantic import create_model
from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from ..config import as_stored_now
from ..science.records import NOT_COLUMNS, EpochRecord
from ..status import RunStatus


def now() -> datetime:
    """Aware UTC: SQLModel stores it as UTC and gives it back aware, on SQLite and PostgreSQL alike."""
    return datetime.now(UTC)


# The blob measurement's summary columns, on every epoch row and (from the latest epoch) on the run.
BLOB_COLUMNS = ("n_clusters", "separation", "silhouette", "correlation", "noise_fraction", "symmetry_error")


def blob_summary(diagnostics: dict[str, Any] | None) -> dict[str, Any]:
    """The BLOB_COLUMNS values of a blob report (`measure_blobs(...).as_dict()`); the first release's
    reports named the count n_clusters and had no separation."""
    diag = diagnostics or {}
    values = {key: diag.get(key) for key in BLOB_COLUMNS}
    values["n_clusters"] = diag.get("n_blobs", diag.get("n_clusters"))
    return values


# The numbers of one epoch, declared once, by the training loop (science.train.EpochRecord: every float
# field but the blob report, which is stored as BlobColumns and JSON); the store's columns follow it.
_EPOCH_FLOATS: dict[str, Any] = {f.name: (float, ...) for f in fields(EpochRecord) if f.name not in NOT_COLUMNS}
EpochValues = create_model("EpochValues", __base__=SQLModel, **_EPOCH_FLOATS)


# ROW_IDS: every table's `id` is typed `int`, not SQLModel's `int | None`: a row read back from the store
# always has one, and only a row built to be inserted has None until the insert (`Field(default=None)`).


class BlobColumns(SQLModel):
    """The blob measurement's summary (BLOB_COLUMNS), on epochs and, from the latest epoch, on runs."""

    n_clusters: int | None = Field(default=None, sa_type=BigInteger)
    separation: float | None = None
    silhouette: float | None = None
    correlation: float | None = None
    noise_fraction: float | None = None
    symmetry_error: float | None = None


class Run(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True, sa_type=BigInteger)  # see ROW_IDS
    name: str
    kind: str = "train"  # train | stage2
    parent_id: int | None = Field(default=None, foreign_key="run.id", index=True, sa_type=BigInteger)
    sweep_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    status: str = Field(default=RunStatus.queued.value, index=True)  # a RunStatus
    preset: str | None = Field(default=None, index=True)
    config_json: str
    config_hash: str = Field(index=True)
    seed: int = Field(sa_type=BigInteger)
    device: str | None = None  # the torch device the worker actually used
    host: str | None = None
    pid: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=now, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None  # the traceback of a failed run, or why it was marked crashed/killed
    extra_json: str | None = None  # kind-specific facts (stage 2: parent epoch, mixture, sampling seed)
    # Summary, kept current every epoch so that `list` sorts and filters without touching epochs.
    epochs_total: int = Field(default=0, sa_type=BigInteger)
    epochs_done: int = Field(default=0, sa_type=BigInteger)
    last_train_loss: float | None = None
    last_test_loss: float | None = Field(default=None, index=True)
    best_test_loss: float | None = Field(default=None, index=True)
    samples_per_s: float | None = None
    train_seconds: float = 0.0
    n_clusters: int | None = Field(default=None, index=True, sa_type=BigInteger)
    silhouette: float | None = Field(default=None, index=True)
    correlation: float | None = None
    noise_fraction: float | None = None
    symmetry_error: float | None = None
    separation: float | None = Field(default=None, index=True)
    # Which blob measurement made the numbers above: None for the first release's sampled DBSCAN
    # (`mftctl reanalyse` replaces them from the checkpoints).
    blob_method: str | None = None
    note: str | None = None  # the researcher's words about the run (`mftctl note`)
    # The first epoch from which the blobs stay formed to the end (science/records.formed_epoch); None: never.
    formed_epoch: int | None = Field(default=None, index=True, sa_type=BigInteger)

    @property
    def config(self) -> dict[str, Any]:
        return as_stored_now(json.loads(self.config_json))

    @property
    def extra(self) -> dict[str, Any]:
        return json.loads(self.extra_json) if self.extra_json else {}


class RunTag(SQLModel, table=True):
    """A tag on a run (`mftctl tag`); a run has any number, a tag any number of runs."""

    __tablename__ = "run_tag"
    run_id: int = Field(foreign_key="run.id", primary_key=True, sa_type=BigInteger)
    tag: str = Field(primary_key=True, index=True)


class Epoch(EpochValues, BlobColumns, table=True):
    id: int = Field(default=None, primary_key=True, sa_type=BigInteger)  # see ROW_IDS
    run_id: int = Field(foreign_key="run.id", index=True, sa_type=BigInteger)
    epoch: int = Field(sa_type=BigInteger)
    diagnostics_json: str | None = None  # the whole blob report: per blob mass, centre, depth

    @property
    def diagnostics(self) -> dict[str, Any] | None:
        return json.loads(self.diagnostics_json) if self.diagnostics_json else None

    @property
    def blob_method(self) -> str | None:
        return (self.diagnostics or {}).get("method")


class Checkpoint(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True, sa_type=BigInteger)  # see ROW_IDS
    run_id: int = Field(foreign_key="run.id", index=True, sa_type=BigInteger)
    epoch: int = Field(sa_type=BigInteger)
    path: str  # relative to the store's root folder (an SQLite file's folder)
    bytes: int = Field(sa_type=BigInteger)
    sha256: str
    created_at: datetime = Field(default_factory=now)
    kind: str = "full"  # full (resumable) | weights (the model alone: figures, diagnose, stage 2)


class Diagnosis(SQLModel, table=True):
    """The full `diagnose` analysis of one checkpoint, kept so a second look is a lookup."""

    id: int = Field(default=None, primary_key=True, sa_type=BigInteger)  # see ROW_IDS
    run_id: int = Field(foreign_key="run.id", index=True, sa_type=BigInteger)
    epoch: int = Field(sa_type=BigInteger)
    version: int = Field(sa_type=BigInteger)
    result_json: str
    created_at: datetime = Field(default_factory=now)


class Sweep(SQLModel, table=True):
    """A sweep file as it was run; its cells are runs with this sweep_id."""

    id: int = Field(default=None, primary_key=True, sa_type=BigInteger)  # see ROW_IDS
    name: str = Field(index=True)
    file_text: str
    file_path: str | None = None
    meta_json: str = "{}"  # varied keys, reference cell, expected cluster count, the Slurm job
    created_at: datetime = Field(default_factory=now)

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_json)


EPOCH_VALUE_COLUMNS = tuple(EpochValues.model_fields)
