"""Per-tube calibration (issue 21): hidden deviations, the likelihood blocks on synthetic hits, the bench."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from scintnet.calib.response import (BIN_NS, GRID_LO_NS, N_BINS, fit_charge, fit_occupancy, fit_timing,
                                     threshold_efficiency)
from scintnet.calib.samples import LAM_EDGES, HitTable, PMTParams, lam_bin, with_variation
from scintnet.calib.scores import parameter_scores
from scintnet.config import ConfigError
from scintnet.detector.config import PMTVariation, load_config, validate
from scintnet.detector.pmts import build_pmt_array
from scintnet.sim.run import simulate_events


def test_variation_is_seeded_bounded_and_leaves_nominal_configs_alone():
    cfg = load_config("klz800")
    assert "variation" not in json.loads(cfg.to_json())["pmts"]  # hashes of nominal detectors unchanged
    v = PMTVariation(seed=3)
    a, b = build_pmt_array(with_variation(cfg, v)), build_pmt_array(with_variation(cfg, v))
    nom = build_pmt_array(cfg)
    np.testing.assert_array_equal(a.qe, b.qe)
    np.testing.assert_array_equal(a.pos_mm, nom.pos_mm)  # the layout is not varied
    live = a.qe > 0
    assert (a.qe == 0).sum() == v.n_dead
    r = a.qe[live] / nom.qe[live]
    assert r.min() >= 1 - v.qe_half_width and r.max() <= 1 + v.qe_half_width and r.std() > 0.05
    assert np.abs(a.time_offset_ns).max() <= v.time_offset_half_width_ns
    assert np.isclose(np.abs(a.time_offset_ns).mean(), v.time_offset_half_width_ns / 2, rtol=0.1)  # uniform
    f = a.dark_rate_hz[live] / nom.dark_rate_hz[live]
    assert (f > v.hot_dark_factor * 0.5 - 1e-9).sum() == v.n_hot
    assert with_variation(cfg, v).nominal().to_json() == cfg.to_json()
    with pytest.raises(ConfigError, match="half widths"):
        validate(with_variation(cfg, dataclasses.replace(v, qe_half_width=1.5)))


def test_time_offsets_delay_every_photoelectron():
    cfg = load_config("klz400-fast")
    pmts = build_pmt_array(cfg)
    late = dataclasses.replace(pmts, time_offset_ns=np.full(pmts.n, 7.0))
    a = simulate_events(cfg, cfg.name, "electron", 20, 5, vertex="center", energy_MeV=1.0)
    b = simulate_events(cfg, cfg.name, "electron", 20, 5, vertex="center", energy_MeV=1.0, pmts=late)
    # same random numbers: light hits move by exactly 7 ns (dark hits stay uniform in the window)
    assert np.median(b.hit_time_ns) - np.median(a.hit_time_ns) == pytest.approx(7.0, abs=0.3)
    with pytest.raises(ValueError, match="layout"):
        simulate_events(cfg, cfg.name, "electron", 2, 5, energy_MeV=1.0,
                        pmts=dataclasses.replace(pmts, pos_mm=pmts.pos_mm[::-1].copy()))


def _synthetic_table(q, d_per_ns, n_events, rng, window=(-100.0, 400.0), t_pre=60.0):
    """Hit/no-hit outcomes drawn from the occupancy model itself (first hit before the light or after)."""
    n = q.size
    lam = rng.gamma(2.0, 0.1, size=(n_events, n))
    a = d_per_ns[None] * t_pre
    m = q[None] * lam + d_per_ns[None] * (window[1] - window[0] - t_pre)
    u = rng.random((n_events, n))
    pre = u < -np.expm1(-a)
    aft = ~pre & (rng.random((n_events, n)) < -np.expm1(-m))
    ev, pm = np.nonzero(pre | aft)
    t = np.where(pre[ev, pm], -40.0, 5.0).astype(np.float32)
    nb = LAM_EDGES.size - 1
    lb = lam_bin(lam) + nb * np.arange(n)[None]
    cnt = np.bincount(lb.ravel(), minlength=n * nb).reshape(n, nb)
    s = np.bincount(lb.ravel(), weights=lam.ravel(), minlength=n * nb).reshape(n, nb)
    return HitTable(pm.astype(np.int32), t, np.ones(t.size, np.float32), lam[ev, pm].astype(np.float32),
                    ev.astype(np.int32), np.full(t.size, -80, np.float32), lam.sum(0), np.full(n, t_pre * n_events),
                    cnt.astype(float), s, np.ones(n_events), np.zeros(n_events), window, n)


def test_occupancy_fit_recovers_qe_and_dark_rate():
    rng = np.random.default_rng(1)
    q = rng.uniform(0.8, 1.2, 40)
    d = rng.uniform(2e-5, 2e-4, 40)  # per ns: 4-40 times KamLAND's, for enough dark hits in a small test
    t = _synthetic_table(q, d, 20000, rng)
    qf, df, _, _ = fit_occupancy(t, np.ones(40), np.full(40, 1e-4), np.ones(40))
    assert np.sqrt(np.mean((qf / q - 1) ** 2)) < 0.04
    assert np.sqrt(np.mean((df / d - 1) ** 2)) < 0.15


def test_charge_fit_recovers_single_pe_widths_through_the_threshold():
    rng = np.random.default_rng(2)
    n, per = 20, 3000
    s_true = rng.uniform(0.25, 0.6, n)
    pmt = np.repeat(np.arange(n), per)
    lam = rng.uniform(0.02, 0.5, pmt.size)
    npe = rng.poisson(lam)
    hit = npe > 0
    pmt, lam, npe = pmt[hit], lam[hit], npe[hit]
    qv = npe + s_true[pmt] * np.sqrt(npe) * rng.standard_normal(npe.size)
    keep = qv >= 0.25
    t = HitTable(pmt[keep].astype(np.int32), np.zeros(keep.sum(), np.float32), qv[keep].astype(np.float32),
                 lam[keep].astype(np.float32), np.zeros(keep.sum(), np.int32), np.zeros(keep.sum(), np.float32),
                 np.zeros(n), np.ones(n), np.ones((n, LAM_EDGES.size - 1)), np.ones((n, LAM_EDGES.size - 1)),
                 np.ones(1), np.zeros(1), (0.0, 1e-3), n)
    s_fit, _, _ = fit_charge(t, np.ones(n), np.zeros(n), np.full(n, 0.4), 0.25)
    assert np.sqrt(np.mean((s_fit - s_true) ** 2)) < 0.025 and np.abs(s_fit - s_true).max() < 0.07
    # the threshold efficiency of one p.e.: Phi((1 - 0.25) / 0.5) = Phi(1.5)
    import torch
    assert float(threshold_efficiency(torch.tensor(0.5), 0.25)) == pytest.approx(0.5 * math.erfc(-1.5 / math.sqrt(2)))


def test_timing_fit_separates_offset_and_spread_from_the_emission_shape():
    rng = np.random.default_rng(3)
    # emission shape: exponential decay (7 ns) with a 1 ns rise, on the template grid
    x = GRID_LO_NS + BIN_NS * (np.arange(N_BINS) + 0.5)
    g = np.where(x > 0, np.exp(-x / 7.0) - np.exp(-x / 1.0), 0.0)
    g /= g.sum() * BIN_NS
    n, per = 12, 20000
    off, sig = rng.uniform(-2, 2, n), rng.uniform(0.9, 1.7, n)
    pmt = np.repeat(np.arange(n), per)
    cdf = np.cumsum(g) / g.sum()
    r = x[np.searchsorted(cdf, rng.random(pmt.size))] + off[pmt] + sig[pmt] * rng.standard_normal(pmt.size)
    keep = (r >= -15) & (r < 60)
    pmt, r = pmt[keep], r[keep]
    lam = np.full(r.size, 1e-3, np.float32)  # faint: no first-hit bias
    t = HitTable(pmt.astype(np.int32), r.astype(np.float32), np.ones(r.size, np.float32), lam,
                 np.zeros(r.size, np.int32), np.full(r.size, -80, np.float32), np.zeros(n), np.ones(n),
                 np.ones((n, LAM_EDGES.size - 1)), np.ones((n, LAM_EDGES.size - 1)), np.ones(1), np.zeros(1),
                 (-100.0, 400.0), n)
    o_fit, s_fit, _, _ = fit_timing(t, g, np.ones(n), np.zeros(n), np.zeros(n), np.full(n, 1.3))
    assert np.abs(o_fit - off).max() < 0.1
    assert np.abs(s_fit - sig).max() < 0.12


def test_scores_are_zero_for_the_truth_and_one_for_nominal():
    cfg = load_config("klz800")
    truth = PMTParams.of(build_pmt_array(with_variation(cfg, PMTVariation(seed=4))))
    nom = PMTParams.of(build_pmt_array(cfg))
    s_truth, s_nom = parameter_scores(truth, truth, nom), parameter_scores(nom, truth, nom)
    assert s_truth["qe_rms_over_spread"] == 0 and s_truth["dead_found"] == 5 and s_truth["hot_found"] == 5
    for k in ("qe_rms_over_spread", "time_offset_rms_over_spread", "tts_rms_over_spread", "dark_rate_rms_over_spread"):
        assert s_nom[k] == pytest.approx(1.0)


def test_calibrate_bench_cli_runs_and_reports_every_method(tmp_path):
    from typer.testing import CliRunner

    from scintnet.cli import app

    args = ["calibrate", "bench", "--out", str(tmp_path / "c"), "--data-events", "400",
            "--sim-events", "400", "--template-events", "300", "--generated-events", "300", "--max-iter", "5", "--gan-steps", "20", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for m in ("nominal", "moments", "response", "gan"):
        for k in ("qe_rms_over_spread", "time_offset_rms_over_spread", "dark_hits_ratio", "sigma_t_ratio",
                  "sigma_q_ratio", "classifier_auc", "wall_s"):
            assert math.isfinite(out[m][k]), (m, k)
    assert out["nominal"]["qe_rms_over_spread"] == pytest.approx(1.0)
    assert (tmp_path / "c" / "calib_bench.json").exists()
    # a second run reuses the samples; another variation seed on the same folder is refused, not overwritten
    res = CliRunner().invoke(app, args[:-1] + ["--variation-seed", "5", "--methods", "moments"])
    assert res.exit_code != 0 and "another run" in res.output
    # the user's own two sets of files
    files = lambda k: [a for p in sorted((tmp_path / "c" / k).glob("*.h5")) for a in ("--" + k, str(p))]  # noqa: E731
    res = CliRunner().invoke(app, ["calibrate", "fit", *files("data"), *files("sim"), "--out", str(tmp_path / "fit"),
                                   "--methods", "moments", "--template-events", "200", "--json"])
    assert res.exit_code == 0, res.output
    cal = json.loads((tmp_path / "fit" / "calibration.json").read_text())
    assert len(cal["params"]["moments"]["qe"]) == 1879


def test_gan_learns_a_delay_and_a_transit_time_spread_from_unpaired_hits():
    from scintnet.calib.gan import GanConfig, train_gan

    rng = np.random.default_rng(5)
    n, k = 8, 40000

    def table(shift, spread):
        pmt = rng.integers(0, n, k).astype(np.int32)
        r = rng.exponential(7.0, k) + shift + spread * rng.standard_normal(k)
        return HitTable(pmt, r.astype(np.float32), (1 + 0.35 * rng.standard_normal(k)).astype(np.float32),
                        np.full(k, 0.05, np.float32), np.zeros(k, np.int32), np.full(k, -80, np.float32), np.ones(n),
                        np.ones(n), np.ones((n, LAM_EDGES.size - 1)), np.ones((n, LAM_EDGES.size - 1)), np.ones(100),
                        np.zeros(100), (-100.0, 400.0), n)

    nominal = PMTParams(qe=np.full(n, 0.2), time_offset_ns=np.zeros(n), tts_sigma_ns=np.full(n, 1.0),
                        spe_sigma=np.full(n, 0.35), dark_rate_hz=np.full(n, 5e3))
    res = train_gan(table(3.0, 1.5), table(0.0, 0.0), nominal, GanConfig(steps=400, batch=2048, lr_g=5e-3, lr_d=2e-3))
    assert np.mean(res.params.time_offset_ns) == pytest.approx(3.0, abs=0.5)
    assert np.mean(res.params.tts_sigma_ns) == pytest.approx(1.5, abs=0.5)


def test_applying_a_calibration_undoes_offsets_and_masks_bad_tubes(tmp_path):
    from scintnet.calib.apply import apply_calibration, bad_tubes
    from scintnet.io.outputs import OutputError
    from scintnet.io.store import EventFile
    from scintnet.sim.run import SimConfig, run_simulation

    cfg = with_variation(load_config("klz800"), PMTVariation(seed=9))
    src = tmp_path / "data.h5"
    run_simulation(SimConfig.for_detector(cfg, "electron", 30, 1, vertex="center", energy_MeV=2.0,
                                          store_deposits=False), src)
    truth = PMTParams.of(build_pmt_array(cfg))
    nominal = PMTParams.of(build_pmt_array(cfg.nominal()))
    res = apply_calibration(src, tmp_path / "cal.h5", truth, nominal, "truth")
    assert res["masked_tubes"] == 10 and bad_tubes(truth, nominal).sum() == 10  # 5 dead + 5 hot
    with EventFile(src) as a, EventFile(tmp_path / "cal.h5") as b:
        ca, cb = a.read(0, None), b.read(0, None)
        assert b.run["calibration"]["method"] == "truth"
    assert not np.isin(cb.hit_pmt, np.flatnonzero(bad_tubes(truth, nominal))).any()
    # light hits of a central event: residuals spread less once each tube's offset is taken off
    off = truth.time_offset_ns - truth.time_offset_ns.mean()
    keep = ~bad_tubes(truth, nominal)[ca.hit_pmt.astype(int)]
    np.testing.assert_allclose(cb.hit_time_ns, (ca.hit_time_ns - off[ca.hit_pmt.astype(int)])[keep], atol=1e-4)
    with pytest.raises(OutputError, match="exists"):  # never overwritten unless asked
        apply_calibration(src, tmp_path / "cal.h5", truth, nominal)
