"""Seeding the database through the real store functions."""

from __future__ import annotations

import time

from mftctl.config import load_config
from mftctl.runner import create_run


def add_run(store, *, status="completed", lr=0.02, silhouette=None, test_loss=None, preset="quick", **kw):
    config = load_config(preset, overrides=[f"training.learning_rate={lr}"])
    run = create_run(store, config, preset=preset, **kw)
    with store.write() as s:
        row = s.get(type(run), run.id)
        row.status, row.silhouette, row.last_test_loss = status, silhouette, test_loss
    return store.get_run(run.id)


def wait_for(predicate, timeout=300):
    """Poll until predicate() is truthy and return it. Generous: a loaded 2-core machine starts torch slowly,
    and the timeout only bounds a hang; what the tests check does not depend on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")
