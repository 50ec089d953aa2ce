"""End-to-end physics of the simulation chain (small samples, seconds each)."""

import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.detector.pmts import build_pmt_array
from scintnet.features.maps import proper_times
from scintnet.sim.run import SimConfig, simulate_chunk
from scintnet.validate.common import simulate_events
from scintnet.validate.sim import validate_sim


def _time_spread(cfg, source, n=800, seed=1):
    """Mean over events of the mean proper hit time in -20..40 ns (true vertex)."""
    pmts = build_pmt_array(cfg)
    ch = simulate_events(cfg, cfg.name, source, n, seed, vertex="center")
    tau = proper_times(ch, pmts.pos_mm, np.zeros((n, 3)), cfg.scintillator.group_velocity_mm_per_ns)
    ev = np.repeat(np.arange(n), ch.nhit())
    s = (tau > -20) & (tau < 40)
    cnt = np.bincount(ev[s], minlength=n)
    m1 = np.bincount(ev[s], tau[s], n) / cnt
    return float(np.mean(m1))


def test_c10_positronium_delay_visible_in_hit_times():
    cfg = load_config("klz800")
    s_0vbb = _time_spread(cfg, "Xe136_0vbb")
    s_c10 = _time_spread(cfg, "C10")
    no_ops = load_config("klz800", overrides=["scintillator.ops_fraction=0.0"])
    s_c10_no_ops = _time_spread(no_ops, "C10")
    # the ~3 ns o-Ps delay of the annihilation light, the 1.02 ns 718 keV level and the gamma flight
    # delay 10C's light (~0.2 ns later than 0nbb on average; statistical error ~0.02 ns)
    assert s_c10 > s_0vbb + 0.08
    assert s_c10 > s_c10_no_ops + 0.05


def test_c10_718kev_level_lifetime():
    """ENSDF: 10B 718 keV level T1/2 = 0.707 ns, so the gamma follows the positron by 1.02 ns on average."""
    from scintnet.validate.sim import c10_gamma_delay_ns

    assert c10_gamma_delay_ns(200_000, seed=4) == pytest.approx(0.707 / np.log(2), rel=0.02)


def test_gamma_events_are_multi_site():
    cfg = load_config("klz800")
    out = {}
    for src in ("electron", "gamma"):
        sim = SimConfig.for_detector(cfg, src, 400, 5, preset="klz800", vertex="center", energy_MeV=2.0, chunk_size=400)
        c = simulate_chunk(sim, 0)
        ev = np.repeat(np.arange(c.n_events), np.diff(c.dep_offsets))
        w = c.dep_edep_MeV.astype(float)
        wsum = np.bincount(ev, weights=w, minlength=c.n_events)
        mean = np.stack([np.bincount(ev, weights=w * c.dep_pos_mm[:, k], minlength=c.n_events) for k in range(3)], 1)
        mean /= np.maximum(wsum, 1e-12)[:, None]
        d2 = ((c.dep_pos_mm - mean[ev]) ** 2).sum(1)
        rms = np.sqrt(np.bincount(ev, weights=w * d2, minlength=c.n_events) / np.maximum(wsum, 1e-12))
        out[src] = np.median(rms[wsum > 0])
    # electrons: ~mm-scale tracks; gammas: Compton sites ~10 cm apart (attenuation length ~25 cm)
    assert out["electron"] < 5.0
    assert out["gamma"] > 30.0


def test_energy_scale_linear_in_visible_energy():
    cfg = load_config("klz800")
    means = []
    for e in (1.0, 2.0):
        c = simulate_events(cfg, "klz800", "electron", 300, 9, vertex="center", energy_MeV=e)
        means.append(np.mean(c.total_charge()) / np.mean(c.evis_MeV))
    assert means[0] == pytest.approx(means[1], rel=0.02)


@pytest.mark.slow
def test_validate_sim_figures_match_references():
    cfg = load_config("klz800")
    r = validate_sim(cfg, "klz800", n_events=1000, seed=3, workers=1, plot_dir=None, n_decays=40_000)
    assert r["energy_resolution_at_q"] == pytest.approx(r["energy_resolution_at_q_ref"], rel=0.10)
    assert r["vertex_resolution_cm_at_q"] == pytest.approx(r["vertex_resolution_cm_at_q_ref"], rel=0.20)
    assert r["mean_occupied_cells_0vbb"] == pytest.approx(350, rel=0.10)
    for k, ref in r["attenuation_length_cm_ref"].items():
        assert r["attenuation_length_cm"][k] == pytest.approx(ref, rel=0.03)
        assert r["attenuation_length_cm_mc"][k] == pytest.approx(ref, rel=0.03)
    for k, ref in r["line_intensity_ref"].items():
        assert r["line_intensity"][k] == pytest.approx(ref, rel=0.02)
