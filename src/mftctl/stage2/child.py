"""Stage 2 on the worker's side: a child's network before training, its encoder rebuilt from its row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checkpoints.load import load_run_checkpoint
from ..choices import SAMPLER_TRAITS
from ..config import ExperimentConfig
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run


@dataclass
class ChildEncoder:
    """A child's frozen encoder (h, d), its bias (h,) and, where drawn, its decoder's start (d, h)."""

    weight: Any
    bias: Any
    decoder: Any = None


def sample_encoder(extra: dict[str, Any], h: int, d: int, parent=None) -> ChildEncoder:
    """A child's encoder from its recorded mixture and sampler, reproducibly from its sampling seed.
    `parent` is the parent's network, which the samplers that read its encoder and a `b1 = parent` child
    need (SAMPLER_TRAITS). The bias is drawn last, so a child without one samples as earlier releases did."""
    import numpy as np
    import torch

    from ..science.mixture import Mixture
    from ..science.samplers import code_pairs, outlier_signs, rewire, sample_pairs, shuffle_rows, signs_beyond

    rng = np.random.default_rng(extra["sampling_seed"])
    sampler = extra.get("sampler") or "iid"
    mixture = Mixture.from_dict(extra["mixture"])
    parent_encoder = parent.fc1.weight.detach().cpu().numpy().astype(np.float64) if parent is not None else None
    rows = signs = None  # which parent row each child row came from, and its sign flip, where a sampler says
    draws = None
    if sampler == "shuffle":
        weight = shuffle_rows(parent_encoder, rng)
        rows = np.arange(h)
    elif sampler in ("rewire", "code"):
        # The parent's (W1, W2) pairs only where they are read: the code's values, or an old child's rule.
        pairs = None
        if sampler == "code" or extra.get("outlier_threshold") is None:
            pairs = parent.weight_pairs().cpu().numpy().astype(np.float64)
        if extra.get("outlier_threshold") is not None:
            outliers = signs_beyond(parent_encoder, extra["outlier_threshold"])
        else:  # a child planned before the threshold was recorded: the mixture's rule, as it was drawn
            points = pairs if extra["mixture_kind"] == "pair" else pairs[:, :1]
            outliers = outlier_signs(mixture, points, parent_encoder)
        if sampler == "rewire":
            weight = rewire(parent_encoder, outliers, rng)
            rows = np.arange(h)
        else:
            draws = code_pairs(outliers, pairs, rng)
    else:
        compositions = extra.get("row_compositions")
        compositions = np.asarray(compositions, dtype=np.int64) if compositions is not None else None
        draws, rows, signs = sample_pairs(sampler, mixture, compositions, h, d, rng)
    decoder = None
    if draws is not None:
        weight = draws[..., 0]
        if extra["decoder_init"] == "sampled":
            decoder = torch.from_numpy(np.ascontiguousarray(draws[..., 1].T)).float()
    bias = np.zeros(h)
    if extra.get("b1") == "parent":
        parent_bias = parent.fc1.bias.detach().cpu().numpy().astype(np.float64)
        picked = rows if rows is not None else rng.integers(len(parent_bias), size=h)
        bias = parent_bias[picked] * (signs if signs is not None else 1.0)
    return ChildEncoder(torch.from_numpy(np.ascontiguousarray(weight)).float(), torch.from_numpy(bias).float(), decoder)


def needs_parent(extra: dict[str, Any]) -> bool:
    """Whether rebuilding this child's encoder reads the parent's network."""
    sampler = extra.get("sampler") or "iid"
    return (
        extra["control"] == "parent"
        or extra.get("b1") == "parent"
        or (extra["control"] == "gmm" and SAMPLER_TRAITS[sampler].needs_parent_encoder)
    )


def prepare_child(store: Store, run: Run, config: ExperimentConfig):
    """The child's network before training: its frozen encoder in place, the decoder initialised."""
    import torch

    from ..science.model import build_model
    from ..science.train import seed_everything

    extra = run.extra
    seed_everything(config.seed)
    model = build_model(config)
    with torch.no_grad():
        parent_model = None
        if needs_parent(extra):
            parent_run = reads.get_run(store, run.parent_id)
            parent_model = load_run_checkpoint(store, parent_run, extra["parent_epoch"]).model()
        if extra["control"] == "parent":
            model.fc1.weight.copy_(parent_model.fc1.weight)
            # Children of earlier releases record no b1: they kept the parent's bias.
            if extra.get("b1", "parent") == "parent":
                model.fc1.bias.copy_(parent_model.fc1.bias)
            else:
                model.fc1.bias.zero_()
        else:
            child = sample_encoder(extra, config.model.hidden_size, config.data.d, parent_model)
            model.fc1.weight.copy_(child.weight)
            model.fc1.bias.copy_(child.bias)
            if child.decoder is not None:
                model.fc2.weight.copy_(child.decoder)
    return model
