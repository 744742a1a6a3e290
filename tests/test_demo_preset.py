"""The README's first promise: `mftctl train --preset demo` forms three blobs. Slow (tens of seconds of
real training), on purpose: it is the tool's first command."""

from __future__ import annotations

import json

import pytest

from helpers import run_mftctl


@pytest.mark.slow
def test_the_demo_preset_forms_three_blobs(isolated_db):
    trained = run_mftctl("train", "--preset", "demo")
    assert trained.returncode == 0, trained.stderr
    run = json.loads(run_mftctl("show", 1, "--format", "json").stdout)
    assert run["status"] == "completed"
    assert run["n_clusters"] == 3, run
    assert run["separation"] is not None and run["separation"] > 0.5
