"""`mftctl theory`: the ansatz's code has exact degrees, its predicted loss is the loss of the ansatz network
evaluated directly (a dense forward pass and the loss written out, not the solver's own bookkeeping), the
command prints and writes what it says, `--given` holds a trained run against it, and bad input is one
line with nothing written."""

import json

import numpy as np
import pytest
import torch

from helpers import SETS, invoke, one_line_refusal


@pytest.mark.parametrize(("d", "h", "k"), [(32, 16, 4), (40, 16, 6), (128, 64, 11)])
def test_the_ansatz_code_has_exact_degrees(d, h, k):
    from mftctl.science.samplers import crosstalk, curveball
    from mftctl.science.theory import ansatz_signs

    rng = np.random.default_rng(0)
    signs = ansatz_signs(d, h, k, rng)
    rows, columns = (signs != 0).sum(axis=1), (signs != 0).sum(axis=0)
    assert (rows == k).all()  # every unit exactly K outliers
    assert set(columns) <= {k * h // d, -(-k * h // d)} and columns.sum() == k * h  # inputs covered evenly
    # Annealed: below a random-signed code with the same support.
    random_code = np.where(curveball(signs != 0, rng), rng.choice([-1, 1], size=signs.shape), 0)
    assert crosstalk(signs) < crosstalk(random_code)


def test_the_predicted_loss_is_the_ansatz_networks_loss_evaluated_directly():
    from mftctl.config_input import load_config
    from mftctl.science.data import fixed_test_set
    from mftctl.science.decoder import solve_decoder
    from mftctl.science.model import build_model
    from mftctl.science.theory import ansatz_encoder, ansatz_point, predict

    config = load_config("quick", None, ["data.d=32", "model.hidden_size=16", "data.n_test=2000"])
    prediction = predict(config, [2, 4], [1.0, 1.5], 0.2, samples=20_000)
    assert prediction.best == min(prediction.surface, key=lambda p: p.loss) and len(prediction.surface) == 4
    masses = [b["mass"] for b in prediction.blobs()]
    assert sum(masses) == pytest.approx(1) and masses[1] == masses[2] == prediction.best.k / 64

    for point in prediction.surface:
        signs, unit_normal = ansatz_point(config, point.k)
        model = build_model(config)
        with torch.no_grad():
            model.fc1.weight.copy_(torch.from_numpy(ansatz_encoder(signs, point.a, 0.2, unit_normal)).float())
            model.fc1.bias.zero_()
            solved = solve_decoder(model, config, samples=20_000)
            test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
            pred = torch.tanh(test.x @ model.fc1.weight.t()) ** 3 @ solved.weight.t() + solved.bias
            target = torch.zeros_like(pred).scatter_(1, test.idx, test.amps)
            active = target != 0
            on = ((pred - target) ** 2 * active).sum(dim=1).mean()
            off = ((pred - target) ** 2 * ~active).sum(dim=1).mean()
        lam_on, lam_off = config.loss.lambda_on, config.loss.lambda_off
        assert config.loss.loss_type == "scaled_mse"
        direct = (lam_on * on + lam_off * off).item()
        assert point.loss == pytest.approx(direct, rel=1e-4)
        # b̄: the decoder under the outliers, sign-aligned.
        aligned = solved.weight.numpy().T[signs != 0] * signs[signs != 0]
        assert point.decoder_blob == pytest.approx(float(aligned.mean()), rel=1e-6)


def test_theory_from_the_command_line_and_given_a_run(isolated_db, tmp_path):
    figure = tmp_path / "surface.png"
    args = ["theory", "quick", "--set", "data.d=32", "--set", "model.hidden_size=16", "--k", "2,4", "--a", "1,1.5"]
    done = invoke(*args, "--samples", "20000", "--out", figure, "--format", "json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["best"] == min(result["surface"], key=lambda p: p["loss"]) and figure.stat().st_size > 10_000
    assert [b["name"] for b in result["blobs"]] == ["centre", "+", "-"]
    import mftctl

    same = mftctl.predict_blobs(
        "quick", set={"data.d": 32, "model.hidden_size": 16}, k=[2, 4], a=[1, 1.5], samples=20000
    )
    assert same["surface"] == result["surface"] and same["blobs"] == result["blobs"]  # the command, from Python
    table = invoke(*args, "--samples", "20000", "--out", figure)
    assert table.exit_code == 0 and f"K = {result['best']['k']} outliers per unit" in table.output

    # A small demo-recipe run whose three blobs form in 8 epochs (about a second of training).
    blobs = ["data.d=64", "model.hidden_size=32", "data.n_train=20000", "data.n_test=1000", "training.batch_size=500"]
    blobs += ["training.learning_rate=0.1", "training.epochs=8", "training.diagnostic_sample_size=500"]
    trained = invoke("train", "--preset", "demo", *[x for s in blobs for x in ("--set", s)], "--name", "p")
    assert trained.exit_code == 0, trained.output
    given = invoke("theory", "--given", "p", "--samples", "20000", "--format", "json")
    assert given.exit_code == 0, given.output
    report = json.loads(given.output)
    assert report["run"] == 1 and report["epoch"] == 8 and report["measured"]["a"] > 0.5
    assert 1 <= report["ansatz"]["k"] == round(report["measured"]["k"]) <= 64
    assert report["exact_decoder"]["loss"] < report["trained"]["loss"]  # the solve beats Adam's decoder
    # The exact decoder puts the outer decoder blob where training did (the 5%, here 10% at this size).
    assert report["exact_decoder"]["decoder_blob"] == pytest.approx(report["trained"]["decoder_blob"], rel=0.1)


def test_theory_refusals_are_one_line_and_write_nothing(isolated_db, tmp_path):
    figure = tmp_path / "never.png"
    small = ["--set", "data.d=32", "--set", "model.hidden_size=16", "--out", figure]
    one_line_refusal(invoke("theory", "quick", *small, "--set", "model.activation=square"), "square (even)", "odd")
    one_line_refusal(invoke("theory", "nonesuch", *small), "unknown preset 'nonesuch'")
    one_line_refusal(invoke("theory", "quick", *small, "--k", "0,4"), "--k values must be whole numbers in 1..32")
    one_line_refusal(invoke("theory", "quick", *small, "--k", "two"), "--k takes comma-separated numbers")
    one_line_refusal(invoke("theory", "quick", *small, "--a", "-1"), "--a values must be positive")
    one_line_refusal(invoke("theory", "quick", *small, "--epoch", "3"), "--epoch goes with --given")
    one_line_refusal(invoke("theory", "--given", "99"), "no database")  # no store at all here yet
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.checkpoint_every=0").exit_code == 0
    one_line_refusal(invoke("theory", "--given", "99"), "no run with id 99")
    one_line_refusal(invoke("theory", "--given", "1"), "checkpoint")
    one_line_refusal(invoke("theory", "quick", "--given", "1"), "leave out the preset")
    assert not figure.exists()
