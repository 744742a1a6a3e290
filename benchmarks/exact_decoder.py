"""The exact decoder's cost and accuracy: `solve_decoder` at the quick, demo and reference shapes (an
encoder as initialised, scaled up so its activations are not linear — the cost does not depend on the
values), its seconds, and how its test loss moves with the number of samples it is solved from.

    python benchmarks/exact_decoder.py [--presets quick demo reference_3blob] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from mftctl.config import preset_dict, validate
from mftctl.science.data import fixed_test_set
from mftctl.science.decoder import SOLVE_SAMPLES, solve_decoder, with_decoder
from mftctl.science.model import build_model
from mftctl.science.train import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["quick", "demo", "reference_3blob"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}; load average at start {os.getloadavg()[0]:.2f}")
    for preset in args.presets:
        config = validate(preset_dict(preset))
        torch.manual_seed(0)
        model = build_model(config)
        with torch.no_grad():
            model.fc1.weight.mul_(20.0)
        test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            solved = solve_decoder(model, config)
            seconds.append(time.perf_counter() - started)
        loss = evaluate(with_decoder(model, solved), test, config)[0]
        shape = f"d={config.data.d} h={config.model.hidden_size}"
        print(f"{preset:16} {shape:14} solve {min(seconds):6.2f} s (all: {', '.join(f'{s:.2f}' for s in seconds)})")
        for n in (SOLVE_SAMPLES // 4, SOLVE_SAMPLES // 2):
            other = evaluate(with_decoder(model, solve_decoder(model, config, samples=n)), test, config)[0]
            print(
                f"  {n:>7,} samples: test loss {other:.5f}, {100 * (other / loss - 1):+.2f}% against {SOLVE_SAMPLES:,}"
            )
        print(f"  {SOLVE_SAMPLES:>7,} samples: test loss {loss:.5f}")


if __name__ == "__main__":
    main()
