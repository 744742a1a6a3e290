import math
import subprocess
import sys

import pytest
import torch

from helpers import TINY
from mftctl.config import DataConfig, LossConfig
from mftctl.config_input import load_config
from mftctl.science.baselines import reference_losses
from mftctl.science.data import active_indices, fixed_test_set, make_generator, two_hot_batch
from mftctl.science.losses import l2_penalty, loss_parts
from mftctl.science.model import TwoLayerNet
from mftctl.science.optim import SGLD, lr_factor
from mftctl.science.train import train


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_active_indices_are_distinct_and_in_range(k):
    idx = active_indices(20_000, 7, k, make_generator(0, torch.device("cpu")))
    assert idx.shape == (20_000, k)
    assert idx.min() >= 0 and idx.max() < 7
    ordered = idx.sort(dim=1).values
    assert (ordered[:, 1:] > ordered[:, :-1]).all()  # k distinct indices per row (nothing to compare for k = 1)
    assert len(torch.unique(idx)) == 7  # every index is drawn


def test_two_hot_indices_are_uniform():
    idx = active_indices(200_000, 10, 2, make_generator(1, torch.device("cpu")))
    counts = torch.bincount(idx.flatten(), minlength=10).double() / idx.numel()
    assert torch.allclose(counts, torch.full((10,), 0.1, dtype=torch.double), atol=0.005)


def test_batch_values_and_noise():
    cfg = DataConfig(d=64, noise_variance=0.01, amplitude_min=0.5, amplitude_max=1.5, n_train=10, n_test=10)
    b = two_hot_batch(50_000, cfg, make_generator(2, torch.device("cpu")))
    assert ((b.amps >= 0.5) & (b.amps <= 1.5)).all()
    noise = b.x - b.clean()
    assert noise.std().item() == pytest.approx(0.1, rel=0.02)
    assert (b.on_mask().sum(dim=1) == 2).all()


def test_test_set_is_fixed_by_seed():
    cfg = DataConfig(d=16, n_test=100)
    a, b = fixed_test_set(cfg, 7, torch.device("cpu")), fixed_test_set(cfg, 7, torch.device("cpu"))
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, fixed_test_set(cfg, 8, torch.device("cpu")).x)


def _hand_losses(pred, batch, cfg):
    clean, on = batch.clean(), batch.on_mask()
    if cfg.loss_type == "scaled_mse":
        loss_on = cfg.lambda_on * (((pred - clean) * on) ** 2).sum(dim=1).mean()
        loss_off = cfg.lambda_off * ((pred * (1 - on)) ** 2).sum(dim=1).mean()
    else:
        loss_on = (((pred - clean) * on) ** 2).mean()
        loss_off = ((pred * (1 - on)) ** 2).mean()
    return loss_on, loss_off


@pytest.mark.parametrize("loss_type", ["scaled_mse", "mse"])
def test_losses_match_a_hand_computation(loss_type):
    cfg = LossConfig(loss_type=loss_type, lambda_on=16.0)
    batch = two_hot_batch(64, DataConfig(d=20), make_generator(3, torch.device("cpu")))
    pred = torch.randn(64, 20, dtype=torch.float64)
    batch.x, batch.amps = batch.x.double(), batch.amps.double()
    parts = loss_parts(pred, batch, cfg)
    on, off = _hand_losses(pred, batch, cfg)
    assert parts.on.item() == pytest.approx(on.item(), rel=1e-10)
    assert parts.off.item() == pytest.approx(off.item(), rel=1e-10)
    assert parts.total.item() == pytest.approx((on + off).item(), rel=1e-10)
    if loss_type == "mse":
        assert parts.total.item() == pytest.approx(((pred - batch.clean()) ** 2).mean().item(), rel=1e-10)


