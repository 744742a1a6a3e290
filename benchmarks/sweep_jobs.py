"""Wall time of one sweep file run with --jobs 1 and with --jobs 2, each on a fresh database.

python benchmarks/sweep_jobs.py [examples/lr_batch.toml]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_sweep(sweep: Path, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mftctl",
                "sweep",
                str(sweep.resolve()),
                "--jobs",
                str(jobs),
                "--db",
                str(Path(folder) / "bench.db"),
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def main() -> None:
    sweep = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "examples/lr_batch.toml")
    one = timed_sweep(sweep, 1)
    two = timed_sweep(sweep, 2)
    print(f"{sweep.name}: --jobs 1 {one:.1f} s, --jobs 2 {two:.1f} s, ratio {one / two:.2f}x")


if __name__ == "__main__":
    main()
