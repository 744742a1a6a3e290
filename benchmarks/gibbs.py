"""SGLD temperature against curvature (docs/science.md, "Temperature against curvature"; docs/findings.md):
does a weight's stationary extra variance at temperature T follow T/κ, κ its loss curvature?

1. Train at T = 0 (plain gradient steps) from --init for --warm steps: the starting state.
2. From that state, for each T: --steps more steps at temperature T, every run with the SAME minibatches
   (one data stream seed: minibatch noise held fixed across T), recording W1 and W2 every --every steps
   over the second half of the steps.
3. κ: Hutchinson's Hessian diagonal (science/curvature.py) at the starting state, on a batch of --kappa
   samples, --probes probes.
4. Per T: each weight's variance over the recorded snapshots minus its variance at T = 0 (what minibatch
   noise alone gives) is its extra variance; reported as the median over weights with κ > 0 of
   extra·κ/T (1 for a Gibbs law), and the mean extra variance's log-log slope against T (1 for a law
   ∝ T). Stationarity: the weights' variance over the first half of the window against the second half.

    python benchmarks/gibbs.py [--temperatures 0 1e-6 1e-5 1e-4 1e-3] [--warm 1500] [--steps 1500]

Runs in-process on the CPU at `quick` shapes; seconds are on whatever the machine is doing (load printed).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

from mftctl.config import preset_dict, validate
from mftctl.config_input import apply_overrides
from mftctl.science.curvature import hessian_diagonal
from mftctl.science.data import make_generator, two_hot_batch
from mftctl.science.losses import decoder_loss_parts, l2_penalty
from mftctl.science.model import build_model
from mftctl.science.optim import build_optimizer
from mftctl.science.train import seed_everything


def _config(args: argparse.Namespace, temperature: float):
    return validate(
        apply_overrides(
            preset_dict("quick"),
            [
                "training.optimizer=sgld",
                f"training.temperature={temperature}",
                f"training.learning_rate={args.lr}",
                f"model.encoder_initialization_scale={args.init}",
                f"model.decoder_initialization_scale={args.init}",
            ],
        )
    )


def _steps(model, config, steps: int, data_seed: int, record_every: int = 0, record_from: int = 0):
    """`steps` optimisation steps on the stream of `data_seed`; snapshots of (W1, W2) as requested."""
    optimizer = build_optimizer(list(model.parameters()), config.training)
    gen = make_generator(data_seed, torch.device("cpu"))
    tc = config.training
    snaps = []
    for step in range(1, steps + 1):
        batch = two_hot_batch(tc.batch_size, config.data, gen)
        loss = decoder_loss_parts(model.hidden(batch.x), model.fc2, batch, config.loss, tc.decoder_kernel).total
        objective = loss + l2_penalty(model, tc.encoder_regularization, tc.decoder_regularization)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        if record_every and step > record_from and step % record_every == 0:
            snaps.append(
                np.concatenate([model.fc1.weight.detach().numpy().ravel(), model.fc2.weight.detach().numpy().ravel()])
            )
    return float(loss.detach()), np.array(snaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 1e-6, 1e-5, 1e-4, 1e-3])
    parser.add_argument("--init", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--warm", type=int, default=1500, help="T = 0 steps to the starting state")
    parser.add_argument("--steps", type=int, default=1500, help="steps at each temperature")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--kappa", type=int, default=20_000, help="samples for the Hessian diagonal")
    parser.add_argument("--probes", type=int, default=64)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    started = time.perf_counter()
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    base = _config(args, 0.0)
    seed_everything(base.seed)
    model = build_model(base)
    warm_loss, _ = _steps(model, base, args.warm, data_seed=1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    batch = two_hot_batch(args.kappa, base.data, make_generator(99, torch.device("cpu")))
    kappa = hessian_diagonal(model, batch, base, probes=args.probes, generator=torch.Generator().manual_seed(5))
    kappa_all = np.concatenate([kappa["fc1.weight"].numpy().ravel(), kappa["fc2.weight"].numpy().ravel()])
    positive = kappa_all > 0
    print(
        f"quick shapes, SGLD lr {args.lr}, init {args.init}: starting state after {args.warm} T = 0 steps, train "
        f"loss {warm_loss:.4f}; κ > 0 for {positive.mean():.1%} of the weights, median κ {np.median(kappa_all):.3g}"
    )
    print(
        f"{'T':>8} {'loss':>8} {'var, mean':>11} {'extra var, mean':>16} {'median extra·κ/T':>17} "
        f"{'var 1st/2nd half':>17}"
    )
    half = args.steps // 2
    variances = {}
    rows = []
    for temperature in sorted(args.temperatures):
        model.load_state_dict(state)
        torch.manual_seed(1234)  # the same Langevin noise stream shape at every T (scaled by √T)
        loss, snaps = _steps(
            model, _config(args, temperature), args.steps, data_seed=2, record_every=args.every, record_from=half
        )
        var = snaps.var(axis=0, ddof=1)
        first, second = snaps[: len(snaps) // 2].var(axis=0, ddof=1), snaps[len(snaps) // 2 :].var(axis=0, ddof=1)
        variances[temperature] = var
        extra = var - variances.get(0.0, np.zeros_like(var))
        ratio = float(np.median(extra[positive] * kappa_all[positive] / temperature)) if temperature > 0 else math.nan
        drift = float(first.mean() / second.mean())
        rows.append((temperature, float(extra.mean())))
        print(
            f"{temperature:>8.0e} {loss:>8.4f} {var.mean():>11.3e} {extra.mean():>16.3e} {ratio:>17.3f} {drift:>17.2f}"
        )
    hot = [(t, e) for t, e in rows if t > 0 and e > 0]
    if len(hot) >= 2:
        xs, ys = [math.log10(t) for t, _ in hot], [math.log10(e) for _, e in hot]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        print(
            f"log-log slope of the mean extra variance against T over {len(hot)} temperatures: {slope:.2f} (Gibbs: 1)"
        )
    print(f"{time.perf_counter() - started:.0f} s; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
