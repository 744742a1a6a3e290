"""Seeding the database through the real store functions."""

from __future__ import annotations

from mftctl.config import load_config
from mftctl.runner import create_run


def add_run(store, *, status="completed", lr=0.02, silhouette=None, test_loss=None, preset="quick", **kw):
    config = load_config(preset, overrides=[f"training.learning_rate={lr}"])
    run = create_run(store, config, preset=preset, **kw)
    with store.write() as s:
        row = s.get(type(run), run.id)
        row.status, row.silhouette, row.last_test_loss = status, silhouette, test_loss
    return store.get_run(run.id)
