"""Truth site multiplicity: electrons are single-site, MeV gammas mostly multi-site; file split."""

from __future__ import annotations

import numpy as np

from scintnet.detector.config import load_config
from scintnet.evaluate.sites import site_count, split_by_sites
from scintnet.io.store import EventFile
from scintnet.sim.run import SimConfig, run_simulation, simulate_chunk


def _chunk(src, e, n=300, seed=1):
    cfg = load_config("klz400-fast")
    return simulate_chunk(SimConfig.for_detector(cfg, src, n, seed, vertex="sphere:1000", energy_MeV=e, chunk_size=n), 0)


def test_electrons_single_site_gammas_multi_site():
    ne = site_count(_chunk("electron", 2.5))
    assert np.mean(ne == 1) > 0.97  # a 2.5 MeV electron track is ~1 cm long
    ng = site_count(_chunk("gamma", 3.0), min_frac=0.05)
    # a 3 MeV gamma in LS (mean free path ~30 cm) Compton-scatters several times
    assert 0.7 < np.mean(ng >= 2) < 0.95 and ng.max() >= 3
    # a stricter site threshold (10 % of the light) leaves more single-site events
    assert np.mean(site_count(_chunk("gamma", 3.0)) == 1) > np.mean(ng == 1) + 0.1
    # linking everything merges the sites
    assert np.all(site_count(_chunk("gamma", 3.0), link_mm=1e5)[ng > 0] == 1)


def test_split_by_sites_writes_both_files(tmp_path):
    cfg = load_config("klz400-fast")
    run_simulation(SimConfig.for_detector(cfg, "gamma", 200, 3, vertex="sphere:1000", energy_MeV=3.0, chunk_size=100), tmp_path / "g.h5")
    res = split_by_sites(tmp_path / "g.h5", tmp_path / "s.h5", tmp_path / "m.h5")
    with EventFile(tmp_path / "s.h5") as fs, EventFile(tmp_path / "m.h5") as fm:
        assert fs.n_events == res["n_single"] and fm.n_events == res["n_multi"]
        cs = fs.read(0, None)
        assert np.all(site_count(cs) == 1) and fs.run["subset"] == "single-site"
        assert np.all(site_count(fm.read(0, None)) >= 2)
    with EventFile(tmp_path / "g.h5") as f:
        full = f.read(0, None)
    # hits are carried over intact
    i = int(np.flatnonzero(site_count(full) == 1)[0])
    assert np.array_equal(cs.event_hits(0)[0], full.event_hits(i)[0])
