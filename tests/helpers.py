"""What the tests share: the tiny config, the CLI runner, one-line refusals, a recording sink, and seeding
the database through the real store functions."""

from __future__ import annotations

import contextlib
import copy
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from mftctl.cli import app
from mftctl.config_input import load_config
from mftctl.runs.lifecycle import new_run
from mftctl.store import reads

# A config that trains in well under a second on one CPU core (with the `quick` preset).
TINY = [
    "data.d=32",
    "data.n_train=2000",
    "data.n_test=500",
    "model.hidden_size=16",
    "training.batch_size=500",
    "training.epochs=2",
    "training.diagnostic_sample_size=300",
]

runner = CliRunner()


def set_table(*overrides: str, without: str | None = None) -> str:
    """Overrides as the lines of a sweep file's [set] table (a later one for the same key wins); `without`
    leaves out the keys that name it, e.g. "epochs" where the sweep varies them."""
    values = dict(s.split("=", 1) for s in overrides)
    return "\n".join(f'"{k}" = {v}' for k, v in values.items() if without is None or without not in k)


def set_args(*overrides: str) -> list[str]:
    """`--set` options for each override: set_args(*TINY, "training.epochs=5")."""
    return [arg for override in overrides for arg in ("--set", override)]


SETS = set_args(*TINY)
# A run long enough to be signalled, killed or raced while it trains: TINY's shape, 400 epochs, no
# per-epoch measurement, a checkpoint every epoch (add "training.checkpoint_every=0" for none).
LONG = [*TINY, "training.epochs=400", "training.enable_diagnostics=false"]


def _as_from_a_terminal() -> None:
    """In the child before it runs: Ctrl-C's default action, as a shell in a terminal starts a command. A
    suite started in the background (`nohup pytest &`, which POSIX starts with SIGINT ignored) would
    otherwise hand the ignored SIGINT on, and mftctl rightly respects an ignored SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_mftctl(*args, **kwargs) -> subprocess.Popen:
    """`mftctl ARGS` as a real process (text mode), for the tests that signal, kill or race it."""
    kwargs.setdefault("preexec_fn", _as_from_a_terminal)
    return subprocess.Popen([sys.executable, "-m", "mftctl", *map(str, args)], text=True, **kwargs)


def run_mftctl(*args, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """`mftctl ARGS` as a real process, run to its end: its exit code, stdout and stderr (text)."""
    return subprocess.run(
        [sys.executable, "-m", "mftctl", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def invoke(*args, **kw):
    """The CLI in-process, as a user types it (numbers and paths become strings)."""
    return runner.invoke(app, [str(a) for a in args], **kw)


def one_line_refusal(result, *fragments):
    """Exit code 1, one `Error:` line naming every fragment, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


def mftctl_without(module: str, *args) -> subprocess.CompletedProcess:
    """`mftctl ARGS` in a fresh process where `module` cannot be imported (an optional extra not installed)."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from mftctl.cli import main\n"
        f"sys.argv = ['mftctl', *{[str(a) for a in args]!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


class RecordingSink:
    """A training-loop sink that keeps what it is given: each step's float32 matmul precision, the epoch
    records, and a deep copy of each checkpoint state."""

    def __init__(self):
        self.precisions: list[str] = []
        self.epochs: list = []
        self.states: dict[int, dict] = {}

    def on_step(self, *args):
        import torch

        self.precisions.append(torch.get_float32_matmul_precision())

    def on_epoch(self, record):
        self.epochs.append(record)

    def on_checkpoint(self, epoch, state):
        self.states[epoch] = copy.deepcopy(state)


def add_run(store, *, status="completed", lr=0.02, silhouette=None, test_loss=None, preset="quick", **kw):
    config = load_config(preset, overrides=[f"training.learning_rate={lr}"])
    run = new_run(store, config, preset=preset, **kw)
    with store.write() as s:
        row = s.get(type(run), run.id)
        row.status, row.silhouette, row.last_test_loss = status, silhouette, test_loss
    return reads.get_run(store, run.id)


def wait_for(predicate, timeout=300):
    """Poll until predicate() is truthy and return it. Generous: a loaded 2-core machine starts torch slowly,
    and the timeout only bounds a hang; what the tests check does not depend on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped
    except (FileNotFoundError, ProcessLookupError):
        return True


def serving_workers(db) -> list[int]:
    """Live `mftctl worker --serve` processes of this store (an early worker left behind would be one)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"--serve" in cmdline and f"MFTCTL_DB={Path(db).resolve()}".encode() in environ and not gone(int(proc.name)):
            found.append(int(proc.name))
    return found


def copy_database(db, to) -> None:
    """`cp mftctl.db backup.db`, taken consistently while other connections are open (its WAL included)."""
    import sqlite3

    with sqlite3.connect(db) as source, sqlite3.connect(to) as target:
        source.backup(target)
    target.close()


def old_schema_database(path, applied: int) -> None:
    """An SQLite database as an older mftctl left it: the first `applied` migrations only."""
    import sqlite3

    from mftctl.store.migrations import MIGRATIONS

    con = sqlite3.connect(path)
    con.execute("CREATE TABLE mftctl_migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME)")
    for name, statements in MIGRATIONS[:applied]:
        for statement in statements:
            con.execute(statement)
        con.execute("INSERT INTO mftctl_migrations VALUES (?, '2026-01-01')", (name,))
    con.commit()
    con.close()


@contextlib.contextmanager
def mounted_tmpfs(folder, size: str):
    """A real tmpfs of `size` at folder (root on Linux; the test is skipped where mounting is refused)."""
    import pytest

    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=False)


def count_runs(db) -> int:
    """Rows in an SQLite store's run table, read with plain sqlite3 (0 while the file does not exist)."""
    import sqlite3

    if not Path(db).exists():
        return 0
    return sqlite3.connect(db).execute("SELECT count(*) FROM run").fetchone()[0]


def store_opens(db: str) -> bool:
    """Whether the store exists and has its schema yet (the first mftctl process creates both)."""
    from mftctl.store.catalog import open_catalog
    from mftctl.store.location import resolve_location

    catalog = open_catalog(resolve_location(db))
    if catalog is not None:
        catalog.close()
    return catalog is not None


def free_port() -> int:
    """A port nothing listens on now, for a server a test starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
