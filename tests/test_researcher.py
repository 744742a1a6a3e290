"""The researcher's day: compare runs, tag and annotate them, choose list columns, read sweeps at a
glance, stop a detached run."""

import json

import pytest

from helpers import SETS, TINY, invoke, one_line_refusal, set_table, wait_for
from mftctl.store import open_store, reads


def _two_runs():
    assert invoke("train", "--preset", "quick", *SETS, "--tag", "base", "--note", "first try").exit_code == 0
    more = ["--set", "training.learning_rate=0.04", "--set", "training.epochs=3"]
    assert invoke("train", "--preset", "quick", *SETS, *more).exit_code == 0


def test_compare_shows_only_differing_keys_and_deltas_against_the_first():
    _two_runs()
    table = invoke("compare", 1, 2)
    assert table.exit_code == 0, table.output
    assert "lr" in table.output and "0.04 (+0.02)" in table.output and "epochs" in table.output
    assert "batch" not in table.output  # equal keys stay out unless --all
    assert "batch" in invoke("compare", 1, 2, "--all").output
    records = json.loads(invoke("compare", 1, 2, "--format", "json").output)
    lr = next(r for r in records if r["key"] == "training.learning_rate")
    assert (lr["run_1"], lr["run_2"], lr["delta_2"]) == (0.02, 0.04, pytest.approx(0.02))
    loss = next(r for r in records if r["key"] == "test_loss")
    store = open_store()
    first, second = reads.get_run(store, 1), reads.get_run(store, 2)
    assert loss["delta_2"] == pytest.approx(second.last_test_loss - first.last_test_loss)
    csv = invoke("compare", 1, 2, "--format", "csv").output.splitlines()
    assert csv[0] == "section,key,run_1,run_2,delta_2"
    one_line_refusal(invoke("compare", 1), "at least two run ids")
    one_line_refusal(invoke("compare", 1, 99), "no run with id 99")


@pytest.mark.backends
def test_tags_and_notes_are_kept_filtered_shown_and_exported(backend, tmp_path):
    _two_runs()
    assert invoke("tag", 1, 2, "scan").exit_code == 0
    assert invoke("tag", 1, 2, "scan").exit_code == 0  # tagging twice keeps one tag
    listed = json.loads(invoke("list", "--where", "tag=scan", "--format", "json").output)
    assert [(r["id"], r["tags"]) for r in listed] == [(2, ["scan"]), (1, ["base", "scan"])]
    assert [r["id"] for r in json.loads(invoke("list", "--where", "tag!=base", "--format", "json").output)] == [2]
    one_line_refusal(invoke("list", "--where", "tag=bsae"), "no run has the tag 'bsae'; tags in use: base, scan")
    assert invoke("tag", 2, "scan", "--remove").exit_code == 0
    one_line_refusal(invoke("tag", 2, "scan", "--remove"), "has no tag 'scan'")
    one_line_refusal(invoke("tag", 1, "two words"), "is not usable")
    one_line_refusal(invoke("tag", 99, "x"), "no run with id 99")
    one_line_refusal(invoke("tag", "x", "y"), "no run named 'x'")
    assert invoke("note", 2, "lr doubled: fewer blobs").exit_code == 0
    shown = invoke("show", 2).output
    assert "lr doubled: fewer blobs" in shown
    record = json.loads(invoke("show", 1, "--format", "json").output)
    assert record["tags"] == ["base", "scan"] and record["note"] == "first try"
    assert invoke("export", tmp_path / "out", "--format", "json").exit_code == 0
    exported = json.loads((tmp_path / "out" / "runs.json").read_text())
    assert [(r["tags"], r["note"]) for r in exported] == [
        (["base", "scan"], "first try"),
        ([], "lr doubled: fewer blobs"),
    ]
    assert invoke("rm", 1, "--yes").exit_code == 0  # a run's tags go with it
    one_line_refusal(invoke("list", "--where", "tag=base"), "no run has the tag 'base'")


