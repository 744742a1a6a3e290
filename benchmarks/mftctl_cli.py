"""What the benchmarks share: mftctl run as a user runs it (a fresh process per command), timed, and a
database's runs read back through `mftctl list --format json`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def mftctl(*args: str, db: Path) -> list[str]:
    """The command line of `mftctl ARGS --db DB`."""
    return [sys.executable, "-m", "mftctl", *args, "--db", str(db)]


def timed(cmd: list[str]) -> float:
    """Seconds `cmd` ran; a failing command ends the benchmark with its error."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr or done.stdout)
    return wall


def listed_runs(db: Path) -> list[dict]:
    done = subprocess.run(mftctl("list", "--format", "json", db=db), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
