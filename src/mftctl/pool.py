"""A local pool of worker subprocesses with one live display: an overall bar and one bar per running run."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field

from rich.console import Console

from .config import config_from_json
from .progress import fields, make_progress
from .runner import ProgressState, parse_event, progress_state, start_worker, stop_worker
from .store import ACTIVE, Store


@dataclass
class PoolResult:
    statuses: dict[int, str] = field(default_factory=dict)
    interrupted: bool = False
    # Runs this pool did not run: deleted meanwhile, or claimed first by another mftctl (its worker
    # records their status; this pool leaves them as they are).
    left: dict[int, str] = field(default_factory=dict)


def _relay(run_id: int, proc: subprocess.Popen, events: queue.Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        event = parse_event(line)
        if event is not None:
            events.put((run_id, event))
    events.put((run_id, None))  # stdout closed: the worker is exiting


def run_pool(store: Store, run_ids: list[int], *, jobs: int, console: Console, label: str = "sweep") -> PoolResult:
    """Run the queued runs, at most `jobs` at a time. Ctrl-C stops the running workers (they are marked
    killed) and leaves the runs not yet started queued."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {"MFTCTL_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    pending = deque(run_ids)
    active: dict[int, tuple[subprocess.Popen, ProgressState, int]] = {}
    events: queue.Queue = queue.Queue()
    result = PoolResult()
    with make_progress(console) as progress:
        overall = progress.add_task(
            f"{label}: 0 done, 0 failed", total=len(run_ids), epoch="", loss="", test="", rate=""
        )
        try:
            while pending or active:
                while pending and len(active) < jobs:
                    run_id = pending.popleft()
                    run = store.find_run(run_id)
                    if run is None or run.status != "queued":
                        result.left[run_id] = "deleted" if run is None else f"{run.status} elsewhere"
                        progress.update(overall, advance=1)
                        continue
                    state = progress_state(config_from_json(run.config_json))
                    proc = start_worker(store, run_id, env=env)
                    task = progress.add_task(f"  run {run_id}", total=state.total_steps, **fields(state))
                    threading.Thread(target=_relay, args=(run_id, proc, events), daemon=True).start()
                    active[run_id] = (proc, state, task)
                try:
                    run_id, event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                proc, state, task = active[run_id]
                if event is not None:
                    state.apply(event)
                    progress.update(task, completed=state.done_steps, **fields(state))
                    continue
                code = proc.wait()
                del active[run_id]
                progress.remove_task(task)
                run = store.find_run(run_id)
                if run is None:  # deleted while it ran
                    result.left[run_id] = "deleted"
                    continue
                if run.status == "running" and run.pid != proc.pid:  # another mftctl's worker claimed it
                    result.left[run_id] = "running elsewhere"
                    progress.update(overall, advance=1)
                    continue
                if run.status in ACTIVE:  # died without its final word
                    store.finish_run(run_id, "crashed", f"the worker exited with code {code} without finishing")
                result.statuses[run_id] = store.get_run(run_id).status
                done = sum(s == "completed" for s in result.statuses.values())
                progress.update(
                    overall, advance=1, description=f"{label}: {done} done, {len(result.statuses) - done} failed"
                )
        except KeyboardInterrupt:
            result.interrupted = True
            for proc, _, _ in active.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            for run_id, (proc, _, _) in active.items():
                stop_worker(proc, store, run_id)
                result.statuses[run_id] = store.get_run(run_id).status
    return result
