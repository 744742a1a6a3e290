"""A local pool of persistent workers with one live display: an overall bar and one bar per running run.

Each worker (`mftctl worker --serve`) imports torch once and trains the runs it is handed one after
another, so a cell costs its training and little else. A run that fails is recorded by its worker, which
goes on to the next; a worker that dies (killed, out of memory) has its current run marked `crashed`,
and a fresh worker takes its place for the runs still waiting.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console

from ..config import config_from_json
from ..status import ACTIVE, RunStatus
from ..store import reads, writes
from ..store.engine import Store
from ..threads import pool_env
from .events import Done, Ready, decode
from .launch import start_server, stop_worker
from .progress import ProgressState, fields, make_progress, progress_state


@dataclass
class PoolResult:
    statuses: dict[int, str] = field(default_factory=dict)
    interrupted: bool = False
    # Runs this pool did not run: deleted meanwhile, or claimed first by another mftctl (its worker
    # records their status; this pool leaves them as they are).
    left: dict[int, str] = field(default_factory=dict)


@dataclass
class _Slot:
    """One persistent worker and the run it is training (None: idle or starting)."""

    proc: subprocess.Popen
    run_id: int | None = None
    state: ProgressState | None = None
    task: int | None = None


def _relay(slot: int, proc: subprocess.Popen, events: queue.Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        event = decode(line)
        if event is not None:
            events.put((slot, event))
    events.put((slot, None))  # stdout closed: the worker is exiting


def run_pool(
    store: Store,
    run_ids: list[int],
    *,
    jobs: int,
    console: Console,
    label: str = "sweep",
    more: Callable[[], list[int]] | None = None,
    expected: int | None = None,
) -> PoolResult:
    """Run the queued runs, at most `jobs` at a time. Ctrl-C stops the running workers (their runs are
    marked killed) and leaves the runs not yet started queued.

    `more`, when given, is asked for further runs whenever a worker is free and none is waiting (an
    adaptive search's next trial, chosen knowing every trial so far); an empty list means no more.
    `expected` is how many runs the bar counts to in all (default: run_ids)."""
    # Each worker takes its share of the CPUs this process may use (threads.py); a thread count the user
    # set is kept, which is what makes a cell's numbers the same under any --jobs.
    env = pool_env(jobs)
    pending = deque(run_ids)
    total = expected if expected is not None else len(run_ids)

    def refill() -> bool:
        """Whether a run is waiting, asking `more` for one when none is."""
        nonlocal more
        if not pending and more is not None:
            pending.extend(more())
            if not pending:
                more = None  # it said no more
        return bool(pending)

    slots: dict[int, _Slot] = {}
    events: queue.Queue = queue.Queue()
    result = PoolResult()
    next_slot = iter(range(1 << 30))

    def start() -> None:
        index = next(next_slot)
        proc = start_server(store, env=env)
        slots[index] = _Slot(proc)
        threading.Thread(target=_relay, args=(index, proc, events), daemon=True).start()

    def hand_out(slot: _Slot, progress) -> None:
        """Give a ready worker the next run still queued, or close its stdin (it exits) when none is left."""
        while refill():
            run_id = pending.popleft()
            run = reads.find_run(store, run_id)
            if run is None or run.status != RunStatus.queued:
                result.left[run_id] = "deleted" if run is None else f"{run.status} elsewhere"
                progress.update(overall, advance=1)
                continue
            slot.run_id, slot.state = run_id, progress_state(config_from_json(run.config_json))
            slot.task = progress.add_task(f"  run {run_id}", total=slot.state.total_steps, **fields(slot.state))
            try:
                slot.proc.stdin.write(f"{run_id}\n")
                slot.proc.stdin.flush()
            except OSError:  # it died since it said ready: the run waits for the fresh worker that replaces it
                pending.appendleft(run_id)
                progress.remove_task(slot.task)
                slot.run_id = None
            return
        slot.run_id = None
        slot.proc.stdin.close()

    def finished(slot: _Slot, progress, reason: str | None) -> None:
        """The slot's run ended (`done` event), or its worker died mid-run (reason given)."""
        run_id, slot.run_id = slot.run_id, None
        progress.remove_task(slot.task)
        run = reads.find_run(store, run_id)
        if run is None:  # deleted while it ran
            result.left[run_id] = "deleted"
            return
        if run.status == RunStatus.running and run.pid != slot.proc.pid:  # another mftctl's worker claimed it
            result.left[run_id] = "running elsewhere"
            progress.update(overall, advance=1)
            return
        if run.status in ACTIVE and reason is not None:  # died without its final word
            writes.finish_run(store, run_id, RunStatus.crashed, reason)
        result.statuses[run_id] = reads.get_run(store, run_id).status
        progress.update(overall, advance=1, description=_tally(label, result.statuses))

    with make_progress(console) as progress:
        overall = progress.add_task(f"{label}: 0 done, 0 failed", total=total, epoch="", loss="", test="", rate="")
        try:
            for _ in range(min(jobs, max(len(pending), total if more is not None else 0))):
                start()
            while slots:
                try:
                    index, event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                slot = slots[index]
                if event is None:  # the worker exited: at the end, or died
                    code = slot.proc.wait()
                    del slots[index]
                    if slot.run_id is not None:
                        finished(slot, progress, f"the worker exited with code {code} without finishing")
                    if refill():
                        start()
                elif isinstance(event, Ready):
                    hand_out(slot, progress)
                elif event.run != slot.run_id:
                    continue  # a late event of a run already settled
                elif isinstance(event, Done):
                    if event.status is None:  # claimed by another mftctl first
                        result.left[slot.run_id] = "running elsewhere"
                        progress.remove_task(slot.task)
                        progress.update(overall, advance=1)
                        slot.run_id = None
                    else:
                        finished(slot, progress, None)
                else:
                    slot.state.apply(event)
                    progress.update(slot.task, completed=slot.state.done_steps, **fields(slot.state))
        except KeyboardInterrupt:
            result.interrupted = True
            for slot in slots.values():
                if slot.proc.poll() is None:
                    slot.proc.send_signal(signal.SIGINT)
            for slot in slots.values():
                if slot.run_id is not None:
                    stop_worker(slot.proc, store, slot.run_id)
                    result.statuses[slot.run_id] = reads.get_run(store, slot.run_id).status
                else:
                    slot.proc.kill()
                    slot.proc.wait()
    return result


def _tally(label: str, statuses: dict[int, str]) -> str:
    """`sweep 3: 5 done, 2 pruned, 1 failed`: the overall bar's words (pruned only where there are any)."""
    done = sum(s == RunStatus.completed for s in statuses.values())
    pruned = sum(s == RunStatus.pruned for s in statuses.values())
    shown = f" {pruned} pruned," if pruned else ""
    return f"{label}: {done} done,{shown} {len(statuses) - done - pruned} failed"
