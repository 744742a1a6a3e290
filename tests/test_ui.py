"""`mftctl ui --datasette`: the raw tables and SQL of an SQLite store (Datasette), checked in a real
headless browser (Debian's chromium). Skipped only where no browser is installed; CI installs one. The
lab's own pages (`mftctl ui`) are tests/test_lab_in_a_browser.py's."""

import shutil
import subprocess
import sys

import pytest

from helpers import SETS, answers, free_port, invoke, one_line_refusal, wait_for

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def served():
    assert invoke("train", "--preset", "quick", *SETS, "--name", "leader", "--tag", "best").exit_code == 0
    assert invoke("train", "--preset", "quick", *SETS, "--seed", 5, "--name", "second").exit_code == 0
    assert invoke("plot", 1).exit_code == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "ui", "--datasette", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: answers(port) or proc.poll() is not None)
        assert proc.poll() is None, proc.stdout.read().decode()
        yield port
    finally:
        proc.terminate()  # SIGTERM: `mftctl ui` must take Datasette down with it
        proc.wait(60)
    wait_for(lambda: not answers(port))


@pytest.mark.skipif(BROWSER is None, reason="no headless browser installed (apt-get install chromium)")
def test_the_leaderboard_page_shows_the_runs_in_a_real_browser(served, tmp_path):
    url = f"http://127.0.0.1:{served}/mftctl/leaderboard"
    page = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "Runs leaderboard" in page
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr")
    assert rows == 2 and "leader" in page and "second" in page and "best" in page
    # the run's figure is named by its path from the server's root: no host baked in (a `--host 0.0.0.0`
    # server once linked http://0.0.0.0:PORT/..., which no browser can open) ...
    assert "/figures/1/curves.png" in page and "http://" not in page.split("<tbody>", 1)[1]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,900",
            f"http://127.0.0.1:{served}/figures/1/curves.png",
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 10_000  # ... and served


def test_the_pages_answer_without_a_browser(served):
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{served}/mftctl/run_epochs.json?run=1&_shape=array") as reply:
        epochs = json.load(reply)
    assert [e["epoch"] for e in epochs] == [1, 2]
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/mftctl/run.json?_shape=array") as reply:
        assert len(json.load(reply)) == 2


def test_ui_refusals_are_one_line(served, postgres_url):
    one_line_refusal(invoke("ui", "--port", served, "--db", "mftctl.db"), f"port {served} on 127.0.0.1 is in use")
    one_line_refusal(invoke("ui", "--datasette"), "serves SQLite stores", "mftctl export")


def test_a_database_path_with_url_characters_serves_that_file_read_only(tmp_path, monkeypatch):
    import json
    import urllib.request

    db = tmp_path / "we?ird#%.db"
    assert invoke("train", "--preset", "quick", *SETS, "--db", db, "--name", "odd").exit_code == 0
    monkeypatch.chdir(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "ui", "--datasette", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: answers(port) or proc.poll() is not None)
        assert proc.poll() is None, proc.stdout.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/we_ird__.json") as reply:
            tables = {t["name"] for t in json.load(reply)["tables"]}
        assert {"run", "epoch"} <= tables
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/we_ird__/run.json?_shape=array") as reply:
            assert [r["name"] for r in json.load(reply)] == ["odd"]
    finally:
        proc.terminate()
        proc.wait(60)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db" or p.name == "we") == ["we?ird#%.db"]


def test_ui_on_an_address_of_another_machine_says_so(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    one_line_refusal(invoke("ui", "--host", "8.8.8.8"), "not an address of this machine", "--host 127.0.0.1")
