"""`mftctl reanalyse`: runs measured by the first release's method get today's numbers from their
checkpoints; epochs without one keep their numbers and their mark, and `list` says which is which."""

from __future__ import annotations

import json

from helpers import SETS, invoke


def make_old_method(store, run_id):
    """Rewrite a run's blob numbers as the first release stored them: a DBSCAN report, no method."""
    from sqlmodel import select

    from mftctl.store import Epoch, Run

    old_report = {"n_clusters": 7, "noise_fraction": 0.1, "silhouette": -0.3, "blobs": [], "scale": [1, 1]}
    with store.write() as s:
        for epoch in s.exec(select(Epoch).where(Epoch.run_id == run_id)):
            epoch.n_clusters, epoch.silhouette, epoch.separation = 7, -0.3, None
            epoch.diagnostics_json = json.dumps(old_report)
        run = s.get(Run, run_id)
        run.n_clusters, run.silhouette, run.separation, run.blob_method = 7, -0.3, None, None


def test_reanalyse_replaces_old_numbers_from_checkpoints(store):
    sets = [*SETS, "--set", "training.epochs=3", "--set", "training.checkpoint_every=2"]
    sets += ["--set", "training.keep_checkpoints=0", "--set", "training.evolution_snapshots=0"]
    assert invoke("train", "--preset", "quick", *sets).exit_code == 0  # checkpoints at epochs 2 and 3
    fresh = json.loads(invoke("list", "--format", "json").output)[0]
    make_old_method(store, 1)

    listed = invoke("list")
    assert "7†" in listed.output and "mftctl reanalyse --all" in listed.output
    assert json.loads(invoke("list", "--format", "json").output)[0]["blob_method"] is None

    out = invoke("reanalyse", "--all", "--format", "json")
    assert out.exit_code == 0, out.output
    [result] = json.loads(out.output)
    assert result["epochs"] == [2, 3] and result["kept"] == [1] and result["blob_method"] == "modes-1"

    after = json.loads(invoke("list", "--format", "json").output)[0]
    for key in ("n_clusters", "separation", "silhouette", "blob_method"):
        assert after[key] == fresh[key]
    assert "†" not in invoke("list").output
    epochs = json.loads(invoke("show", "1", "--format", "json").output)["epochs"]
    assert [e["n_clusters"] for e in epochs][0] == 7  # no checkpoint at epoch 1: kept, and marked
    assert "method" not in epochs[0]["diagnostics"] and epochs[2]["diagnostics"]["method"] == "modes-1"
    assert "7†" in invoke("show", "1").output


def test_reanalyse_refuses_bad_selections(store):
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.checkpoint_every=0").exit_code == 0
    none = invoke("reanalyse")
    assert none.exit_code == 1 and "give run ids, or --all" in none.output
    missing = invoke("reanalyse", "9")
    assert missing.exit_code == 1 and "no run with id 9" in missing.output
    without = json.loads(invoke("reanalyse", "1", "--format", "json").output)[0]
    assert without["epochs"] == [] and "no checkpoint" in without["skipped"]
