"""Stage 2 end to end: real parent, real child workers, frozen encoders checked bit for bit."""

import json

import numpy as np
import pytest
import torch

from helpers import SETS, add_run, invoke
from mftctl.analysis import load_run_checkpoint
from mftctl.stage2 import sample_encoder
from mftctl.store import open_store, reads


@pytest.fixture
def parent(backend):
    result = invoke("train", "--preset", "quick", *SETS, "--name", "parent")
    assert result.exit_code == 0, result.output
    return open_store(backend)


def rows(db):
    import sqlite3

    return sqlite3.connect(db).execute("SELECT count(*) FROM run").fetchone()[0]


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
    from mftctl.stage2 import prepare_child

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
    assert rows(isolated_db) == 1


def test_unfinished_or_checkpointless_parents_are_refused(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.checkpoint_every=0").exit_code == 0
    result = invoke("stage2", 1)
    assert result.exit_code == 1 and "run 1 has no checkpoint" in result.output
    store = open_store(isolated_db)

    add_run(store, status="queued")
    result = invoke("stage2", 2)
    assert result.exit_code == 1 and "stage 2 needs a finished parent" in result.output
    assert rows(isolated_db) == 2
    assert invoke("stage2", 99).exit_code == 1
