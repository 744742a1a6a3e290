"""Training-step speed against the machine's matrix-multiply rate and against the research code's pipeline.

    python benchmarks/train_step.py --preset reference_3blob [--device cuda] [--json] [--steps 5]

All figures come from one process, so the ratios compare like with like on a shared, noisy machine.
FLOP counts are exact for this model: forward 2·B·d·h multiply-adds, backward 3·B·d·h (the input
gradient of the first layer is not needed), 2 FLOP per multiply-add, so 10·B·d·h FLOP per step.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import DataLoader, Dataset

from mftctl.config import load_config
from mftctl.science.data import make_generator, two_hot_batch
from mftctl.science.diagnostics import epoch_metrics
from mftctl.science.losses import l2_penalty, loss_parts
from mftctl.science.model import TwoLayerNet
from mftctl.science.optim import build_optimizer
from mftctl.science.train import train

DEVICE = torch.device("cpu")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def best_of(fn, repeats: int) -> float:
    """Best (least) wall time of fn() over repeats, after one warm-up call (synchronised on CUDA).

    The least time is the machine's capability with the least interference from other tenants; both the
    GEMM rate and the step use it, so their ratio compares like with like."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return min(times)


def gemm_rate(b: int, d: int, h: int, repeats: int) -> float:
    """FLOP/s of the model's own matrix shapes: (B,d)@(d,h) and (B,h)@(h,d)."""
    x, w1 = torch.randn(b, d, device=DEVICE), torch.randn(d, h, device=DEVICE)
    z, w2 = torch.randn(b, h, device=DEVICE), torch.randn(h, d, device=DEVICE)
    seconds = best_of(lambda: (x @ w1, z @ w2), repeats)
    return 2 * 2 * b * d * h / seconds


def mftctl_step_parts(config, repeats: int) -> dict[str, float]:
    tc = config.training
    gen = make_generator(0, DEVICE)
    model = TwoLayerNet.from_config(config.data.d, config.model).to(DEVICE)
    opt = build_optimizer(list(model.parameters()), tc)
    batch = two_hot_batch(tc.batch_size, config.data, gen)
    data = best_of(lambda: two_hot_batch(tc.batch_size, config.data, gen), repeats)

    def forward():
        return loss_parts(model(batch.x), batch, config.loss).total + l2_penalty(
            model, tc.encoder_regularization, tc.decoder_regularization
        )

    fwd = best_of(forward, repeats)

    def forward_backward():
        opt.zero_grad(set_to_none=True)
        forward().backward()

    fwd_bwd = best_of(forward_backward, repeats)
    step = best_of(opt.step, repeats)

    def whole():
        b = two_hot_batch(tc.batch_size, config.data, gen)
        opt.zero_grad(set_to_none=True)
        (
            loss_parts(model(b.x), b, config.loss).total
            + l2_penalty(model, tc.encoder_regularization, tc.decoder_regularization)
        ).backward()
        opt.step()

    total = best_of(whole, repeats)
    return {"data": data, "forward_loss": fwd, "backward": fwd_bwd - fwd, "optimizer": step, "step": total}


# --- a faithful re-implementation of the research code's pipeline -----------------------------------


class ResearchTwoHotDataset(Dataset):
    """One sample per __getitem__, active coordinates from a per-sample randperm, as the research code."""

    def __init__(self, size: int, d: int, noise_variance: float, amplitude: float):
        self.size, self.d, self.noise_std, self.amplitude = size, d, math.sqrt(noise_variance), amplitude

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        clean = torch.zeros(self.d)
        active = torch.randperm(self.d)[:2]
        clean[active] = self.amplitude
        noisy = clean + self.noise_std * torch.randn(self.d)
        return noisy, clean


def research_loss(pred, clean, lambda_on: float):
    on = (clean != 0).float()
    loss_on = lambda_on * (((pred - clean) * on) ** 2).sum(dim=1).mean()
    loss_off = ((pred * (1 - on)) ** 2).sum(dim=1).mean()
    return loss_on + loss_off


