"""Deposit-truth features (evaluate.truth_bound): geometry and timing of known deposit patterns, and
electrons vs gammas of the same energy told apart by where their light is made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.evaluate.truth_bound import FEATURE_NAMES, truth_features
from scintnet.io.events import EventChunk
from scintnet.sim.run import SimConfig, simulate_chunk


def _deposits(events):
    """An EventChunk (no hits) from per-event lists of (x_mm, t_ns, evis_MeV) deposits on the x axis."""
    n = len(events)
    off = np.cumsum([0] + [len(e) for e in events]).astype(np.int64)
    flat = [d for e in events for d in e]
    pos = np.array([[x, 0.0, 0.0] for x, _, _ in flat], np.float32)
    return EventChunk(hit_offsets=np.zeros(n + 1, np.int64), hit_pmt=np.zeros(0, np.int16),
                      hit_time_ns=np.zeros(0, np.float32), hit_charge_pe=np.zeros(0, np.float32),
                      vertex_mm=np.zeros((n, 3), np.float32), edep_MeV=np.ones(n, np.float32),
                      evis_MeV=np.ones(n, np.float32), npe=np.zeros(n, np.int32), label=np.zeros(n, np.int8),
                      dep_offsets=off, dep_pos_mm=pos, dep_t_ns=np.array([t for _, t, _ in flat], np.float32),
                      dep_edep_MeV=np.array([e for _, _, e in flat], np.float32) * 1.25,
                      dep_evis_MeV=np.array([e for _, _, e in flat], np.float32),
                      dep_ptype=np.zeros(len(flat), np.int8))


def test_two_sites_and_a_delayed_half():
    f = truth_features(_deposits([[(0.0, 0.0, 1.0)], [(-100.0, 0.0, 0.5), (100.0, 5.0, 0.5)]]))
    col = {k: f[:, i] for i, k in enumerate(FEATURE_NAMES)}
    # one point deposit: no spread, one site, nothing late
    assert col["rms_mm"][0] == 0.0 and col["n_sites"][0] == 1 and col["t_rms_ns"][0] == 0.0
    # two equal deposits 200 mm apart, the second 5 ns later: RMS 100 mm along x only, two sites,
    # half the light > 3 ns after the first deposit, time RMS 2.5 ns
    assert col["rms_mm"][1] == pytest.approx(100.0) and col["extent1_mm"][1] == pytest.approx(100.0)
    assert col["extent2_mm"][1] == pytest.approx(0.0, abs=1e-6) and col["n_sites"][1] == 2
    assert col["frac_gt50mm"][1] == 1.0 and col["frac_gt150mm"][1] == 0.0
    assert col["frac_after3ns"][1] == 0.5 and col["frac_after10ns"][1] == 0.0
    assert col["t_rms_ns"][1] == pytest.approx(2.5)
    assert np.allclose(col["evis_over_edep"], 0.8)


def test_electrons_compact_gammas_spread():
    cfg = load_config("klz400-fast")
    chunk = lambda src: simulate_chunk(SimConfig.for_detector(cfg, src, 200, 5, vertex="sphere:1000", energy_MeV=2.5,  # noqa: E731
                                                              chunk_size=200), 0)
    fe, fg = truth_features(chunk("electron")), truth_features(chunk("gamma"))
    k = FEATURE_NAMES.index("rms_mm")
    # a 2.5 MeV electron stops within ~1 cm; a gamma's Compton sites are tens of cm apart
    assert np.median(fe[:, k]) < 10.0 < 50.0 < np.median(fg[:, k])
    with pytest.raises(ValueError, match="deposit"):
        truth_features(dataclasses.replace(_deposits([[(0.0, 0.0, 1.0)]]), dep_offsets=np.zeros(1, np.int64)))
    # what a file simulated with --no-deposits reads as: offsets for every event, no deposits
    with pytest.raises(ValueError, match="no-deposits"):
        truth_features(_deposits([[], []]))
