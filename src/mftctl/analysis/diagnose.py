"""`mftctl diagnose`: the full analysis of one checkpoint (science/diagnostics.full_analysis, the test
loss, the reference losses), cached in the store's Diagnosis table."""

from __future__ import annotations

import json
from typing import Any

from ..checkpoints.load import load_run_checkpoint, pick_checkpoint
from ..store import reads, writes
from ..store.engine import Store
from ..threads import configure_torch

# Bump when full_analysis changes what it computes: older cached results are then recomputed.
# 2: the blob measurement modes-1; 3: K chosen on a subsample (science/mixture.py); 4: the exact decoder
DIAGNOSIS_VERSION = 4


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

    configure_torch()  # this process's thread count (threads.py), before any arithmetic

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
        "optimal_decoder": optimal_decoder(model, config, test, total),
        "references": reference_losses(config),
        **full_analysis(model, config, np.random.default_rng([config.seed, ckpt.epoch, 7])),
    }
    if not store.read_only:  # a cache: a read-only store computes it each time
        writes.save_diagnosis(store, run.id, ckpt.epoch, DIAGNOSIS_VERSION, result)
    return result | {"cached": False}


def optimal_decoder(model: Any, config: Any, test: Any, trained_loss: float) -> dict[str, Any]:
    """The exact decoder for this checkpoint's encoder (science/decoder.py), scored on the run's test set:
    its loss and parts, and the trained decoder's gap to it (trained / optimal − 1: the optimiser's
    unfinished work)."""
    from ..science.decoder import solve_decoder, with_decoder
    from ..science.train import evaluate

    solved = solve_decoder(model, config)
    loss, on, off = evaluate(with_decoder(model, solved), test, config)
    gap = trained_loss / loss - 1 if loss > 0 else None
    return {"loss": loss, "loss_on": on, "loss_off": off, "gap": gap, "samples": solved.samples}


def solve_checkpoint(
    store: Store, run_id: int, *, epoch: int | None = None, samples: int | None = None
) -> dict[str, Any]:
    """`mftctl.solve_decoder`: the exact decoder of one checkpoint's encoder, its weights (numpy) and its
    test loss beside the trained decoder's."""
    import torch

    from ..science.data import fixed_test_set
    from ..science.decoder import SOLVE_SAMPLES, solve_decoder, with_decoder
    from ..science.train import evaluate

    run = reads.get_run(store, run_id)
    ckpt = pick_checkpoint(store, run, epoch)
    configure_torch()
    loaded = load_run_checkpoint(store, run, ckpt.epoch)
    config = loaded.config.model_copy(update={"device": "cpu"})
    model = loaded.model()
    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    trained = evaluate(model, test, config)
    solved = solve_decoder(model, config, samples=SOLVE_SAMPLES if samples is None else samples)
    optimal = evaluate(with_decoder(model, solved), test, config)
    names = ("loss", "loss_on", "loss_off")
    return {
        "run": run.id,
        "epoch": ckpt.epoch,
        "weight": solved.weight.numpy(),
        "bias": solved.bias.numpy(),
        "samples": solved.samples,
        "test": dict(zip(names, optimal, strict=True)),
        "trained": dict(zip(names, trained, strict=True)),
        "gap": trained[0] / optimal[0] - 1 if optimal[0] > 0 else None,
    }
