"""The blob measurement (`mftctl.measure_blobs`) on clouds with planted truth and on real checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mftctl
from clouds import bank, centre_and_outer, continuum, ring_of_blobs
from mftctl.science.blobs import BlobSettings, blob_state, measure_blobs, symmetry_error

BANK = bank()
REAL = Path(__file__).parent / "data" / "reference_pairs.npz"


@pytest.mark.parametrize("name,points,truth", BANK, ids=[name for name, _, _ in BANK])
def test_bank_counts_and_states(name, points, truth):
    state, k = truth
    report = measure_blobs(points)
    assert report.state == state, (name, report.n_blobs, report.separation)
    if k is not None:
        assert report.n_blobs == k
    else:  # a forming continuum: a few lumps, never a dozen
        assert 2 <= report.n_blobs <= 4 and report.separation < 0.8
    assert abs(sum(b.mass for b in report.blobs) + report.noise_fraction - 1) < 1e-9


@pytest.mark.parametrize("factors", [(100.0, 0.01), (0.01, 100.0), (1e-3, 1e-3), (30.0, 30.0)])
@pytest.mark.parametrize("make", [lambda: centre_and_outer(0.005), continuum], ids=["formed", "forming"])
def test_the_answer_is_scale_free(make, factors):
    points = make()
    base, scaled = measure_blobs(points), measure_blobs(points * np.array(factors))
    assert scaled.n_blobs == base.n_blobs
    assert scaled.separation == pytest.approx(base.separation, rel=1e-9)
    assert scaled.silhouette == pytest.approx(base.silhouette, rel=1e-9)
    assert [b.mass for b in scaled.blobs] == [b.mass for b in base.blobs]
    centres = np.array([b.centre for b in scaled.blobs]) / factors
    assert np.allclose(centres, [b.centre for b in base.blobs], rtol=1e-9, atol=1e-12)


def test_rare_outer_blobs_have_their_mass_and_centre():
    report = measure_blobs(centre_and_outer(0.003))
    assert [round(b.mass, 4) for b in report.blobs] == [0.994, 0.003, 0.003]
    outer = sorted(report.blobs[1:], key=lambda b: b.centre[0])
    assert np.allclose(outer[1].centre, (1.37, 0.083), atol=0.01)
    assert np.allclose(outer[0].centre, (-1.37, -0.083), atol=0.01)
    assert report.symmetry_error < 0.02
    assert report.blobs[0].depth is None and all(b.depth > 0.99 for b in report.blobs[1:])


def test_separation_orders_formed_above_forming_above_none():
    formed = measure_blobs(centre_and_outer(0.011))
    forming = measure_blobs(continuum())
    none = measure_blobs(ring_of_blobs(1))
    assert formed.separation > forming.separation > none.separation == 0.0
    assert [blob_state(r.n_blobs, r.separation) for r in (formed, forming, none)] == ["formed", "forming", "none"]


def test_deterministic_and_independent_of_pair_order():
    points = centre_and_outer(0.011)
    first, again = measure_blobs(points), measure_blobs(points.copy())
    assert first == again
    shuffled = measure_blobs(points[np.random.default_rng(1).permutation(len(points))])
    assert (shuffled.n_blobs, shuffled.separation, shuffled.silhouette) == (
        first.n_blobs,
        first.separation,
        first.silhouette,
    )
    assert [b.mass for b in shuffled.blobs] == [b.mass for b in first.blobs]


def test_same_numbers_in_another_process_with_other_thread_counts(tmp_path):
    points = centre_and_outer(0.011).astype(np.float32)
    np.save(tmp_path / "p.npy", points)
    script = (
        "import json, sys, numpy as np, torch, mftctl; torch.set_num_threads(int(sys.argv[2]));"
        "print(json.dumps(mftctl.measure_blobs(np.load(sys.argv[1])).as_dict()))"
    )
    results = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "p.npy"), threads], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout))
    assert results[0] == results[1] == json.loads(json.dumps(measure_blobs(points).as_dict()))


def test_accepts_numpy_and_torch_and_refuses_other_shapes():
    points = centre_and_outer(0.011, n=20_000)
    from_numpy = measure_blobs(points)
    from_torch = mftctl.measure_blobs(torch.from_numpy(points))
    assert from_numpy == from_torch
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        measure_blobs(np.zeros((10, 3)))
    empty = measure_blobs(np.zeros((1, 2)))
    assert empty.n_blobs == 0 and empty.silhouette is None


def test_non_finite_pairs_are_left_out():
    points = centre_and_outer(0.011, n=20_000)
    spoiled = np.concatenate([points, [[np.nan, 0.0], [np.inf, 1.0]]])
    clean, report = measure_blobs(points), measure_blobs(spoiled)
    assert report.pairs == clean.pairs == len(points)
    assert report.n_blobs == clean.n_blobs == 3


def test_a_constant_cloud_is_one_blob():
    report = measure_blobs(np.ones((5_000, 2)))
    assert report.n_blobs == 1 and report.separation == 0.0 and report.correlation is None


def test_thresholds_change_what_counts():
    points = continuum()
    strict = measure_blobs(points, BlobSettings(min_depth=0.9))
    assert strict.n_blobs == 1
    rare = centre_and_outer(0.003)
    assert measure_blobs(rare, BlobSettings(min_mass=0.01)).n_blobs == 1


def test_symmetry_error():
    assert symmetry_error([(0, 0), (1, 2), (-1, -2)]) == pytest.approx(0.0)
    assert symmetry_error([(0, 0), (1, 2), (1, -2)]) == pytest.approx(2 / np.sqrt(5))
    assert symmetry_error([(0, 0), (1, 2)]) is None


@pytest.mark.skipif(not REAL.exists(), reason="real checkpoints not shipped")
def test_real_reference_checkpoints():
    """Weight pairs of a real reference_3blob run (all 524,288 pairs, float16) at three epochs and of two
    design-sweep runs: none before the blobs appear, forming, then formed; and lr 0.005's single cloud."""
    data = np.load(REAL)
    reports = {name: measure_blobs(data[name].astype(np.float32)) for name in data.files}
    assert reports["epoch05"].state == "none" and reports["epoch05"].n_blobs == 1
    assert reports["epoch11"].n_blobs == 3 and reports["epoch11"].state == "forming"
    formed = reports["epoch20"]
    assert formed.n_blobs == 3 and formed.state == "formed"
    assert formed.separation > reports["epoch11"].separation > reports["epoch05"].separation
    masses = [b.mass for b in formed.blobs]
    assert masses[0] > 0.97 and all(0.005 < m < 0.02 for m in masses[1:])
    assert all(np.allclose(np.abs(b.centre), (1.37, 0.083), atol=0.05) for b in formed.blobs[1:])
