"""Step time of each model.activation beside tanh3's, in one process (ratios compare like with like).

    python benchmarks/activations.py [--preset demo] [--steps 20] [--device cpu]

One training step as the worker runs it (a fresh batch, the forward pass, the loss by the run's kernel,
the backward pass, Adam), best of --steps after a warm-up, for every activation on the same shapes.
"""

from __future__ import annotations

import argparse
import time

import torch

from mftctl.choices import ACTIVATION_SYMMETRY
from mftctl.config_input import load_config
from mftctl.science.data import make_generator, two_hot_batch
from mftctl.science.losses import decoder_loss_parts, l2_penalty
from mftctl.science.model import build_model
from mftctl.science.optim import build_optimizer


def step_seconds(activation: str, args: argparse.Namespace) -> float:
    config = load_config(args.preset, overrides=[f'model.activation="{activation}"', f'device="{args.device}"'])
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(config).to(device)
    optimizer = build_optimizer(list(model.parameters()), config.training)
    gen = make_generator(0, device)
    tc = config.training

    def step() -> None:
        batch = two_hot_batch(tc.batch_size, config.data, gen)
        optimizer.zero_grad(set_to_none=True)
        loss = decoder_loss_parts(model.hidden(batch.x), model.fc2, batch, config.loss, tc.decoder_kernel).total
        (loss + l2_penalty(model, tc.encoder_regularization, tc.decoder_regularization)).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    base = step_seconds("tanh3", args)
    print(f"preset {args.preset}, {args.device}, best of {args.steps} steps, threads {torch.get_num_threads()}")
    print(f"{'activation':<10} {'symmetry':<8} {'ms/step':>8} {'× tanh3':>8}")
    for activation in ACTIVATION_SYMMETRY:
        seconds = base if activation == "tanh3" else step_seconds(activation, args)
        print(f"{activation:<10} {ACTIVATION_SYMMETRY[activation]:<8} {seconds * 1e3:>8.2f} {seconds / base:>8.2f}")


if __name__ == "__main__":
    main()
