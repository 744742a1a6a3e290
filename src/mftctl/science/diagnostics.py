"""Blob metrics on the weight pairs (W1[i, j], W2[j, i]).

Scale: every distance is measured in robust-sigma units of the pair cloud (per axis, 1.4826 × the
median absolute deviation about the median). The central blob holds nearly all pairs, so these units
are its width at any weight scale, and DBSCAN's eps means "half a central-blob sigma" for every run.

Rare blobs: the outer blobs may hold well under 1% of the pairs each. The sample is stratified: half
uniform over the pairs inside `tail_radius`, half from the pairs beyond it, each point carrying the
number of pairs it stands for. DBSCAN's density test is exact: the number of pairs within eps
of a sampled point (a KD-tree count), as a share of all pairs, against `dbscan_min_fraction`. Core
sampled points within eps of each other form a cluster, as in DBSCAN; masses, centres, the noise
fraction and the silhouette are weighted back to the whole population. The density itself is
counted on a larger stratified sample (every tail pair, a weighted share of the core) for speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import silhouette_samples
from sklearn.neighbors import KDTree, radius_neighbors_graph

from ..config import DiagnosticsConfig, ExperimentConfig


def pairs_of(model: torch.nn.Module) -> np.ndarray:
    return model.weight_pairs().cpu().numpy().astype(np.float64)


def off_path_pairs(model: torch.nn.Module, n: int, rng: np.random.Generator) -> np.ndarray:
    """Control pairs (W1[i, j], W2[k, i]) with k ≠ j: no shared path, so they should form one blob."""
    enc = model.fc1.weight.detach().cpu().numpy()
    dec = model.fc2.weight.detach().cpu().numpy()
    h, d = enc.shape
    i = rng.integers(h, size=n)
    j = rng.integers(d, size=n)
    k = (j + rng.integers(1, d, size=n)) % d
    return np.stack((enc[i, j], dec[k, i]), axis=1).astype(np.float64)


def robust_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = np.median(points, axis=0)
    mad = np.median(np.abs(points - center), axis=0) * 1.4826
    # A degenerate axis (all zeros, or a spike) falls back to the std, then to 1.
    fallback = points.std(axis=0)
    scale = np.where(mad > 0, mad, np.where(fallback > 0, fallback, 1.0))
    return center, scale


def strata(radius: np.ndarray, n: int, tail_radius: float, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
    """Up to n pair indices in two strata (inside / beyond tail_radius), each with the number of
    pairs one of its points stands for. The tail gets up to half of n, so rare blobs are well covered."""
    if len(radius) <= n:
        return [(np.arange(len(radius)), 1.0)]
    tail = np.flatnonzero(radius > tail_radius)
    core = np.flatnonzero(radius <= tail_radius)
    n_tail = min(len(tail), n // 2)
    n_core = min(len(core), n - n_tail)
    return [
        (rng.choice(stratum, size=m, replace=False), len(stratum) / m)
        for stratum, m in ((core, n_core), (tail, n_tail))
        if m
    ]


def stratified_sample(
    radius: np.ndarray, n: int, tail_radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to n pairs and the number of pairs each stands for."""
    parts = strata(radius, n, tail_radius, rng)
    return (
        np.concatenate([idx for idx, _ in parts]),
        np.concatenate([np.full(len(idx), w) for idx, w in parts]),
    )


# Pairs used to estimate density: enough that a blob holding 0.5% of the pairs (all of them in the
# tail stratum) is counted exactly, few enough that the KD-trees cost tens of milliseconds.
DENSITY_SAMPLE = 60_000


def density_estimator(std_points: np.ndarray, radius: np.ndarray, cfg: DiagnosticsConfig, rng):
    """x -> share of all pairs within eps of each row of x, from a stratified, weighted sample."""
    trees = [(KDTree(std_points[idx]), weight) for idx, weight in strata(radius, DENSITY_SAMPLE, cfg.tail_radius, rng)]
    total = len(std_points)

    def density(x: np.ndarray) -> np.ndarray:
        return sum(w * tree.query_radius(x, r=cfg.dbscan_eps, count_only=True) for tree, w in trees) / total

    return density


def blob_clusters(x: np.ndarray, density: np.ndarray, eps: float, min_fraction: float) -> np.ndarray:
    """DBSCAN labels (-1 = noise) for the sampled points x, whose densities were counted over all pairs."""
    core = density >= min_fraction
    labels = np.full(len(x), -1)
    if not core.any():
        return labels
    core_idx = np.flatnonzero(core)
    graph = radius_neighbors_graph(x[core_idx], eps, mode="connectivity", include_self=False)
    _, comp = connected_components(graph, directed=False)
    labels[core_idx] = comp
    border = np.flatnonzero(~core)
    if len(border):
        # Border points join the cluster of their nearest core point, if it lies within eps.
        dist, nearest = KDTree(x[core_idx]).query(x[border], k=1)
        near = dist[:, 0] <= eps
        labels[border[near]] = comp[nearest[near, 0]]
    return labels


