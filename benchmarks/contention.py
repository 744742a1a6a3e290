"""A run on a busy machine: the same `mftctl train` quiet and beside k CPU-bound burners (k = 1, cores,
2 × cores), the old thread policy against the new one, alternately; and a 4-cell `--jobs 2` sweep quiet
and beside `cores` burners. Each figure is a ratio to the same policy's quiet time.

    python benchmarks/contention.py [--repeats 2] [--quick-epochs 10] [--demo-epochs 3]

Old: what mftctl did before its thread policy — os.cpu_count() threads, libgomp's default wait (spin
300,000 turns at every barrier before sleeping, set explicitly here as GOMP_SPINCOUNT=300000, which is
what libgomp takes when nothing is set). New: the CPUs the process may use, spinning 1,000 turns
(threads.py). A fair share beside `cores` burners is 2× the quiet time (half the cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mftctl_cli import listed_runs, mftctl

POLICIES = {
    "old": {"GOMP_SPINCOUNT": "300000", "MFTCTL_THREADS": str(os.cpu_count() or 1)},
    "new": {},
}
CLEAR = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "MFTCTL_THREADS", "OMP_NUM_THREADS", "MFTCTL_SPIN")


def policy_env(policy: str, jobs: int = 1) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAR}
    extra = dict(POLICIES[policy])
    if policy == "old" and jobs > 1:  # the old pool gave each worker cpu_count // jobs threads
        extra["MFTCTL_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env | extra


class Burners:
    """k processes that spin on a core each, as other work on a shared machine does."""

    def __init__(self, k: int):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]

    def __enter__(self) -> Burners:
        time.sleep(0.3 if self.procs else 0)  # let them reach the scheduler
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def train_once(folder: Path, policy: str, preset: str, epochs: int) -> tuple[float, float]:
    """(training seconds, whole-process wall) of one fresh `mftctl train`."""
    db = folder / f"t{time.monotonic_ns()}.db"
    cmd = mftctl("train", "--preset", preset, "--epochs", str(epochs), "--seed", "7", "--device", "cpu", db=db)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=policy_env(policy))
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr or done.stdout)
    return listed_runs(db)[0]["train_seconds"], wall


def sweep_once(folder: Path, policy: str, sweep_file: Path) -> float:
    db = folder / f"s{time.monotonic_ns()}.db"
    cmd = mftctl("sweep", str(sweep_file), "--jobs", "2", db=db)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=policy_env(policy, jobs=2))
    if done.returncode != 0:
        raise SystemExit(done.stderr or done.stdout)
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick-epochs", type=int, default=10)
    parser.add_argument("--demo-epochs", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    folder = Path(tempfile.mkdtemp(prefix="mftctl-contention-"))
    print(
        f"{cores} cores; load average at start {os.getloadavg()[0]:.2f}; median of {args.repeats}, old/new alternating"
    )
    loads = sorted({0, 1, cores, 2 * cores})
    for preset, epochs in (("quick", args.quick_epochs), ("demo", args.demo_epochs)):
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for k in loads:
            with Burners(k):
                for _ in range(args.repeats):
                    for policy in ("old", "new"):
                        results.setdefault((policy, k), []).append(train_once(folder, policy, preset, epochs))
        print(f"\n{preset} --epochs {epochs}: training s / wall s (× its policy's quiet time)")
        print(f"  {'burners':>8}  {'old train':>18}  {'new train':>18}  {'old wall':>17}  {'new wall':>17}")
        quiet = {
            p: (median([t for t, _ in results[(p, 0)]]), median([w for _, w in results[(p, 0)]])) for p in POLICIES
        }
        for k in loads:
            cells = []
            for index in (0, 1):
                for policy in ("old", "new"):
                    value = median([pair[index] for pair in results[(policy, k)]])
                    cells.append(f"{value:7.2f} ({value / quiet[policy][index]:5.2f}×)")
            print(f"  {k:>8}  {cells[0]:>18}  {cells[1]:>18}  {cells[2]:>17}  {cells[3]:>17}")
        ratios = [quiet["new"][i] / quiet["old"][i] for i in (0, 1)]
        print(f"  quiet new/old: training {ratios[0]:.3f}, wall {ratios[1]:.3f}")
    sweep_file = folder / "four.toml"
    sweep_file.write_text(
        'name = "four"\nbase = "quick"\n[set]\n"training.epochs" = 5\n'
        '[grid]\n"training.learning_rate" = [0.01, 0.02]\n"training.batch_size" = [500, 1000]\n'
    )
    walls: dict[tuple[str, int], list[float]] = {}
    for k in (0, cores):
        with Burners(k):
            for _ in range(args.repeats):
                for policy in ("old", "new"):
                    walls.setdefault((policy, k), []).append(sweep_once(folder, policy, sweep_file))
    print(f"\n4-cell quick sweep, --jobs 2: wall s (× its policy's quiet wall), beside {cores} burners")
    for policy in ("old", "new"):
        quiet, busy = median(walls[(policy, 0)]), median(walls[(policy, cores)])
        print(f"  {policy}: quiet {quiet:.2f}, busy {busy:.2f} ({busy / quiet:.2f}×)")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
