"""The exact decoder (science/decoder.py): the closed-form optimum of the decoder for a frozen encoder,
held against independent references — a weighted least-squares solve of the same samples by another
method, autograd's gradient of the objective at the solution, and decoder-only Adam run to convergence —
and reported by `diagnose`, `plot` and `mftctl.solve_decoder`."""

import json
import math

import pytest
import torch

import mftctl
from helpers import SETS, TINY, invoke, one_line_refusal, set_args
from mftctl.config_input import load_config
from mftctl.errors import MftctlError
from mftctl.science.data import fixed_test_set, make_generator, two_hot_batch
from mftctl.science.decoder import solve_decoder, with_decoder
from mftctl.science.losses import loss_parts, sample_weights
from mftctl.science.model import build_model
from mftctl.science.train import evaluate


def config_for(*overrides):
    return load_config("quick", overrides=[*TINY, *overrides])


def some_encoder(config, seed=0):
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():  # a larger encoder than the init, so the activations are far from linear
        model.fc1.weight.mul_(6.0)
        model.fc1.bias.normal_(0, 0.3)
    return model


def samples(config, n, seed=5):
    return two_hot_batch(n, config.data, make_generator(seed, torch.device("cpu")))


@pytest.mark.parametrize("loss", ["scaled_mse", "mse"])
@pytest.mark.parametrize("rho", [0.0, 0.03])
def test_the_solve_equals_weighted_least_squares_by_another_method(loss, rho):
    """Each output's row as a weighted ridge regression (rows √w·ã against √w·target, ridge rows √(nρ)
    for the weights only), solved by torch.linalg.lstsq: the same numbers as the normal equations."""
    config = config_for(f'loss.loss_type="{loss}"', f"training.decoder_regularization={rho}")
    model = some_encoder(config)
    data = samples(config, 3_000)
    solved = solve_decoder(model, config, data=data)
    n, d = len(data), config.data.d
    w_on, w_off = sample_weights(d, config.loss)
    with torch.no_grad():
        a = model.hidden(data.x).double()
    a1 = torch.cat((a, torch.ones(n, 1, dtype=torch.float64)), dim=1)
    on = data.on_mask().double()
    target = data.clean().double()
    h = a.shape[1]
    for k in range(0, d, 7):  # every 7th output: the method is the same for all
        weights = torch.where(on[:, k] > 0, w_on, w_off).sqrt()
        rows = torch.cat((weights[:, None] * a1, (n * rho) ** 0.5 * torch.eye(h + 1, dtype=torch.float64)[:h]))
        rhs = torch.cat((weights * target[:, k], torch.zeros(h, dtype=torch.float64)))
        u = torch.linalg.lstsq(rows, rhs[:, None]).solution[:, 0]
        assert torch.allclose(solved.weight[k].double(), u[:h], rtol=1e-4, atol=1e-5)
        assert torch.allclose(solved.bias[k].double(), u[h], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ["tanh3", "relu", "square"])
def test_autograd_finds_the_solution_a_stationary_point_of_the_training_objective(activation):
    config = config_for(f'model.activation="{activation}"')
    model = some_encoder(config)
    data = samples(config, 4_000)
    solved = solve_decoder(model, config, data=data)
    rho = config.training.decoder_regularization

    def gradient_norm(weight, bias):
        weight = weight.double().clone().requires_grad_(True)
        bias = bias.double().clone().requires_grad_(True)
        with torch.no_grad():
            hidden = model.hidden(data.x).double()
        pred = hidden @ weight.t() + bias
        batch = type(data)(data.x.double(), data.idx, data.amps.double())
        objective = loss_parts(pred, batch, config.loss).total + rho * weight.square().sum()
        objective.backward()
        return torch.cat((weight.grad.reshape(-1), bias.grad)).norm().item()

    at_solution = gradient_norm(solved.weight, solved.bias)
    at_init = gradient_norm(model.fc2.weight.detach(), model.fc2.bias.detach())
    assert at_solution < 1e-4 * at_init


@pytest.mark.slow
def test_decoder_only_adam_run_to_convergence_ends_within_one_percent_and_never_clearly_below():
    """The independent reference: the decoder alone, trained by Adam on fresh samples with its lr decayed
    to 0, at quick shapes. The solve estimates the same population optimum from 200,000 samples."""
    config = load_config("quick", overrides=["training.decoder_regularization=0.03"])
    model = some_encoder(config, seed=1)
    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    solved_loss = evaluate(with_decoder(model, solve_decoder(model, config)), test, config)[0]
    model.freeze_encoder()
    torch.manual_seed(3)
    optimizer = torch.optim.Adam(model.fc2.parameters(), lr=3e-3)
    steps = 3_000
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    generator = make_generator(11, torch.device("cpu"))
    for _ in range(steps):
        batch = two_hot_batch(2_000, config.data, generator)
        loss = loss_parts(model(batch.x), batch, config.loss).total
        loss = loss + config.training.decoder_regularization * model.fc2.weight.square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    adam_loss = evaluate(model, test, config)[0]
    assert adam_loss <= solved_loss * 1.01, (adam_loss, solved_loss)
    # Below the solve only by the Monte Carlo error of 200,000 samples against 6,000,000 (well under 0.5%).
    assert adam_loss >= solved_loss * 0.995, (adam_loss, solved_loss)