def _weighted_silhouette(x: np.ndarray, labels: np.ndarray, weights: np.ndarray, max_n: int = 2500):
    keep = labels >= 0
    if len(set(labels[keep].tolist())) < 2:
        return None
    idx = np.flatnonzero(keep)
    if len(idx) > max_n:  # silhouette is O(n^2); thin evenly, keeping every cluster
        idx = idx[np.linspace(0, len(idx) - 1, max_n).astype(int)]
    if len(set(labels[idx].tolist())) < 2:
        return None
    scores = silhouette_samples(x[idx], labels[idx])
    return float(np.average(scores, weights=weights[idx]))


def symmetry_error(centres: list[list[float]], centre_index: int) -> float | None:
    """max over outer blobs of min_j |μ_i + μ_j| / |μ_i|: 0 when blobs come in exact ± pairs."""
    outer = [np.asarray(c) for i, c in enumerate(centres) if i != centre_index]
    if len(outer) < 2:
        return None
    worst = 0.0
    for i, mu in enumerate(outer):
        norm = np.linalg.norm(mu)
        if norm == 0:
            continue
        best = min(np.linalg.norm(mu + other) for j, other in enumerate(outer) if j != i)
        worst = max(worst, float(best / norm))
    return worst


def blob_metrics(
    points: np.ndarray, cfg: DiagnosticsConfig, sample_size: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Cluster count, noise fraction, silhouette, blob centres/masses and symmetry for a 2-D cloud."""
    center, scale = robust_frame(points)
    std = (points - center) / scale
    radius = np.linalg.norm(std, axis=1)
    sample, counts = stratified_sample(radius, sample_size, cfg.tail_radius, rng)
    weights = counts / len(points)
    density = density_estimator(std, radius, cfg, rng)(std[sample])
    labels = blob_clusters(std[sample], density, cfg.dbscan_eps, cfg.dbscan_min_fraction)
    clusters = sorted(set(labels.tolist()) - {-1})
    blobs = []
    for c in clusters:
        members = labels == c
        w = weights[members]
        blobs.append(
            {
                "mass": float(w.sum()),
                "centre": np.average(points[sample[members]], axis=0, weights=w).tolist(),
                "points": int(members.sum()),
            }
        )
    # The centre blob is the one nearest the cloud's median; the rest by mass.
    if blobs:
        first = int(np.argmin([np.linalg.norm((np.asarray(b["centre"]) - center) / scale) for b in blobs]))
        blobs = [blobs[first]] + sorted((b for i, b in enumerate(blobs) if i != first), key=lambda b: -b["mass"])
    centres = [b["centre"] for b in blobs]
    return {
        "n_clusters": len(blobs),
        "noise_fraction": float(weights[labels < 0].sum()),
        "silhouette": _weighted_silhouette(std[sample], labels, weights),
        "blobs": blobs,
        "symmetry_error": symmetry_error(centres, 0) if blobs else None,
        "scale": scale.tolist(),
    }


def correlation(points: np.ndarray) -> float | None:
    if points[:, 0].std() == 0 or points[:, 1].std() == 0:
        return None
    return float(np.corrcoef(points[:, 0], points[:, 1])[0, 1])


def epoch_metrics(model: torch.nn.Module, config: ExperimentConfig, rng: np.random.Generator) -> dict:
    """The cheap per-epoch diagnostics stored on every epoch row."""
    points = pairs_of(model)
    metrics = blob_metrics(points, config.diagnostics, config.training.diagnostic_sample_size, rng)
    metrics["correlation"] = correlation(points)
    return metrics


# Fitting a 2-D GMM needs far fewer than h·d points: this many uniform pairs still hold ~1,000 of a
# blob with 0.5% of the pairs, and keep the six fits of `diagnose` to seconds.
GMM_SAMPLE = 200_000


def _uniform(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return points if len(points) <= n else points[rng.choice(len(points), size=n, replace=False)]


def mixture_summary(points: np.ndarray, max_k: int, seed: int) -> dict[str, Any]:
    from .mixture import select_by_bic

    best, bics = select_by_bic(points, max_k, seed)
    return {"k": best.k, "bic": bics, **best.as_dict()}


def full_analysis(model: torch.nn.Module, config: ExperimentConfig, rng: np.random.Generator) -> dict:
    """What `mftctl diagnose` reports on one checkpoint: blob metrics on a large stratified sample,
    the BIC-chosen GMM, and the same for the off-path control pairs."""
    cfg = config.diagnostics
    points = pairs_of(model)
    sample = max(config.training.diagnostic_sample_size, 20_000)
    on_path = blob_metrics(points, cfg, sample, rng)
    on_path["correlation"] = correlation(points)
    on_path["gmm"] = mixture_summary(_uniform(points, GMM_SAMPLE, rng), cfg.gmm_max_components, config.seed)
    control = off_path_pairs(model, min(len(points), GMM_SAMPLE), rng)
    off_path = blob_metrics(control, cfg, sample, rng)
    off_path["correlation"] = correlation(control)
    off_path["gmm"] = mixture_summary(control, cfg.gmm_max_components, config.seed)
    return {"pairs": len(points), "on_path": on_path, "off_path": off_path}
