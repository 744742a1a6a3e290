"""Blob metrics on synthetic pair clouds with known structure, at two weight scales."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TINY
from mftctl.cli import app
from mftctl.config import DiagnosticsConfig
from mftctl.science.diagnostics import blob_metrics, symmetry_error
from mftctl.science.mixture import Mixture, fit_mixture, select_by_bic

CFG = DiagnosticsConfig()


def three_blobs(n, scale, outer_share=0.005, sep=8.0, seed=0):
    """A centre blob plus ±(a, b), each outer blob holding `outer_share` of the pairs."""
    rng = np.random.default_rng(seed)
    n_out = int(n * outer_share)
    centre = rng.normal(size=(n - 2 * n_out, 2))
    offset = np.array([sep * 0.8, -sep * 0.6])
    plus = rng.normal(size=(n_out, 2)) + offset
    minus = rng.normal(size=(n_out, 2)) - offset
    return np.concatenate([centre, plus, minus]) * scale


@pytest.mark.parametrize("scale", [0.03, 30.0])
def test_rare_outer_blobs_are_found_at_any_scale(scale):
    m = blob_metrics(three_blobs(200_000, scale), CFG, 5000, np.random.default_rng(1))
    assert m["n_clusters"] == 3
    assert m["silhouette"] > 0.5
    masses = [b["mass"] for b in m["blobs"]]
    assert masses[0] == pytest.approx(0.99, abs=0.005)
    assert masses[1] == pytest.approx(0.005, abs=0.0015) and masses[2] == pytest.approx(0.005, abs=0.0015)
    centres = np.array([b["centre"] for b in m["blobs"]]) / scale
    assert np.allclose(np.abs(centres[1:]), [6.4, 4.8], atol=0.4)
    assert m["symmetry_error"] < 0.1
    assert m["noise_fraction"] < 0.01


@pytest.mark.parametrize("scale", [0.03, 30.0])
def test_one_gaussian_is_one_cluster(scale):
    points = np.random.default_rng(2).normal(size=(100_000, 2)) * scale
    m = blob_metrics(points, CFG, 5000, np.random.default_rng(3))
    assert m["n_clusters"] == 1
    assert m["silhouette"] is None and m["symmetry_error"] is None


def test_a_uniform_sample_would_have_missed_them():
    """Why the sample is stratified: 5000 uniform pairs hold ~25 of each outer blob."""
    points = three_blobs(200_000, 1.0)
    sample = points[np.random.default_rng(4).choice(len(points), 5000, replace=False)]
    outer = np.linalg.norm(sample, axis=1) > 5
    assert outer.sum() < 80


def test_symmetry_error():
    assert symmetry_error([[0, 0], [1, 2], [-1, -2]], 0) == pytest.approx(0.0)
    assert symmetry_error([[0, 0], [1, 2], [1, -2]], 0) == pytest.approx(np.linalg.norm([2, 0]) / np.sqrt(5))
    assert symmetry_error([[0, 0], [1, 2]], 0) is None


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bic_picks_the_number_of_components(k):
    rng = np.random.default_rng(k)
    means = np.array([[0, 0], [5, 5], [-5, 5]])[:k] * 0.01
    points = np.concatenate([rng.normal(size=(3000, 2)) * 0.01 + m for m in means])
    best, bics = select_by_bic(points, 6, seed=0)
    assert best.k == k and len(bics) == 6


def test_mixture_fit_recovers_parameters_and_samples_them():
    truth = Mixture(
        np.array([0.6, 0.25, 0.15]),
        np.array([[0.0, 0.0], [0.3, -0.2], [-0.3, 0.2]]),
        np.array([np.diag([0.004, 0.001])] * 3),
    )
    points = truth.sample(60_000, np.random.default_rng(0))
    fitted, _ = fit_mixture(points, 3, seed=0)
    order = np.argsort(fitted.means[:, 0])
    assert np.allclose(fitted.means[order], truth.means[[2, 0, 1]], atol=0.01)
    assert np.allclose(fitted.weights[order], truth.weights[[2, 0, 1]], atol=0.02)
    again = fitted.sample(10, np.random.default_rng(5))
    assert again.shape == (10, 2)
    assert np.array_equal(again, fitted.sample(10, np.random.default_rng(5)))


def test_diagnose_is_cached_and_plot_writes_figures(isolated_db):
    runner = CliRunner()
    sets = [a for s in TINY for a in ("--set", s)]
    assert runner.invoke(app, ["train", "--preset", "quick", *sets]).exit_code == 0
    first = runner.invoke(app, ["diagnose", "1", "--format", "json"])
    assert first.exit_code == 0, first.output
    result = json.loads(first.output)
    assert result["cached"] is False and result["epoch"] == 2 and result["pairs"] == 32 * 16
    assert 1 <= result["on_path"]["gmm"]["k"] <= 6 and len(result["on_path"]["gmm"]["bic"]) == 6
    assert result["references"]["zero"]["loss"] > result["references"]["bayes"]["loss"]
    assert json.loads(runner.invoke(app, ["diagnose", "1", "--format", "json"]).output)["cached"] is True
    again = json.loads(runner.invoke(app, ["diagnose", "1", "--recompute", "--format", "json"]).output)
    assert again["cached"] is False and again["on_path"]["gmm"] == result["on_path"]["gmm"]
    table = runner.invoke(app, ["diagnose", "1", "--epoch", "1"]).output
    assert "GMM" in table and "W1[i,j], W2[j,i]" in table and "Bayes posterior mean" in table
    missing = runner.invoke(app, ["diagnose", "1", "--epoch", "7"])
    assert missing.exit_code == 1 and "no checkpoint at epoch 7; it has epochs 1, 2" in missing.output

    out = runner.invoke(app, ["plot", "1", "--animate"])
    assert out.exit_code == 0, out.output
    paths = out.output.split()
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        "curves.png",
        "diagnostics.png",
        "scatter_epoch2.png",
        "evolution.png",
        "evolution.gif",
    ]
    for p in paths:
        data = open(p, "rb").read()
        assert len(data) > 5000 and (data[:4] == b"\x89PNG" or data[:3] == b"GIF")
    svg = runner.invoke(app, ["plot", "1", "--format", "svg", "--out", "figs"]).output.split()
    assert all(p.endswith(".svg") and p.startswith("figs/") for p in svg)


def test_list_sorts_by_last_silhouette_and_overlay_plot(isolated_db):
    runner = CliRunner()
    sets = [a for s in TINY for a in ("--set", s)]
    for lr in (0.02, 0.05):
        assert (
            runner.invoke(app, ["train", "--preset", "quick", *sets, "--set", f"training.learning_rate={lr}"]).exit_code
            == 0
        )
    runs = json.loads(runner.invoke(app, ["list", "--format", "json", "--sort", "n_clusters"]).output)
    assert all(r["n_clusters"] is not None and r["correlation"] is not None for r in runs)
    by_corr = json.loads(runner.invoke(app, ["list", "--format", "json", "--sort", "-correlation"]).output)
    assert [r["correlation"] for r in by_corr] == sorted((r["correlation"] for r in by_corr), reverse=True)
    overlay = runner.invoke(app, ["plot", "1", "2"])
    assert overlay.exit_code == 0 and "compare-1-2/curves.png" in overlay.output