def test_output_zero_scores_two_lambda_on_a_squared():
    config = load_config("quick", overrides=["data.d=64"])
    refs = reference_losses(config)
    assert refs["zero"]["loss"] == pytest.approx(2 * 16 * 1.0, rel=1e-6)
    assert refs["bayes"]["loss"] < refs["identity"]["loss"] < refs["zero"]["loss"]


def test_l2_penalty():
    model = TwoLayerNet(4, 3)
    expected = 0.5 * model.fc1.weight.square().sum() + 0.25 * model.fc2.weight.square().sum()
    assert l2_penalty(model, 0.5, 0.25).item() == pytest.approx(expected.item())


def test_model_shapes_and_pairs():
    model = TwoLayerNet(8, 5, 0.03, 0.03)
    assert model.fc1.weight.shape == (5, 8) and model.fc2.weight.shape == (8, 5)
    assert (model.fc1.bias == 0).all() and (model.fc2.bias == 0).all()
    assert model(torch.randn(3, 8)).shape == (3, 8)
    pairs = model.weight_pairs()
    assert pairs.shape == (40, 2)
    i, j = 3, 6
    assert pairs[i * 8 + j, 0] == model.fc1.weight[i, j] and pairs[i * 8 + j, 1] == model.fc2.weight[j, i]
    # Xavier-normal times the scale
    big = TwoLayerNet(1000, 1000, 0.5, 1.0)
    assert big.fc1.weight.std().item() == pytest.approx(0.5 * math.sqrt(2 / 2000), rel=0.02)


def test_sgld_noise_has_the_langevin_scale():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(200_000))
    opt = SGLD([p], lr=0.01, temperature=0.5)
    p.grad = torch.zeros_like(p)
    opt.step()
    assert p.detach().std().item() == pytest.approx(math.sqrt(2 * 0.01 * 0.5), rel=0.01)
    p2 = torch.nn.Parameter(torch.ones(3))
    p2.grad = torch.full((3,), 2.0)
    SGLD([p2], lr=0.1, temperature=0.0).step()
    assert torch.allclose(p2.detach(), torch.full((3,), 0.8))


def test_sgld_state_round_trips():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = SGLD([p], lr=0.1, temperature=0.2)
    other = SGLD([torch.nn.Parameter(torch.zeros(3))], lr=1.0)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["temperature"] == 0.2


def test_warmup_cosine_schedule():
    cfg = load_config("quick", overrides=["training.lr_schedule=warmup_cosine", "training.warmup_fraction=0.1"])
    t = cfg.training
    assert lr_factor(0, 100, t) == pytest.approx(0.1)
    assert lr_factor(9, 100, t) == pytest.approx(1.0)
    assert lr_factor(10, 100, t) == pytest.approx(1.0)
    assert lr_factor(55, 100, t) == pytest.approx(0.5)
    assert lr_factor(99, 100, t) < 0.001


def test_training_lowers_the_loss_and_is_reproducible(tiny_config):
    a = train(tiny_config)
    b = train(tiny_config)
    assert a.epochs[-1].test_loss < a.epochs[0].test_loss < 32
    assert torch.equal(a.model.fc1.weight, b.model.fc1.weight)
    assert [e.test_loss for e in a.epochs] == [e.test_loss for e in b.epochs]
    c = train(tiny_config.model_copy(update={"seed": 1}))
    assert not torch.equal(a.model.fc1.weight, c.model.fc1.weight)


def test_sgld_run_trains(tiny_config):
    cfg = load_config(
        "quick_sgld",
        overrides=[
            "data.d=32",
            "model.hidden_size=16",
            "data.n_train=2000",
            "training.batch_size=500",
            "training.epochs=2",
            "training.enable_diagnostics=false",
        ],
    )
    result = train(cfg)
    assert all(math.isfinite(e.test_loss) for e in result.epochs)


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tiny_config):
    class Keep:
        def __init__(self):
            self.states = {}

        def on_step(self, *a):
            pass

        def on_epoch(self, r):
            pass

        def on_checkpoint(self, epoch, state):
            import copy

            self.states[epoch] = copy.deepcopy(state)

    cfg = tiny_config.model_copy(update={"training": tiny_config.training.model_copy(update={"epochs": 3})})
    sink = Keep()
    full = train(cfg, sink)
    resumed = train(cfg, resume=sink.states[1])
    assert [e.epoch for e in resumed.epochs] == [2, 3]
    assert torch.equal(full.model.fc2.weight, resumed.model.fc2.weight)
    assert resumed.epochs[-1].test_loss == full.epochs[-1].test_loss


