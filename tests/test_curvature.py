"""The curvature the Gibbs comparison divides by (science/curvature.py): the plain loss against the
training loop's own, and Hutchinson's Hessian diagonal against the exact Hessian from autograd."""

from __future__ import annotations

import torch

from mftctl.config import ExperimentConfig
from mftctl.science.curvature import hessian_diagonal, plain_loss
from mftctl.science.data import make_generator, two_hot_batch
from mftctl.science.losses import decoder_loss_parts
from mftctl.science.model import build_model


def _tiny() -> ExperimentConfig:
    config = ExperimentConfig()
    config.data.d, config.model.hidden_size = 8, 5
    config.model.encoder_initialization_scale = config.model.decoder_initialization_scale = 1.0
    config.training.decoder_regularization = 0.01
    return config


def test_the_plain_loss_is_the_training_loss():
    config = _tiny()
    torch.manual_seed(0)
    model = build_model(config)
    batch = two_hot_batch(256, config.data, make_generator(1, torch.device("cpu")))
    trained = decoder_loss_parts(model.hidden(batch.x), model.fc2, batch, config.loss, "dense").total
    assert torch.allclose(plain_loss(model, batch, config), trained, rtol=1e-5)


def test_hutchinsons_diagonal_matches_the_exact_hessian():
    config = _tiny()
    torch.manual_seed(0)
    model = build_model(config).double()
    batch = two_hot_batch(512, config.data, make_generator(2, torch.device("cpu")))
    batch = type(batch)(**{k: (v.double() if v.is_floating_point() else v) for k, v in vars(batch).items()})
    estimate = hessian_diagonal(model, batch, config, probes=3000, generator=torch.Generator().manual_seed(3))
    w1, w2 = model.fc1.weight.detach().clone(), model.fc2.weight.detach().clone()

    def loss_of(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            model.fc1.weight.copy_(w1)
            model.fc2.weight.copy_(w2)
        pred = torch.nn.functional.linear(
            model._sigma(torch.nn.functional.linear(batch.x, a, model.fc1.bias)), b, model.fc2.bias
        )
        on = torch.zeros_like(pred, dtype=torch.bool).scatter_(1, batch.idx, True)
        target = torch.zeros_like(pred).scatter_(1, batch.idx, batch.amps)
        from mftctl.science.losses import sample_weights

        w_on, w_off = sample_weights(pred.shape[1], config.loss)
        e = (pred - target).square()
        penalty = config.training.decoder_regularization * b.square().sum()
        return (w_on * e[on].sum() + w_off * e[~on].sum()) / pred.shape[0] + penalty

    h1 = torch.autograd.functional.hessian(lambda a: loss_of(a, w2), w1).reshape(w1.numel(), -1).diagonal()
    h2 = torch.autograd.functional.hessian(lambda b: loss_of(w1, b), w2).reshape(w2.numel(), -1).diagonal()
    for exact, est in ((h1, estimate["fc1.weight"].reshape(-1)), (h2, estimate["fc2.weight"].reshape(-1))):
        scale = exact.abs().mean()
        assert (est - exact).abs().mean() < 0.1 * scale, (est[:5], exact[:5])  # 3,000 probes: a few % noise
        assert torch.corrcoef(torch.stack([est, exact]))[0, 1] > 0.95
