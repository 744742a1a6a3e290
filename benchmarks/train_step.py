"""Training-step speed against the machine's matrix-multiply rate and against the research code's pipeline.

    python benchmarks/train_step.py --preset reference_3blob [--device cuda] [--json] [--steps 5]
                                    [--no-keep-blocks] [--compile]

All figures come from one process, so the ratios compare like with like on a shared, noisy machine.

Each loss kernel (see mftctl/science/losses.py) is timed as a whole step and split into data,
forward+loss, backward and optimizer, and set against its GEMM floor: the time of the very matrix
multiplies it executes, on the same shapes, with nothing else. floor / step is the share of the measured
GEMM rate the step reaches. The dense kernel executes the model's 10·B·d·h FLOP (forward 2·B·d·h
multiply-adds, backward 3·B·d·h: the first layer's input gradient is not needed); the gram kernel
4·B·d·h + 4·B·h² + 4·d·h².

The research pipeline is timed first, under glibc's default malloc as the research code runs; then
the process keeps large freed blocks as mftctl's worker does (mftctl/runs/allocator.py) for everything
after (--no-keep-blocks: glibc's default throughout).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mftctl.config_input import load_config
from mftctl.runs.allocator import keep_large_blocks
from mftctl.science.data import NoiseStreams, make_generator, two_hot_batch
from mftctl.science.diagnostics import epoch_metrics
from mftctl.science.losses import decoder_loss_parts, l2_penalty
from mftctl.science.model import build_model
from mftctl.science.optim import build_optimizer
from mftctl.science.train import train
from research_epoch import TwoHotDataset, scaled_mse  # the research code's data and loss, as it wrote them

DEVICE = torch.device("cpu")
KERNELS = ("dense", "gram")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def best_of(fn, repeats: int) -> float:
    """Best (least) wall time of fn() over repeats, after one warm-up call (synchronised on CUDA).

    The least time is the machine's capability with the least interference from other tenants; the GEMM
    floors and the steps all use it, so their ratios compare like with like."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return min(times)