@pytest.mark.parametrize("loss_type", ["scaled_mse", "mse"])
def test_fused_loss_gradient_matches_autograd(loss_type):
    cfg = LossConfig(loss_type=loss_type, lambda_on=16.0, lambda_off=0.5)
    batch = two_hot_batch(16, DataConfig(d=12), make_generator(4, torch.device("cpu")))
    batch.x, batch.amps = batch.x.double(), batch.amps.double()
    pred = torch.randn(16, 12, dtype=torch.float64, requires_grad=True)
    fused = loss_parts(pred, batch, cfg)
    (fused_grad,) = torch.autograd.grad(fused.total, pred)
    hand_on, hand_off = _hand_losses(pred, batch, cfg)
    (hand_grad,) = torch.autograd.grad(hand_on + hand_off, pred)
    assert torch.allclose(fused_grad, hand_grad, rtol=1e-12, atol=1e-14)
    assert fused.total.item() == pytest.approx((hand_on + hand_off).item(), rel=1e-12)
    assert not fused.on.requires_grad and not fused.off.requires_grad


def test_tanh_cubed_gradient():
    from mftctl.science.model import tanh_cubed

    z = torch.randn(50, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tanh_cubed, (z,))
    with torch.no_grad():
        assert torch.allclose(tanh_cubed(z), torch.tanh(z) ** 3)


