"""Stage 2 on the worker's side: a child's network before training, its encoder rebuilt from its row."""

from __future__ import annotations

from typing import Any

from ..checkpoints.load import load_run_checkpoint
from ..config import ExperimentConfig
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run


def sample_encoder(extra: dict[str, Any], h: int, d: int, parent_encoder=None):
    """(W1', W2' or None) for a child, from its recorded mixture and sampler (shuffle: from the parent's
    encoder, which the caller passes), reproducibly from its sampling seed."""
    import numpy as np
    import torch

    from ..science.mixture import Mixture
    from ..science.samplers import sample_pairs, shuffle_rows

    rng = np.random.default_rng(extra["sampling_seed"])
    sampler = extra.get("sampler") or "iid"
    if sampler == "shuffle":
        return torch.from_numpy(shuffle_rows(np.asarray(parent_encoder), rng)).float(), None
    compositions = extra.get("row_compositions")
    compositions = np.asarray(compositions, dtype=np.int64) if compositions is not None else None
    draws = sample_pairs(sampler, Mixture.from_dict(extra["mixture"]), compositions, h, d, rng)
    encoder = torch.from_numpy(np.ascontiguousarray(draws[..., 0])).float()
    decoder = None
    if extra["decoder_init"] == "sampled":
        decoder = torch.from_numpy(np.ascontiguousarray(draws[..., 1].T)).float()
    return encoder, decoder


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
        if extra["control"] == "parent" or extra.get("sampler") == "shuffle":
            parent_run = reads.get_run(store, run.parent_id)
            parent_model = load_run_checkpoint(store, parent_run, extra["parent_epoch"]).model()
        if extra["control"] == "parent":
            model.fc1.weight.copy_(parent_model.fc1.weight)
            model.fc1.bias.copy_(parent_model.fc1.bias)
        else:
            parent_encoder = parent_model.fc1.weight.numpy() if parent_model is not None else None
            encoder, decoder = sample_encoder(extra, config.model.hidden_size, config.data.d, parent_encoder)
            model.fc1.weight.copy_(encoder)
            model.fc1.bias.zero_()
            if decoder is not None:
                model.fc2.weight.copy_(decoder)
    return model
