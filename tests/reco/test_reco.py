"""Reconstruction physics: vertex/energy resolution scaling, calibration cache, `scintnet reco` resume."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.detector.pmts import build_pmt_array
from scintnet.reco.calibrate import calibration_path, load_or_make_calibration
from scintnet.reco.pipeline import BAD_FLAGS, Reconstructor
from scintnet.reco.store import reco_file
from scintnet.sim.run import SimConfig, run_simulation
from scintnet.validate.common import gaussian_core, simulate_events


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    cfg = load_config("klz800")
    cache = tmp_path_factory.mktemp("cal")
    cal = load_or_make_calibration(cfg, cache, n_per_energy=150)
    return Reconstructor(cfg, build_pmt_array(cfg), cal), cache


def _guns(rec, E, n=300, seed=0, vertex="sphere:1500"):
    r = rec[0]
    ch = simulate_events(r.cfg, "klz800", "electron", n, seed, vertex=vertex, energy_MeV=E)
    return ch, r(ch)


def test_vertex_resolution_scales_like_inverse_sqrt_energy(rec):
    res = {}
    for E in (1.0, 4.0):
        ch, r = _guns(rec, E, seed=int(E * 10))
        assert r["valid"].mean() > 0.98
        d = r["vertex_mm"][r["valid"]] - ch.vertex_mm[r["valid"]]
        fits = [gaussian_core(d[:, k]) for k in range(3)]
        res[E] = np.mean([s for _, s in fits])
        assert all(abs(m) < 0.2 * res[E] for m, _ in fits)  # unbiased within a fraction of sigma
        seed_d = r["centroid_mm"][r["valid"]] - ch.vertex_mm[r["valid"]]
        assert res[E] < 0.8 * np.mean([gaussian_core(seed_d[:, k])[1] for k in range(3)])  # beats the centroid
    # photostatistics: 4x the light gives half the resolution (within 25 %)
    assert res[1.0] / res[4.0] == pytest.approx(2.0, rel=0.25)


def test_energy_linearity_and_resolution(rec):
    sig = {}
    for E in (1.5, 3.5):
        _, r = _guns(rec, E, seed=int(E * 100))
        m, s = gaussian_core(r["energy_MeV"][r["valid"]])
        assert m == pytest.approx(E, rel=0.02)  # calibrated to electron kinetic energy
        sig[E] = s / m
    assert sig[1.5] / sig[3.5] == pytest.approx(np.sqrt(3.5 / 1.5), rel=0.25)


def test_calibration_cache_versioned_and_regenerated(rec, tmp_path):
    r, cache = rec
    p = calibration_path(r.cfg, cache)
    assert p.exists()
    t = p.stat().st_mtime_ns
    again = load_or_make_calibration(r.cfg, cache)
    assert p.stat().st_mtime_ns == t and again == r.calibration  # read from the cache
    other = load_config("klz800", overrides=["scintillator.light_yield_per_MeV=12000"])
    assert calibration_path(other, cache) != p  # a different configuration gets its own file
    p.write_text("{not json")
    fixed = load_or_make_calibration(r.cfg, cache, n_per_energy=60)  # corrupt cache -> regenerated
    assert fixed.config_hash == r.calibration.config_hash and p.read_text().startswith("{")


def test_bad_events_flagged(rec):
    r = rec[0]
    ch = simulate_events(r.cfg, "klz800", "electron", 5, 3, vertex="center", energy_MeV=2.0)
    ch.hit_time_ns = ch.hit_time_ns.copy()
    ch.hit_time_ns[ch.hit_offsets[1]] = np.nan
    ch.hit_pmt = ch.hit_pmt.astype(np.int32)
    ch.hit_pmt[ch.hit_offsets[2]] = r.pmts.n + 5
    out = r(ch)
    assert out["flags"][1] & BAD_FLAGS["nan_hit"] and out["flags"][2] & BAD_FLAGS["bad_pmt_id"]
    assert out["valid"].tolist() == [True, False, False, True, True]
    assert np.isnan(out["energy_MeV"][1]) and np.isnan(out["vertex_mm"][2]).all()


def test_reco_file_resumes_after_interruption(rec, tmp_path):
    r = rec[0]
    src = tmp_path / "in.h5"
    run_simulation(SimConfig.for_detector(r.cfg, "Xe136_0vbb", 120, 4, preset="klz800", chunk_size=120, store_deposits=False), src)
    calls = []

    class Boom(Exception):
        pass

    def die_after_first(n):
        calls.append(n)
        if len(calls) == 2:
            raise Boom

    out = tmp_path / "out.h5"
    with pytest.raises(Boom):
        reco_file(src, out, r, chunk_events=50, progress=die_after_first)
    assert not out.exists()  # never a half-written output under the final name
    res = reco_file(src, out, r, chunk_events=50)
    assert res["resumed_events"] == 100 and res["n_events"] == 120
    full = tmp_path / "full.h5"
    reco_file(src, full, r, chunk_events=120)
    with h5py.File(out) as a, h5py.File(full) as b:
        assert a["reco"].attrs["complete"] and a["hits/time_ns"].shape == b["hits/time_ns"].shape
        assert np.allclose(a["reco/vertex_mm"][:], b["reco/vertex_mm"][:], equal_nan=True)
        assert np.allclose(a["reco/energy_MeV"][:], b["reco/energy_MeV"][:], equal_nan=True)


def test_dataset_reads_stored_reco(rec, tmp_path):
    from scintnet.features.dataset import Selection, load_event_set

    r, cache = rec
    src = tmp_path / "in.h5"
    run_simulation(SimConfig.for_detector(r.cfg, "Xe136_0vbb", 80, 5, preset="klz800", chunk_size=80, store_deposits=False), src)
    out = tmp_path / "out.h5"
    reco_file(src, out, r)
    with h5py.File(out, "r+") as h:  # mark a stored vertex: the dataset must use /reco, not refit
        h["reco/vertex_mm"][0] = [1.0, 2.0, 3.0]
    es = load_event_set(out, selection=Selection(0.0, 100.0, 1e5), cache_dir=cache, log=None)
    assert es.event_index[0] == 0 and np.allclose(es.vertex_mm[0], [1.0, 2.0, 3.0], atol=1e-4)
