"""TwoLayerNet: f(x) = W2 · tanh(W1 x + b1)^3 + b2."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig


class TwoLayerNet(nn.Module):
    def __init__(self, d: int, hidden_size: int, encoder_scale: float = 1.0, decoder_scale: float = 1.0):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden_size)  # encoder W1: (h, d)
        self.fc2 = nn.Linear(hidden_size, d)  # decoder W2: (d, h)
        with torch.no_grad():
            nn.init.xavier_normal_(self.fc1.weight).mul_(encoder_scale)
            nn.init.xavier_normal_(self.fc2.weight).mul_(decoder_scale)
            self.fc1.bias.zero_()
            self.fc2.bias.zero_()

    @classmethod
    def from_config(cls, d: int, cfg: ModelConfig) -> TwoLayerNet:
        return cls(d, cfg.hidden_size, cfg.encoder_initialization_scale, cfg.decoder_initialization_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)).pow(3))

    def freeze_encoder(self) -> None:
        self.fc1.weight.requires_grad_(False)
        self.fc1.bias.requires_grad_(False)

    def weight_pairs(self) -> torch.Tensor:
        """All h·d pairs (W1[i, j], W2[j, i]) as an (h·d, 2) tensor, row i·d + j."""
        enc = self.fc1.weight.detach()
        dec = self.fc2.weight.detach().t()
        return torch.stack((enc.reshape(-1), dec.reshape(-1)), dim=1)
