"""The lab's runs table pages, sorts and filters in the database (`mftctl ui` over 10,000 runs sends 25
rows): each page, order and filter checked against the same runs read back and sorted or filtered in
Python, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from helpers import add_run
from mftctl.config import flatten
from mftctl.config_input import load_config
from mftctl.errors import MftctlError
from mftctl.runs.lifecycle import new_run
from mftctl.store import reads, writes
from mftctl.web.data import PAGE_SIZE, key_choices, page_of_runs, table_filters, table_sort

LRS = [0.001 * (1 + (7 * i) % 60) for i in range(60)]  # 60 runs, their lrs in a scrambled order


def _lab(store) -> dict[int, dict]:
    """60 runs: lrs scrambled, every third one without a loss, some with a tag, names with _ and %."""
    runs = {}
    for i, lr in enumerate(LRS):
        loss = None if i % 3 == 0 else round(10 - lr * 100, 3)
        name = {5: "odd_name", 6: "oddxname", 7: "100%"}.get(i, f"r{i}")
        run = add_run(store, lr=lr, test_loss=loss, name=name, status="completed" if i % 4 else "failed")
        runs[run.id] = {"lr": lr, "loss": loss, "name": name, "status": run.status}
    tagged = [r for r in runs if r % 5 == 0]
    writes.tag_runs(store, tagged, "scan")
    for r in tagged:
        runs[r]["tags"] = ["scan"]
    return runs


def _all_pages(store, filters, sort) -> list[int]:
    first = page_of_runs(store, filters, sort, 0)
    ids = [row["id"] for row in first.rows]
    for page in range(1, first.pages):
        shown = page_of_runs(store, filters, sort, page)
        assert shown.page == page and len(shown.rows) <= PAGE_SIZE
        ids += [row["id"] for row in shown.rows]
    assert len(ids) == first.matching
    return ids


@pytest.mark.backends
def test_pages_sorts_and_filters_agree_with_the_runs_sorted_and_filtered_in_python(store):
    runs = _lab(store)
    # Newest first without an order; pages of 25 that cover every run once.
    assert _all_pages(store, [], (None, False)) == sorted(runs, reverse=True)
    assert page_of_runs(store, [], (None, False), 0).pages == 3
    # Sorted by a config key, both ways (ties by id); the header's sort_by as DataTable writes it.
    by_lr = sorted(runs, key=lambda r: (runs[r]["lr"], r))
    assert _all_pages(store, [], table_sort([{"column_id": "lr", "direction": "asc"}])) == by_lr
    assert _all_pages(store, [], table_sort([{"column_id": "lr", "direction": "desc"}])) == by_lr[::-1]
    # By a metric: runs without a loss last.
    with_loss = sorted((r for r in runs if runs[r]["loss"] is not None), key=lambda r: (runs[r]["loss"], r))
    sorted_by_loss = _all_pages(store, [], table_sort([{"column_id": "test_loss", "direction": "asc"}]))
    assert sorted_by_loss[: len(with_loss)] == with_loss
    assert set(sorted_by_loss[len(with_loss) :]) == {r for r in runs if runs[r]["loss"] is None}
    # The filter row: comparisons, contains (any case, _ and % literal), tags, blanks; with `--where` terms.
    cases = {
        "{lr} > 0.03": lambda r: r["lr"] > 0.03,
        "{lr} s> 0.03 && {status} contains COMP": lambda r: r["lr"] > 0.03 and r["status"] == "completed",
        "{name} contains odd_": lambda r: r["name"] == "odd_name",
        "{name} icontains 0%": lambda r: r["name"] == "100%",
        "{tags} contains sca": lambda r: "tags" in r,
        "{test_loss} is blank": lambda r: r["loss"] is None,
        "{lr} = 0.008": lambda r: abs(r["lr"] - 0.008) < 1e-12,
    }
    for query, keep in cases.items():
        expected = sorted((r for r in runs if keep(runs[r])), reverse=True)
        assert expected, query  # each case keeps some runs and drops others
        assert len(expected) < len(runs), query
        assert _all_pages(store, table_filters(None, query), (None, False)) == expected, query
    # Contains on a config key (a JSON path: jsonb's text on PostgreSQL carries quotes, SQLite's not).
    assert page_of_runs(store, table_filters(None, "{activation} contains TANH")).matching == len(runs)
    assert page_of_runs(store, table_filters(None, "{activation} contains relu")).matching == 0
    where_and_filter = table_filters(["status=failed"], "{lr} < 0.03")
    assert _all_pages(store, where_and_filter, (None, False)) == sorted(
        (r for r in runs if runs[r]["status"] == "failed" and runs[r]["lr"] < 0.03), reverse=True
    )
    # A page past the end is the last page.
    last = page_of_runs(store, [], (None, False), 99)
    assert last.page == 2 and [row["id"] for row in last.rows] == sorted(runs, reverse=True)[50:]


@pytest.mark.backends
def test_a_filter_that_cannot_be_read_says_why_in_one_line(store):
    _lab(store)
    for query, fragment in (
        ("{lr} > abc", "lr is a number"),
        ("{thumb} contains x", "blobs column cannot be filtered"),
        ("{nope} = 1", "unknown column 'nope'"),
        ("{status} = runing", "did you mean running"),
        ("{lr} >", "has no value"),
        ("lr > 1", "cannot read the filter"),
    ):
        with pytest.raises(MftctlError) as caught:
            page_of_runs(store, table_filters(None, query))
        assert fragment in str(caught.value) and "\n" not in str(caught.value), (query, caught.value)


def test_the_keys_to_colour_by_follow_the_runs_added(store):
    add_run(store, lr=0.01)
    add_run(store, lr=0.02)
    assert "lr" in key_choices(store) and "h" not in key_choices(store)
    new_run(store, load_config("quick", overrides=["model.hidden_size=32"]))
    varied = key_choices(store)  # a run added: read again (configs of the runs before never change)
    assert {"lr", "h"} <= set(varied)  # hidden_size by its short name
    stored = {flatten(r.config)["model.hidden_size"] for r in reads.runs_by_id(store, reads.run_ids(store))}
    assert len(stored) == 2


def test_a_shared_url_with_odd_values_opens_the_runs_page(store):
    from mftctl.web import runs_page

    add_run(store, lr=0.01)
    for query in ({"runs": "¹,1", "page": "²"}, {"runs": "x,,1", "page": "-3", "sort": "nope"}, {"filter": "{lr} >"}):
        page = runs_page.layout(store, query)  # superscripts are digits to str.isdigit, not to int()
        assert page is not None
