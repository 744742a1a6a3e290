"""Blob stability across runs: do several runs (seeds of one recipe) put their blobs in the same places,
with the same masses and widths? Plain numpy and scipy on the runs' blob reports (and, optionally, their
pair clouds); docs/science.md defines every number.

1. Count: each run's blob count; the modal count (ties: the larger) and the share of runs that have it.
2. Matching: the first run with the modal count is the reference. Every run's blobs are matched to the
   reference's by position, an optimal assignment (scipy's linear_sum_assignment) on the distance between
   centres in the reference's robust units (its report's `scale`), so a run with an extra or a missing
   blob still matches the others it has.
3. Per reference blob: the runs that have it, and over them the mean ± std of its centre, mass and width;
   its drift, the centres' spread (std) in units of the blob's mean width on the axis where that is
   largest (scale-free per axis), and its mass CV.
4. Clouds (when given): a sliced Wasserstein-1 distance between every two runs' pair clouds (a seeded
   sample of each), on one standardisation pooled over all of them (so that it is scale-free yet sees one
   run's blobs lying further out), beside the same distance between two disjoint samples of one run (the
   floor that sampling alone gives).
5. Verdict: `stable` (every run has the modal count, every blob's centre moves by at most its width
   and its mass by at most 20%), `shifting` (same count, but a blob moves or changes mass more) or
   `split` (the runs disagree on the count). Ranked in that order: `rank` sorts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

VERDICTS = ("stable", "shifting", "split")
# A blob is stable when its centre moves between runs by at most this many of its widths, and its mass by
# at most this share of itself (coefficient of variation).
MAX_DRIFT = 1.0
MAX_MASS_CV = 0.2
# Pairs per run in the cloud distance (a seeded uniform sample, at most half a run's pairs so that the
# floor has a disjoint second one; the sliced distance needs equal sizes), and the projection directions,
# evenly spaced over the half circle.
CLOUD_SAMPLE = 20_000
PROJECTIONS = 64


@dataclass(frozen=True)
class MatchedBlob:
    index: int  # its place in the reference run's report (0: the centre blob)
    runs: int  # runs with a blob matched to it
    centre: tuple[float, float]
    centre_std: tuple[float, float] | None  # None from one run
    mass: float
    mass_std: float | None
    width: tuple[float, float] | None  # None when a report predates blob widths
    width_std: tuple[float, float] | None
    drift: float | None  # max over the axes of centre std / mean width: how many of its widths the centre moves
    mass_cv: float | None  # mass std / mass mean


@dataclass(frozen=True)
class StabilityReport:
    runs: int
    counts: list[int]  # each run's blob count, in the order given
    modal_count: int
    count_agreement: float  # share of runs with the modal count
    reference: int  # position (in the order given) of the run the others are matched to
    blobs: list[MatchedBlob] = field(default_factory=list)
    # Per run, for each reference blob, the index of its matched blob in that run's report (None: none).
    matches: list[list[int | None]] = field(default_factory=list)
    drift: float | None = None  # the largest blob drift
    mass_cv: float | None = None  # the largest blob mass CV
    cloud_distance: float | None = None  # mean over pairs of runs of the sliced W1 distance
    cloud_distance_max: float | None = None
    cloud_floor: float | None = None  # the same distance between two halves of one run's sample (mean)
    verdict: str = "split"

    @property
    def rank(self) -> int:
        """Sorts stable < shifting < split."""
        return VERDICTS.index(self.verdict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["blobs"] = [asdict(b) for b in self.blobs]
        return data


def measure_stability(reports: list[Any], clouds: list[Any] | None = None) -> StabilityReport:
    """Match the blobs of several runs and say how stable they are (the module's docstring, steps 1–5).

    `reports`: each run's blob report, a `BlobReport` or its `as_dict()` (as the store keeps it).
    `clouds`: optionally each run's (N, 2) pairs, for the cloud distance.

    >>> import numpy as np, mftctl
    >>> def cloud(seed, shift):
    ...     rng = np.random.default_rng(seed)
    ...     outer = rng.normal([[1.4 + shift, 0.08]], 0.02, (1_000, 2))
    ...     return np.concatenate([rng.normal(0, 0.01, (100_000, 2)), outer, -outer])
    >>> clouds = [cloud(seed, 0.0) for seed in range(3)]
    >>> report = mftctl.measure_stability([mftctl.measure_blobs(c) for c in clouds], clouds)
    >>> report.modal_count, report.count_agreement, report.verdict
    (3, 1.0, 'stable')
    """
    if len(reports) < 2:
        raise InputError(f"a stability report needs at least two runs, got {len(reports)}")
    if clouds is not None and len(clouds) != len(reports):
        raise InputError(f"{len(clouds)} clouds for {len(reports)} reports: give one cloud per run, or none")
    reports = [r if isinstance(r, dict) else r.as_dict() for r in reports]
    _check_reports(reports)
    if clouds is not None:
        for index, cloud in enumerate(clouds):
            shape = np.shape(cloud)
            if len(shape) != 2 or shape[1] != 2:
                raise InputError(f"cloud {index} has shape {shape}; each cloud is a run's (N, 2) weight pairs")
    counts = [int(r["n_blobs"]) for r in reports]
    tally = Counter(counts)
    modal = max(tally, key=lambda k: (tally[k], k))
    reference = counts.index(modal)
    matches = [_match(reports[reference], r) for r in reports]
    blobs = [
        _pooled(i, [r["blobs"][m[i]] for r, m in zip(reports, matches, strict=True) if m[i] is not None])
        for i in range(modal)
    ]
    drifts = [b.drift for b in blobs if b.drift is not None]
    cvs = [b.mass_cv for b in blobs if b.mass_cv is not None]
    drift = max(drifts) if drifts else None
    mass_cv = max(cvs) if cvs else None
    agreement = tally[modal] / len(counts)
    distances = cloud_distances(clouds) if clouds is not None else None
    return StabilityReport(
        runs=len(reports),
        counts=counts,
        modal_count=modal,
        count_agreement=agreement,
        reference=reference,
        blobs=blobs,
        matches=matches,
        drift=drift,
        mass_cv=mass_cv,
        cloud_distance=distances[0] if distances else None,
        cloud_distance_max=distances[1] if distances else None,
        cloud_floor=distances[2] if distances else None,
        verdict=_verdict(agreement, drift, mass_cv),
    )


def _verdict(agreement: float, drift: float | None, mass_cv: float | None) -> str:
    if agreement < 1.0:
        return "split"
    if (drift is not None and drift > MAX_DRIFT) or (mass_cv is not None and mass_cv > MAX_MASS_CV):
        return "shifting"
    return "stable"


def _match(reference: dict[str, Any], other: dict[str, Any]) -> list[int | None]:
    """For each of the reference's blobs, the index of the other report's blob matched to it (or None)."""
    from scipy.optimize import linear_sum_assignment

    ref = np.array([b["centre"] for b in reference["blobs"]], dtype=np.float64).reshape(-1, 2)
    mine = np.array([b["centre"] for b in other["blobs"]], dtype=np.float64).reshape(-1, 2)
    matched: list[int | None] = [None] * len(ref)
    if not len(ref) or not len(mine):
        return matched
    unit = np.asarray(reference.get("scale") or (1.0, 1.0), dtype=np.float64)
    unit[~(unit > 0)] = 1.0
    cost = np.linalg.norm((ref[:, None, :] - mine[None, :, :]) / unit, axis=-1)
    for r, c in zip(*linear_sum_assignment(cost), strict=True):
        matched[int(r)] = int(c)
    return matched


def _mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    return values.mean(axis=0), (values.std(axis=0, ddof=1) if len(values) > 1 else None)


def _pair(v: np.ndarray | None) -> tuple[float, float] | None:
    return None if v is None else (float(v[0]), float(v[1]))


def _pooled(index: int, blobs: list[dict[str, Any]]) -> MatchedBlob:
    centres = np.array([b["centre"] for b in blobs], dtype=np.float64)
    masses = np.array([b["mass"] for b in blobs], dtype=np.float64)
    widths = [b.get("width") for b in blobs]
    centre, centre_std = _mean_std(centres)
    mass, mass_std = _mean_std(masses)
    width = width_std = None
    drift = None
    if all(w is not None for w in widths):
        width, width_std = _mean_std(np.array(widths, dtype=np.float64))
        if centre_std is not None and (width > 0).all():
            drift = float((centre_std / width).max())
    return MatchedBlob(
        index=index,
        runs=len(blobs),
        centre=(float(centre[0]), float(centre[1])),
        centre_std=_pair(centre_std),
        mass=float(mass),
        mass_std=None if mass_std is None else float(mass_std),
        width=_pair(width),
        width_std=_pair(width_std),
        drift=drift,
        mass_cv=None if mass_std is None or mass <= 0 else float(mass_std / mass),
    )


def _finite(cloud: Any) -> np.ndarray:
    if hasattr(cloud, "detach"):
        cloud = cloud.detach().cpu().numpy()
    points = np.asarray(cloud, dtype=np.float64).reshape(-1, 2)
    return points[np.isfinite(points).all(axis=1)]


def _sorted_projections(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    return np.sort(points @ directions.T, axis=0)  # (n, PROJECTIONS), each column sorted


def _sliced_w1(a: np.ndarray, b: np.ndarray) -> float:
    """Sliced Wasserstein-1 between two equal-size samples, from their sorted projections: in one dimension
    W1 of two n-point samples is the mean |a_(i) − b_(i)| of their order statistics (scipy's
    wasserstein_distance gives the same number; tests/test_stability.py checks it)."""
    return float(np.abs(a - b).mean())


def _check_reports(reports: list[dict[str, Any]]) -> None:
    """Every blob's centre, mass and width a finite number: a NaN would compare as neither more nor less
    than anything, and a report made of them would read as stable."""
    for index, report in enumerate(reports):
        for blob in report.get("blobs", []):
            numbers = [*blob["centre"], blob["mass"], *(blob.get("width") or [])]
            if not all(isinstance(x, int | float) and np.isfinite(x) for x in numbers):
                raise InputError(f"report {index} has a blob whose centre, mass or width is not a finite number")


def cloud_distances(clouds: list[Any]) -> tuple[float, float, float] | None:
    """(mean, max) over pairs of runs of the sliced W1 distance between their pooled-standardised clouds,
    and the mean distance between two disjoint samples of the same size from one run (what sampling alone
    gives: the floor the distances between runs are read against)."""
    rng = np.random.default_rng(0)
    finite = [_finite(c) for c in clouds]
    n = min(CLOUD_SAMPLE, *(len(c) // 2 for c in finite))
    if n < 1:
        return None
    draws = [c[rng.choice(len(c), size=2 * n, replace=False)] for c in finite]
    pooled = np.concatenate([d[:n] for d in draws])
    centre, scale = pooled.mean(axis=0), pooled.std(axis=0)
    scale[~(scale > 0)] = 1.0
    angles = np.pi * np.arange(PROJECTIONS) / PROJECTIONS
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    standard = [(d - centre) / scale for d in draws]
    projected = [_sorted_projections(s[:n], directions) for s in standard]
    pairwise = [
        _sliced_w1(projected[i], projected[j]) for i in range(len(projected)) for j in range(i + 1, len(projected))
    ]
    floors = [_sliced_w1(p, _sorted_projections(s[n:], directions)) for p, s in zip(projected, standard, strict=True)]
    return float(np.mean(pairwise)), float(max(pairwise)), float(np.mean(floors))