@pytest.mark.slow
def test_diagnose_reports_the_exact_decoder_below_the_trained_one_and_plot_draws_it(isolated_db, tmp_path):
    assert invoke("train", "-p", "quick", *set_args(*TINY, "training.epochs=3")).exit_code == 0
    result = json.loads(invoke("diagnose", 1, "--format", "json").output)
    optimal = result["optimal_decoder"]
    assert optimal["loss"] <= result["test"]["loss"]
    assert optimal["gap"] == pytest.approx(result["test"]["loss"] / optimal["loss"] - 1)
    assert optimal["loss"] == pytest.approx(optimal["loss_on"] + optimal["loss_off"])
    table = invoke("diagnose", 1)
    assert "exact decoder, same encoder" in table.output and "above the exact decoder" in table.output
    solved = mftctl.solve_decoder(1)
    assert solved["weight"].shape == (32, 16) and solved["bias"].shape == (32,)
    assert solved["test"]["loss"] == pytest.approx(optimal["loss"])  # the same samples: the same decoder
    assert solved["trained"]["loss"] == pytest.approx(result["test"]["loss"])
    figures = invoke("plot", 1, "--out", tmp_path / "figs")
    assert figures.exit_code == 0, figures.output


def test_solve_decoder_from_python_refuses_bad_input_in_one_line(isolated_db):
    from mftctl.store import open_store

    open_store(isolated_db)  # an empty store
    with pytest.raises(MftctlError, match="no run with id 7"):
        mftctl.solve_decoder(7)
    with pytest.raises(MftctlError, match="samples 0 must be at least 1"):
        mftctl.solve_decoder(1, samples=0)
    one_line_refusal(invoke("diagnose", 3), "no run")


def test_a_run_without_checkpoints_has_no_encoder_to_solve_for(isolated_db):
    assert invoke("train", "-p", "quick", *SETS, "--set", "training.checkpoint_every=0").exit_code == 0
    with pytest.raises(MftctlError, match="checkpoint"):
        mftctl.solve_decoder(1)


@pytest.mark.slow
def test_stage2_children_with_solved_decoders_beat_their_trained_twins_and_meet_the_ceiling(isolated_db):
    """The same sampled encoders (same sampling seeds) with trained and with solved decoders: each solved
    child is at or below its trained twin; the parent's own encoder solved is the ceiling every summary
    shows, and the `parent` control with a solved decoder is exactly that ceiling."""
    from mftctl.store import open_store, reads

    assert invoke("train", "-p", "quick", *set_args(*TINY, "training.epochs=3")).exit_code == 0
    trained = invoke("stage2", 1, "--traces", 2, "--sampler", "iid")
    assert trained.exit_code == 0, trained.output
    solved = invoke("stage2", 1, "--traces", 2, "--sampler", "iid", "--decoder", "solve")
    assert solved.exit_code == 0, solved.output
    control = invoke("stage2", 1, "--control", "parent", "--decoder", "solve")
    assert control.exit_code == 0, control.output
    store = open_store(isolated_db)
    children = reads.children(store, 1)
    assert len(children) == 5
    by_seed = {}
    for child in children:
        assert child.status == "completed", child.error
        twins = by_seed.setdefault((child.extra["control"], child.extra["sampling_seed"]), {})
        twins[child.config["stage2"]["decoder"]] = child
    for (kind, _), twins in by_seed.items():
        if kind == "gmm":
            assert twins["solve"].last_test_loss <= twins["train"].last_test_loss
            assert twins["solve"].epochs_done == 1
    ceiling = children[0].extra["parent_solved"]["loss"]
    parent_control = next(c for c in children if c.extra["control"] == "parent")
    assert parent_control.last_test_loss == pytest.approx(ceiling, rel=1e-6)
    shown = json.loads(invoke("show", 1, "--format", "json").output)
    methods = {m["method"]: m for m in shown["stage2"]}
    assert set(methods) >= {"gmm/iid", "gmm/iid (solved)", "parent (solved)"}
    for m in methods.values():
        assert m["ceiling"] == pytest.approx(ceiling)
        assert m["gap_to_ceiling"] == pytest.approx(m["final"] / ceiling - 1)
    assert "vs ceiling" in invoke("show", 1).output


def test_a_singular_system_is_solved_by_its_minimum_norm_solution():
    """A frozen encoder whose hidden units are linearly dependent (here: rows of zeros, no decoder L2)
    makes some outputs' systems singular; they get the least-squares minimum-norm solution (checked
    against LAPACK's gelsd) instead of failing the child, and the others their exact solve."""
    import torch

    from mftctl.config_input import load_config
    from mftctl.science.decoder import _solve, solve_decoder
    from mftctl.science.model import build_model

    generator = torch.Generator().manual_seed(0)
    systems = torch.randn(3, 6, 6, dtype=torch.float64, generator=generator)
    systems = systems @ systems.transpose(1, 2)
    systems[1] = torch.outer(torch.arange(6.0, dtype=torch.float64), torch.arange(6.0, dtype=torch.float64))
    rhs = torch.randn(3, 6, dtype=torch.float64, generator=generator)
    solved = _solve(systems.clone(), rhs)
    assert torch.allclose(solved[0], torch.linalg.solve(systems[0], rhs[0]))
    reference = torch.linalg.lstsq(systems[1], rhs[1].unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    assert torch.allclose(solved[1], reference)

    config = load_config("quick", None, ["data.d=32", "model.hidden_size=16", "training.decoder_regularization=0"])
    model = build_model(config)
    with torch.no_grad():
        model.fc1.weight[8:] = 0.0  # half the units silent: their hidden activations are all zero
        model.fc1.bias.zero_()
    decoder = solve_decoder(model, config, samples=5_000)
    assert torch.isfinite(decoder.weight).all() and torch.isfinite(torch.tensor(decoder.train_loss)).all()
