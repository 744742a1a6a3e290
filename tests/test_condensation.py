"""Early condensation (science/condensation.py): the direction count on rows with a known answer, the
snapshots a run takes when asked, and `mftctl condensation` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import SETS, invoke, one_line_refusal
from mftctl.science.condensation import bound, measure_condensation


def _rows_along(directions: np.ndarray, per_direction: int, spread: float, rng: np.random.Generator):
    """per_direction rows along each unit direction (scaled at random), each tilted by noise of `spread`."""
    rows = []
    for v in directions:
        for _ in range(per_direction):
            rows.append(rng.uniform(0.5, 2.0) * (v + spread * rng.standard_normal(v.shape) / np.sqrt(len(v))))
    rows = np.array(rows)
    return rows[:, :-1], rows[:, -1]


@pytest.mark.parametrize("k", [2, 6])
def test_rows_along_k_directions_count_k(k):
    rng = np.random.default_rng(k)
    dims = 65
    directions = np.linalg.qr(rng.standard_normal((dims, k)))[0].T  # k orthonormal directions
    w1, b1 = _rows_along(directions, per_direction=10, spread=0.2, rng=rng)
    found = measure_condensation(w1, b1, step=7)
    assert found.directions == k and found.condensed_share == 1.0 and found.largest == 10 and found.step == 7
    assert found.effective_rank == pytest.approx(k, rel=0.15)  # orthogonal directions: rank k


def test_w_and_minus_w_are_two_directions_and_random_rows_none():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(33)
    v /= np.linalg.norm(v)
    w1, b1 = _rows_along(np.array([v, -v]), per_direction=8, spread=0.1, rng=rng)
    pm = measure_condensation(w1, b1)
    assert pm.directions == 2 and pm.effective_rank == pytest.approx(1, rel=0.1)  # one line, two directions
    random = measure_condensation(rng.standard_normal((64, 128)), rng.standard_normal(64))
    assert random.directions == 0 and random.condensed_share == 0 and random.nearest_cos < 0.5
    # the all-ones alignment: rows along 1 have |cos| 1 (the bias is left out)
    ones = measure_condensation(np.ones((4, 16)) * np.array([[1], [2], [-1], [3]]), np.array([5.0, 0, 0, 1]))
    assert ones.ones_alignment == pytest.approx(1.0)


def test_the_bound_is_twice_the_multiplicity():
    assert [bound(a) for a in ("tanh", "relu", "square", "tanh3", "cube")] == [2, 2, 4, 6, 6]


def test_a_run_takes_its_snapshots_and_the_cli_reports_them(isolated_db):
    asked = ["--set", "diagnostics.condensation_every=2", "--set", "diagnostics.condensation_steps=6"]
    assert invoke("train", "--preset", "quick", *SETS, *asked, "--name", "c").exit_code == 0
    report = json.loads(invoke("condensation", "c", "--format", "json").output)
    # 4 steps an epoch (TINY): the initialisation and steps 2, 4 in epoch 1, step 6 in epoch 2, none after 6
    assert [s["step"] for s in report["snapshots"]] == [0, 2, 4, 6]
    assert report["activation"] == "tanh3" and report["bound"] == 6
    assert report["snapshots"][0]["row_norm"] < report["snapshots"][-1]["row_norm"]  # the rows grew
    table = invoke("condensation", "c").output
    assert "2p = 6" in table or "no condensed directions" in table
    # the snapshots live in the epoch's report; the blob numbers beside them are unchanged
    shown = json.loads(invoke("show", "c", "--format", "json").output)
    assert shown["n_clusters"] is not None
    assert invoke("train", "--preset", "quick", *SETS, "--name", "plain").exit_code == 0
    one_line_refusal(invoke("condensation", "plain"), "has no condensation snapshots", "condensation_every")
    one_line_refusal(invoke("condensation", "c", "--format", "csv"), "table or json")
