"""`mftctl ui`: the lab's pages in a real browser (Debian's chromium, driven by Playwright through its
executable_path), served by a real `mftctl ui` process over a store of real runs, on SQLite and on
PostgreSQL. Skipped only where no chromium is installed; CI installs it."""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import LONG, SETS, add_run, answers, free_port, invoke, set_args, wait_for

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium installed (apt-get install chromium)")


@contextmanager
def serving(db: str, host: str = "127.0.0.1"):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "ui", "--port", str(port), "--host", host, "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: answers(port) or proc.poll() is not None)
        assert proc.poll() is None, proc.stdout.read().decode()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(60)


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=BROWSER, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            chromium.close()


def _plotted(page, graph: str, lines: int = 1) -> list[dict]:
    """The traces a dcc.Graph holds as plotly.js drew them, once it holds `lines` lines (meta "run") or,
    for a graph without such lines, any trace (its callback has answered)."""
    from playwright.sync_api import TimeoutError as PageTimeout

    data = f"(document.querySelector('#{graph} .js-plotly-plot') || {{}}).data || []"
    try:  # generous: a loaded 2-core machine serves and draws slowly; the timeout only bounds a hang
        page.wait_for_function(
            f"() => {{ const d = {data}; return d.filter(t => t.meta === 'run').length >= {lines}"
            f" || (d.length > 0 && !d.some(t => t.meta)); }}",
            timeout=300_000,
        )
    except PageTimeout:
        raise AssertionError(
            f"#{graph} never drew at {page.url}; the page reads: {page.inner_text('body')[:600]}"
        ) from None
    return page.evaluate(data)


def _images_loaded(page, selector: str) -> None:
    page.wait_for_function(
        f"() => {{ const im = [...document.querySelectorAll('{selector}')];"
        " return im.length > 0 && im.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=300_000,
    )


