"""Sweeps that others touch while they run: two pools on one sweep, a name reused for another file, a
queued cell deleted. Each done for real, and what must hold afterwards (docs/guarantees.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import (
    TINY,
    count_runs,
    invoke,
    one_line_refusal,
    run_mftctl,
    set_table,
    start_mftctl,
    store_opens,
    wait_for,
)
from mftctl.store import open_store, reads


def _sweep_file(tmp_path, name="s", epochs=2, seeds=(1, 2)) -> Path:
    sets = set_table(*TINY, without="epochs")
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nbase = "quick"\n[set]\n{sets}\n"training.epochs" = {epochs}\n[grid]\nseed = {list(seeds)}\n'
    )
    return path


@pytest.mark.backends
def test_two_pools_on_one_sweep_never_mark_a_finished_cell_crashed(backend, tmp_path):
    sweep = _sweep_file(tmp_path, epochs=30, seeds=(1, 2, 3))
    cmd = ["sweep", sweep, "--jobs", "1"]
    first = start_mftctl(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: store_opens(backend))
    store = open_store(backend)
    wait_for(lambda: reads.count_runs(store) == 3 and reads.get_run(store, 1).status == "running")
    second = run_mftctl(*cmd)
    first.communicate(timeout=600)
    assert second.returncode == 0, second.stderr
    assert [reads.get_run(store, i).status for i in (1, 2, 3)] == ["completed"] * 3
    summary = json.loads(invoke("sweep", "show", 1, "--format", "json").output)
    assert summary["success_rate"] == 1.0


def test_a_sweep_name_reused_with_another_file_is_refused(isolated_db, tmp_path):
    assert invoke("sweep", _sweep_file(tmp_path, seeds=(1,))).exit_code == 0
    changed = tmp_path / "changed"
    changed.mkdir()
    other = _sweep_file(changed, seeds=(5, 6))
    runs = count_runs(isolated_db)
    one_line_refusal(invoke("sweep", other), "was run from a different file", "--name")
    assert count_runs(isolated_db) == runs
    renamed = invoke("sweep", other, "--name", "s-wider")
    assert renamed.exit_code == 0, renamed.output
    assert json.loads(invoke("sweep", "show", 2, "--format", "json").output)["name"] == "s-wider"
    assert json.loads(invoke("sweep", "show", 1, "--format", "json").output)["runs"] == 1  # the old one untouched
    assert count_runs(isolated_db) == runs + 2


def test_rm_of_a_queued_cell_does_not_abort_the_sweep(isolated_db, tmp_path):
    sweep = _sweep_file(tmp_path, epochs=40, seeds=(1, 2, 3))
    proc = start_mftctl("sweep", sweep, "--jobs", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(isolated_db)
    wait_for(lambda: count_runs(isolated_db) == 3 and reads.get_run(store, 1).status == "running")
    assert invoke("rm", 2, "--yes").exit_code == 0
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert reads.get_run(store, 1).status == reads.get_run(store, 3).status == "completed"
    assert reads.find_run(store, 2) is None
