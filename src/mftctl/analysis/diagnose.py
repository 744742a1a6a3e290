"""`mftctl diagnose`: the full analysis of one checkpoint (science/diagnostics.full_analysis, the test
loss, the reference losses), cached in the store's Diagnosis table."""

from __future__ import annotations

import json
from typing import Any

from ..checkpoints.load import load_run_checkpoint, pick_checkpoint
from ..store import reads, writes
from ..store.engine import Store

# Bump when full_analysis changes what it computes: older cached results are then recomputed.
DIAGNOSIS_VERSION = 3  # 2: the blob measurement modes-1; 3: K chosen on a subsample (science/mixture.py)


def diagnose_checkpoint(
    store: Store, run_id: int, *, epoch: int | None = None, recompute: bool = False
) -> dict[str, Any]:
    """The full analysis of one checkpoint, from the cache unless asked to recompute."""
    run = reads.get_run(store, run_id)
    ckpt = pick_checkpoint(store, run, epoch)
    cached = None if recompute else reads.get_diagnosis(store, run.id, ckpt.epoch, DIAGNOSIS_VERSION)
    if cached is not None:
        return json.loads(cached.result_json) | {"cached": True}

    import numpy as np
    import torch

    from ..science.baselines import reference_losses
    from ..science.data import fixed_test_set
    from ..science.diagnostics import full_analysis
    from ..science.train import evaluate

    loaded = load_run_checkpoint(store, run, ckpt.epoch)
    config = loaded.config.model_copy(update={"device": "cpu"})
    model = loaded.model()
    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    total, on, off = evaluate(model, test, config)
    result = {
        "run": run.id,
        "epoch": ckpt.epoch,
        "test": {"loss": total, "loss_on": on, "loss_off": off},
        "references": reference_losses(config),
        **full_analysis(model, config, np.random.default_rng([config.seed, ckpt.epoch, 7])),
    }
    if not store.read_only:  # a cache: a read-only store computes it each time
        writes.save_diagnosis(store, run.id, ckpt.epoch, DIAGNOSIS_VERSION, result)
    return result | {"cached": False}
