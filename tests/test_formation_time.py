"""When the blobs formed: the first epoch from which they stay formed to the end (count and separation
held), a run column that `list --sort formed_epoch` orders by, with runs that never formed last."""

import json

import pytest

from helpers import SETS, TINY, add_run, invoke
from mftctl.science.records import FORMED_SEPARATION, formed_epoch
from mftctl.store import open_store, reads, writes

TINY_SETS = [*TINY, "training.epochs=3"]

FORMED, SHALLOW = FORMED_SEPARATION + 0.1, FORMED_SEPARATION - 0.3


def test_formed_epoch_is_where_the_final_formed_state_begins():
    assert formed_epoch([(1, 1, 0.0), (2, 3, SHALLOW), (3, 3, FORMED), (4, 3, FORMED)]) == 3
    # formed once, lost, formed again: only the last stretch counts
    assert formed_epoch([(1, 3, FORMED), (2, 3, SHALLOW), (3, 3, FORMED)]) == 3
    # formed all along, but with another count before the final one
    assert formed_epoch([(1, 5, FORMED), (2, 3, FORMED), (3, 3, FORMED)]) == 2
    # epochs without a blob report are passed over
    assert formed_epoch([(1, 3, FORMED), (2, None, None), (3, 3, FORMED)]) == 1
    assert formed_epoch([(1, 3, FORMED), (2, 3, SHALLOW)]) is None  # not formed at the end
    assert formed_epoch([(1, 1, 0.0), (2, 1, 0.0)]) is None  # one blob: nothing formed
    assert formed_epoch([]) is None


def _with_history(store, separations):
    run = add_run(store)
    for epoch, separation in enumerate(separations, start=1):
        values = {
            "epoch": epoch, "train_loss": 1.0, "train_loss_on": 0.5, "train_loss_off": 0.5, "test_loss": 1.0,
            "test_loss_on": 0.5, "test_loss_off": 0.5, "seconds": 1.0, "train_seconds": 1.0,
            "samples_per_s": 1.0, "lr": 0.01,
        }  # fmt: skip
        writes.record_epoch(store, run.id, values, {"n_blobs": 3, "separation": separation, "method": "modes-1"})
    return run.id


@pytest.mark.backends
def test_list_sorts_by_formed_epoch_with_the_never_formed_last(store, backend):
    late = _with_history(store, [SHALLOW, SHALLOW, FORMED])
    never = _with_history(store, [SHALLOW, SHALLOW, SHALLOW])
    early = _with_history(store, [FORMED, FORMED, FORMED])
    assert [reads.get_run(store, i).formed_epoch for i in (late, never, early)] == [3, None, 1]
    for order in ("formed_epoch", "-formed_epoch"):
        listed = json.loads(invoke("list", "--sort", order, "--format", "json", "--db", backend).output)
        expected = [early, late] if order == "formed_epoch" else [late, early]
        assert [r["id"] for r in listed] == [*expected, never]  # never as 0, never first
        assert {r["id"]: r["formed_epoch"] for r in listed} == {late: 3, never: None, early: 1}


def test_a_trained_run_records_when_its_blobs_formed(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.epochs=3").exit_code == 0
    run = json.loads(invoke("show", 1, "--format", "json").output)
    history = [(e["epoch"], e["n_clusters"], e["separation"]) for e in run["epochs"]]
    assert run["formed_epoch"] == formed_epoch(history)


def test_sweep_show_says_when_each_cells_blobs_formed(isolated_db, tmp_path):
    from helpers import set_table

    path = tmp_path / "formed.toml"
    path.write_text(
        f'name = "formed"\nbase = "quick"\nseeds = [1, 2]\n[set]\n{set_table(*TINY_SETS)}\n'
        '[grid]\n"training.learning_rate" = [0.02, 0.0001]\n'
    )
    assert invoke("sweep", path, "--jobs", "1").exit_code == 0
    store_runs = {r.id: r for r in reads.sweep_runs(open_store(isolated_db), 1)}
    summary = json.loads(invoke("sweep", "show", 1, "--format", "json").output)
    for cell in summary["cells"]:
        formed = [store_runs[i].formed_epoch for i in cell["runs"] if store_runs[i].formed_epoch is not None]
        assert cell["formed"] == len(formed)
        assert cell["formed_epoch"] == (pytest.approx(sum(formed) / len(formed)) if formed else None)
    every = [c["label"] for c in summary["cells"] if c["formed"] and c["formed"] == c["completed"]]
    assert set(summary["formed_first"]) == set(every)
    assert "formed at" in invoke("sweep", "show", 1).output


def test_reanalyse_gives_a_run_recorded_before_formed_epoch_its_value(store, isolated_db):
    """A row from before migration 009 (formed_epoch NULL), even one without checkpoints."""
    run_id = _with_history(store, [SHALLOW, FORMED, FORMED])
    with store.write() as s:
        row = s.get(type(reads.get_run(store, run_id)), run_id)
        row.formed_epoch = None
    assert reads.get_run(store, run_id).formed_epoch is None and not reads.checkpoints(store, run_id)
    assert invoke("reanalyse", run_id).exit_code == 0
    assert reads.get_run(store, run_id).formed_epoch == 2
