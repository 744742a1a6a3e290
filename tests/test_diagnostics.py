"""diagnose and plot on real runs; the GMM shape model. (The blob measurement itself: test_blobs.py.)"""

import json

import numpy as np
import pytest

from helpers import SETS, runner
from mftctl.cli import app
from mftctl.science.mixture import Mixture, fit_mixture, select_by_bic


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bic_picks_the_number_of_components(k):
    rng = np.random.default_rng(k)
    means = np.array([[0, 0], [5, 5], [-5, 5]])[:k] * 0.01
    points = np.concatenate([rng.normal(size=(3000, 2)) * 0.01 + m for m in means])
    best, bics, selection = select_by_bic(points, 6, seed=0)
    assert best.k == k and len(bics) == 6 and selection == len(points)  # fewer points than the subsample


def test_k_chosen_on_a_subsample_then_fitted_on_every_point():
    """K is chosen by BIC on 20,000 of the points and fitted again on all of them: the same K and, within
    their sampling error, the same weights and means as choosing on all 120,000 — a 1% blob included."""
    rng = np.random.default_rng(3)
    parts = [(0.98, [0.0, 0.0], 0.01), (0.01, [0.5, 0.05], 0.02), (0.01, [-0.5, -0.05], 0.02)]
    points = np.concatenate([rng.normal(m, s, (int(w * 120_000), 2)) for w, m, s in parts])
    full, full_bics, everything = select_by_bic(points, 6, seed=0, selection=None)
    fast, fast_bics, selection = select_by_bic(points, 6, seed=0)
    assert (everything, selection) == (len(points), 20_000) and len(fast_bics) == 6
    assert fast.k == full.k == 3
    a, b = np.argsort(fast.means[:, 0]), np.argsort(full.means[:, 0])  # the two 1% blobs tie on weight
    assert np.allclose(fast.weights[a], full.weights[b], atol=1e-3)
    # Means agree to a small fraction of the smallest component's sampling error (0.02 / sqrt(1200)).
    assert np.abs(fast.means[a] - full.means[b]).max() < 0.1 * 0.02 / np.sqrt(1200)


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
    # Sampling draws each component at its weight with its own mean and covariance: a refit finds them.
    drawn = fitted.sample(60_000, np.random.default_rng(5))
    refit, _ = fit_mixture(drawn, 3, seed=1)
    again = np.argsort(refit.means[:, 0])
    assert np.allclose(refit.means[again], fitted.means[order], atol=0.01)
    assert np.allclose(refit.weights[again], fitted.weights[order], atol=0.02)
    assert np.allclose(refit.covariances[again], fitted.covariances[order], atol=5e-4)


@pytest.mark.backends
def test_diagnose_is_cached_and_plot_writes_figures(backend):
    assert runner.invoke(app, ["train", "--preset", "quick", *SETS]).exit_code == 0
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
    assert "GMM shape model" in table and "W1[i,j], W2[j,i]" in table and "Bayes posterior mean" in table
    assert "separation" in table and "valley depth" in table
    missing = runner.invoke(app, ["diagnose", "1", "--epoch", "7"])
    assert missing.exit_code == 1 and "no checkpoint at epoch 7; it has epochs 1, 2" in missing.output

    out = runner.invoke(app, ["plot", "1", "--animate"])
    assert out.exit_code == 0, out.output
    paths = out.output.split()
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        "curves.png",
        "diagnostics.png",
        "trajectories.png",
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
    for lr in (0.02, 0.05):
        assert (
            runner.invoke(app, ["train", "--preset", "quick", *SETS, "--set", f"training.learning_rate={lr}"]).exit_code
            == 0
        )
    runs = json.loads(runner.invoke(app, ["list", "--format", "json", "--sort", "n_clusters"]).output)
    assert all(r["n_clusters"] is not None and r["correlation"] is not None for r in runs)
    by_corr = json.loads(runner.invoke(app, ["list", "--format", "json", "--sort", "-correlation"]).output)
    assert [r["correlation"] for r in by_corr] == sorted((r["correlation"] for r in by_corr), reverse=True)
    overlay = runner.invoke(app, ["plot", "1", "2"])
    assert overlay.exit_code == 0 and "compare-1-2/curves.png" in overlay.output


