"""A database written by every earlier release opens, lists, diagnoses, plots, resumes and takes new
stage-2 children unchanged. Each fixture under tests/data/releases/ was written by that release's own
code (`bash scripts/release-fixture.sh OUT COMMIT`): a completed run, a stage-2 child, a run stopped
mid-training and a two-cell sweep, with `list --format json` as that release printed it. Each test
works on a copy: opening migrates the copy, never the fixture."""

import json
import shutil
from pathlib import Path

import pytest

from helpers import invoke

RELEASES = sorted((Path(__file__).parent / "data" / "releases").iterdir())


@pytest.fixture(params=RELEASES, ids=[p.name for p in RELEASES])
def old_store(request, tmp_path, monkeypatch):
    copy = tmp_path / request.param.name
    shutil.copytree(request.param, copy)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("MFTCTL_DB", str(copy / "mftctl.db"))
    monkeypatch.delenv("MFTCTL_RUNS_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return copy


def test_an_earlier_releases_database_lists_diagnoses_plots_and_resumes(old_store):
    before = {r["id"]: r for r in json.loads((old_store / "list.json").read_text())}
    listed = json.loads(invoke("list", "--format", "json").output)
    after = {r["id"]: r for r in listed}
    assert sorted(after) == sorted(before) == [1, 2, 3, 4, 5]
    for run_id, old in before.items():  # the same runs, the same hashes and numbers as that release listed
        new = after[run_id]
        for key in ("name", "kind", "status", "config_hash", "seed", "epochs_done", "test_loss", "best_test_loss"):
            assert new[key] == old[key], (run_id, key, old[key], new[key])
    assert json.loads(invoke("sweep", "show", 1, "--format", "json").output)

    diagnosed = invoke("diagnose", 1, "--format", "json")
    assert diagnosed.exit_code == 0, diagnosed.output
    report = json.loads(diagnosed.output)
    assert report["optimal_decoder"]["loss"] <= report["test"]["loss"] * 1.05  # measured afresh, a new key
    plotted = invoke("plot", 1)
    assert plotted.exit_code == 0, plotted.output
    assert all(Path(p).is_file() for p in plotted.output.split() if p.endswith(".png"))

    stopped = before[3]["epochs_done"]
    resumed = invoke("train", "--resume", 3)
    assert resumed.exit_code == 0, resumed.output
    run = json.loads(invoke("show", 3, "--format", "json").output)
    assert run["status"] == "completed" and run["epochs_done"] == 30 > stopped

    child = invoke("stage2", 1, "--sampler", "rewire", "--decoder", "solve")
    assert child.exit_code == 0, child.output
    methods = [m["method"] for m in json.loads(invoke("show", 1, "--format", "json").output)["stage2"]]
    assert methods == ["gmm/iid", "gmm/rewire (solved)"]  # the old child keeps its method and default b1
