"""Stage 2 end to end: real parent, real child workers, frozen encoders checked bit for bit."""

import json

import numpy as np
import pytest
import torch

from helpers import SETS, TINY, add_run, count_runs, invoke, one_line_refusal, serving_workers, set_table
from mftctl.checkpoints.load import load_run_checkpoint
from mftctl.stage2.child import sample_encoder
from mftctl.store import open_store, reads


@pytest.fixture
def parent(backend):
    result = invoke("train", "--preset", "quick", *SETS, "--name", "parent")
    assert result.exit_code == 0, result.output
    return open_store(backend)


@pytest.mark.backends
def test_children_train_only_their_decoders(parent):
    result = invoke("stage2", 1, "--traces", 2)
    assert result.exit_code == 0, result.output
    assert "stage 2 children of run 1" in result.output
    kids = json.loads(invoke("list", "--where", "parent=1", "--format", "json", "--sort", "id").output)
    assert [(k["id"], k["kind"], k["status"], k["parent"]) for k in kids] == [
        (2, "stage2", "completed", 1),
        (3, "stage2", "completed", 1),
    ]
    store = parent
    encoders = []
    for kid in (2, 3):
        run = reads.get_run(store, kid)
        extra = run.extra
        assert extra["parent_epoch"] == 2 and extra["control"] == "gmm" and len(extra["mixture"]["weights"]) == 3
        first, last = (load_run_checkpoint(store, run, e).model() for e in (1, 2))
        sampled, _ = sample_encoder(extra, 16, 32)
        # the encoder is exactly the recorded sample, before and after training; the decoder moved
        assert torch.equal(first.fc1.weight, sampled) and torch.equal(last.fc1.weight, sampled)
        assert torch.equal(last.fc1.bias, torch.zeros(16))
        assert not torch.equal(first.fc2.weight, last.fc2.weight)
        encoders.append(sampled)
    assert not torch.equal(encoders[0], encoders[1])  # independent traces
    shown = json.loads(invoke("show", 1, "--format", "json").output)
    assert shown["children"] == [2, 3]
    figures = invoke("plot", 1).output.split()
    assert any(p.endswith("children.png") for p in figures)


def test_controls_have_the_expected_statistics(parent):
    store = parent
    parent_enc = load_run_checkpoint(store, reads.get_run(store, 1)).model().fc1.weight.detach()
    assert invoke("stage2", 1, "--control", "parent").exit_code == 0
    frozen = load_run_checkpoint(store, reads.get_run(store, 2)).model().fc1.weight
    assert torch.equal(frozen, parent_enc)
    assert invoke("stage2", 1, "--control", "gaussian", "--hidden", 64).exit_code == 0
    gauss = reads.get_run(store, 3)
    assert len(gauss.extra["mixture"]["weights"]) == 1
    enc, _ = sample_encoder(gauss.extra, 64, 32)
    assert enc.shape == (64, 32)
    assert enc.var().item() == pytest.approx(parent_enc.var().item(), rel=0.15)
    assert enc.mean().item() == pytest.approx(parent_enc.mean().item(), abs=0.1 * parent_enc.std().item())
    assert invoke("stage2", 1, "--mixture", "encoder", "-k", 2).exit_code == 0
    enc1d = reads.get_run(store, 4)
    assert np.asarray(enc1d.extra["mixture"]["means"]).shape == (2, 1)


