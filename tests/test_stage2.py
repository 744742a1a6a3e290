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
        sampled = sample_encoder(extra, 16, 32).weight
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
    enc = sample_encoder(gauss.extra, 64, 32).weight
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
    drawn = sample_encoder(child.extra, 16, 32)
    enc, dec = drawn.weight, drawn.decoder
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

    iid, _, _ = sample_pairs("iid", mixture, None, h, d, np.random.default_rng(1))
    outer_iid = (assign(mixture, iid.reshape(-1, 2)).reshape(h, d) > 0).sum(axis=1)
    assert outer_iid.std() > 0.5  # rows differ: nothing per row is kept

    row, _, _ = sample_pairs("row", mixture, comps, h, d, np.random.default_rng(2))
    row_labels = assign(mixture, row.reshape(-1, 2)).reshape(h, d)
    assert ((row_labels > 0).sum(axis=1) == 2).all()  # two outliers per row, as in the parent ...
    assert ((row_labels == 1).sum(axis=1) != 1).any()  # ... but not always one of each sign

    signed, _, _ = sample_pairs("row-sign", mixture, comps, h, d, np.random.default_rng(3))
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


def _regular_code(h: int, d: int, k: int, rng) -> np.ndarray:
    """A parent-like signed outlier code: k outliers per row, columns covered as evenly as possible."""
    signs = np.zeros((h, d), dtype=np.int8)
    columns = rng.permutation(np.resize(np.arange(d), h * k)).reshape(h, k)
    for i in range(h):
        cols = np.unique(columns[i])
        while len(cols) < k:  # a repeated column in a row: top up with any free one
            cols = np.unique(np.append(cols, rng.integers(d)))
        signs[i, cols] = rng.choice(np.array([-1, 1], dtype=np.int8), size=k)
    return signs


def test_rewire_keeps_every_row_and_column_count_and_each_rows_values():
    """Curveball trades: the outlier mask changes, yet every row's and column's outlier count is the
    parent's exactly, and each row keeps its values (signs travel with their entries)."""
    from mftctl.science.mixture import Mixture
    from mftctl.science.samplers import outlier_signs, rewire

    rng = np.random.default_rng(0)
    h, d = 48, 96
    signs = _regular_code(h, d, 5, rng)
    encoder = 0.1 * rng.standard_normal((h, d)) + 1.5 * signs
    mixture = Mixture(np.array([0.9, 0.05, 0.05]), np.array([[0.0], [1.5], [-1.5]]), np.array([[[0.01]]] * 3))
    measured = outlier_signs(mixture, encoder.reshape(-1, 1), encoder)
    assert np.array_equal(measured, signs)  # the outlier code, read back through the mixture
    moved = rewire(encoder, measured, np.random.default_rng(1))
    after = outlier_signs(mixture, moved.reshape(-1, 1), moved)
    assert np.array_equal((after != 0).sum(axis=1), (signs != 0).sum(axis=1))
    assert np.array_equal((after != 0).sum(axis=0), (signs != 0).sum(axis=0))
    assert np.array_equal(np.sort(moved, axis=1), np.sort(encoder, axis=1))
    assert np.array_equal((after > 0).sum(axis=1), (signs > 0).sum(axis=1))  # each row's signs kept
    assert ((after != 0) & (signs == 0)).sum() > 0.5 * (signs != 0).sum()  # most outliers moved


def test_code_keeps_degrees_and_cancels_below_a_random_code():
    """The fresh code: the parent's row and column degrees exactly, and a crosstalk below the mean of
    random codes with the same degrees (random supports by Curveball, random signs) — by a margin far
    outside their spread. The crosstalk is checked against a brute-force double sum."""
    from mftctl.science.samplers import code_pairs, crosstalk, curveball

    rng = np.random.default_rng(2)
    h, d = 64, 128
    parent = _regular_code(h, d, 6, rng)
    s = parent.astype(int)
    brute = sum(int(s[j] @ s[k]) ** 2 for j in range(h) for k in range(j + 1, h))
    assert crosstalk(parent) == brute
    randoms = []
    for seed in range(5):
        r = np.random.default_rng(10 + seed)
        mask = curveball(parent != 0, r)
        randoms.append(crosstalk(np.where(mask, r.choice([-1, 1], size=mask.shape), 0)))
    # The parent's pairs: its outliers at ±(1.5, 0.2) give or take 0.1, its centre N(0, 0.1).
    pairs = 0.1 * rng.standard_normal((h, d, 2)) + parent[..., None] * np.array([1.5, 0.2])
    drawn = code_pairs(parent, pairs, np.random.default_rng(3))
    encoder, decoder = drawn[..., 0], drawn[..., 1]
    outliers = np.abs(encoder) > 0.75
    assert np.array_equal(np.sign(encoder[outliers]), np.sign(decoder[outliers]))  # the signs agree
    blob = np.abs(pairs[parent != 0]).mean(axis=0)
    assert np.allclose(np.abs(drawn[outliers]), blob)  # each outlier at the outer blob's centre
    centre = set(pairs[parent == 0, 0].tolist())
    assert all(value in centre for value in encoder[~outliers].tolist())  # the rest: the parent's centre
    annealed = np.where(outliers, np.sign(encoder), 0).astype(np.int8)
    assert np.array_equal((annealed != 0).sum(axis=1), (parent != 0).sum(axis=1))
    assert np.array_equal((annealed != 0).sum(axis=0), (parent != 0).sum(axis=0))
    assert crosstalk(annealed) < np.mean(randoms) - 5 * np.std(randoms), (crosstalk(annealed), randoms)


