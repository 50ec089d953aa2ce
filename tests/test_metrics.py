"""Evaluation metrics: energy-matched rejection separates topology from energy-shape information."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from scintnet.evaluate.metrics import (effective_sample_size, energy_matching_weights, rejection_at_acceptance,
                                       vertex_matching_weights, weighted_rejection_at_acceptance)


def _samples(seed: int = 0):
    rng = np.random.default_rng(seed)
    e_sig = rng.normal(2.46, 0.08, 20000)  # a resolution-smeared 0nbb line
    e_bkg = rng.uniform(2.0, 3.0, 20000)  # a broad background in the same window
    return rng, e_sig, e_bkg


def test_an_energy_only_score_gains_nothing_once_energy_matched():
    _, e_sig, e_bkg = _samples()
    score = lambda e: -np.abs(e - 2.46)  # noqa: E731  "likes" the line: pure energy information
    raw = rejection_at_acceptance(score(e_sig), score(e_bkg))
    w = energy_matching_weights(e_sig, e_bkg)
    matched = weighted_rejection_at_acceptance(score(e_sig), score(e_bkg), w)
    assert raw > 0.6  # the window edges are "rejected" without any topology
    assert matched == pytest.approx(0.10, abs=0.03)  # chance level = 1 - acceptance
    assert w.mean() == pytest.approx(1.0) and np.all(w[(e_bkg < 2.1) | (e_bkg > 2.9)] < 0.05)


def test_a_topology_score_keeps_its_rejection_when_energy_matched():
    rng, e_sig, e_bkg = _samples(1)
    s_sig = rng.normal(1.0, 1.0, e_sig.size)  # independent of energy, shifted for background
    s_bkg = rng.normal(0.0, 1.0, e_bkg.size)
    raw = rejection_at_acceptance(s_sig, s_bkg)
    matched = weighted_rejection_at_acceptance(s_sig, s_bkg, energy_matching_weights(e_sig, e_bkg))
    expected = norm.cdf(1.0 - norm.ppf(0.9))  # background below the signal 10 % quantile (unit Gaussians)
    assert raw == pytest.approx(expected, abs=0.02)
    assert matched == pytest.approx(raw, abs=0.03)


def test_energy_matching_rejects_disjoint_ranges():
    with pytest.raises(ValueError, match="overlap"):
        energy_matching_weights(np.array([2.4, 2.5]), np.array([1.0, 1.1]))


def _film_geometry(seed: int = 2):
    """Reconstructed radii: 0νββ uniform in a 1.9 m balloon, ²¹⁴Bi on the film, 10 cm vertex resolution."""
    rng = np.random.default_rng(seed)
    r_sig = np.abs(1900.0 * rng.uniform(0, 1, 40000) ** (1 / 3) + rng.normal(0, 100.0, 40000))
    r_bkg = 1900.0 + rng.normal(0, 100.0, 20000)
    return rng, r_sig, r_bkg


def test_vertex_matching_gives_the_signal_the_backgrounds_radii():
    _, r_sig, r_bkg = _film_geometry()
    w = vertex_matching_weights(r_sig, r_bkg)
    assert w.mean() == pytest.approx(1.0)
    assert np.all(w[r_sig < r_bkg.min()] == 0)  # inner signal is not where the film background is
    # weighted signal radii reproduce the background's (within the part of the shell inside 1.9 m)
    assert np.average(r_sig, weights=w) == pytest.approx(r_bkg.mean(), abs=10.0)
    assert np.sqrt(np.cov(r_sig, aweights=w)) == pytest.approx(r_bkg.std(), rel=0.1)
    n_eff = effective_sample_size(w)
    assert 1000 < n_eff < 0.5 * r_sig.size  # few signal events sit at the balloon


def test_a_position_only_score_is_at_chance_once_vertex_matched():
    """A network that learned "large radius = background" rejects film ²¹⁴Bi at fixed energy,
    but not at the film's position — the figure the radial fit cannot already provide."""
    rng, r_sig, r_bkg = _film_geometry(3)
    e_sig, e_bkg = rng.normal(2.46, 0.08, r_sig.size), rng.uniform(2.0, 3.0, r_bkg.size)
    score = lambda r: -r + rng.normal(0, 30.0, r.size)  # noqa: E731  position only
    wb = energy_matching_weights(e_sig, e_bkg)
    e_matched = weighted_rejection_at_acceptance(score(r_sig), score(r_bkg), wb)
    v_matched = weighted_rejection_at_acceptance(score(r_sig), score(r_bkg), wb,
                                                 weights_signal=vertex_matching_weights(r_sig, r_bkg))
    assert e_matched > 0.5
    assert v_matched == pytest.approx(0.10, abs=0.04)
    # a topology score independent of position keeps its rejection
    s_sig, s_bkg = rng.normal(1.0, 1.0, r_sig.size), rng.normal(0.0, 1.0, r_bkg.size)
    v_topo = weighted_rejection_at_acceptance(s_sig, s_bkg, wb, weights_signal=vertex_matching_weights(r_sig, r_bkg))
    assert v_topo == pytest.approx(norm.cdf(1.0 - norm.ppf(0.9)), abs=0.03)


def test_unit_signal_weights_reproduce_the_unweighted_threshold():
    rng = np.random.default_rng(4)
    s, b = rng.normal(1, 1, 5001), rng.normal(0, 1, 3000)
    ones = np.ones(b.size)
    assert weighted_rejection_at_acceptance(s, b, ones, weights_signal=np.ones(s.size)) == pytest.approx(
        weighted_rejection_at_acceptance(s, b, ones), abs=1e-3)
