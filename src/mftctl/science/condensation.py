"""Early condensation of the encoder's rows (docs/science.md, "Condensation"): how many directions the
hidden units' input weights gather onto in the first steps of training from a small initialisation.

Zhou et al. (arXiv:2105.11686) count *row directions* of (W1, b1) — each row normalised, w and −w kept
apart — and find at most 2p of them early in training, p the activation's multiplicity at 0. This module
measures one snapshot of rows; the training loop takes the snapshots (`diagnostics.condensation_every`),
and `mftctl condensation RUN` reports their time course. Plain numpy and scikit-learn, no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Two rows share a direction when the cosine of their angle is at least this (average linkage over a
# direction's rows): about 26 degrees. Random rows in d + 1 = 129 dimensions have |cos| ~ 0.09.
SAME_DIRECTION_COS = 0.9
# A direction is a condensed one when it holds at least this many rows (a lone row is its own direction).
MIN_ROWS = 2

# The activation's multiplicity at 0 (its first non-zero Taylor coefficient's order): Zhou et al.'s p.
MULTIPLICITY = {"tanh": 1, "relu": 1, "square": 2, "tanh3": 3, "cube": 3}


@dataclass
class Condensation:
    step: int  # optimisation steps taken when the rows were read (0: the initialisation)
    directions: int  # condensed directions: groups of at least MIN_ROWS rows within SAME_DIRECTION_COS
    condensed_share: float  # the share of rows that lie in one of them
    largest: int  # rows in the largest direction
    effective_rank: float  # (Σσ²)² / Σσ⁴ of the normalised rows: 1 when all rows are ±one direction, h orthogonal
    nearest_cos: float  # each row's largest cosine with another row, averaged
    ones_alignment: float  # each row's |cos| with the all-ones input direction (bias left out), averaged
    row_norm: float  # the rows' mean Euclidean norm: how far from the small initialisation they are

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unit_rows(w1: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """The rows (W1[j], b1[j]) normalised to unit length (a zero row stays zero)."""
    rows = np.concatenate([np.asarray(w1, dtype=np.float64), np.asarray(b1, dtype=np.float64)[:, None]], axis=1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def direction_labels(units: np.ndarray, same_cos: float = SAME_DIRECTION_COS) -> np.ndarray:
    """Each unit row's direction: average-linkage agglomerative clustering on cosine distance, cut at
    1 − same_cos. w and −w are far apart on that distance, so they are never one direction."""
    from sklearn.cluster import AgglomerativeClustering

    if len(units) < 2:
        return np.zeros(len(units), dtype=int)
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=1.0 - same_cos
    )
    return model.fit_predict(units)


def measure_condensation(
    w1: np.ndarray, b1: np.ndarray, step: int = 0, *, same_cos: float = SAME_DIRECTION_COS, min_rows: int = MIN_ROWS
) -> Condensation:
    """The condensation numbers of one snapshot of the encoder's rows (W1 is h × d, b1 has h entries)."""
    w1 = np.asarray(w1, dtype=np.float64)
    units = unit_rows(w1, b1)
    h = len(units)
    sizes = np.bincount(direction_labels(units, same_cos))
    condensed = sizes[sizes >= min_rows]
    spectrum = np.linalg.svd(units, compute_uv=False) ** 2
    effective_rank = float(spectrum.sum() ** 2 / (spectrum**2).sum()) if spectrum.any() else 0.0
    cos = units @ units.T
    np.fill_diagonal(cos, -np.inf)
    nearest = float(cos.max(axis=1).mean()) if h > 1 else 0.0
    norms = np.linalg.norm(w1, axis=1)
    ones = np.abs(w1.sum(axis=1)) / np.sqrt(w1.shape[1])
    alignment = float(np.mean(np.divide(ones, norms, out=np.zeros_like(ones), where=norms > 0)))
    rows = np.concatenate([w1, np.asarray(b1, dtype=np.float64)[:, None]], axis=1)
    return Condensation(
        step=int(step),
        directions=int(len(condensed)),
        condensed_share=float(condensed.sum() / h) if h else 0.0,
        largest=int(sizes.max()) if len(sizes) else 0,
        effective_rank=effective_rank,
        nearest_cos=nearest,
        ones_alignment=alignment,
        row_norm=float(np.linalg.norm(rows, axis=1).mean()),
    )


def bound(activation: str) -> int | None:
    """Zhou et al.'s bound on the early directions, 2p, for an activation (None where p is not known)."""
    p = MULTIPLICITY.get(activation)
    return None if p is None else 2 * p
