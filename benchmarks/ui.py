"""How fast the lab's pages are (`mftctl ui`, issue "The lab in a browser"): a store of --runs runs with
--epochs epoch rows each (synthetic rows written through the store's own write layer, no training), served
by a real `mftctl ui`, measured in Debian's chromium through Playwright:

- the runs page ready: navigation until the table shows its first page of rows;
- the overlay of --overlay runs drawn: navigation to `/?runs=1,...,N&colour=lr` until plotly holds N lines.

Each is measured --repeats times (the first, cold, apart: it draws the page's thumbnails and warms the
server). Prints the load average: these machines are shared.

    python benchmarks/ui.py [--runs 1000] [--epochs 20] [--overlay 200] [--repeats 3] [--bulk]
        [--against OTHER/src]   # another release's server, measured in turn with this one's
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mftctl.config import ExperimentConfig, config_hash
from mftctl.status import RunStatus
from mftctl.store import open_store, writes


def build(db: str, runs: int, epochs: int) -> float:
    started = time.perf_counter()
    store = open_store(db)
    rng = random.Random(0)
    for i in range(runs):
        lr = 10 ** rng.uniform(-3, -1)
        config = ExperimentConfig().model_copy(deep=True)
        config.training.learning_rate = lr
        config.seed = i % 5
        data = config.model_dump()
        run = writes.create_run(
            store,
            name=f"bench-{i}",
            config_json=json.dumps(data),
            config_hash=config_hash(config),
            seed=config.seed,
            epochs_total=epochs,
            preset="quick",
        )
        for epoch in range(1, epochs + 1):
            loss = 30 * (1 + lr * 50) / (1 + epoch) + rng.random()
            values = {
                "epoch": epoch,
                "train_loss": loss,
                "train_loss_on": loss / 2,
                "train_loss_off": loss / 2,
                "test_loss": loss,
                "test_loss_on": loss / 2,
                "test_loss_off": loss / 2,
                "seconds": 1.0,
                "train_seconds": 1.0,
                "samples_per_s": 1e5,
                "lr": lr,
            }
            report = {
                "n_blobs": 1 + epoch // 7,
                "separation": min(1.0, epoch / epochs),
                "silhouette": 0.5,
                "correlation": 0.9,
                "noise_fraction": 0.1,
                "symmetry_error": 0.01,
            }
            writes.record_epoch(store, run.id, values, report)
        writes.finish_run(store, run.id, RunStatus.completed)
    store.close()
    return time.perf_counter() - started


def build_bulk(db: str, runs: int, epochs: int) -> float:
    """The same synthetic store, written in bulk (one transaction of ORM rows, summary columns set
    directly) — for a 10,000-run store, whose row-by-row build would take a quarter of an hour here."""
    from mftctl.store.tables import Epoch, Run

    started = time.perf_counter()
    store = open_store(db)
    rng = random.Random(0)
    losses_of = ("train_loss", "train_loss_on", "train_loss_off", "test_loss", "test_loss_on", "test_loss_off")
    with store.write() as s:
        rows = []
        for i in range(runs):
            lr = 10 ** rng.uniform(-3, -1)
            config = ExperimentConfig().model_copy(deep=True)
            config.training.learning_rate = lr
            config.seed = i % 5
            losses = [30 * (1 + lr * 50) / (1 + e) + rng.random() for e in range(1, epochs + 1)]
            s.add(
                Run(
                    id=i + 1,
                    name=f"bench-{i}",
                    kind="train",
                    preset="quick",
                    status=RunStatus.completed.value,
                    config_json=json.dumps(config.model_dump()),
                    config_hash=config_hash(config),
                    seed=config.seed,
                    epochs_total=epochs,
                    epochs_done=epochs,
                    last_test_loss=losses[-1],
                    last_train_loss=losses[-1],
                    best_test_loss=min(losses),
                    n_clusters=3,
                    separation=0.9,
                    silhouette=0.5,
                    train_seconds=epochs,
                )
            )
            for e, loss in enumerate(losses, start=1):
                values = dict.fromkeys(losses_of, loss) | {"seconds": 1.0, "train_seconds": 1.0, "samples_per_s": 1e5}
                rows.append(
                    Epoch(
                        run_id=i + 1, epoch=e, n_clusters=1 + e // 7, separation=min(1.0, e / epochs), lr=lr, **values
                    )
                )
        s.flush()  # the runs first: the epochs' foreign key names them
        s.add_all(rows)
    store.close()
    return time.perf_counter() - started


def _has_runs(db: str) -> bool:
    if "://" not in db and not Path(db).exists():
        return False
    from mftctl.store import reads

    store = open_store(db)
    try:
        return reads.count_runs(store) > 0
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db: str, src: Path | None) -> tuple[subprocess.Popen, str]:
    """A real `mftctl ui` on a free port: this checkout's, or the one under `src` (another release's
    src/ folder, to compare with)."""
    port = _free_port()
    env = dict(os.environ) | ({"PYTHONPATH": str(src)} if src else {})
    server = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "ui", "--port", str(port), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    for _ in range(300):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}"


def _measure(page, base: str, overlay: int) -> tuple[float, float]:
    """(runs page ready, overlay of `overlay` runs drawn), in seconds."""
    ids = ",".join(str(i) for i in range(1, overlay + 1))
    lines = (
        f"() => ((document.querySelector('#overlay .js-plotly-plot') || {{}}).data || [])"
        f".filter(t => t.meta === 'run').length >= {overlay}"
    )
    t = time.perf_counter()
    page.goto(base + "/")
    page.wait_for_selector("#runs tbody tr:nth-child(3)", timeout=120_000)
    ready = time.perf_counter() - t
    t = time.perf_counter()
    page.goto(f"{base}/?runs={ids}&colour=lr")
    page.wait_for_function(lines, timeout=300_000)
    return ready, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--overlay", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--db", help="reuse this store: a file or a postgresql:// URL (the runs are written when it has none)"
    )
    parser.add_argument("--bulk", action="store_true", help="build the store in one transaction (10,000 runs)")
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout's src/ folder (e.g. of `git worktree add /tmp/old REV`): its server measured "
        "in turn with this one's, page for page, and the ratios printed",
    )
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    db = args.db or str(Path(tempfile.mkdtemp(prefix="mftctl-ui-bench-")) / "bench.db")
    if not _has_runs(db):
        seconds = (build_bulk if args.bulk else build)(db, args.runs, args.epochs)
        print(f"store: {args.runs} runs × {args.epochs} epochs written in {seconds:.0f} s ({db})")
    variants = {"this": None} | ({"against": args.against} if args.against else {})
    servers = {name: _serve(db, src) for name, src in variants.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for _ in range(args.repeats + 1):  # the two servers in turn: the machine's load falls on both
                for name, (_, base) in servers.items():
                    times[name].append(_measure(page, base, args.overlay))
            browser.close()
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(60)
    for name, measured in times.items():
        ready, drawn = zip(*measured, strict=True)
        who = "this checkout" if name == "this" else f"--against {args.against}"
        print(
            f"{who}: runs page ready cold {ready[0]:.2f} s, warm median {statistics.median(ready[1:]):.2f} s "
            f"(of {args.runs} runs; target ≤ 1 s); overlay of {args.overlay} runs drawn cold {drawn[0]:.2f} s, "
            f"warm median {statistics.median(drawn[1:]):.2f} s (target ≤ 2 s)"
        )
    if args.against:
        mine, theirs = (list(zip(*times[n][1:], strict=True)) for n in ("this", "against"))
        print(
            "ratio (against / this, warm medians): runs page "
            f"{statistics.median(theirs[0]) / statistics.median(mine[0]):.2f}×, overlay "
            f"{statistics.median(theirs[1]) / statistics.median(mine[1]):.2f}×"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