@pytest.mark.parametrize("optimizer", ["adam", "sgld"])
def test_training_checkpointing_and_resuming_never_import_torch_dynamo(optimizer):
    """torch.optim imports torch._dynamo (a second of every worker's start-up) on its first optimizer unless
    mftctl hands its wrappers the plain functions (science/optim.skip_lazy_dynamo_import, which the worker
    calls as it starts). A fresh process, set up as a worker, since this one may have imported dynamo."""
    code = f"""
import copy, sys
from mftctl.runs.worker import _prepare_process
_prepare_process()
from mftctl.config_input import load_config
from mftctl.science.train import train
sets = {TINY!r} + ["training.epochs=2", "training.optimizer={optimizer}", "training.temperature=0.001"]
config = load_config("quick", None, sets)
class Keep:
    states = {{}}
    def on_step(self, *a): pass
    def on_epoch(self, r): pass
    def on_checkpoint(self, epoch, state): self.states[epoch] = copy.deepcopy(state)
sink = Keep()
full = train(config, sink)
resumed = train(config, resume=sink.states[1])
assert resumed.epochs[-1].test_loss == full.epochs[-1].test_loss
print("torch._dynamo" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_mftctls_adam_steps_bit_for_bit_as_torchs():
    from mftctl.science.optim import Adam

    torch.manual_seed(0)
    start = [torch.randn(7, 5), torch.randn(5)]
    params = {kind: [torch.nn.Parameter(t.clone()) for t in start] for kind in ("ours", "torch")}
    opts = {"ours": Adam(params["ours"], lr=0.05), "torch": torch.optim.Adam(params["torch"], lr=0.05)}
    for _ in range(5):
        grads = [torch.randn_like(t) for t in start]
        for kind, opt in opts.items():
            for p, g in zip(params[kind], grads, strict=True):
                p.grad = g.clone()
            opt.step()
    for ours, theirs in zip(params["ours"], params["torch"], strict=True):
        assert torch.equal(ours, theirs) and not torch.equal(ours, start[0] if ours.dim() == 2 else start[1])
    reloaded = torch.optim.Adam([torch.nn.Parameter(t.clone()) for t in start], lr=0.05)
    reloaded.load_state_dict(opts["ours"].state_dict())  # a checkpoint of ours resumes in torch's, and back
    assert torch.equal(reloaded.state_dict()["state"][0]["exp_avg"], opts["torch"].state_dict()["state"][0]["exp_avg"])


class _SlowTailSink:
    """Records epochs and checkpoints after a pause (as a busy database or disk would), and can stop
    training (as a signal would) or fail a checkpoint write."""

    def __init__(self, stop_at_epoch=None, fail_checkpoint_at=None, pause_s=0.3):
        self.epochs, self.checkpoints, self.states = [], [], {}
        self.stop_at_epoch, self.fail_checkpoint_at, self.pause_s = stop_at_epoch, fail_checkpoint_at, pause_s

    def on_step(self, epoch, step, steps, loss):
        if epoch == self.stop_at_epoch and step == 1:
            raise KeyboardInterrupt("stopped")

    def on_epoch(self, record):
        import time

        time.sleep(self.pause_s)
        self.epochs.append(record.epoch)

    def on_checkpoint(self, epoch, state):
        if epoch == self.fail_checkpoint_at:
            raise OSError(28, "No space left on device")
        self.checkpoints.append(epoch)
        self.states[epoch] = state


def _epochs(cfg, n, **training):
    return cfg.model_copy(update={"training": cfg.training.model_copy(update={"epochs": n, **training})})


@pytest.mark.parametrize("overlap", [True, False])
def test_a_stopped_run_still_records_the_epoch_before_the_stop(tiny_config, overlap):
    """Each epoch's record and checkpoint are written on a tail thread while the next epoch trains (on a
    GPU; here asked for); a stop during epoch 3 must not lose epoch 2's, which was still being written."""
    sink = _SlowTailSink(stop_at_epoch=3)
    with pytest.raises(KeyboardInterrupt):
        train(_epochs(tiny_config, 5), sink, overlap_tails=overlap)
    assert sink.epochs == [1, 2] and sink.checkpoints == [1, 2]


@pytest.mark.parametrize("overlap", [True, False])
def test_a_failed_checkpoint_write_fails_the_training(tiny_config, overlap):
    sink = _SlowTailSink(fail_checkpoint_at=1, pause_s=0)
    with pytest.raises(OSError, match="No space left"):
        train(_epochs(tiny_config, 4), sink, overlap_tails=overlap)
    assert sink.epochs[0] == 1 and len(sink.epochs) <= 2  # it surfaces at the next epoch's end at the latest


def test_each_epochs_measurement_is_of_that_epochs_weights(tiny_config):
    """The tail measures a copy taken at the epoch's end, not the weights the next epoch is changing."""
    from mftctl.science.diagnostics import weight_metrics

    sink = _SlowTailSink(pause_s=0.1)
    config = _epochs(tiny_config, 3, enable_diagnostics=True)
    result = train(config, sink, overlap_tails=True)
    assert [r.epoch for r in result.epochs] == [1, 2, 3]
    for record in result.epochs:
        model = sink.states[record.epoch]["model"]
        assert record.diagnostics == weight_metrics(model["fc1.weight"], model["fc2.weight"], config)
    assert result.epochs[0].diagnostics != result.epochs[2].diagnostics


def test_overlapped_tails_change_no_number(tiny_config):
    config = _epochs(tiny_config, 3, enable_diagnostics=True)
    inline, overlapped = (train(config, overlap_tails=o).epochs for o in (False, True))
    for a, b in zip(inline, overlapped, strict=True):
        assert (a.epoch, a.train_loss, a.test_loss) == (b.epoch, b.train_loss, b.test_loss)
        assert a.diagnostics == b.diagnostics
