"""Stage-2 encoder samplers: new encoders drawn from a parent's weight-pair statistics, keeping more or
less of how the parent arranges them per hidden unit (row i of W1 with column i of W2).

    iid       every entry drawn from the pair mixture on its own: keeps the cloud (the blobs and their
              masses), destroys everything per row.
    row       per row, the number of outer-blob entries of a random parent row; which outer blob each
              one is, drawn from the outer blobs' weights; positions uniform; the rest from the centre
              blob. Keeps how many outliers a hidden unit has, destroys their ± composition.
    row-sign  per row, the exact blob composition of a random parent row (e.g. one + and one − outlier),
              positions uniform, the whole row's sign flipped with probability 1/2 — the tanh³ symmetry
              (W1[i, :], W2[:, i]) -> −(W1[i, :], W2[:, i]) leaves the network's function unchanged.
    shuffle   the parent's own encoder with each row's entries permuted independently: keeps every row's
              values exactly, destroys which inputs share a hidden unit. (Permuting whole rows or whole
              columns is a symmetry of the task and would change nothing.)

Pure numpy: each function takes the mixture, the parent's statistics and a generator, returns arrays.
"""

from __future__ import annotations

import numpy as np

from .mixture import Mixture


def assign(mixture: Mixture, points: np.ndarray) -> np.ndarray:
    """Each point's most probable component (the posterior's argmax)."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    log_p = np.empty((len(points), mixture.k))
    for c in range(mixture.k):
        cov = mixture.covariances[c] + 1e-18 * np.eye(points.shape[1])
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (points - mixture.means[c]).T)
        log_det = 2 * np.log(np.diag(chol)).sum()
        log_p[:, c] = np.log(mixture.weights[c]) - 0.5 * (z**2).sum(axis=0) - 0.5 * log_det
    return log_p.argmax(axis=1)


def row_compositions(mixture: Mixture, points: np.ndarray, h: int) -> np.ndarray:
    """(h, K) counts: how many of each parent row's entries fall in each component (component 0, the
    heaviest, is the centre blob). `points` are the h·d pairs in row order (row i·d + j)."""
    labels = assign(mixture, points).reshape(h, -1)
    return np.stack([(labels == c).sum(axis=1) for c in range(mixture.k)], axis=1)


def _from_components(mixture: Mixture, components: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from the given component for every entry (any shape); returns shape + (D,)."""
    flat = components.reshape(-1)
    chol = np.linalg.cholesky(mixture.covariances + 1e-18 * np.eye(mixture.means.shape[1]))
    z = rng.standard_normal((len(flat), mixture.means.shape[1]))
    draws = mixture.means[flat] + np.einsum("nij,nj->ni", chol[flat], z)
    return draws.reshape(*components.shape, -1)


def _place(counts: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """A row of d component labels: counts[c] entries of each outer component c >= 1 at uniformly random
    distinct positions, the centre (0) elsewhere."""
    row = np.zeros(d, dtype=np.int64)
    outer = np.repeat(np.arange(len(counts)), counts)[counts[0] :]  # the labels of the outer entries
    outer = outer[:d]
    row[rng.choice(d, size=len(outer), replace=False)] = outer
    return row


def sample_pairs(
    sampler: str,
    mixture: Mixture,
    compositions: np.ndarray | None,
    h: int,
    d: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(h, d, D) draws for the samplers that use the mixture (iid, row, row-sign)."""
    if sampler == "iid":
        return mixture.sample(h * d, rng).reshape(h, d, -1)
    if compositions is None:
        raise ValueError(f"sampler {sampler!r} needs the parent's row compositions")
    parent_rows = rng.integers(len(compositions), size=h)
    labels = np.empty((h, d), dtype=np.int64)
    outer_weights = mixture.weights[1:] / mixture.weights[1:].sum() if mixture.k > 1 else None
    for i, r in enumerate(parent_rows):
        counts = compositions[r].copy()
        if sampler == "row" and outer_weights is not None:
            n_outer = int(counts[1:].sum())
            counts[1:] = rng.multinomial(n_outer, outer_weights)
        counts[0] = d - counts[1:].sum()
        labels[i] = _place(counts, d, rng)
    draws = _from_components(mixture, labels, rng)
    if sampler == "row-sign":
        draws *= rng.choice((-1.0, 1.0), size=(h, 1, 1))
    return draws


def shuffle_rows(encoder: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The encoder with each row's entries permuted independently."""
    return rng.permuted(encoder, axis=1)
