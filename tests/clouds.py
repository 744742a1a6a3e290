"""Synthetic weight-pair clouds with planted truth: the blob measurement's test bank.

Each cloud is (name, points, truth) where truth is ("formed", k), ("forming", None) or ("none", 1).
benchmarks/blob_bank.py prints the measurement (and, for comparison, the GMM-BIC count) on every one.
"""

from __future__ import annotations

import numpy as np

N = 200_000


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def centre_and_outer(outer_share: float, *, n: int = N, spread=(0.05, 0.01), seed: int = 0) -> np.ndarray:
    """The reference family's formed state: a centre blob and ±(1.37, 0.083) each holding outer_share."""
    rng = _rng(seed)
    k = int(outer_share * n)
    centre = rng.normal(0, 0.02, (n - 2 * k, 2))
    outer = rng.normal([1.37, 0.083], spread, (k, 2))
    return np.concatenate([centre, outer, -outer])


def ring_of_blobs(k: int, *, n: int = N, seed: int = 0) -> np.ndarray:
    """k equal, well separated blobs (k = 1 is one Gaussian)."""
    rng = _rng(seed)
    if k == 1:
        return rng.normal(0, 1, (n, 2))
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.concatenate([rng.normal([3 * np.cos(a), 3 * np.sin(a)], 0.3, (n // k, 2)) for a in angles])


def unequal_blobs(masses: list[float], *, n: int = N, seed: int = 0) -> np.ndarray:
    """A centre blob and len(masses) outer blobs of these shares, anisotropic, at different distances."""
    rng = _rng(seed)
    parts = [rng.normal(0, [1.0, 0.3], (n - sum(int(m * n) for m in masses), 2))]
    for i, m in enumerate(masses):
        angle = 2 * np.pi * i / len(masses) + 0.3
        radius = 12 + 4 * i
        parts.append(rng.normal([radius * np.cos(angle), radius * np.sin(angle)], [0.8, 0.4], (int(m * n), 2)))
    return np.concatenate(parts)


def bridged(*, n: int = N, bridge_share: float = 0.003, seed: int = 0) -> np.ndarray:
    """Three formed blobs joined by sparse bridges of pairs on their way out."""
    rng = _rng(seed)
    b = int(bridge_share * n)
    core = centre_and_outer(0.011, n=n - 2 * b, seed=seed)
    t = rng.uniform(0, 1, (b, 1))
    bridge = t * np.array([[1.37, 0.083]]) + rng.normal(0, 0.01, (b, 2))
    return np.concatenate([core, bridge, -bridge])


def continuum(*, n: int = N, seed: int = 0) -> np.ndarray:
    """Blobs still forming: a centre, two end lumps and a dense bridge between them."""
    rng = _rng(seed)
    t = rng.uniform(-1, 1, (n // 3, 1))
    bridge = t * np.array([[1.0, 0.1]]) + rng.normal(0, 0.05, (n // 3, 2))
    lumps = rng.normal([0.9, 0.09], 0.12, (n // 8, 2))
    centre = rng.normal(0, 0.1, (n - len(bridge) - 2 * len(lumps), 2))
    return np.concatenate([centre, bridge, lumps, -lumps])


def elongated(*, n: int = N, seed: int = 0) -> np.ndarray:
    rotation = np.array([[0.8, 0.6], [-0.6, 0.8]])
    return _rng(seed).normal(0, 1, (n, 2)) * [1.0, 0.05] @ rotation


def overlapping_lobes(*, n: int = N, seed: int = 0) -> np.ndarray:
    """lr 0.005's cloud: one elongated cloud with two overlapping lobes."""
    rng = _rng(seed)
    return np.concatenate(
        [rng.normal([-0.5, 0], [0.5, 0.2], (n // 2, 2)), rng.normal([0.5, 0], [0.5, 0.2], (n // 2, 2))]
    )


def heavy_tailed(df: float, *, n: int = N, seed: int = 0) -> np.ndarray:
    return _rng(seed).standard_t(df, (n, 2)) * 0.01


def bank() -> list[tuple[str, np.ndarray, tuple[str, int | None]]]:
    clouds = [
        ("one gaussian", ring_of_blobs(1), ("none", 1)),
        ("elongated", elongated(), ("none", 1)),
        ("two overlapping lobes", overlapping_lobes(), ("none", 1)),
        ("heavy tail t(2)", heavy_tailed(2), ("none", 1)),
        ("heavy tail cauchy", heavy_tailed(1), ("none", 1)),
        ("continuum", continuum(), ("forming", None)),
        ("3 blobs, outer 0.3%", centre_and_outer(0.003), ("formed", 3)),
        ("3 blobs, outer 1.1%", centre_and_outer(0.011), ("formed", 3)),
        ("3 blobs, outer 2%", centre_and_outer(0.02), ("formed", 3)),
        ("3 blobs + sparse bridges", bridged(), ("formed", 3)),
        ("2 equal blobs", ring_of_blobs(2), ("formed", 2)),
        ("4 equal blobs", ring_of_blobs(4), ("formed", 4)),
        ("5 equal blobs", ring_of_blobs(5), ("formed", 5)),
        ("centre 95% + 2 outer", unequal_blobs([0.04, 0.01]), ("formed", 3)),
        ("centre + 4 outer 0.3-2%", unequal_blobs([0.02, 0.01, 0.005, 0.003]), ("formed", 5)),
    ]
    return clouds
