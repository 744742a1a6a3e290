"""The Bayes reference is the exact posterior mean: checked against brute-force enumeration of every
two-hot support, including inputs where the closed form's log-space care matters."""

from __future__ import annotations

import itertools

import pytest
import torch

from mftctl.science.baselines import bayes_posterior_mean


def _enumerated(x: torch.Tensor, amplitude: float, noise_variance: float) -> torch.Tensor:
    """E[x* | x] over all d·(d−1)/2 supports {j, k} of a two-hot signal of amplitude A, uniform prior."""
    d = x.shape[1]
    pairs = list(itertools.combinations(range(d), 2))
    support = torch.zeros(len(pairs), d, dtype=torch.float64)
    for row, (j, k) in enumerate(pairs):
        support[row, [j, k]] = amplitude
    # log-likelihood of x under each support (the terms equal across supports dropped)
    loglik = (x.double() @ support.T) / noise_variance
    weights = torch.softmax(loglik, dim=1)
    return weights @ support


@pytest.mark.parametrize(("d", "amplitude", "noise_variance"), [(3, 1.0, 1.0), (6, 2.0, 0.5), (8, 5.0, 0.05)])
def test_bayes_posterior_mean_equals_brute_force_enumeration(d, amplitude, noise_variance):
    gen = torch.Generator().manual_seed(d)
    clean = torch.zeros(64, d, dtype=torch.float64)
    for row in range(64):
        clean[row, torch.randperm(d, generator=gen)[:2]] = amplitude
    x = clean + noise_variance**0.5 * torch.randn(64, d, generator=gen, dtype=torch.float64)
    expected = _enumerated(x, amplitude, noise_variance)
    got = bayes_posterior_mean(x, amplitude, noise_variance).double()
    assert torch.allclose(got, expected, rtol=1e-9, atol=1e-12), (got - expected).abs().max()
    assert torch.allclose(got.sum(dim=1), torch.full((64,), 2 * amplitude, dtype=torch.float64))
