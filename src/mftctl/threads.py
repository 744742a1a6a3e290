"""How many threads a computing process uses, and how they wait: one policy for every process that
computes — the worker (attached, detached, a pool's, a stage-2 child's, a Slurm task's), `diagnose` and
`plot` and their drawers.

Threads: the CPUs this process may really use, not `os.cpu_count()`: the least of its affinity mask
(`taskset`, cpusets), its cgroup's CPU quota (`cpu.max`, v1 `cpu.cfs_quota_us`: containers, systemd
slices, Slurm's cgroup plugin) and Slurm's `SLURM_CPUS_PER_TASK` — divided among a pool's jobs. A count
the user set wins: `MFTCTL_THREADS`, else `OMP_NUM_THREADS`. A run's numbers depend on its thread count
(docs/guarantees.md), so the count is fixed when the run starts, recorded in `extra.numerics`, and
`MFTCTL_THREADS=N` reproduces it exactly.

Waiting: torch's CPU build runs its parallel regions on GNU OpenMP, whose threads spin at every barrier
(300,000 turns by default) before they sleep. On a core shared with other work a spinning thread burns
the time slice its descheduled sibling needs, and a run collapses 4–50× (benchmarks/contention.py).
Passive waiting (sleep at once) avoids that but pays a wake-up at every barrier on a quiet machine. The
policy spins briefly, then sleeps (`GOMP_SPINCOUNT=1000`, a few microseconds): a sibling that is running
arrives within the spin, as on a quiet machine; one that was descheduled is waited for asleep. It
adapts at every barrier, so load that arrives mid-run is handled too, and it never changes a result
(waiting is not arithmetic). A wait setting the user made (`OMP_WAIT_POLICY`, `GOMP_SPINCOUNT`) is kept.
libgomp reads it when torch loads, so `apply_wait_policy` runs before torch is imported.

Light on purpose (no torch, no numpy): the CLI's boundary checks the variables before any command runs.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

THREADS_ENV = "MFTCTL_THREADS"
# Set by a pool for its workers (not a user setting): how many jobs share this process's CPUs.
SHARE_ENV = "MFTCTL_THREAD_SHARE"
# The brief spin before sleeping, in libgomp's turns (docs/performance.md "A busy machine" measures it).
SPIN_TURNS = "1000"
USER_WAIT_ENVS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
_MINE = "MFTCTL_SPIN"  # marks a GOMP_SPINCOUNT that mftctl set, not the user
KEPT = "kept from the run's first start"
# More threads than this is never a thread count but a typo (99999 threads exhaust the process).
MAX_THREADS = 1024


@dataclass(frozen=True)
class ThreadPolicy:
    """A process's threads and how they wait, with where each came from (recorded per run)."""

    threads: int
    threads_from: str  # e.g. "MFTCTL_THREADS", "affinity: 2 CPUs", "cgroup quota: 1 CPU, shared by 2 jobs"
    wait: str  # e.g. "GOMP_SPINCOUNT=1000 (mftctl)", "OMP_WAIT_POLICY=PASSIVE (yours)"

    def as_record(self) -> dict[str, int | str]:
        return {"threads": self.threads, "threads_from": self.threads_from, "wait_policy": self.wait}


def _whole(name: str, value: str, *, low: int = 1, high: int = MAX_THREADS) -> int:
    """A whole number from an environment variable, or a one-line refusal naming it and the way out."""
    text = value.strip()
    if not text.isdecimal() or not low <= int(text) <= high:
        raise ConfigError(
            f"{name}={value!r} is not a whole number of threads from {low} to {high}; "
            f"unset it (`unset {name}`) or set it like {name}=2"
        )
    return int(text)


def check_environment() -> None:
    """Refuse, before anything is written, a thread setting that no process could use."""
    thread_policy(jobs=1)


def _affinity_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def quota_cpus(quota: int, period: int) -> int | None:
    """CPUs a CFS quota allows, rounded up (a cgroup is throttled as a whole, so a part CPU still runs
    every thread); None for no limit."""
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _tightest(folder: Path, top: Path, quota_of: Callable[[Path], tuple[str, str] | None]) -> int | None:
    """The fewest CPUs any cgroup from `folder` up to `top` allows (limits nest), None where none limits.
    `quota_of(folder)`: its (quota, period) as the kernel writes them, or None."""
    found: list[int] = []
    here = folder
    while True:
        pair = quota_of(here)
        if pair is not None and pair[0].lstrip("-").isdecimal() and pair[1].isdecimal():
            cpus = quota_cpus(int(pair[0]), int(pair[1]))  # v1's -1 and v2's "max": no limit
            if cpus is not None:
                found.append(cpus)
        if here == top or here.parent == here:
            break
        here = here.parent
    return min(found) if found else None


