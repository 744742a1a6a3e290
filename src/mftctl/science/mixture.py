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


def fit_mixture(points: np.ndarray, k: int, seed: int = 0) -> tuple[Mixture, float]:
    """Full-covariance GMM with k components; returns it (original units) and its BIC.

    Fitted on standardised points for numerical conditioning, then mapped back.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    center, scale = _scale(points)
    gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=seed, reg_covar=1e-6)
    std = (points - center) / scale
    with warnings.catch_warnings():  # fewer distinct points than components: BIC will say so
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(std)
    means = gmm.means_ * scale + center
    covs = gmm.covariances_ * np.outer(scale, scale)[None]
    order = np.argsort(-gmm.weights_)
    return Mixture(gmm.weights_[order], means[order], covs[order]), float(gmm.bic(std))


def select_by_bic(points: np.ndarray, max_k: int, seed: int = 0) -> tuple[Mixture, list[float]]:
    """Fit K = 1..max_k (at most one component per point) and keep the lowest BIC: a model of the
    cloud's shape, scale-free."""
    fits = [fit_mixture(points, k, seed) for k in range(1, max(1, min(max_k, len(points))) + 1)]
    bics = [bic for _, bic in fits]
    return fits[int(np.argmin(bics))][0], bics
