"""Evaluation metrics: energy-matched rejection separates topology from energy-shape information."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from scintnet.evaluate.metrics import (energy_matching_weights, rejection_at_acceptance,
                                       weighted_rejection_at_acceptance)


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