def _v2_quota(folder: Path) -> tuple[str, str] | None:
    quota, _, period = (_read(folder / "cpu.max") or "").partition(" ")
    return (quota, period) if quota else None


def _v1_quota(folder: Path) -> tuple[str, str] | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    return (quota, period) if quota and period else None


def cgroup_v2_cpus(folder: Path, top: Path) -> int | None:
    """The tightest `cpu.max` from `folder` up to `top`."""
    return _tightest(folder, top, _v2_quota)


def cgroup_v1_cpus(folder: Path, top: Path) -> int | None:
    """The tightest `cpu.cfs_quota_us` / `cpu.cfs_period_us` from `folder` up to `top`."""
    return _tightest(folder, top, _v1_quota)


def _cgroup_mounts() -> list[tuple[str, Path, str, set[str]]]:
    """(fstype, mount point, root inside the hierarchy, options) of each cgroup mount of this process."""
    mounts = []
    text = _read(Path("/proc/self/mountinfo")) or ""
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append((tail[0], Path(fields[4]), fields[3], set(tail[2].split(","))))
    return mounts


def cgroup_cpus() -> int | None:
    """The CPUs this process's cgroup quota allows (v2 or v1), None where none limits or none is found."""
    memberships = {}  # controller ("" for v2) -> path inside its hierarchy
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(",") if parts[1] else [""]:
                memberships[name] = parts[2]
    found = []
    for fstype, mount, root, options in _cgroup_mounts():
        controller = "" if fstype == "cgroup2" else ("cpu" if "cpu" in options else None)
        if controller is None or controller not in memberships:
            continue
        inside = os.path.relpath(memberships[controller], root) if root != "/" else memberships[controller]
        folder = mount / inside.lstrip("/") if not inside.startswith("..") else mount
        reader = cgroup_v2_cpus if fstype == "cgroup2" else cgroup_v1_cpus
        cpus = reader(folder, mount)
        if cpus is not None:
            found.append(cpus)
    return min(found) if found else None


def usable_cpus() -> tuple[int, str]:
    """The CPUs this process may use and what bounds them: its affinity, its cgroup's quota, Slurm's
    grant — the least of those that are set."""
    limits = [(_affinity_cpus(), "affinity")]
    quota = cgroup_cpus()
    if quota is not None:
        limits.append((quota, "cgroup quota"))
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm:
        limits.append((_whole("SLURM_CPUS_PER_TASK", slurm, high=1 << 20), "SLURM_CPUS_PER_TASK"))
    cpus, source = min(limits, key=lambda limit: limit[0])  # ties: the first, the machine's own
    return cpus, source


def _user_threads() -> tuple[int, str] | None:
    if os.environ.get(THREADS_ENV) is not None:
        return _whole(THREADS_ENV, os.environ[THREADS_ENV]), THREADS_ENV
    omp = os.environ.get("OMP_NUM_THREADS")
    if omp:  # OpenMP allows a list (one count per nesting level): the first is this process's
        return _whole("OMP_NUM_THREADS", omp.split(",")[0]), "OMP_NUM_THREADS"
    return None


def _wait_policy() -> str:
    if os.environ.get(_MINE) == SPIN_TURNS and os.environ.get("GOMP_SPINCOUNT") == SPIN_TURNS:
        if not os.environ.get("OMP_WAIT_POLICY"):
            return f"GOMP_SPINCOUNT={SPIN_TURNS} (mftctl)"
    mine = [f"{name}={os.environ[name]}" for name in USER_WAIT_ENVS if os.environ.get(name)]
    return f"{', '.join(mine)} (yours)" if mine else "libgomp's default (torch was loaded before mftctl)"


def _running_threads(pid: int) -> int:
    """Threads of process `pid` the kernel has runnable now (state R)."""
    running = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        stat = _read(Path(f"/proc/{pid}/task/{task}/stat")) or ""
        fields = stat.rpartition(")")[2].split()
        running += bool(fields) and fields[0] == "R"
    return running


