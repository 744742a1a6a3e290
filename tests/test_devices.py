"""Devices: asked for without importing torch in the parent, refused before any row, used when present."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import SETS, TINY, run_mftctl, runner, set_table
from mftctl.cli import app
from mftctl.devices import cuda_device_count, default_jobs

HAS_CUDA = cuda_device_count() > 0


def test_a_sweep_naming_a_missing_device_is_refused_before_any_row(isolated_db, tmp_path):
    sets = set_table(*TINY)
    path = tmp_path / "gpus.toml"
    path.write_text(f'base = "quick"\n[set]\n{sets}\n[grid]\ndevice = ["cpu", "cuda:99"]\n')
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 1 and "sweep cell 1 (device=cuda:99)" in result.output
    assert "cuda:99" in result.output and result.output.count("Error:") == 1
    assert not isolated_db.exists() or "0 of 0 runs" in runner.invoke(app, ["list"]).output


def test_the_parent_of_train_and_sweep_never_imports_torch(isolated_db, tmp_path):
    """The parent runs with torch made unimportable; its worker (another process) imports it as usual."""
    sets = set_table(*TINY)
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'base = "quick"\n[set]\n{sets}\n[grid]\nseed = [1, 2]\n')
    guard = (
        "import sys; sys.modules['torch'] = None; from mftctl.cli import main; "
        "sys.argv = ['mftctl'] + sys.argv[1:]; main()"
    )
    for args in (["train", "--preset", "quick", *SETS], ["sweep", str(sweep), "--jobs", "2"], ["list"]):
        done = subprocess.run([sys.executable, "-c", guard, *args], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    listed = run_mftctl("list", "--format", "json")
    assert [r["status"] for r in json.loads(listed.stdout)] == ["completed"] * 3


def test_default_jobs():
    assert default_jobs(1, "cpu") == 1
    assert 1 <= default_jobs(100, "cpu") <= 100
    if not HAS_CUDA:
        assert default_jobs(100, "auto") == default_jobs(100, "cpu")


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_training_on_the_gpu(isolated_db):
    result = runner.invoke(app, ["train", "--preset", "quick", *SETS, "--device", "cuda"])
    assert result.exit_code == 0, result.output
    run = json.loads(runner.invoke(app, ["list", "--format", "json"]).output)[0]
    assert run["status"] == "completed" and run["device"].startswith("cuda")
    assert run["n_clusters"] >= 1