def test_list_and_diagnose_report_the_same_blob_numbers(isolated_db):
    """The epoch row (what `list` sorts by) and `diagnose` come from one measurement of the same weights."""
    assert runner.invoke(app, ["train", "--preset", "quick", *SETS, "--set", "training.epochs=3"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["list", "--format", "json"]).output)[0]
    on_path = json.loads(runner.invoke(app, ["diagnose", "1", "--format", "json"]).output)["on_path"]
    assert listed["blob_method"] == on_path["method"] == "modes-1"
    assert listed["n_clusters"] == on_path["n_blobs"] >= 1
    assert listed["separation"] == on_path["separation"]
    assert listed["silhouette"] == on_path["silhouette"]
    assert listed["correlation"] == on_path["correlation"]


def _refuse(message: str):
    from mftctl.errors import MftctlError

    raise MftctlError(message)


def _write(path):
    path.write_bytes(b"drawn")
    return path


@pytest.mark.backends
def test_figures_drawn_at_once_are_the_figures_drawn_one_by_one(store, monkeypatch, tmp_path):
    """plot shares its figures out among forked drawers (analysis/drawing.py): the same bytes as drawing
    them here one after the other, the same order, and the parent's store still answers afterwards
    (the drawers inherit its database connection and must leave it alone)."""
    from mftctl.analysis import drawing
    from mftctl.analysis.figures import plot_runs
    from mftctl.store import reads

    assert runner.invoke(app, ["train", "--preset", "quick", *SETS]).exit_code == 0
    monkeypatch.setattr(drawing, "cores", lambda: 1)
    alone = plot_runs(store, [1], out=tmp_path / "alone", animate=True)
    monkeypatch.setattr(drawing, "cores", lambda: 2)
    shared = plot_runs(store, [1], out=tmp_path / "shared", animate=True)
    assert [p.name for p in shared] == [p.name for p in alone] and len(alone) == 6
    for one, other in zip(alone, shared, strict=True):
        assert one.read_bytes() == other.read_bytes(), one.name
    assert reads.get_run(store, 1).status == "completed"  # the connection survived the drawers
    assert runner.invoke(app, ["plot", "1", "--out", str(tmp_path / "again")]).exit_code == 0


def test_a_drawer_s_refusal_reaches_the_command_as_its_one_line(tmp_path):
    from mftctl.analysis.drawing import draw_all
    from mftctl.errors import MftctlError

    figures = [(_write, (tmp_path / "a.png",)), (_refuse, ("no room for this figure; free some",))]
    with pytest.raises(MftctlError, match="^no room for this figure; free some$"):
        draw_all(figures, drawers=2)
    assert (tmp_path / "a.png").read_bytes() == b"drawn"
    assert draw_all(figures[:1] * 3, drawers=2) == [tmp_path / "a.png"] * 3


def test_diagnose_and_plot_from_python_are_the_commands(isolated_db, tmp_path):
    """mftctl.diagnose and mftctl.plot, for a loop in Python: the command's JSON, the command's figures."""
    import mftctl
    from mftctl.errors import MftctlError

    assert runner.invoke(app, ["train", "--preset", "quick", *SETS]).exit_code == 0
    first = mftctl.diagnose(1)
    command = json.loads(runner.invoke(app, ["diagnose", "1", "--format", "json"]).output)
    assert first["cached"] is False and command["cached"] is True
    assert {**first, "cached": True} == command
    assert mftctl.diagnose(1, epoch=1, db=isolated_db)["epoch"] == 1
    paths = mftctl.plot(1, out=tmp_path / "figs")
    assert [p.name for p in paths] == [
        "curves.png",
        "diagnostics.png",
        "trajectories.png",
        "scatter_epoch2.png",
        "evolution.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    with pytest.raises(MftctlError, match="no run with id 9 in "):
        mftctl.diagnose(9)
    with pytest.raises(MftctlError, match="'jpg' is not a figure format; give png, svg, pdf"):
        mftctl.plot(1, fmt="jpg")
    with pytest.raises(MftctlError, match="give at least one run id"):
        mftctl.plot([])
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(MftctlError, match="a-file is a file; give a folder for the figures"):
        mftctl.plot(1, out=tmp_path / "a-file")
    refused = runner.invoke(app, ["plot", "1", "--out", str(tmp_path / "a-file")])
    assert refused.exit_code == 1 and "a-file is a file; give a folder for the figures" in refused.output
    assert (tmp_path / "a-file").read_text() == "x"
