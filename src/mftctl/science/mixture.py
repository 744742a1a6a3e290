"""Gaussian mixtures on weight pairs: BIC model choice (diagnose) and fit + sample (stage 2)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture


@dataclass
class Mixture:
    """A fitted mixture in the pairs' own units: weights (K,), means (K, D), covariances (K, D, D)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @property
    def k(self) -> int:
        return len(self.weights)

    def as_dict(self) -> dict:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Mixture:
        return cls(*(np.asarray(data[key], dtype=np.float64) for key in ("weights", "means", "covariances")))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws, vectorised: a component per draw, then one batched Cholesky transform."""
        comp = rng.choice(self.k, size=n, p=self.weights / self.weights.sum())
        chol = np.linalg.cholesky(self.covariances + 1e-18 * np.eye(self.means.shape[1]))
        z = rng.standard_normal((n, self.means.shape[1]))
        return self.means[comp] + np.einsum("nij,nj->ni", chol[comp], z)


def _scale(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = points.mean(axis=0)
    scale = points.std(axis=0)
    scale[scale == 0] = 1.0
    return center, scale


def _fit_standardised(std: np.ndarray, k: int, seed: int, start: GaussianMixture | None = None) -> GaussianMixture:
    """One EM fit on standardised points: from k-means (sklearn's default), or warm from `start`'s
    weights, means and precisions."""

    warm = {}
    if start is not None:  # the cheap initialiser: its draw is replaced by start's parameters anyway
        warm = {
            "init_params": "random_from_data",
            "weights_init": start.weights_,
            "means_init": start.means_,
            "precisions_init": start.precisions_,
        }
    gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=seed, reg_covar=1e-6, **warm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than components: BIC says so
        gmm.fit(std)
    return gmm


def _in_original_units(gmm: GaussianMixture, center: np.ndarray, scale: np.ndarray) -> Mixture:
    means = gmm.means_ * scale + center
    covs = gmm.covariances_ * np.outer(scale, scale)[None]
    order = np.argsort(-gmm.weights_)
    return Mixture(gmm.weights_[order], means[order], covs[order])


def one_thread():
    """BLAS and OpenMP on one thread (threadpoolctl, which scikit-learn itself depends on): the products of
    a 2-D mixture are (n, 2) by (2, 2), too thin to gain from threads, and on a loaded machine the threads
    spin against each other — on one, K = 1..6 fits 2.5× faster beside a training run on this 2-core CPU
    (docs/performance.md), and sums the same way on every machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def fit_mixture(points: np.ndarray, k: int, seed: int = 0) -> tuple[Mixture, float]:
    """Full-covariance GMM with k components; returns it (original units) and its BIC.

    Fitted on standardised points for numerical conditioning, then mapped back.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    center, scale = _scale(points)
    std = (points - center) / scale
    with one_thread():
        gmm = _fit_standardised(std, k, seed)
        return _in_original_units(gmm, center, scale), float(gmm.bic(std))


# BIC chooses K on this many uniform points; the chosen K is then fitted once on all of them, warm from
# the subsample's fit. A blob holding 0.5% of the pairs still has 100 points here, and a K = 1..6 scan
# costs a tenth of what it costs on 200,000 (docs/performance.md: chosen K and mixture unchanged).
SELECTION_SAMPLE = 20_000


def select_by_bic(
    points: np.ndarray, max_k: int, seed: int = 0, selection: int | None = SELECTION_SAMPLE
) -> tuple[Mixture, list[float], int]:
    """Fit K = 1..max_k (at most one component per point) on a seeded uniform subsample of `selection`
    points (all of them when None or fewer), keep the lowest BIC, and fit that K again on all points,
    warm-started from its subsample fit: a model of the cloud's shape, scale-free. Returns the mixture,
    the BIC of each K on the subsample, and the subsample's size."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    center, scale = _scale(points)
    std = (points - center) / scale
    chosen = std
    if selection is not None and len(std) > selection:
        pick = np.random.default_rng(seed).choice(len(std), size=selection, replace=False)
        chosen = std[np.sort(pick)]
    with one_thread():
        fits = [_fit_standardised(chosen, k, seed) for k in range(1, max(1, min(max_k, len(chosen))) + 1)]
        bics = [float(gmm.bic(chosen)) for gmm in fits]
        best = fits[int(np.argmin(bics))]
        if chosen is not std:
            best = _fit_standardised(std, best.n_components, seed, start=best)
    return _in_original_units(best, center, scale), bics, len(chosen)