def test_list_columns_take_config_keys_and_short_names():
    _two_runs()
    out = invoke("list", "--columns", "id,lr,batch,h,test_loss,tag", "--format", "csv").output.splitlines()
    assert out[0] == "id,lr,batch,h,test_loss,tag"
    assert out[1].startswith("2,0.04,500,16,") and out[2].endswith(",base")
    table = invoke("list", "--columns", "id,training.learning_rate,separation").output
    assert "lr" in table and "separation" in table and "d×h" not in table
    one_line_refusal(invoke("list", "--columns", "id,lrr"), "unknown column 'lrr'")


def test_sweep_show_names_cells_shortly_and_pivots_two_keys(tmp_path):
    sets = set_table(*TINY)
    path = tmp_path / "z.toml"
    path.write_text(
        f'name = "z"\nbase = "quick"\ntags = ["zip4"]\nreference = {{ "training.learning_rate" = 0.02 }}\n'
        f'[set]\n{sets}\n[grid]\n"training.learning_rate" = [0.02, 0.04]\n"training.batch_size" = [250, 500]\n'
    )
    assert invoke("sweep", path, "--jobs", "1").exit_code == 0
    shown = invoke("sweep", "show", 1).output
    assert "c0 lr=0.02 batch=250" in shown and "learning_rate=" not in shown and "(reference)" in shown
    fastest = shown.split("fastest", 1)[1].split("lowest")[0]
    assert fastest.count(" lr=") == 3 and ";" not in fastest  # one best cell per line
    summary = json.loads(invoke("sweep", "show", 1, "--format", "json").output)
    assert [c["cell"] for c in summary["cells"]] == ["c0", "c1", "c2", "c3"]
    assert summary["cells"][0]["label"] == "learning_rate=0.02, batch_size=250"  # the long label stays
    pivot = invoke("sweep", "show", 1, "--pivot", "lr,batch", "--metric", "train_seconds").output
    assert "lr \\ batch" in pivot and "training seconds" in pivot
    lines = [line.split() for line in pivot.splitlines() if line.strip().startswith(("0.02", "0.04"))]
    cells = {(c["values"]["training.learning_rate"], c["values"]["training.batch_size"]): c for c in summary["cells"]}
    assert float(lines[1][2]) == pytest.approx(cells[(0.04, 500)]["train_seconds"], rel=1e-3)
    one_line_refusal(invoke("sweep", "show", 1, "--pivot", "lr,h"), "'h' is not a key this sweep varies")
    one_line_refusal(invoke("sweep", "show", 1, "--pivot", "lr,batch", "--metric", "x"), "--metric 'x'")
    assert [r["tags"] for r in json.loads(invoke("list", "--format", "json").output)] == [["zip4"]] * 4
    store = open_store()
    assert reads.get_run(store, 1).preset == "quick"  # the base preset: `show` compares with it
    assert "differences from quick" in invoke("show", 1).output


def test_stop_ends_a_detached_run_and_it_resumes():
    long = ["--set", "training.epochs=400", "--set", "training.enable_diagnostics=false"]
    assert invoke("train", "--preset", "quick", *SETS, *long, "--detach").exit_code == 0
    store = open_store()
    wait_for(lambda: reads.get_run(store, 1).epochs_done >= 2)
    result = invoke("stop", 1)
    assert result.exit_code == 0 and "run 1: killed" in result.output
    stopped = reads.get_run(store, 1)
    assert stopped.status == "killed" and reads.checkpoints(store, 1)
    one_line_refusal(invoke("stop", 1), "run 1 is killed; only queued or running runs can be stopped")
    one_line_refusal(invoke("stop", 9), "no run with id 9")
    resumed = invoke("train", "--resume", 1, "--detach")
    assert resumed.exit_code == 0 and "resumes after epoch" in resumed.output
    assert invoke("stop", 1).exit_code == 0
    assert reads.get_run(store, 1).status == "killed"
