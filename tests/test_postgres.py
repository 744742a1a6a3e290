"""What is particular to a PostgreSQL store: URLs, their refusals, passwords, and two processes creating
one database's schema at once. (The shared behaviour runs on both backends: tests marked `backends`.)"""

import subprocess
import sys

import pytest

from helpers import SETS, invoke, mftctl_without, runner
from mftctl.cli import app
from mftctl.store import open_store, reads


def test_train_list_show_on_postgres(postgres_url, tmp_path):
    result = invoke("train", "--preset", "quick", *SETS, "--device", "cpu")
    assert result.exit_code == 0, result.output
    listed = invoke("list", "--format", "json")
    assert '"status": "completed"' in listed.output
    store = open_store(postgres_url)
    assert store.dialect == "postgresql"
    ckpt = reads.checkpoints(store, 1)[-1]
    assert (tmp_path / "pg-runs" / ckpt.path).exists()  # recorded relative to the runs folder
    assert "postgresql://postgres@" in invoke("db", "info").output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://postgres@127.0.0.1:1/x", "cannot open database postgresql://postgres@127.0.0.1:1/x: "),
        ("postgresql://postgres@127.0.0.1/mftctl_no_such_db", 'database "mftctl_no_such_db" does not exist'),
        ("postgresql://mftctl_no_such_user@127.0.0.1/postgres", 'role "mftctl_no_such_user" does not exist'),
        ("postgresql://postgres@127.0.0.1", "names no database"),
        ("mysql://root@127.0.0.1/test", "not a mysql one"),
    ],
)
def test_bad_urls_are_one_line_and_write_nothing(postgres_url, url, message):
    for args in (["list"], ["train", "--preset", "quick", *SETS]):
        result = runner.invoke(app, [*args, "--db", url])
        assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output


def test_a_password_is_never_shown(postgres_url):
    secret = postgres_url.replace("postgres@", "postgres:hunter2secret@")
    out = [invoke("train", "--preset", "quick", *SETS, "--db", secret).output]
    out += [invoke(*cmd, "--db", secret).output for cmd in (["list"], ["show", "1"], ["db", "info"], ["show", "9"])]
    bad = secret.replace("127.0.0.1", "127.0.0.1:1")
    out.append(runner.invoke(app, ["list", "--db", bad]).output)
    assert all("hunter2secret" not in text for text in out)
    assert "postgres:***@" in out[-1]
    store = open_store(postgres_url)
    log = (store.runs_dir / "1" / "worker.log").read_text()
    assert "hunter2secret" not in log and reads.get_run(store, 1).status == "completed"


def test_a_missing_driver_names_the_extra(postgres_url):
    done = mftctl_without("psycopg", "list", "--db", postgres_url)
    assert done.returncode == 1
    assert "pip install 'mftctl[postgres]'" in done.stderr and "Traceback" not in done.stderr


def test_two_processes_creating_the_schema_together_apply_it_once(postgres_url):
    code = "from mftctl.store import open_store; open_store().close(); print('ok')"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    assert [p.communicate(timeout=300)[0].strip() for p in procs] == ["ok"] * 4
    store = open_store(postgres_url)
    with store.engine.connect() as conn:
        from sqlalchemy import text

        names = [r[0] for r in conn.execute(text("SELECT name FROM mftctl_migrations"))]
    from mftctl.store.migrations import MIGRATION_NAMES

    assert sorted(names) == MIGRATION_NAMES  # each once
