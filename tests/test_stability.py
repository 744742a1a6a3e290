"""Blob stability across runs: blobs matched by position, per blob mean ± std of centre, mass and width,
the count agreement, a scale-free distance between pair clouds, and a verdict — from Python, `mftctl
stability`, `compare`, `sweep show` and the overlay figure."""

import doctest
import json

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

import mftctl
from helpers import TINY, invoke, one_line_refusal, set_args, set_table
from mftctl.science import stability
from mftctl.science.stability import cloud_distances, measure_stability


def cloud(seed, outer=(1.4, 0.08), width=0.02, outer_pairs=1_000, centre_pairs=60_000):
    rng = np.random.default_rng(seed)
    blob = rng.normal([outer], width, (outer_pairs, 2))
    parts = [rng.normal(0, 0.01, (centre_pairs, 2)), blob, -blob]
    return np.concatenate(parts if outer_pairs else parts[:1])


def reports_of(clouds):
    return [mftctl.measure_blobs(c) for c in clouds]


def test_the_docstring_example_runs():
    assert doctest.testmod(stability).failed == 0


def test_seeds_of_one_recipe_are_stable_and_their_blobs_pooled_per_blob():
    clouds = [cloud(seed) for seed in range(4)]
    report = measure_stability(reports_of(clouds), clouds)
    assert (report.modal_count, report.count_agreement, report.verdict, report.rank) == (3, 1.0, "stable", 0)
    assert [b.runs for b in report.blobs] == [4, 4, 4]
    outer = sorted(report.blobs[1:], key=lambda b: b.centre[0])
    assert np.allclose(outer[1].centre, (1.4, 0.08), atol=0.005) and np.allclose(
        outer[0].centre, (-1.4, -0.08), atol=0.005
    )
    assert all(b.drift < 0.2 for b in report.blobs)
    assert abs(outer[1].mass - 1_000 / 62_000) < 1e-3 and outer[1].mass_std < 1e-3
    # Two samples of one law: the runs' distance is at the sampling floor, not above it.
    assert report.cloud_distance < 2 * report.cloud_floor


def test_a_run_with_another_count_splits_the_verdict_and_still_matches_what_it_has():
    clouds = [cloud(0), cloud(1), cloud(2, outer_pairs=0)]
    report = measure_stability(reports_of(clouds), clouds)
    assert report.counts == [3, 3, 1] and report.modal_count == 3
    assert report.count_agreement == pytest.approx(2 / 3) and report.verdict == "split" and report.rank == 2
    assert report.matches[2] == [0, None, None]  # its one blob is the centre blob
    assert [b.runs for b in report.blobs] == [3, 2, 2]


def test_blobs_that_move_by_more_than_their_width_are_shifting_and_the_cloud_distance_sees_it():
    clouds = [cloud(0), cloud(1, outer=(2.2, 0.08))]
    report = measure_stability(reports_of(clouds), clouds)
    assert report.count_agreement == 1.0 and report.verdict == "shifting"
    assert report.drift > 1.0
    assert report.cloud_distance > 2 * report.cloud_floor


def test_matching_is_by_position_not_by_the_order_of_the_reports():
    first, second = (mftctl.measure_blobs(cloud(s)).as_dict() for s in (0, 1))
    second["blobs"] = [second["blobs"][0], second["blobs"][2], second["blobs"][1]]  # outer blobs swapped
    report = measure_stability([first, second])
    for blob, j in zip(first["blobs"], report.matches[1], strict=True):
        assert np.allclose(blob["centre"], second["blobs"][j]["centre"], atol=0.01)


def test_the_report_is_scale_free():
    clouds = [cloud(seed) for seed in range(3)]
    scaled = [c * [10.0, 0.1] for c in clouds]
    a, b = (measure_stability(reports_of(cs), cs) for cs in (clouds, scaled))
    assert (a.verdict, a.modal_count) == (b.verdict, b.modal_count)
    assert a.drift == pytest.approx(b.drift, rel=1e-6)
    assert a.cloud_distance == pytest.approx(b.cloud_distance, rel=1e-9)


def test_the_sliced_distance_is_scipys_wasserstein_averaged_over_the_projections():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3_000, 2)), rng.normal(0.3, 1.2, size=(3_000, 2))
    mean, worst, floor = cloud_distances([a, b])
    # cloud_distances standardises on the pooled sample and projects: do the same by hand, through scipy.
    draw = np.random.default_rng(0)
    picked = [x[draw.choice(len(x), size=3_000, replace=False)] for x in (a, b)]
    pooled = np.concatenate([p[:1_500] for p in picked])
    std = [(p - pooled.mean(axis=0)) / pooled.std(axis=0) for p in picked]
    angles = np.pi * np.arange(stability.PROJECTIONS) / stability.PROJECTIONS
    by_scipy = np.mean(
        [
            wasserstein_distance(std[0][:1_500] @ u, std[1][:1_500] @ u)
            for u in np.stack([np.cos(angles), np.sin(angles)], 1)
        ]
    )
    assert mean == pytest.approx(by_scipy, rel=1e-9) and worst == mean and floor < mean


def test_fewer_than_two_runs_or_mismatched_clouds_are_refused():
    report = mftctl.measure_blobs(cloud(0))
    with pytest.raises(ValueError, match="at least two runs"):
        measure_stability([report])
    with pytest.raises(ValueError, match="one cloud per run"):
        measure_stability([report, report], [cloud(0)])