def test_rewire_and_code_children_solved_and_trained(parent):
    """`stage2 --sampler rewire --sampler code --decoder solve` end to end: the rewired child's encoder
    keeps the parent's outlier counts (read through the recorded mixture), and a solved child's loss is at
    most the loss of the same encoder (same sampling seed) with a trained decoder."""
    from mftctl.science.samplers import signs_beyond

    solved = invoke("stage2", 1, "--sampler", "rewire", "--sampler", "code", "--decoder", "solve")
    assert solved.exit_code == 0, solved.output
    trained = invoke("stage2", 1, "--sampler", "rewire", "--sampler", "code", "--set", "training.epochs=2")
    assert trained.exit_code == 0, trained.output
    kids = {i: reads.get_run(parent, i) for i in (2, 3, 4, 5)}
    assert [k.extra["sampler"] for k in kids.values()] == ["rewire", "code", "rewire", "code"]
    parent_model = load_run_checkpoint(parent, reads.get_run(parent, 1)).model()
    threshold = kids[2].extra["outlier_threshold"]  # half the measured outer blobs' |W1| centre
    assert threshold > 0 and all(k.extra["outlier_threshold"] == threshold for k in kids.values())

    def code_of(model):
        return signs_beyond(model.fc1.weight.detach().double().numpy(), threshold)

    before = code_of(parent_model)
    assert (before != 0).sum() > 0  # the quick parent has outliers to move
    rewired = load_run_checkpoint(parent, kids[2]).model()
    after = code_of(rewired)
    assert ((after != 0).sum(axis=1) == (before != 0).sum(axis=1)).all()  # every row's count kept
    assert ((after != 0).sum(axis=0) == (before != 0).sum(axis=0)).all()  # and every column's
    assert (after != before).any()  # and moved
    assert torch.equal(rewired.fc1.weight.sort(dim=1).values, parent_model.fc1.weight.sort(dim=1).values)
    for i in (2, 4):  # the same encoder, solved and trained: equal
        assert torch.equal(load_run_checkpoint(parent, kids[i]).model().fc1.weight, rewired.fc1.weight)
    code = load_run_checkpoint(parent, kids[3]).model().fc1.weight
    # rebuilt from its row and the parent alone (science checked in the test above)
    assert torch.equal(code, sample_encoder(kids[3].extra, 16, 32, parent_model).weight)
    assert torch.equal(code, load_run_checkpoint(parent, kids[5]).model().fc1.weight)
    for solved_kid, trained_kid in ((2, 4), (3, 5)):
        assert kids[solved_kid].last_test_loss <= kids[trained_kid].last_test_loss * 1.0005
    shown = json.loads(invoke("show", 1, "--format", "json").output)["stage2"]
    assert {m["method"] for m in shown} == {"gmm/rewire (solved)", "gmm/code (solved)", "gmm/rewire", "gmm/code"}
    assert all(m["ceiling"] and m["gap_to_ceiling"] is not None for m in shown)


def test_b1_for_the_parent_control_and_the_samplers(parent):
    """--b1 zero freezes the parent's encoder without its bias; --b1 parent gives a sampler's rows the
    parent's biases: each kept row its own (shuffle), each row-sign row its parent row's, sign and all."""
    parent_model = load_run_checkpoint(parent, reads.get_run(parent, 1)).model()
    parent_bias = parent_model.fc1.bias.detach()
    assert parent_bias.abs().max() > 0
    args = ["--set", "training.epochs=1"]
    assert invoke("stage2", 1, "--control", "parent", "--b1", "zero", *args).exit_code == 0
    assert invoke("stage2", 1, "--sampler", "shuffle", "--sampler", "row-sign", "--b1", "parent", *args).exit_code == 0
    no_bias, shuffled, signed = (load_run_checkpoint(parent, reads.get_run(parent, i)).model() for i in (2, 3, 4))
    assert torch.equal(no_bias.fc1.bias, torch.zeros(16))
    assert torch.equal(no_bias.fc1.weight, parent_model.fc1.weight)
    assert torch.equal(shuffled.fc1.bias, parent_bias)
    extra = reads.get_run(parent, 4).extra
    rng = np.random.default_rng(extra["sampling_seed"])
    rows = rng.integers(16, size=16)  # sample_pairs' first draw: the parent row behind each child row
    assert torch.allclose(signed.fc1.bias.abs(), parent_bias[torch.from_numpy(rows)].abs())
    shown = json.loads(invoke("show", 1, "--format", "json").output)["stage2"]
    assert [m["method"] for m in shown] == ["parent -b1", "gmm/shuffle +b1", "gmm/row-sign +b1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sampler", "code", "--set", "model.activation=relu"], "--sampler code chooses signs freely"),
        (["--sampler", "rewire", "--hidden", 8], "--sampler rewire keeps the parent's 16 rows"),
        (["--sampler", "rewire", "--decoder-init", "sampled"], "keeps the parent's encoder values"),
    ],
)
def test_new_sampler_refusals_write_no_child(parent, isolated_db, args, message):
    one_line_refusal(invoke("stage2", 1, *args), message)
    assert count_runs(isolated_db) == 1
    assert not serving_workers(isolated_db)


def test_samplers_that_read_outliers_refuse_a_parent_with_one_blob(isolated_db):
    """A parent whose outer blobs have not formed has no outliers for rewire or code to keep: one line,
    no child written (a run that barely moved from its Gaussian initialisation measures one blob)."""
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.learning_rate=1e-7").exit_code == 0
    assert reads.get_run(open_store(isolated_db), 1).n_clusters == 1
    for sampler in ("rewire", "code"):
        one_line_refusal(invoke("stage2", 1, "--sampler", sampler), f"--sampler {sampler} reads the parent's outliers")
    assert count_runs(isolated_db) == 1