def test_sampled_decoder_init(parent):
    """The child starts from the recorded sample's decoder coordinates, not from xavier."""
    from mftctl.config import config_from_json
    from mftctl.stage2.child import prepare_child

    assert invoke("stage2", 1, "--decoder-init", "sampled", "--set", "training.epochs=1").exit_code == 0
    child = reads.get_run(parent, 2)
    assert child.config["training"]["epochs"] == 1
    enc, dec = sample_encoder(child.extra, 16, 32)
    assert dec.shape == (32, 16)
    start = prepare_child(parent, child, config_from_json(child.config_json))
    assert torch.equal(start.fc1.weight, enc) and torch.equal(start.fc2.weight, dec)
    trained = load_run_checkpoint(parent, child, 1).model()
    assert torch.equal(trained.fc1.weight, enc) and not torch.equal(trained.fc2.weight, dec)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--control", "parent", "--hidden", 8], "cannot have --hidden 8"),
        # the second sampler is refused: the first one's children are not written either
        (["--sampler", "iid", "--sampler", "shuffle", "--hidden", 8], "shuffle permutes the parent's 16 rows"),
        (["--control", "parent", "--traces", 2], "use --traces 1"),
        (["--set", "data.d=64"], "stage 2 keeps the parent's data.d (32)"),
        (["--epoch", 9], "no checkpoint at epoch 9"),
        (["--mixture", "encoder", "--decoder-init", "sampled"], "--decoder-init sampled needs the 2-D pair"),
        (["--set", "stage2.num_clusters=0"], "stage2.num_clusters"),
    ],
)
def test_refusals_write_no_child(parent, isolated_db, args, message):
    result = invoke("stage2", 1, *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert count_runs(isolated_db) == 1
    assert not serving_workers(isolated_db)  # the worker started early for a single child is gone too


def test_unfinished_or_checkpointless_parents_are_refused(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.checkpoint_every=0").exit_code == 0
    result = invoke("stage2", 1)
    assert result.exit_code == 1 and "run 1 has no checkpoint" in result.output
    store = open_store(isolated_db)

    add_run(store, status="queued")
    result = invoke("stage2", 2)
    assert result.exit_code == 1 and "stage 2 needs a finished parent" in result.output
    assert count_runs(isolated_db) == 2
    assert invoke("stage2", 99).exit_code == 1


def test_samplers_keep_what_they_say_they_keep():
    """iid keeps the cloud; row keeps each row's outlier count; row-sign each row's blob composition (up to
    the row's sign); shuffle each row's values exactly."""
    from mftctl.science.mixture import Mixture
    from mftctl.science.samplers import assign, row_compositions, sample_pairs, shuffle_rows

    mixture = Mixture(
        np.array([0.96, 0.02, 0.02]),
        np.array([[0.0, 0.0], [1.5, 0.17], [-1.5, -0.17]]),
        np.array([np.diag([0.01, 0.0003])] * 3),
    )
    h, d, rng = 64, 200, np.random.default_rng(0)
    # A parent whose every row has exactly one + and one - outlier.
    labels = np.zeros((h, d), dtype=int)
    for i in range(h):
        plus, minus = rng.choice(d, 2, replace=False)
        labels[i, plus], labels[i, minus] = 1, 2
    from mftctl.science.samplers import _from_components

    pairs = _from_components(mixture, labels, rng).reshape(-1, 2)
    comps = row_compositions(mixture, pairs, h)
    assert (comps == [d - 2, 1, 1]).all()

    iid = sample_pairs("iid", mixture, None, h, d, np.random.default_rng(1))
    outer_iid = (assign(mixture, iid.reshape(-1, 2)).reshape(h, d) > 0).sum(axis=1)
    assert outer_iid.std() > 0.5  # rows differ: nothing per row is kept

    row = sample_pairs("row", mixture, comps, h, d, np.random.default_rng(2))
    row_labels = assign(mixture, row.reshape(-1, 2)).reshape(h, d)
    assert ((row_labels > 0).sum(axis=1) == 2).all()  # two outliers per row, as in the parent ...
    assert ((row_labels == 1).sum(axis=1) != 1).any()  # ... but not always one of each sign

    signed = sample_pairs("row-sign", mixture, comps, h, d, np.random.default_rng(3))
    signed_labels = assign(mixture, signed.reshape(-1, 2)).reshape(h, d)
    assert ((signed_labels == 1).sum(axis=1) == 1).all() and ((signed_labels == 2).sum(axis=1) == 1).all()

    encoder = pairs[:, 0].reshape(h, d)
    shuffled = shuffle_rows(encoder, np.random.default_rng(4))
    assert np.array_equal(np.sort(shuffled, axis=1), np.sort(encoder, axis=1)) and not np.array_equal(shuffled, encoder)


def test_samplers_children_and_their_summary(parent):
    from mftctl.checkpoints.load import load_run_checkpoint as load

    args = ["--traces", 2, "--sampler", "row-sign", "--sampler", "shuffle", "--set", "training.epochs=1"]
    result = invoke("stage2", 1, *args)
    assert result.exit_code == 0, result.output
    assert "stage 2 of run 1: each method over its traces" in result.output
    kids = [reads.get_run(parent, i) for i in (2, 3, 4, 5)]
    assert [k.extra["sampler"] for k in kids] == ["row-sign", "row-sign", "shuffle", "shuffle"]
    assert len(kids[0].extra["row_compositions"]) == 16  # one composition per parent row
    parent_enc = load(parent, reads.get_run(parent, 1)).model().fc1.weight.detach()
    child_enc = load(parent, kids[2], 1).model().fc1.weight.detach()
    assert torch.equal(child_enc.sort(dim=1).values, parent_enc.sort(dim=1).values)  # each row's values, kept
    assert not torch.equal(child_enc, parent_enc)
    shown = json.loads(invoke("show", 1, "--format", "json").output)["stage2"]
    assert [(m["method"], m["traces"], m["completed"]) for m in shown] == [
        ("gmm/row-sign", 2, 2),
        ("gmm/shuffle", 2, 2),
    ]
    finals = [reads.get_run(parent, i).last_test_loss for i in (2, 3)]
    assert shown[0]["final"] == pytest.approx(np.mean(finals)) and shown[0]["final_std"] == pytest.approx(
        np.std(finals, ddof=1)
    )
    figures = invoke("plot", 1).output.split()
    assert any(p.endswith("stage2.png") for p in figures) and any(p.endswith("children.png") for p in figures)
    one_line_refusal(invoke("stage2", 1, "--sampler", "row", "--control", "gaussian"), "needs --control gmm")
    one_line_refusal(invoke("stage2", 1, "--sampler", "shuffle", "--hidden", 8), "cannot have --hidden 8")


def test_stage2_on_every_completed_run_of_a_sweep(backend, tmp_path):
    sets = set_table(*TINY, without="epochs")
    path = tmp_path / "w.toml"
    path.write_text(f'name = "w"\nbase = "quick"\n[set]\n{sets}\n"training.epochs" = 1\n[grid]\nseed = [1, 2]\n')
    assert invoke("sweep", path, "--jobs", "1").exit_code == 0
    result = invoke("stage2", "--sweep", 1, "--sampler", "iid", "--sampler", "shuffle", "--jobs", 2)
    assert result.exit_code == 0, result.output
    store = open_store(backend)
    children = [r for r in (reads.get_run(store, i) for i in reads.run_ids(store)) if r.kind == "stage2"]
    assert sorted((c.parent_id, c.extra["sampler"]) for c in children) == [
        (1, "iid"),
        (1, "shuffle"),
        (2, "iid"),
        (2, "shuffle"),
    ]
    assert all(c.status == "completed" for c in children)
    one_line_refusal(invoke("stage2", 1, "--sweep", 1), "one of them")
    one_line_refusal(invoke("stage2", "--sweep", 9), "no sweep with id 9")