def _content(db: str) -> str:
    """Every row of the SQLite store, as SQL: what a write would change."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def _lab(db: str, tmp_path: Path) -> None:
    """Three runs differing in lr, then a sweep of two cells: the store every page test reads."""
    for lr in (0.01, 0.02, 0.05):
        assert invoke("train", "--preset", "quick", *SETS, "--set", f"lr={lr}", "--db", db).exit_code == 0
    sweep = tmp_path / "cells.toml"
    sweep.write_text(
        'name = "cells"\nbase = "quick"\n[set]\n"data.d" = 32\n"data.n_train" = 2000\n"data.n_test" = 500\n'
        '"model.hidden_size" = 16\n"training.batch_size" = 500\n"training.epochs" = 2\n[grid]\nlr = [0.01, 0.03]\n'
    )
    assert invoke("sweep", sweep, "--jobs", "1", "--db", db).exit_code == 0


def _pages(base: str, runs_expected: int) -> None:
    with browser() as page:
        # The overlay of three selected runs: three lines, coloured by the chosen key on a continuous scale.
        page.goto(f"{base}/?runs=1,2,3&colour=lr")
        lines = [t for t in _plotted(page, "overlay", lines=3) if t.get("meta") == "run"]
        assert len(lines) == 3
        assert len({t["line"]["color"] for t in lines}) == 3  # three lr values, three colours
        assert any(t.get("meta") == "scale" for t in _plotted(page, "overlay"))  # its colour bar
        assert "colour=lr" in page.url and "runs=1%2C2%2C3" in page.url  # the view is the URL
        # Every run a row with its blob thumbnail, each image loaded.
        _images_loaded(page, "#runs img")
        assert page.locator("#runs img").count() == runs_expected
        # A sweep: one thumbnail per cell, each loaded; its pivot drawn.
        page.goto(f"{base}/sweep/1")
        _images_loaded(page, "#gallery img")
        assert page.locator("#gallery .cell-card").count() == 2
        assert page.locator("#gallery img").count() == 2
        page.goto(f"{base}/sweep/cells")  # by its name, as the CLI takes it
        page.wait_for_selector("#gallery img")
        # A run's page: its curves.
        page.goto(f"{base}/run/2")
        assert {t.get("name") for t in _plotted(page, "run-curves")} >= {"train_loss", "test_loss", "separation"}
        blobs = "(document.querySelector('#run-trajectories .js-plotly-plot') || {}).data || []"
        page.wait_for_function(f"() => ({blobs}).some(t => t.meta === 'blob')", timeout=300_000)  # its blobs tracked
        _images_loaded(page, "#run-scatter")
        # Bad input: a clear page, and the server keeps serving.
        page.goto(f"{base}/run/999")
        page.wait_for_selector("#error")
        assert "no run with id 999" in page.inner_text("#error")
        page.goto(f"{base}/sweep/nothing")
        page.wait_for_selector("#error")
        assert "no sweep named 'nothing'" in page.inner_text("#error")
        page.goto(f"{base}/")
        page.fill("#where", "lr>>2")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#where-error').innerText.length > 0", timeout=60_000)
        assert "where:" in page.inner_text("#where-error")
        page.goto(f"{base}/?runs=1")
        assert len([t for t in _plotted(page, "overlay") if t.get("meta") == "run"]) == 1


def test_the_lab_on_sqlite_in_a_browser_read_only_and_without_a_host_in_its_links(isolated_db, tmp_path):
    db = str(isolated_db)
    _lab(db, tmp_path)
    before = _content(db)
    listed = invoke("list", "--format", "json").output
    with serving(db, host="0.0.0.0") as base:  # every interface: still no host in any link
        _pages(base, runs_expected=5)
        with browser() as page:
            for path in ("/?runs=1,2", "/run/1", "/sweep/1"):
                page.goto(base + path)
                page.wait_for_selector("#page > *")
                every = "[...document.querySelectorAll('[href],[src]')]"
                links = page.evaluate(f"{every}.map(e => e.getAttribute('href') || e.getAttribute('src'))")
                assert links and not [link for link in links if "0.0.0.0" in link], links
                # Dash's script loader adds its lazy chunks at run time as absolute URLs it resolves from the
                # page's own address (which the browser chose); every link the server wrote has no host.
                chunks = f"{page.evaluate('location.origin')}/_dash-component-suites/"
                written = [link for link in links if not link.startswith(chunks)]
                assert not [link for link in written if "://" in link or link.startswith("//")], written
        # Nothing reads outside the thumbnails, and nothing writes.
        port = int(base.rsplit(":", 1)[1])
        for path in (
            "/thumb/../../etc/passwd",
            "/thumb/..%2f..%2fetc%2fpasswd",
            "/_dash-component-suites/../../etc/passwd",
        ):
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            con.request("GET", path)  # sent as written: no client-side normalisation
            reply = con.getresponse()
            assert b"root:" not in reply.read()
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        con.request("POST", "/thumb/1.png", body=b"x")
        assert con.getresponse().status == 405
    assert _content(db) == before  # not a row of the store written (the file's bytes may move: a WAL checkpoint)
    assert invoke("list", "--format", "json").output == listed


def test_the_lab_on_postgresql_in_a_browser(postgres_url, tmp_path):
    _lab(postgres_url, tmp_path)
    with serving(postgres_url) as base:
        _pages(base, runs_expected=5)


def test_a_running_runs_new_epoch_appears_without_a_reload(isolated_db):
    # long enough that it is still training when the page has been read twice, however loaded the machine
    started = invoke(
        "train", "--preset", "quick", *set_args(*LONG, "training.epochs=100000"), "--name", "long", "--detach"
    )
    assert started.exit_code == 0, started.output
    try:
        with serving(str(isolated_db)) as base, browser() as page:
            page.goto(f"{base}/run/1")
            page.wait_for_selector("#epochs-done")
            wait_for(lambda: page.inner_text("#epochs-done").split("/")[0] not in ("", "0"))
            first = int(page.inner_text("#epochs-done").split("/")[0])
            # the page refreshes itself: the count moves on with no navigation of ours
            page.wait_for_function(
                f"() => parseInt(document.querySelector('#epochs-done').innerText) > {first}", timeout=300_000
            )
            assert len(_plotted(page, "run-curves")[0]["x"]) > first
    finally:
        invoke("stop", "long")
    assert json.loads(invoke("show", "long", "--format", "json").output)["status"] == "killed"


def _thirty_runs(db: str) -> None:
    """30 runs with three epochs each, written through the store (no training): two pages of the table."""
    from mftctl.store import open_store, writes
    from mftctl.store.writes import EPOCH_VALUE_COLUMNS

    store = open_store(db)
    try:
        for i in range(30):
            run = add_run(store, lr=0.001 * (1 + (7 * i) % 30), name=f"r{i + 1}")
            for epoch in (1, 2, 3):
                values = dict.fromkeys(EPOCH_VALUE_COLUMNS, 1.0) | {"epoch": epoch, "test_loss": 10.0 / epoch + i}
                writes.record_epoch(store, run.id, values, None)
    finally:
        store.close()


def test_the_runs_table_pages_sorts_and_filters_on_the_server_and_keeps_the_selection(isolated_db):
    _thirty_runs(str(isolated_db))
    ids = "[...document.querySelectorAll('#runs td[data-dash-column=id]')].map(e => +e.innerText)"
    ticks = "#runs tbody input[type=checkbox]"
    with serving(str(isolated_db)) as base, browser() as page:
        page.goto(f"{base}/")
        page.wait_for_function(f"() => {ids}.length === 25", timeout=300_000)  # one page of 30 sent
        assert page.evaluate(ids)[:2] == [30, 29] and "30 runs · page 1 of 2" in page.inner_text("#matching")
        page.locator(ticks).nth(0).check()  # run 30
        page.wait_for_function("() => location.search.includes('runs=30')", timeout=300_000)
        page.locator("button.next-page").click()
        page.wait_for_function(f"() => {ids}[0] === 5", timeout=300_000)
        page.locator(ticks).nth(0).check()  # run 5, on page 2
        page.wait_for_function("() => location.search.includes('runs=5%2C30')", timeout=300_000)
        lines = [t for t in _plotted(page, "overlay", lines=2) if t.get("meta") == "run"]
        assert len(lines) == 2  # both pages' runs overlaid
        page.locator("button.previous-page").click()
        page.wait_for_function(f"() => {ids}[0] === 30", timeout=300_000)
        page.wait_for_function(f"() => document.querySelectorAll('{ticks}')[0].checked", timeout=300_000)
        # Sorted by lr on the server: the smallest lr of all 30 first (run 1: 0.001), then the next.
        page.locator("th[data-dash-column=lr] .column-header--sort").first.click()
        page.wait_for_function(f"() => {ids}[0] === 1", timeout=300_000)
        page.wait_for_function("() => location.search.includes('sort=lr')", timeout=300_000)
        # Filtered on the server: lr > 0.025 keeps 5 runs (0.026 … 0.030), on one page.
        box = page.locator("th.dash-filter[data-dash-column=lr] input[type=text]")
        box.fill("> 0.025")
        box.press("Enter")
        page.wait_for_function(f"() => {ids}.length === 5", timeout=300_000)
        assert "5 runs · page 1 of 1" in page.inner_text("#matching")
        assert "2 run(s) selected" in page.inner_text("#selection-note")  # the selection outlives the filter
        page.wait_for_function("() => location.search.includes('filter=')", timeout=300_000)
        view = page.url
        box.fill("> abc")  # a number column compared with a word: said, and the rows stay
        box.press("Enter")
        page.wait_for_function("() => document.querySelector('#where-error').innerText.length > 0", timeout=300_000)
        assert "lr is a number" in page.inner_text("#where-error")
        # The view is the URL: opened afresh, the same rows, order, filter and selection.
        page.goto("about:blank")
        page.goto(view)
        page.wait_for_function(f"() => {ids}.length === 5", timeout=300_000)
        note = "document.querySelector('#selection-note').innerText"
        page.wait_for_function(f"() => {note}.includes('2 run(s) selected')", timeout=300_000)
        assert page.evaluate(ids)[0] == 26 and len(_plotted(page, "overlay", lines=2)) >= 2
