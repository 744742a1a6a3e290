"""`mftctl theory`: the ansatz's predicted blobs for a config (science/theory.py), and — given a trained
run — its measured K and a, its trained decoder blob beside the one the exact decoder puts there, and
the ansatz at the run's own K and a."""

from __future__ import annotations

from typing import Any

from ..choices import ACTIVATION_SYMMETRY
from ..config import ExperimentConfig
from ..errors import MftctlError
from ..store import reads
from ..store.engine import Store


def check_odd(config: ExperimentConfig, what: str) -> None:
    activation = config.model.activation
    if ACTIVATION_SYMMETRY[activation] != "odd":
        raise MftctlError(
            f"{what} uses {activation} ({ACTIVATION_SYMMETRY[activation]}): the ansatz's ± outliers keep a "
            "network's function only for an odd activation (tanh3, tanh, x3)"
        )


def check_grid(ks: list[int], amplitudes: list[float], d: int) -> None:
    bad_k = [k for k in ks if not 1 <= k <= d]
    if bad_k or not ks:
        raise MftctlError(f"--k values must be whole numbers in 1..{d} (d), not {bad_k or 'none'}")
    bad_a = [a for a in amplitudes if not a > 0 or a != a or a == float("inf")]
    if bad_a or not amplitudes:
        raise MftctlError(f"--a values must be positive numbers, not {bad_a or 'none'}")


def predict_for(config: ExperimentConfig, ks, amplitudes, centre_width: float, samples: int | None, on_point=None):
    """The ansatz over the grid (`samples` per solve, default SCAN_SAMPLES), refused in one line where it
    does not apply."""
    from ..science.theory import SCAN_SAMPLES, predict
    from ..threads import configure_torch

    check_odd(config, "this config")
    check_grid(ks, amplitudes, config.data.d)
    if not centre_width >= 0 or centre_width == float("inf"):
        raise MftctlError(f"--centre-width {centre_width} must be a number ≥ 0")
    configure_torch()
    return predict(
        config.model_copy(update={"device": "cpu"}),
        ks,
        amplitudes,
        centre_width,
        samples=samples or SCAN_SAMPLES,
        on_point=on_point,
    )


def given_run(store: Store, run_ref: int, epoch: int | None, samples: int | None = None) -> dict[str, Any]:
    """A trained checkpoint against the theory: its outliers (entries beyond half the outer blobs' |W1|
    centre, as the blob measurement finds them), K and a measured, b̄ of the trained and of the exact
    decoder for the same encoder, and the ansatz at the run's own K, a and centre width."""
    import torch

    from ..checkpoints.load import load_run_checkpoint, pick_checkpoint
    from ..science.data import fixed_test_set
    from ..science.decoder import SOLVE_SAMPLES, solve_decoder, with_decoder
    from ..science.samplers import outlier_threshold, signs_beyond
    from ..science.theory import ansatz_encoder, ansatz_point, decoder_blob, evaluate_encoder
    from ..science.train import evaluate
    from ..threads import configure_torch
    from .diagnose import diagnose_checkpoint

    run = reads.get_run(store, run_ref)
    ckpt = pick_checkpoint(store, run, epoch)
    loaded = load_run_checkpoint(store, run, ckpt.epoch)
    check_odd(loaded.config, f"run {run.id}")
    blobs = diagnose_checkpoint(store, run.id, epoch=ckpt.epoch)["on_path"]["blobs"]
    threshold = outlier_threshold(blobs)
    if threshold is None:
        raise MftctlError(
            f"run {run.id} has one blob at epoch {ckpt.epoch}: with no outer blob there is no K or a to "
            "measure; give a run whose blobs have formed (`mftctl list --where n_blobs>=3`)"
        )
    configure_torch()
    samples = samples or SOLVE_SAMPLES
    config = loaded.config.model_copy(update={"device": "cpu"})
    model = loaded.model()
    encoder = model.fc1.weight.detach().double().numpy()
    a = 2 * threshold  # the outer blobs' |W1| centre
    signs = signs_beyond(encoder, threshold)
    k = float((signs != 0).sum(axis=1).mean())
    centre_width = float(encoder[signs == 0].std())
    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    trained = evaluate(model, test, config)[0]
    solved = solve_decoder(model, config, samples=samples)
    exact = evaluate(with_decoder(model, solved), test, config)[0]
    k_int = max(1, round(k))
    pattern, unit_normal = ansatz_point(config, k_int)
    ansatz_loss, ansatz_decoder = evaluate_encoder(
        ansatz_encoder(pattern, a, centre_width, unit_normal), config, test, samples
    )
    decoder = model.fc2.weight.detach().double().numpy()
    return {
        "run": run.id,
        "epoch": ckpt.epoch,
        "measured": {"k": k, "a": a, "centre_width": centre_width},
        "trained": {"loss": trained, "decoder_blob": decoder_blob(signs, decoder)},
        "exact_decoder": {"loss": exact, "decoder_blob": decoder_blob(signs, solved.weight.double().numpy())},
        "ansatz": {
            "k": k_int,
            "a": a,
            "centre_width": centre_width,
            "loss": ansatz_loss,
            "decoder_blob": decoder_blob(pattern, ansatz_decoder),
        },
    }
