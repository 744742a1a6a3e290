"""TwoLayerNet: f(x) = W2 · σ(W1 x + b1) + b2, σ = tanh³ (the research's; model.activation picks another)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..config import ExperimentConfig


class _Tanh3(torch.autograd.Function):
    """tanh(z)^3 saving only tanh(z); its backward 3t²(1 − t²)·g is four in-place passes over one new
    tensor, where autograd would keep both tanh's output and pow's input and run two backward kernels
    (a step's elementwise work is counted in passes: docs/performance.md has what one costs)."""

    @staticmethod
    def forward(ctx, z):
        t = torch.tanh(z)
        ctx.save_for_backward(t)
        return t.pow(3)

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        u = t.square()
        return u.addcmul_(u, u, value=-1.0).mul_(grad).mul_(3.0)


def tanh_cubed(z: torch.Tensor) -> torch.Tensor:
    return _Tanh3.apply(z) if torch.is_grad_enabled() and z.requires_grad else torch.tanh(z).pow(3)


# σ per model.activation. tanh3 keeps its fused backward; the others are torch's own (autograd's
# backward), each an elementwise function of W1 x + b1, so the dense and the gram loss kernels serve all.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh3": tanh_cubed,
    "tanh": torch.tanh,
    "cube": lambda z: z.pow(3),
    "relu": torch.relu,
    "square": torch.square,
}


class TwoLayerNet(nn.Module):
    def __init__(
        self,
        d: int,
        hidden_size: int,
        encoder_scale: float = 1.0,
        decoder_scale: float = 1.0,
        activation: str = "tanh3",
    ):
        super().__init__()
        self.activation = activation
        self._sigma = ACTIVATIONS[activation]
        self.fc1 = nn.Linear(d, hidden_size)  # encoder W1: (h, d)
        self.fc2 = nn.Linear(hidden_size, d)  # decoder W2: (d, h)
        with torch.no_grad():
            nn.init.xavier_normal_(self.fc1.weight).mul_(encoder_scale)
            nn.init.xavier_normal_(self.fc2.weight).mul_(decoder_scale)
            self.fc1.bias.zero_()
            self.fc2.bias.zero_()

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's activations σ(W1 x + b1), (B, h): the training loss starts from these."""
        return self._sigma(self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.hidden(x))

    def freeze_encoder(self) -> None:
        self.fc1.weight.requires_grad_(False)
        self.fc1.bias.requires_grad_(False)

    def weight_pairs(self) -> torch.Tensor:
        """All h·d pairs (W1[i, j], W2[j, i]) as an (h·d, 2) tensor, row i·d + j."""
        enc = self.fc1.weight.detach()
        dec = self.fc2.weight.detach().t()
        return torch.stack((enc.reshape(-1), dec.reshape(-1)), dim=1)


def build_model(config: ExperimentConfig) -> TwoLayerNet:
    """The network of a run's config, freshly initialised: the one place a model is built from a config
    (training, resume, stage-2 children and parents, diagnose, plot and reanalyse all come here), so a
    new model key is read in one place."""
    m = config.model
    return TwoLayerNet(
        config.data.d, m.hidden_size, m.encoder_initialization_scale, m.decoder_initialization_scale, m.activation
    )