@pytest.fixture
def seeded_sweep(isolated_db, tmp_path):
    """Two cells of three seeds each at TINY's shape (sweep 1, runs 1-6), then runs of other kinds."""
    sweep = tmp_path / "seeds.toml"
    sweep.write_text(
        'name = "seeds"\nbase = "quick"\nseeds = [0, 1, 2]\n[set]\n'
        f"{set_table(*TINY, 'training.epochs=3', without='learning_rate')}\n"
        '[grid]\n"training.learning_rate" = [0.02, 0.05]\n'
    )
    assert invoke("sweep", sweep, "--jobs", "1").exit_code == 0
    return isolated_db


def test_stability_of_a_sweep_and_of_runs_through_the_cli(seeded_sweep, tmp_path):
    shown = json.loads(invoke("sweep", "show", 1, "--format", "json").output)
    assert len(shown["cells"]) == 2
    for cell in shown["cells"]:
        assert cell["stability"] in ("stable", "shifting", "split") and 0 < cell["count_agreement"] <= 1
        assert cell["stability_rank"] == ("stable", "shifting", "split").index(cell["stability"])
    assert set(shown["most_stable"]) == {c["label"] for c in shown["cells"]}
    table = invoke("sweep", "show", 1).output
    assert "stability" in table and "most stable blobs over seeds" in table

    cells = json.loads(invoke("stability", "--sweep", 1, "--format", "json").output)
    assert [c["cell"] for c in cells] == ["c0", "c1"] and all(len(c["run_ids"]) == c["runs"] == 3 for c in cells)
    by_cell = {c["cell"]: c for c in cells}
    assert {c["cell"]: c["verdict"] for c in cells} == {c["cell"]: c["stability"] for c in shown["cells"]}
    one = json.loads(invoke("stability", *by_cell["c0"]["run_ids"], "--format", "json").output)
    assert one["counts"] == by_cell["c0"]["counts"] and one["cloud_distance"] == by_cell["c0"]["cloud_distance"]
    assert one["cloud_distance"] is not None and one["cloud_floor"] > 0
    assert len(one["blobs"]) == one["modal_count"] and all(b["width"] is not None for b in one["blobs"])
    no_clouds = json.loads(invoke("stability", 1, 2, "--no-clouds", "--format", "json").output)
    assert no_clouds["cloud_distance"] is None and no_clouds["note"] is None  # one epoch for both
    assert json.loads(invoke("stability", "--sweep", "seeds", "--format", "json").output) == cells  # by name
    # Runs measured at different epochs are compared with a word about it.
    assert invoke("train", "--preset", "quick", *set_args(*TINY), "--name", "shorter").exit_code == 0
    mixed = json.loads(invoke("stability", 1, "shorter", "--no-clouds", "--format", "json").output)
    assert mixed["epochs"] == [3, 2] and "measured at different epochs (run 1: 3, run " in mixed["note"]
    assert "note: measured at different epochs" in invoke("stability", 1, "shorter", "--no-clouds").output
    assert "matched to run" in invoke("stability", "--sweep", 1, "--cell", "c1").output

    # compare shows the matched blobs, in its table and its records
    records = json.loads(invoke("compare", 1, 2, 3, "--format", "json").output)
    blob_rows = [r for r in records if r["section"] == "blob"]
    assert {r["key"] for r in blob_rows} >= {"blob0.centre", "blob0.mass", "blob0.width"}
    assert "matched blobs" in invoke("compare", 1, 2, 3).output

    # the overlay figure: for several runs, and a panel per seeded cell of a sweep
    assert invoke("plot", 1, 2, 3, "--out", tmp_path / "runs").exit_code == 0
    assert invoke("plot", "--sweep", 1, "--out", tmp_path / "sweep").exit_code == 0
    for folder in ("runs", "sweep"):
        assert (tmp_path / folder / "stability.png").stat().st_size > 10_000


def test_runs_that_cannot_be_compared_are_one_line_refusals(seeded_sweep):
    assert invoke("train", "--preset", "quick", *set_args(*TINY, "model.hidden_size=8")).exit_code == 0  # run 7
    assert invoke("train", "--preset", "quick", *set_args(*TINY, "training.enable_diagnostics=false")).exit_code == 0
    before = json.loads(invoke("list", "--format", "json").output)
    one_line_refusal(invoke("stability", 1), "at least two runs")
    one_line_refusal(invoke("stability", 1, 7), "different shapes", "32×16", "32×8")
    one_line_refusal(invoke("stability", 1, 8), "run 8 has no blob report", "enable_diagnostics")
    one_line_refusal(invoke("stability", 1, 99), "99")
    one_line_refusal(invoke("stability"), "run ids, or --sweep")
    one_line_refusal(invoke("stability", "--cell", "c0"), "--sweep")
    one_line_refusal(invoke("stability", "--sweep", 1, "--cell", "c9"), "no cell 'c9'", "c0, c1")
    one_line_refusal(invoke("stability", 1, 2, "--format", "csv"), "table or json")
    assert json.loads(invoke("list", "--format", "json").output) == before  # nothing written
    # compare still compares them, and says why it shows no matched blobs
    assert "no matched blobs: runs 1 and 7 have different shapes" in invoke("compare", 1, 7).output
