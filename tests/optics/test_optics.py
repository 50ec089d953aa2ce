import json

import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.detector.pmts import build_pmt_array
from scintnet.optics.response import simulate_hits
from scintnet.physics.particles import ALPHA, ELECTRON, Deposits
from scintnet.reco.energy import ExpectedCharge


def _point_deposits(n, pos, evis, ptype=ELECTRON):
    pos = np.broadcast_to(np.asarray(pos, float), (n, 3)).copy()
    return Deposits(np.arange(n), pos, np.zeros(n), np.full(n, evis), np.full(n, evis), np.full(n, ptype, np.int8))


@pytest.fixture(scope="module")
def det():
    cfg = load_config("klz800", overrides=["pmts.types.0.dark_rate_hz=0", "pmts.types.1.dark_rate_hz=0",
                                           "pmts.threshold_pe=0.0"])
    return cfg, build_pmt_array(cfg)


def test_photoelectron_yield_matches_optical_model(det):
    cfg, pmts = det
    n = 3000
    for pos in ([0, 0, 0], [0, 0, 1500.0]):
        h = simulate_hits(_point_deposits(n, pos, 2.0), n, cfg, pmts, seed=11)
        expect = ExpectedCharge(cfg, pmts).pe_per_MeV(np.array([pos], float))[0] * 2.0
        assert h.npe.mean() == pytest.approx(expect, rel=0.01)
        # Poisson photostatistics
        assert h.npe.var() / h.npe.mean() == pytest.approx(1.0, abs=0.08)


def test_hit_times_follow_tof_and_scintillation_profile(det):
    from scintnet.optics.response import transport_delay_pdf

    cfg, pmts = det
    n = 400
    h = simulate_hits(_point_deposits(n, [0, 0, 0], 0.05), n, cfg, pmts, seed=3)  # ~1 p.e. per hit PMT
    v = cfg.scintillator.group_velocity_mm_per_ns
    res = h.time_ns - cfg.geometry.pmt_radius_mm / v
    s = cfg.scintillator
    w = np.asarray(s.decay_weights) / np.sum(s.decay_weights)
    t = np.arange(-40.0, 300.0, 0.1)
    transport = transport_delay_pdf(cfg, t, v)
    expect_mean = s.rise_time_ns + float(np.dot(w, s.decay_times_ns)) + float(np.sum(t * transport) * 0.1)
    # single p.e. hits: mean residual = rise + weighted decay + light-transport delay (TTS has zero mean)
    assert res.mean() == pytest.approx(expect_mean, rel=0.05)
    assert np.percentile(res, 1) > -6.0  # nothing earlier than the fastest light beyond the TTS


def test_production_mode_matches_reference_mode():
    """Sampled photoelectrons (light tables) reproduce tracked photons: yield and hit-time residuals."""
    from scintnet.validate.sim import optics_modes

    cfg = load_config("klz800")
    r = optics_modes(cfg, build_pmt_array(cfg), n_events=120, seed=2)
    for key in ("center", "r150cm"):
        assert r["ks"][key] < 0.02, (key, r["ks"][key])
        # charge per tube vs angle to the vertex direction (10 bins; per-bin noise ~2-3 % with 120 events)
        ratio = np.asarray(r["charge_vs_angle_ratio"][key])
        assert np.all(np.abs(ratio - 1) < 0.10) and abs(ratio.mean() - 1) < 0.02, ratio
        assert r["npe_production"][key] == pytest.approx(r["npe_reference"][key], rel=0.015)
    fr = r["light_fractions"]
    assert sum(fr.values()) == pytest.approx(1.0)
    assert fr["cherenkov"] == 0.0  # off in klz800, as in sim-KLZ800
    assert 0.2 < fr["direct"] < 0.7 and fr["reemitted"] > 0.05 and fr["scattered"] > 0.02


def test_tracked_direct_light_is_beer_lambert():
    """Unscattered photons of the tracker from the centre = the spectrum-weighted exp(-d / L(lambda))."""
    from scintnet.optics import media, rng, tables

    cfg = load_config("klz800")
    opt = media.optical_tables(cfg)
    n = 400_000
    hist, direct, frac = tables._indirect_kernel(
        rng.new_state(5), 0.0, n, opt.r_outer_mm, cfg.geometry.pmt_radius_mm, opt.slowness_ns_per_mm, opt.mu_reemit,
        opt.mu_absorb, opt.mu_rayleigh, opt.reemit_prob, opt.reemit_tau_ns, opt.emission_cdf, opt.response,
        tables.N_COS, tables.T0_NS, tables.DT_NS, tables.N_T, 0.005)
    r_s = 6500.0
    mu_ls, mu_oil = opt.mu_total[1], opt.mu_total[2]
    expect = np.sum(opt.emission * opt.response * np.exp(-r_s * mu_ls - (cfg.geometry.pmt_radius_mm - r_s) * mu_oil))
    assert frac[0] / n == pytest.approx(expect, rel=0.01)
    # and the production mode's analytic direct table agrees with it at the centre
    d = tables.direct_table(cfg)
    assert d.geo[0, 0] * 4 * np.pi * cfg.geometry.pmt_radius_mm**2 == pytest.approx(expect, rel=0.01)


def test_group_velocity_and_dispersion():
    from scintnet.optics import media

    # Cauchy LS: n(400 nm) ~ 1.45, group index larger than the phase index, blue light slower
    assert 1.44 < media.refractive_index("LS", 400.0) < 1.47
    assert media.group_index("LS", 400.0) > media.refractive_index("LS", 400.0)
    assert media.group_index("LS", 380.0) > media.group_index("LS", 450.0)
    # Rayleigh scattering scales as lambda^-4
    assert media.rayleigh_per_mm(28200.0, 215.0) == pytest.approx(16 / 28200.0)


