"""model.activation: every activation trains, measures its own symmetry, resumes, is diagnosed, plotted and
reanalysed from its own config, and serves as a stage-2 parent; tanh3 (the default) is unchanged."""

import json

import pytest
import torch

from helpers import SETS, TINY, count_runs, invoke, one_line_refusal, set_args
from mftctl.choices import ACTIVATION_SYMMETRY
from mftctl.config import DataConfig, LossConfig
from mftctl.config_input import load_config
from mftctl.science.blobs import symmetry_error
from mftctl.science.data import make_generator, two_hot_batch
from mftctl.science.losses import decoder_loss_parts
from mftctl.science.model import ACTIVATIONS, build_model
from mftctl.science.train import train
from mftctl.store import open_store, reads

FORMULAS = {
    "tanh3": lambda z: torch.tanh(z) ** 3,
    "tanh": torch.tanh,
    "cube": lambda z: z**3,
    "relu": lambda z: torch.clamp(z, min=0),
    "square": lambda z: z * z,
}


def test_every_activation_has_a_formula_a_symmetry_and_a_choice():
    assert set(ACTIVATIONS) == set(FORMULAS) == set(ACTIVATION_SYMMETRY)
    z = torch.linspace(-2, 2, 41)
    for name, sigma in FORMULAS.items():
        odd, even = torch.allclose(sigma(-z), -sigma(z)), torch.allclose(sigma(-z), sigma(z))
        assert ACTIVATION_SYMMETRY[name] == ("odd" if odd else "even" if even else "none"), name


@pytest.mark.parametrize("activation", sorted(FORMULAS))
def test_each_activations_gradient_matches_autograd_by_both_loss_kernels(activation):
    config = load_config("quick", overrides=[*TINY, f'model.activation="{activation}"'])
    model = build_model(config).double()
    batch = two_hot_batch(64, DataConfig(d=32), make_generator(3, torch.device("cpu")))
    batch.x, batch.amps = batch.x.double(), batch.amps.double()
    grads = {}
    for kernel in ("dense", "gram"):
        model.zero_grad()
        decoder_loss_parts(model.hidden(batch.x), model.fc2, batch, LossConfig(), kernel).total.backward()
        grads[kernel] = model.fc1.weight.grad.clone()
    # the reference: autograd through the plain formula and the dense loss
    model.zero_grad()
    hidden = FORMULAS[activation](model.fc1(batch.x))
    decoder_loss_parts(hidden, model.fc2, batch, LossConfig(), "dense").total.backward()
    assert torch.allclose(grads["dense"], model.fc1.weight.grad, rtol=1e-9, atol=1e-12)
    assert torch.allclose(grads["gram"], model.fc1.weight.grad, rtol=1e-7, atol=1e-10)
    assert grads["dense"].abs().sum() > 0


def test_the_symmetry_checked_follows_the_activation():
    mirrored_across_w2 = [(0, 0), (1, 2), (-1, 2)]  # (w1, w2) beside (−w1, w2): an even network's pair
    assert symmetry_error(mirrored_across_w2, "even") == pytest.approx(0.0)
    assert symmetry_error(mirrored_across_w2, "odd") == pytest.approx(2 * 2 / 5**0.5)
    assert symmetry_error([(0, 0), (1, 2), (-1, -2)], "odd") == pytest.approx(0.0)
    assert symmetry_error(mirrored_across_w2, "none") is None


@pytest.mark.parametrize("activation", ["relu", "square"])
def test_a_resumed_run_keeps_its_activation(activation):
    config = load_config("quick", overrides=[*TINY, "training.epochs=3", f'model.activation="{activation}"'])

    class Keep:
        def __init__(self):
            self.states = {}

        def on_step(self, *a): ...

        def on_epoch(self, r): ...

        def on_checkpoint(self, epoch, state):
            import copy

            self.states[epoch] = copy.deepcopy(state)

    sink = Keep()
    full = train(config, sink)
    resumed = train(config, resume=sink.states[1])
    assert resumed.model.activation == activation
    assert torch.equal(full.model.fc1.weight, resumed.model.fc1.weight)
    assert resumed.epochs[-1].test_loss == full.epochs[-1].test_loss


def test_a_non_default_activation_through_every_command(isolated_db, tmp_path):
    """An even activation trained, shown, diagnosed (its own loss, its own symmetry), plotted, reanalysed,
    and fitted as a stage-2 parent whose children inherit it; row-sign refused for it in one line."""
    square = ["--set", 'model.activation="square"']
    assert invoke("train", "--preset", "quick", *SETS, *square).exit_code == 0
    store = open_store(isolated_db)
    run = reads.get_run(store, 1)
    assert run.status == "completed", run.error
    assert json.loads(invoke("show", 1, "--format", "json").output)["config"]["model"]["activation"] == "square"
    diagnosis = json.loads(invoke("diagnose", 1, "--format", "json").output)
    assert diagnosis["test"]["loss"] == pytest.approx(run.last_test_loss, rel=1e-6)
    assert diagnosis["on_path"]["symmetry"] == "even"
    assert json.loads(reads.epochs(store, 1)[-1].diagnostics_json)["symmetry"] == "even"
    assert invoke("plot", 1, "--out", tmp_path / "figures").exit_code == 0
    assert invoke("reanalyse", 1).exit_code == 0
    assert reads.get_run(store, 1).n_clusters == run.n_clusters  # the same numbers from its own model

    refused = invoke("stage2", 1, "--sampler", "row-sign", "--set", "training.epochs=1")
    one_line_refusal(refused, "row-sign", "square (even)", "use iid, row, shuffle or rewire")
    assert count_runs(isolated_db) == 1
    assert invoke("stage2", 1, "--set", "training.epochs=1").exit_code == 0
    child = reads.get_run(store, 2)
    assert child.status == "completed", child.error
    assert child.config["model"]["activation"] == "square"


def test_an_unknown_activation_is_one_line(isolated_db):
    result = invoke("train", "--preset", "quick", *set_args(*TINY), "--set", 'model.activation="gelu"')
    one_line_refusal(result, "model.activation", "tanh3")
    assert count_runs(isolated_db) == 0