def research_steps(config, steps: int) -> float:
    """Seconds per step of the research pipeline (DataLoader collating per-sample draws + dense loss)."""
    dc, tc = config.data, config.training
    dataset = ResearchTwoHotDataset(tc.batch_size * (steps + 1), dc.d, dc.noise_variance, dc.amplitude_min)
    loader = DataLoader(dataset, batch_size=tc.batch_size, shuffle=False)
    model = TwoLayerNet.from_config(dc.d, config.model).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    it = iter(loader)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        noisy, clean = (t.to(DEVICE) for t in next(it))
        opt.zero_grad()
        loss = research_loss(model(noisy), clean, config.loss.lambda_on)
        loss = loss + tc.decoder_regularization * model.fc2.weight.square().sum()
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def research_eval_seconds(config) -> float:
    """The research code's evaluation pass: a DataLoader over a per-sample test set, dense loss."""
    dc, tc = config.data, config.training
    loader = DataLoader(
        ResearchTwoHotDataset(dc.n_test, dc.d, dc.noise_variance, dc.amplitude_min), batch_size=tc.batch_size
    )
    model = TwoLayerNet.from_config(dc.d, config.model).to(DEVICE)
    t = time.perf_counter()
    with torch.no_grad():
        for noisy, clean in loader:
            F.mse_loss(model(noisy.to(DEVICE)), clean.to(DEVICE))
    sync()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="reference_3blob")
    parser.add_argument("--steps", type=int, default=7, help="repeats of each timed part")
    parser.add_argument("--baseline-steps", type=int, default=3, help="research-pipeline steps timed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()

    global DEVICE
    DEVICE = torch.device(args.device)
    config = load_config(args.preset, overrides=[f'device="{args.device}"', "training.epochs=1"])
    b, d, h = config.training.batch_size, config.data.d, config.model.hidden_size
    steps_per_epoch = math.ceil(config.data.n_train / b)
    flop_per_step = 10 * b * d * h

    gemm = gemm_rate(b, d, h, args.steps)
    parts = mftctl_step_parts(config, args.steps)
    epoch = train(config).epochs[0]
    model = TwoLayerNet.from_config(d, config.model).to(DEVICE)
    diag = best_of(lambda: epoch_metrics(model, config, np.random.default_rng(0)), 2)
    research_step = research_steps(config, args.baseline_steps)
    research_epoch = research_step * steps_per_epoch + research_eval_seconds(config) + diag
    figures = {
        "preset": args.preset,
        "threads": torch.get_num_threads(),
        "batch": b,
        "d": d,
        "h": h,
        "gemm_flops": gemm,
        "step_seconds": parts["step"],
        "step_parts_seconds": {k: v for k, v in parts.items() if k != "step"},
        "step_flops": flop_per_step / parts["step"],
        "step_vs_gemm": flop_per_step / parts["step"] / gemm,
        "epoch_seconds": epoch.seconds,
        "epoch_train_seconds": epoch.train_seconds,
        "samples_per_s": epoch.samples_per_s,
        "diagnostics_seconds": diag,
        "diagnostics_share_of_epoch": diag / epoch.seconds,
        "research_step_seconds": research_step,
        "research_epoch_seconds_estimated": research_epoch,
        "speedup_epoch_vs_research": research_epoch / epoch.seconds,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"training step, {args.preset} on {DEVICE} (B={b}, d={d}, h={h}, {figures['threads']} threads)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("float32 GEMM rate, model shapes", f"{gemm / 1e9:.1f} GFLOP/s"),
        ("mftctl step", f"{parts['step'] * 1e3:.1f} ms"),
        *((f"  {k}", f"{v * 1e3:.1f} ms") for k, v in figures["step_parts_seconds"].items()),
        ("step FLOP rate", f"{figures['step_flops'] / 1e9:.1f} GFLOP/s"),
        ("step rate / GEMM rate", f"{figures['step_vs_gemm']:.0%}"),
        ("whole epoch (train + eval + diagnostics)", f"{epoch.seconds:.2f} s"),
        ("training samples/s", f"{epoch.samples_per_s:,.0f}"),
        ("diagnostics per epoch", f"{diag:.2f} s ({figures['diagnostics_share_of_epoch']:.1%} of the epoch)"),
        ("research pipeline step", f"{research_step * 1e3:.0f} ms"),
        ("research pipeline epoch (from its step)", f"{research_epoch:.1f} s"),
        ("mftctl speed-up per epoch", f"{figures['speedup_epoch_vs_research']:.1f}×"),
    ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