def test_cherenkov_light_is_prompt_forward_and_a_few_percent():
    """A 2.5 MeV electron along +z in klz400-fast: Frank-Tamm photons on the cone, ~1-4 % of the light."""
    from scintnet.physics.particles import ELECTRON, Primaries
    from scintnet.physics.transport import transport

    cfg = load_config("klz400-fast", overrides=["pmts.types.0.dark_rate_hz=0"])
    pmts = build_pmt_array(cfg)
    n = 60
    prim = Primaries(np.arange(n), np.full(n, ELECTRON, np.int8), np.full(n, 2.5), np.zeros(n),
                     np.tile([0.0, 0.0, 1.0], (n, 1)))
    deps = transport(prim, np.zeros((n, 3)), cfg.geometry, cfg.scintillator, 3)
    h = simulate_hits(deps, n, cfg, pmts, seed=4, mode="reference", keep_pe=True)
    ch = (h.pe.flags & 4) > 0
    frac = ch.mean()
    assert 0.005 < frac < 0.05
    unscattered = h.pe.flags == 4  # Cherenkov photons neither scattered nor absorbed and re-emitted
    z = pmts.pos_mm[h.pe.pmt[unscattered], 2] / cfg.geometry.pmt_radius_mm
    assert np.mean(z) > 0.45  # cone around +z (cos theta_c ~ 0.69), smeared by multiple scattering
    h0 = simulate_hits(deps, n, load_config("klz400-fast", overrides=["scintillator.cherenkov=false"]), pmts, seed=4,
                       mode="reference", keep_pe=True)
    assert not np.any(h0.pe.flags & 4)
    # the production mode tracks the same Cherenkov photons
    hp = simulate_hits(deps, n, cfg, pmts, seed=5, keep_pe=True)
    assert ((hp.pe.flags & 4) > 0).mean() == pytest.approx(frac, rel=0.25)


def test_alpha_light_is_slower(det):
    cfg, pmts = det
    n = 300
    e = simulate_hits(_point_deposits(n, [0, 0, 0], 0.05), n, cfg, pmts, seed=5)
    a = simulate_hits(_point_deposits(n, [0, 0, 0], 0.05, ALPHA), n, cfg, pmts, seed=5)
    assert np.mean(a.time_ns) > np.mean(e.time_ns) + 3.0


def test_dark_hits_rate():
    cfg = load_config("klz800")
    pmts = build_pmt_array(cfg)
    n = 2000
    d = Deposits(np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.int8))
    h = simulate_hits(d, n, cfg, pmts, seed=1)
    t0, t1 = cfg.pmts.readout_window_ns
    expect = (pmts.dark_rate_hz * (t1 - t0) * 1e-9).sum()
    # a dark p.e. below the charge threshold is lost: compare with the charge acceptance
    from scipy.stats import norm

    acc = np.mean(norm.sf(cfg.pmts.threshold_pe, 1.0, pmts.spe_sigma))
    assert h.nhit().mean() == pytest.approx(expect * acc, rel=0.05)
    assert np.all((h.time_ns >= t0) & (h.time_ns < t1))


def test_reproducible(det):
    cfg, pmts = det
    d = _point_deposits(50, [100, 200, 300], 2.0)
    a, b = simulate_hits(d, 50, cfg, pmts, seed=9), simulate_hits(d, 50, cfg, pmts, seed=9)
    assert np.array_equal(a.time_ns, b.time_ns) and np.array_equal(a.pmt, b.pmt)


def test_light_table_round_trip_is_exact(tmp_path):
    """A table built in this process and the same table read back from the cache are bit-identical, so a
    simulation does not depend on which process built the table (workers, resumed runs)."""
    from scintnet.optics import tables

    cfg = load_config("klz800")
    built = tables.build_indirect_table(cfg, n_photons=20_000, seed=3)
    path = tmp_path / "t.npz"
    tables._save(built, path)
    loaded = tables._load(path, cfg)
    assert loaded is not None
    for k in ("density", "cdf", "direct_density", "fractions"):
        assert np.array_equal(getattr(built, k), getattr(loaded, k)), k
    # provenance travels with the table; a table of another optics configuration is not accepted
    assert json.loads(loaded.provenance)["n_photons_per_radius"] == 20_000
    other = load_config("klz800", overrides=["scintillator.rayleigh_length_mm=20000"])
    assert tables._load(path, other) is None


def test_emission_table_reproduces_the_scintillation_profile():
    """The inverse-CDF scintillation delay (with its exact exponential tail) has the profile's mean."""
    import numba as nb

    from scintnet.optics import rng
    from scintnet.optics.response import _sample_emission, emission_table

    s = load_config("klz800").scintillator
    tab = emission_table(s.rise_time_ns, s.decay_times_ns, s.decay_weights, s.alpha_decay_weights)
    taus = np.asarray(s.decay_times_ns, float)

    @nb.njit
    def draw(st, n, row):
        out = np.empty(n)
        for i in range(n):
            out[i] = _sample_emission(st, taus, tab, row)
        return out

    for row, w in ((0, s.decay_weights), (1, s.alpha_decay_weights)):
        x = draw(rng.new_state(7 + row), 1_000_000, row)
        w = np.asarray(w) / np.sum(w)
        mean = s.rise_time_ns + float(np.dot(w, taus))
        var = s.rise_time_ns**2 + float(np.dot(w, 2 * taus**2)) - float(np.dot(w, taus)) ** 2
        assert x.mean() == pytest.approx(mean, abs=4 * np.sqrt(var / x.size))
        assert np.mean(x > 200.0) == pytest.approx(float(np.dot(w, np.exp(-200.0 / taus))), rel=0.1)  # the tail
