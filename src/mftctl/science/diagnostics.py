"""What is measured on a model's weight pairs: the per-epoch blob measurement, and `diagnose`'s fuller
analysis (the same measurement, a GMM shape model, and the off-path control).

The headline numbers (blob count, separation, silhouette) come from one function, `measure_blobs`
(blobs.py), on every pair: the epoch rows, `list`, `sweep show`, `diagnose` and the plots all show its
result, so for the last epoch of a run `list` and `diagnose` agree exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..choices import ACTIVATION_SYMMETRY
from ..config import ExperimentConfig
from .blobs import BlobSettings, measure_blobs, measure_model_blobs, measure_weight_blobs


def pairs_of(model: torch.nn.Module) -> np.ndarray:
    return model.weight_pairs().cpu().numpy().astype(np.float64)


def off_path_pairs(model: torch.nn.Module, n: int, rng: np.random.Generator) -> np.ndarray:
    """Control pairs (W1[i, j], W2[k, i]) with k ≠ j: no shared path, so their cloud is the product of
    the two marginals."""
    enc = model.fc1.weight.detach().cpu().numpy()
    dec = model.fc2.weight.detach().cpu().numpy()
    h, d = enc.shape
    i = rng.integers(h, size=n)
    j = rng.integers(d, size=n)
    k = (j + rng.integers(1, d, size=n)) % d
    return np.stack((enc[i, j], dec[k, i]), axis=1).astype(np.float64)


def blob_settings(config: ExperimentConfig) -> BlobSettings:
    """The measurement's thresholds (diagnostics.*) and the symmetry the run's activation gives its pairs."""
    cfg = config.diagnostics
    return BlobSettings(
        min_depth=cfg.min_depth,
        min_significance=cfg.min_significance,
        min_mass=cfg.min_mass,
        symmetry=ACTIVATION_SYMMETRY[config.model.activation],
    )


def epoch_metrics(model: torch.nn.Module, config: ExperimentConfig) -> dict[str, Any]:
    """The blob measurement stored on every epoch row (and, for the last, on the run)."""
    return weight_metrics(model.fc1.weight, model.fc2.weight, config)


def weight_metrics(enc: torch.Tensor, dec: torch.Tensor, config: ExperimentConfig) -> dict[str, Any]:
    """epoch_metrics on the encoder and decoder matrices themselves (the training loop hands it a host copy
    taken at the epoch's end, measured while the next epoch trains)."""
    enc, dec = (w.detach().cpu().numpy() for w in (enc, dec))
    return measure_weight_blobs(enc, dec, blob_settings(config)).as_dict()


# Fitting a 2-D GMM needs far fewer than h·d points: this many uniform pairs still hold ~1,000 of a
# blob with 0.5% of the pairs, and keep the six fits of `diagnose` to seconds.
GMM_SAMPLE = 200_000


def _uniform(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return points if len(points) <= n else points[rng.choice(len(points), size=n, replace=False)]


def mixture_summary(points: np.ndarray, max_k: int, seed: int) -> dict[str, Any]:
    """The BIC-chosen Gaussian mixture: a model of the cloud's shape, not a blob count (a bridged or
    elongated single cloud needs several Gaussians; docs/science.md shows the evidence)."""
    from .mixture import select_by_bic

    points = points[np.isfinite(points).all(axis=1)]  # a diverged run's NaN weights are left out
    if len(points) < 2:
        return {
            "k": 0,
            "bic": [],
            "selection_pairs": 0,
            "fit_pairs": len(points),
            "weights": [],
            "means": [],
            "covariances": [],
        }
    best, bics, selection = select_by_bic(points, max_k, seed)
    # bic[k-1] is K = k's BIC on the selection subsample; the mixture itself is fitted on fit_pairs.
    return {"k": best.k, "bic": bics, "selection_pairs": selection, "fit_pairs": len(points), **best.as_dict()}


def full_analysis(model: torch.nn.Module, config: ExperimentConfig, rng: np.random.Generator) -> dict:
    """What `mftctl diagnose` reports on one checkpoint: the blob measurement (the headline numbers,
    identical to the epoch row's), the BIC-chosen GMM shape model, and the same for off-path pairs.

    The two mixtures are fitted in two threads, each on one BLAS thread (numpy releases the GIL in
    EM's array work): 1.5× faster on two cores, and the same numbers as one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    from .mixture import one_thread

    cfg = config.diagnostics
    settings = blob_settings(config)
    points = pairs_of(model)
    on_path = measure_model_blobs(model, settings).as_dict()
    on_sample = _uniform(points, GMM_SAMPLE, rng)
    control = off_path_pairs(model, min(len(points), GMM_SAMPLE), rng)
    off_path = measure_blobs(control, settings).as_dict()
    with one_thread(), ThreadPoolExecutor(2) as pool:
        fits = [pool.submit(mixture_summary, p, cfg.gmm_max_components, config.seed) for p in (on_sample, control)]
        on_path["gmm"], off_path["gmm"] = (f.result() for f in fits)
    return {"pairs": len(points), "on_path": on_path, "off_path": off_path}
