"""Blobs predicted rather than measured (docs/science.md, "The ansatz"): an encoder built from a few scalars —
every hidden unit with exactly K outliers at ±a, every input covered by K·h/d units (as evenly as the
integers allow), the outliers' signs annealed to cancel between units, every other entry N(0, σ_c) — its
decoder solved exactly, its test loss on the run's own test set. Minimised over K and a, it says which
blobs the loss alone prefers; held beside a trained run, which part of the structure the dynamics chose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..config import ExperimentConfig
from .decoder import solve_decoder, with_decoder
from .model import build_model
from .samplers import fresh_code

SCAN_SAMPLES = 100_000  # per ansatz point; the solved loss falls ~1/n: at demo shapes 100k is ~1% above 400k


@dataclass
class AnsatzPoint:
    """One (K, a) of the ansatz: its test loss with the decoder solved, and the decoder blob the solve
    puts under the outliers (b̄: the mean of sign · W2[j, i] over the outlier pairs)."""

    k: int
    a: float
    loss: float
    decoder_blob: float


@dataclass
class Prediction:
    d: int
    h: int
    centre_width: float
    best: AnsatzPoint
    surface: list[AnsatzPoint] = field(default_factory=list)

    def blobs(self) -> list[dict[str, object]]:
        """The predicted blobs: the centre, and the two outer ones at ±(a, b̄), each K/(2d) of the pairs."""
        k, a, b = self.best.k, self.best.a, self.best.decoder_blob
        outer = k / (2 * self.d)
        return [
            {"name": "centre", "centre": [0.0, 0.0], "mass": 1 - 2 * outer},
            {"name": "+", "centre": [a, b], "mass": outer},
            {"name": "-", "centre": [-a, -b], "mass": outer},
        ]

    def as_dict(self) -> dict[str, object]:
        return {
            "d": self.d,
            "h": self.h,
            "centre_width": self.centre_width,
            "best": asdict(self.best),
            "blobs": self.blobs(),
            "surface": [asdict(p) for p in self.surface],
        }


def ansatz_signs(d: int, h: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(h, d) int8 signed outlier pattern: every row exactly k outliers, every column covered ⌊k·h/d⌋ or
    ⌈k·h/d⌉ times (a circulant start, dealt afresh with random signs and annealed: samplers.fresh_code,
    which keeps both degrees)."""
    if not 1 <= k <= d:
        raise ValueError(f"K = {k} outliers per unit must lie in 1..{d}")
    start = (np.arange(h)[:, None] * k + np.arange(k)[None, :]) % d
    mask = np.zeros((h, d), dtype=bool)
    mask[np.arange(h)[:, None], start] = True
    return fresh_code(mask, rng)


def ansatz_encoder(signs: np.ndarray, a: float, centre_width: float, unit_normal: np.ndarray) -> np.ndarray:
    """The encoder of one ansatz point: the outliers at ±a, every other entry σ_c times `unit_normal`'s
    (one standard normal draw, shared by the points of one K)."""
    return np.where(signs != 0, a * signs, centre_width * unit_normal)


def ansatz_point(config: ExperimentConfig, k: int, rng_key: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The sign pattern and the centre's standard normal draw of K at this config, reproducibly."""
    rng = np.random.default_rng([config.seed, k] if rng_key is None else [config.seed, k, rng_key])
    d, h = config.data.d, config.model.hidden_size
    signs = ansatz_signs(d, h, k, rng)
    return signs, rng.normal(0.0, 1.0, size=signs.shape)


def decoder_blob(signs: np.ndarray, decoder: np.ndarray) -> float:
    """b̄: the mean of sign(W1[i, j]) · W2[j, i] over the outliers (decoder is (d, h), signs (h, d))."""
    s = np.asarray(signs)
    aligned = np.asarray(decoder).T[s != 0] * s[s != 0]
    return float(aligned.mean()) if aligned.size else 0.0


def evaluate_encoder(
    encoder: np.ndarray, config: ExperimentConfig, test, samples: int = SCAN_SAMPLES
) -> tuple[float, np.ndarray]:
    """The test loss of `encoder` (b1 = 0) with its decoder solved exactly, and that decoder (d, h)."""
    from .train import evaluate

    model = build_model(config)
    with torch.no_grad():
        model.fc1.weight.copy_(torch.from_numpy(np.ascontiguousarray(encoder)).float())
        model.fc1.bias.zero_()
    solved = solve_decoder(model, config, samples=samples)
    loss = evaluate(with_decoder(model, solved), test, config)[0]
    return loss, solved.weight.numpy()


def predict(
    config: ExperimentConfig,
    ks: list[int],
    amplitudes: list[float],
    centre_width: float,
    *,
    samples: int = SCAN_SAMPLES,
    on_point=None,
) -> Prediction:
    """The ansatz over every (K, a) of the grid (one sign pattern per K, shared by its a's, so that the
    surface along a is smooth), its best point by test loss. `on_point(done, total)` after each point."""
    from .data import fixed_test_set

    d, h = config.data.d, config.model.hidden_size
    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    surface, total = [], len(ks) * len(amplitudes)
    for k in ks:
        signs, unit_normal = ansatz_point(config, k)
        for a in amplitudes:
            encoder = ansatz_encoder(signs, a, centre_width, unit_normal)
            loss, decoder = evaluate_encoder(encoder, config, test, samples)
            surface.append(AnsatzPoint(k, float(a), loss, decoder_blob(signs, decoder)))
            if on_point is not None:
                on_point(len(surface), total)
    best = min(surface, key=lambda p: p.loss)
    return Prediction(d, h, centre_width, best, surface)