def busy_cpus(samples: int = 8, gap_s: float = 0.005) -> int:
    """CPUs other work keeps busy now: the runnable tasks the kernel counts (`procs_running`) less this
    process's and its parent's own (the mftctl that started it may be drawing its progress), the fewest
    seen over a few milliseconds — a passing blip is not load, CPU-bound work is runnable all the time."""
    counts = []
    ours = (os.getpid(), os.getppid())
    for index in range(samples):
        text = _read(Path("/proc/stat")) or ""
        line = next((x for x in text.splitlines() if x.startswith("procs_running ")), None)
        if line is None:
            return 0  # not Linux: nothing to go by
        counts.append(int(line.split()[1]) - sum(_running_threads(pid) for pid in ours))
        if index + 1 < samples:
            time.sleep(gap_s)
    return max(0, min(counts))


def thread_policy(jobs: int | None = None) -> ThreadPolicy:
    """This process's policy. `jobs`: how many processes share its CPUs (default: the share a pool set
    for its workers in $MFTCTL_THREAD_SHARE, else 1)."""
    if jobs is None:
        jobs = _whole(SHARE_ENV, os.environ[SHARE_ENV]) if os.environ.get(SHARE_ENV) else 1
    user = _user_threads()
    if user is not None:  # the user's count, whatever the pool: it keeps a cell's numbers the same
        threads, threads_from = user
    else:
        cpus, source = usable_cpus()
        threads = max(1, cpus // jobs)
        threads_from = f"{source}: {cpus} CPU{'s' * (cpus != 1)}" + (f", shared by {jobs} jobs" if jobs > 1 else "")
    return ThreadPolicy(threads, threads_from, _wait_policy())


def _cut_to_free(share: ThreadPolicy, busy: int) -> ThreadPolicy:
    """The share cut to the CPUs other work leaves free (`busy`: busy_cpus), as threads that wait at every
    barrier for a sibling the scheduler has taken off its core are slower than fewer threads
    (benchmarks/contention.py). procs_running counts the whole machine's tasks, so the free CPUs are the
    machine's less them."""
    free = max(1, (os.cpu_count() or share.threads) - busy)
    if free >= share.threads:
        return share
    return ThreadPolicy(free, f"{share.threads_from}, {busy} busy with other work at its start", share.wait)


def run_policy(recorded: dict[str, Any] | None) -> ThreadPolicy:
    """The policy of one run as it starts in a worker: a count the user set; else the count the run
    recorded when it first started (a resumed run goes on as it began: its numbers depend on it); else
    this worker's share of the CPUs, less those other work keeps busy right now."""
    user = _user_threads()
    if user is None and recorded and isinstance(recorded.get("threads"), int):
        first = str(recorded.get("threads_from") or "not recorded")
        kept = first if first.startswith(KEPT) else f"{KEPT} ({first})"
        return ThreadPolicy(recorded["threads"], kept, _wait_policy())
    share = thread_policy()
    if user is not None or share.threads <= 1:
        return share  # nothing to choose
    return _cut_to_free(share, busy_cpus())


def apply_wait_policy() -> None:
    """Set the brief spin in this process's environment unless the user chose a wait; it takes effect
    where torch (its OpenMP runtime) has not been loaded yet, and in every process started from here."""
    if not any(os.environ.get(name) for name in USER_WAIT_ENVS):
        os.environ["GOMP_SPINCOUNT"] = SPIN_TURNS
        os.environ[_MINE] = SPIN_TURNS  # so that the workers started from here record it as mftctl's


def torch_loaded() -> bool:
    return "torch" in sys.modules


# Whether this process's torch is mftctl's to set up: true in the CLI and the worker, and from Python
# when mftctl is the first to load torch; a torch the user loaded and set up first is left as it is.
_OWNS_TORCH = False


def claim_process() -> None:
    """Where mftctl starts a process's computing, before torch loads: the wait policy, and the thread
    count once torch is imported (`configure_torch`)."""
    global _OWNS_TORCH
    if not torch_loaded():
        apply_wait_policy()
        _OWNS_TORCH = True


def configure_torch(policy: ThreadPolicy | None = None) -> ThreadPolicy | None:
    """Give torch this process's thread count (or `policy`'s), where this process is mftctl's
    (`claim_process`); the policy applied, or None. Call it after importing torch, before computing."""
    if not _OWNS_TORCH:
        return None
    policy = policy or thread_policy()
    import torch

    if torch.get_num_threads() != policy.threads:
        torch.set_num_threads(policy.threads)
    return policy


def pool_env(jobs: int) -> dict[str, str]:
    """What a pool adds to its workers' environment: the share each takes of the CPUs."""
    return {SHARE_ENV: str(max(1, jobs))}
