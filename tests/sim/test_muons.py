"""Muon model v2 of the stream: underground spectrum, neutron yield and its energy power, showering class,
reconstructed light profile, neutron transport, post-muon dead time and the dead-time-free switch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scintnet.sim.stream import StreamConfigError, load_stream_config, read_stream, run_stream
from scintnet.sim.stream import muons as muphys
from scintnet.validate.muons import muon_figures


@pytest.fixture(scope="module")
def cfg():
    return load_stream_config()


def test_energy_spectrum_mean_matches_kamland(cfg):
    m = cfg.muons
    E = muphys.sample_energy_GeV(m, 400_000, np.random.default_rng(1))
    # the sample follows the closed form mean eps(1 - exp(-bX)) / (gamma - 2) (heavy tail: 2 % tolerance)
    assert E.min() >= 0 and abs(E.mean() / muphys.mean_energy_GeV(m) - 1) < 0.02
    # PDG underground spectrum at 2.7 km.w.e. gives KamLAND's measured mean 260 +- 8 GeV (PRC 81, 025807)
    assert abs(muphys.mean_energy_GeV(m) - 260.0) < 2 * 8.0
    # deeper -> harder spectrum
    assert muphys.mean_energy_GeV(replace(m, depth_kmwe=4.0)) > muphys.mean_energy_GeV(m)


def test_neutron_yield_normalised_and_scales_as_E_power(cfg):
    m = cfg.muons
    # spectrum-averaged yield = the published 2.8e-4 n/(mu g/cm2) by construction of k
    Eq = muphys._energy_quantiles_GeV(m)
    assert abs(muphys.neutron_yield_per_g_cm2(m, Eq).mean() / m.neutron_yield_per_g_cm2 - 1) < 1e-6
    # Monte Carlo of showers at two fixed energies: yield ratio ~ (E2/E1)^0.75 (the JNE/Aberdeen power law)
    rng = np.random.default_rng(2)
    ys = []
    for E in (50.0, 500.0):
        n = 400_000
        L = np.full(n, 10_000.0)
        mu, s, nu, had = muphys.sample_transfers(m, np.full(n, E), L, rng)
        assert np.all((s >= 0) & (s <= 10_000.0)) and np.all((nu >= m.transfer_min_MeV) & (nu <= E * 1e3))
        ys.append(muphys.mean_neutrons_per_shower(m, nu, had).sum() / (n * 1000.0 * 0.78))
        assert abs(ys[-1] / muphys.neutron_yield_per_g_cm2(m, E) - 1) < 0.1
    alpha = np.log(ys[1] / ys[0]) / np.log(10.0)
    assert abs(alpha - m.neutron_energy_power) < 0.08, alpha


def test_transport_spread_is_fermi_age_plus_diffusion(cfg):
    n = cfg.neutrons
    rng = np.random.default_rng(3)
    k = 200_000
    t = rng.exponential(n.capture_time_us * 1e-6, k)
    cap = muphys.transport_neutrons(n, np.zeros((k, 3)), np.zeros(k, bool), t, rng)
    # per axis: 2 tau_F + 2 L^2 <t>/tau  (age theory + thermal diffusion), 27 cm2 and 2.85 cm (water values)
    expect = np.sqrt(2 * n.fermi_age_cm2 * 100 + 2 * n.diffusion_length_mm**2)
    assert abs(cap.std(0).mean() / expect - 1) < 0.02
    assert 75 < expect < 95  # ~8 cm: slow neutrons stay close to where they were made
    fast = muphys.transport_neutrons(n, np.zeros((k, 3)), np.ones(k, bool), t, rng)
    r = np.linalg.norm(fast, axis=1)
    assert np.mean(r > 500) > 0.5 * n.fast_fraction  # the fast leg (1 interaction length) reaches far


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    d = tmp_path_factory.mktemp("mu")
    out = {}
    for name, ovr in (("default", []), ("free", ["neutrons.deadtime_free=true"])):
        p = d / f"{name}.h5"
        run_stream(load_stream_config(overrides=["chunk_days=0.5", *ovr]), 1.0, 4, p, workers=1)
        out[name] = read_stream(p)
    return out


def test_showering_class_and_light_profile(streams):
    s = streams["default"]
    mu, cfg = s.muons, s.config
    dq = mu["dq_MeV"].astype(float)
    assert np.array_equal(mu["showering"] == 1, dq > cfg.muons.showering_dq_MeV)
    nsh = np.diff(mu["shower_offsets"])
    assert np.allclose(dq, np.bincount(np.repeat(np.arange(nsh.size), nsh), weights=mu["shower_E_MeV"],
                                       minlength=nsh.size), rtol=1e-4, atol=1e-2)
    # showering fraction: rare (< 3 %) but present; the profile exists exactly for muons with a shower
    assert 0.002 < mu["showering"].mean() < 0.03
    po = mu["profile_offsets"]
    assert np.array_equal(np.diff(po) > 0, nsh > 0)
    has = np.flatnonzero(nsh > 0)
    w = cfg.response.muon_profile_bin_mm
    assert np.array_equal(np.diff(po)[has], np.ceil(mu["length_mm"][has] / w).astype(int))
    # light is conserved by the profile reconstruction (up to shower tails beyond the track ends)
    tot = np.add.reduceat(mu["profile_MeV"].astype(float), po[has])
    ratio = tot.sum() / mu["edep_MeV"][has].astype(float).sum()
    assert 0.93 < ratio < 1.02, ratio
    # the profile peaks where the largest shower is (along the reconstructed track, resolution 30 cm + 20 cm)
    k = has[np.argmax(dq[has])]
    j = np.argmax(mu["shower_E_MeV"][mu["shower_offsets"][k]:mu["shower_offsets"][k + 1]])
    s_true = mu["shower_s_mm"][mu["shower_offsets"][k] + j]
    peak = (np.argmax(mu["profile_MeV"][po[k]:po[k + 1]]) + 0.5) * w
    assert abs(peak - s_true) < 1500


def test_dead_time_and_deadtime_free_switch(streams):
    figs = {k: muon_figures(s) for k, s in streams.items()}
    d, f = figs["default"], figs["free"]
    eff = streams["default"].config.neutrons.efficiency
    tau = streams["default"].config.neutrons.capture_time_us
    # after showering muons the 100 us dead time loses 1 - exp(-100/207.5) = 38 % of the captures
    assert abs(d["dead_time_loss_showering"] - (1 - np.exp(-100.0 / tau))) < 0.05
    assert abs(d["detected_fraction_showering"] - eff * np.exp(-100.0 / tau)) < 0.06
    # KamLAND2-Zen's dead-time-free electronics: nothing lost to dead time, only the random efficiency
    assert f["deadtime_free"] and f["dead_time_loss_showering"] == 0
    assert abs(f["detected_fraction_showering"] - eff) < 0.03
    # figures: energy, capture-vertex resolution 13.7 cm / sqrt(2.2246 MeV) per axis
    assert abs(d["mean_energy_GeV"] - 260) < 30
    assert abs(d["capture_vertex_resolution_mm"] / d["reference_capture_vertex_resolution_mm"] - 1) < 0.05
    assert d["neutron_share_from_showering_muons"] > 0.5


def test_v1_model_configs_are_refused_for_generation(tmp_path):
    import json

    from scintnet.sim.stream import stream_config_from_dict

    with pytest.raises(StreamConfigError, match="no field 'showering_fraction'"):
        load_stream_config(overrides=["muons.showering_fraction=0.03"])
    d = json.loads(load_stream_config().to_json())
    d["muons"]["showering_fraction"] = 0.03  # as stored in a file of the v1 model: it loads ...
    old = stream_config_from_dict(d)
    assert old.v1_muon_model
    with pytest.raises(StreamConfigError, match="v1 muon model"):  # ... but is not generated again
        run_stream(old, 0.01, 1, tmp_path / "x.h5")
    with pytest.raises(StreamConfigError, match="spectrum_index"):
        load_stream_config(overrides=["muons.spectrum_index=1.5"])
