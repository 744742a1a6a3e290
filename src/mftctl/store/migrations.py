"""The schema as an append-only list of named migrations. Never edit one that has shipped: add another.

Written in SQLite's dialect; `for_dialect` gives PostgreSQL the same schema (64-bit integers and
self-numbering keys where SQLite's INTEGER is both, TIMESTAMP WITH TIME ZONE for DATETIME). Free of SQLAlchemy so that
the fast read path can check the schema version without importing the ORM.
"""

from __future__ import annotations

import re

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "001_initial",
        [
            """CREATE TABLE run (
                id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, kind VARCHAR NOT NULL,
                parent_id INTEGER REFERENCES run(id), sweep_id INTEGER, status VARCHAR NOT NULL,
                preset VARCHAR, config_json VARCHAR NOT NULL, config_hash VARCHAR NOT NULL,
                seed INTEGER NOT NULL, device VARCHAR, host VARCHAR, pid INTEGER,
                created_at DATETIME NOT NULL, started_at DATETIME, finished_at DATETIME,
                heartbeat_at DATETIME, error VARCHAR, extra_json VARCHAR,
                epochs_total INTEGER NOT NULL, epochs_done INTEGER NOT NULL,
                last_train_loss FLOAT, last_test_loss FLOAT, best_test_loss FLOAT, samples_per_s FLOAT,
                train_seconds FLOAT NOT NULL, n_clusters INTEGER, silhouette FLOAT, correlation FLOAT,
                noise_fraction FLOAT, symmetry_error FLOAT)""",
            *(
                f"CREATE INDEX ix_run_{c} ON run ({c})"
                for c in (
                    "parent_id",
                    "sweep_id",
                    "status",
                    "preset",
                    "config_hash",
                    "created_at",
                    "last_test_loss",
                    "best_test_loss",
                    "n_clusters",
                    "silhouette",
                )
            ),
            """CREATE TABLE epoch (
                id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES run(id), epoch INTEGER NOT NULL,
                train_loss FLOAT NOT NULL, train_loss_on FLOAT NOT NULL, train_loss_off FLOAT NOT NULL,
                test_loss FLOAT NOT NULL, test_loss_on FLOAT NOT NULL, test_loss_off FLOAT NOT NULL,
                seconds FLOAT NOT NULL, train_seconds FLOAT NOT NULL, samples_per_s FLOAT NOT NULL,
                lr FLOAT NOT NULL, n_clusters INTEGER, noise_fraction FLOAT, silhouette FLOAT,
                correlation FLOAT, symmetry_error FLOAT, diagnostics_json VARCHAR,
                UNIQUE (run_id, epoch))""",
            "CREATE INDEX ix_epoch_run_id ON epoch (run_id)",
            """CREATE TABLE checkpoint (
                id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES run(id), epoch INTEGER NOT NULL,
                path VARCHAR NOT NULL, bytes INTEGER NOT NULL, sha256 VARCHAR NOT NULL,
                created_at DATETIME NOT NULL, UNIQUE (run_id, epoch))""",
            "CREATE INDEX ix_checkpoint_run_id ON checkpoint (run_id)",
        ],
    ),
    (
        "002_diagnosis",
        [
            """CREATE TABLE diagnosis (
                id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES run(id), epoch INTEGER NOT NULL,
                version INTEGER NOT NULL, result_json VARCHAR NOT NULL, created_at DATETIME NOT NULL,
                UNIQUE (run_id, epoch, version))""",
            "CREATE INDEX ix_diagnosis_run_id ON diagnosis (run_id)",
        ],
    ),
]

MIGRATIONS.append(
    (
        "003_sweep",
        [
            """CREATE TABLE sweep (
                id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, file_text VARCHAR NOT NULL, file_path VARCHAR,
                meta_json VARCHAR NOT NULL, created_at DATETIME NOT NULL)""",
            "CREATE INDEX ix_sweep_name ON sweep (name)",
        ],
    )
)

# The blob measurement (modes-1): a separation score on runs and epochs, and which method made a
# run's blob numbers (NULL: the first release's sampled DBSCAN, until `mftctl reanalyse`).
MIGRATIONS.append(
    (
        "004_blob_measurement",
        [
            "ALTER TABLE run ADD COLUMN separation FLOAT",
            "ALTER TABLE run ADD COLUMN blob_method VARCHAR",
            "CREATE INDEX ix_run_separation ON run (separation)",
            "ALTER TABLE epoch ADD COLUMN separation FLOAT",
        ],
    )
)

# Run ids are never reused, even after `rm` of the newest run (SQLite's AUTOINCREMENT semantics; the
# run table predates it, and a counter avoids rebuilding the table).
MIGRATIONS.append(
    (
        "005_run_id_counter",
        [
            "CREATE TABLE mftctl_counter (name VARCHAR PRIMARY KEY, value INTEGER NOT NULL)",
            "INSERT INTO mftctl_counter (name, value) SELECT 'run', coalesce(max(id), 0) FROM run",
        ],
    )
)

# Checkpoints are full (optimizer and RNG state: resumable) or the weights alone (config.py, checkpoints/keep.py).
MIGRATIONS.append(("006_checkpoint_kind", ["ALTER TABLE checkpoint ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'full'"]))

# Store-wide settings: on PostgreSQL, the folder of run files that every client and compute node uses.
MIGRATIONS.append(("007_setting", ["CREATE TABLE mftctl_setting (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"]))

# Tags (many per run, filterable) and a free-text note per run, added after a run as well as before.
MIGRATIONS.append(
    (
        "008_tags_notes",
        [
            """CREATE TABLE run_tag (
                run_id INTEGER NOT NULL REFERENCES run(id), tag VARCHAR NOT NULL, PRIMARY KEY (run_id, tag))""",
            "CREATE INDEX ix_run_tag_tag ON run_tag (tag)",
            "ALTER TABLE run ADD COLUMN note VARCHAR",
        ],
    )
)

# The first epoch from which a run's blobs stay formed (science/records.formed_epoch); NULL for a run
# whose blobs never formed, and for runs recorded before it until `mftctl reanalyse` works it out.
MIGRATIONS.append(
    (
        "009_formed_epoch",
        ["ALTER TABLE run ADD COLUMN formed_epoch INTEGER", "CREATE INDEX ix_run_formed_epoch ON run (formed_epoch)"],
    )
)

MIGRATION_TABLE = "mftctl_migrations"
MIGRATION_TABLE_DDL = f"CREATE TABLE IF NOT EXISTS {MIGRATION_TABLE} (name VARCHAR PRIMARY KEY, applied_at DATETIME)"

_POSTGRES = [
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bDATETIME\b"), "TIMESTAMP WITH TIME ZONE"),
    (re.compile(r"\bFLOAT\b"), "DOUBLE PRECISION"),
]


def for_dialect(statement: str, dialect: str) -> str:
    """A migration statement as the given database (sqlite | postgresql) spells it."""
    if dialect == "postgresql":
        for pattern, replacement in _POSTGRES:
            statement = pattern.sub(replacement, statement)
    return statement


MIGRATION_NAMES = [name for name, _ in MIGRATIONS]