def kernel_gemms(kernel: str, b: int, d: int, h: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix multiply one training step of this kernel executes."""
    encoder = [(b, d, h), (h, b, d)]  # W1 x, then dW1 = dZᵀ X
    if kernel == "dense":
        return [*encoder, (b, h, d), (d, b, h), (b, d, h)]  # f = A W2ᵀ, dW2 = dFᵀ A, dA = dF W2
    return [*encoder, (h, d, h), (b, h, h), (h, b, h), (d, h, h)]  # G = W2ᵀW2, A G, AᵀA, W2 (AᵀA)


def gemm_floor(shapes: list[tuple[int, int, int]], repeats: int) -> tuple[float, float]:
    """(seconds, FLOP) of these float32 matrix multiplies alone."""
    operands = [(torch.randn(m, k, device=DEVICE), torch.randn(k, n, device=DEVICE)) for m, k, n in shapes]
    seconds = best_of(lambda: [x @ y for x, y in operands], repeats)
    return seconds, sum(2 * m * k * n for m, k, n in shapes)


def training_step(config, objective, opt, gen, noise, buffer):
    """One whole step as the training loop takes it: a fresh batch into `buffer`, forward, backward, Adam."""

    def whole():
        b = two_hot_batch(config.training.batch_size, config.data, gen, out=buffer, noise=noise)
        opt.zero_grad(set_to_none=True)
        objective(b).backward()
        opt.step()

    return whole


def step_parts(config, kernel: str, repeats: int, noise: NoiseStreams) -> dict[str, float]:
    tc = config.training
    gen = make_generator(0, DEVICE)
    model = build_model(config).to(DEVICE)
    opt = build_optimizer(list(model.parameters()), tc)
    batch = two_hot_batch(tc.batch_size, config.data, gen, noise=noise)
    data = best_of(lambda: two_hot_batch(tc.batch_size, config.data, gen, out=batch.x, noise=noise), repeats)

    def objective(b):
        loss = decoder_loss_parts(model.hidden(b.x), model.fc2, b, config.loss, kernel)
        return loss.total + l2_penalty(model, tc.encoder_regularization, tc.decoder_regularization)

    fwd = best_of(lambda: objective(batch), repeats)

    def forward_backward():
        opt.zero_grad(set_to_none=True)
        objective(batch).backward()

    fwd_bwd = best_of(forward_backward, repeats)
    step = best_of(opt.step, repeats)
    total = best_of(training_step(config, objective, opt, gen, noise, batch.x), repeats)
    return {"data": data, "forward_loss": fwd, "backward": fwd_bwd - fwd, "optimizer": step, "step": total}


def kernel_figures(config, kernel: str, repeats: int, noise: NoiseStreams) -> dict:
    """The kernel's step, split, against its GEMM floor."""
    b, d, h = config.training.batch_size, config.data.d, config.model.hidden_size
    floor, flop = gemm_floor(kernel_gemms(kernel, b, d, h), repeats)
    parts = step_parts(config, kernel, repeats, noise)
    return {
        "step_seconds": parts["step"],
        "step_parts_seconds": {k: v for k, v in parts.items() if k != "step"},
        "gemm_floor_seconds": floor,
        "gemm_flops": flop / floor,
        "executed_flop": flop,
        "step_vs_gemm": floor / parts["step"],
        "model_flops_per_s": 10 * b * d * h / parts["step"],
    }


def plain_autograd_objective(model, config, b):
    """The loss left entirely to autograd (the same sparse on/off split): what torch.compile may fuse."""
    tc, w = config.training, config.loss.lambda_on / len(b)
    f = model(b.x)
    on = f.gather(1, b.idx)
    loss = w * (on - b.amps).square().sum() + config.loss.lambda_off / len(b) * (f.square().sum() - on.square().sum())
    return loss + l2_penalty(model, tc.encoder_regularization, tc.decoder_regularization)


def compiled_steps(config, repeats: int, noise: NoiseStreams) -> dict[str, float]:
    """torch.compile of the plain-autograd step against the same step uncompiled (and its compile time)."""
    tc = config.training
    gen = make_generator(0, DEVICE)
    batch = two_hot_batch(tc.batch_size, config.data, gen, noise=noise)
    figures = {}
    for name in ("eager", "compiled"):
        model = build_model(config).to(DEVICE)
        opt = build_optimizer(list(model.parameters()), tc)
        objective = lambda b, m=model: plain_autograd_objective(m, config, b)  # noqa: E731
        if name == "compiled":
            objective = torch.compile(objective)
        whole = training_step(config, objective, opt, gen, noise, batch.x)
        started = time.perf_counter()
        whole()
        sync()
        figures[f"{name}_first_call_seconds"] = time.perf_counter() - started
        figures[f"{name}_step_seconds"] = best_of(whole, repeats)
    return figures


# --- a faithful re-implementation of the research code's pipeline -----------------------------------


def research_steps(config, steps: int) -> float:
    """Seconds per step of the research pipeline (DataLoader collating per-sample draws + dense loss)."""
    dc, tc = config.data, config.training
    dataset = TwoHotDataset(tc.batch_size * (steps + 1), dc.d, dc.noise_variance, dc.amplitude_min)
    loader = DataLoader(dataset, batch_size=tc.batch_size, shuffle=False)
    model = build_model(config).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    it = iter(loader)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        noisy, clean = (t.to(DEVICE) for t in next(it))
        opt.zero_grad()
        loss = scaled_mse(model(noisy), clean, config.loss.lambda_on)
        loss = loss + tc.decoder_regularization * model.fc2.weight.square().sum()
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def research_eval_seconds(config) -> float:
    """The research code's evaluation pass: a DataLoader over a per-sample test set, dense loss."""
    dc, tc = config.data, config.training
    loader = DataLoader(TwoHotDataset(dc.n_test, dc.d, dc.noise_variance, dc.amplitude_min), batch_size=tc.batch_size)
    model = build_model(config).to(DEVICE)
    t = time.perf_counter()
    with torch.no_grad():
        for noisy, clean in loader:
            F.mse_loss(model(noisy.to(DEVICE)), clean.to(DEVICE))
    sync()
    return time.perf_counter() - t


FORMED = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_pairs.npz"


def _share(seconds: float, epoch_seconds: float) -> str:
    return f"{seconds:.3f} s ({seconds / epoch_seconds:.1%} of the epoch)"


def formed_pairs_seconds() -> float | None:
    """The blob measurement on a real formed reference checkpoint's 524,288 pairs (three blobs)."""
    if not FORMED.exists():
        return None
    from mftctl.science.blobs import measure_blobs

    pairs = np.load(FORMED)["epoch20"].astype(np.float32)
    return best_of(lambda: measure_blobs(pairs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="reference_3blob")
    parser.add_argument("--steps", type=int, default=7, help="repeats of each timed part")
    parser.add_argument("--baseline-steps", type=int, default=3, help="research-pipeline steps timed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--no-keep-blocks", action="store_true", help="leave glibc's malloc at its defaults")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile on the plain-autograd step")
    args = parser.parse_args()

    global DEVICE
    DEVICE = torch.device(args.device)
    config = load_config(args.preset, overrides=[f'device="{args.device}"', "training.epochs=1"])
    b, d, h = config.training.batch_size, config.data.d, config.model.hidden_size
    steps_per_epoch = math.ceil(config.data.n_train / b)
    research_step = research_steps(config, args.baseline_steps)
    research_eval = research_eval_seconds(config)
    kept = False if args.no_keep_blocks else keep_large_blocks()

    with NoiseStreams(0, DEVICE) as noise:
        kernels = {kernel: kernel_figures(config, kernel, args.steps, noise) for kernel in KERNELS}
        compiled = compiled_steps(config, args.steps, noise) if args.compile else None
    epoch = train(config).epochs[0]
    model = build_model(config).to(DEVICE)
    diag = best_of(lambda: epoch_metrics(model, config), 3)
    formed = formed_pairs_seconds()
    research_epoch = research_step * steps_per_epoch + research_eval + diag
    figures = {
        "preset": args.preset,
        "device": str(DEVICE),
        "threads": torch.get_num_threads(),
        "keep_large_blocks": kept,
        "batch": b,
        "d": d,
        "h": h,
        "kernels": kernels,
        "gram_speedup_per_step": kernels["dense"]["step_seconds"] / kernels["gram"]["step_seconds"],
        "epoch_kernel": config.training.decoder_kernel,
        "epoch_seconds": epoch.seconds,
        "epoch_train_seconds": epoch.train_seconds,
        "samples_per_s": epoch.samples_per_s,
        "diagnostics_seconds": diag,
        "diagnostics_share_of_epoch": diag / epoch.seconds,
        "blob_measurement_formed_seconds": formed,
        "research_step_seconds": research_step,
        "research_epoch_seconds_estimated": research_epoch,
        "speedup_epoch_vs_research": research_epoch / epoch.seconds,
    }
    if compiled is not None:
        figures["torch_compile"] = compiled
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    title = f"training step, {args.preset} on {DEVICE} (B={b}, d={d}, h={h}, {figures['threads']} threads)"
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = []
    for kernel, k in kernels.items():
        rows += [
            (f"{kernel} kernel: step", f"{k['step_seconds'] * 1e3:.1f} ms"),
            *((f"  {part}", f"{v * 1e3:.1f} ms") for part, v in k["step_parts_seconds"].items()),
            (
                "  GEMM floor (its own multiplies alone)",
                f"{k['gemm_floor_seconds'] * 1e3:.1f} ms, {k['executed_flop'] / 1e9:.1f} GFLOP "
                f"at {k['gemm_flops'] / 1e9:.0f} GFLOP/s",
            ),
            ("  step rate / GEMM rate (floor / step)", f"{k['step_vs_gemm']:.0%}"),
            ("  model FLOP rate (10·B·d·h / step)", f"{k['model_flops_per_s'] / 1e9:.0f} GFLOP/s"),
        ]
    rows += [
        ("gram speed-up per step over dense", f"{figures['gram_speedup_per_step']:.2f}×"),
        (f"whole epoch, {config.training.decoder_kernel} kernel (train, eval, diagnostics)", f"{epoch.seconds:.2f} s"),
        ("training samples/s", f"{epoch.samples_per_s:,.0f}"),
        ("blob measurement per epoch (fresh weights)", _share(diag, epoch.seconds)),
        *(
            [
                (
                    "blob measurement, formed reference pairs",
                    f"{formed:.3f} s ({formed / epoch.seconds:.1%} of the epoch)",
                )
            ]
            if formed is not None
            else []
        ),
        ("research pipeline step", f"{research_step * 1e3:.0f} ms"),
        ("research pipeline epoch (from its step)", f"{research_epoch:.1f} s"),
        ("mftctl speed-up per epoch", f"{figures['speedup_epoch_vs_research']:.1f}×"),
        ("large freed blocks kept (glibc)", "yes" if kept else "no"),
    ]
    if args.compile:
        c = figures["torch_compile"]
        rows += [
            ("plain-autograd step, eager", f"{c['eager_step_seconds'] * 1e3:.1f} ms"),
            (
                "plain-autograd step, torch.compile",
                f"{c['compiled_step_seconds'] * 1e3:.1f} ms (first call {c['compiled_first_call_seconds']:.1f} s)",
            ),
        ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
