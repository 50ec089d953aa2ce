"""Binned likelihood, profile/Wilks, Feldman-Cousins, Bayesian limits and the klz800-like model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime, brentq
from scipy.stats import poisson

from scintnet.analysis import limits as lm
from scintnet.analysis.likelihood import BinnedLikelihood, Component, LikelihoodError


def counting(n: float, b: float = 0.0, sigma_b: float | None = None) -> BinnedLikelihood:
    comps = [Component("sig", np.array([1.0]), 1.0)]
    if b > 0:
        comps.append(Component("bkg", np.array([1.0]), b, constraint=(b, sigma_b or 1e-3 * b)))
    return BinnedLikelihood(np.array([float(n)]), comps, "sig")


def shaped(seed: int = 0, s_true: float = 0.0) -> BinnedLikelihood:
    """Peak on a falling background, 2 datasets x 3 volume x 12 energy bins, one morph nuisance."""
    rng = np.random.default_rng(seed)
    e = np.linspace(0, 1, 12)
    peak = np.exp(-0.5 * ((e - 0.6) / 0.06) ** 2)
    bkg = np.exp(-3 * e)
    geo = np.array([0.6, 0.3, 0.1])[None, :, None] * np.array([0.9, 0.1])[:, None, None]
    t_s = geo * peak / peak.sum()
    t_b = geo * bkg / bkg.sum()
    d_b = geo * np.gradient(bkg / bkg.sum())[None, None, :] * 0.3
    comps = [Component("sig", t_s, s_true),
             Component("bkg", t_b, 400.0, constraint=(400.0, 40.0), morph=d_b[None]),
             Component("flat", geo * np.full(12, 1 / 12), 50.0, morph=np.zeros((1, *geo.shape[:2], 12)))]
    lik = BinnedLikelihood(np.zeros((2, 3, 12)), comps, "sig", nuisances=["scale"])
    d, aux = lik.sample(lik.nominal(), rng)
    lik.set_data(d, aux)
    return lik


def test_gradient_is_analytic_and_correct():
    lik = shaped(1)
    p = lik.nominal() * 1.1
    p[-1] = 0.4
    num = approx_fprime(p, lik.chi2, 1e-5)
    assert np.allclose(lik.grad(p), num, rtol=1e-4, atol=1e-3)
    assert np.allclose(lik.chi2_batch(np.stack([p, p * 0.9])), [lik.chi2(p), lik.chi2(p * 0.9)])


def test_nll_continues_smoothly_below_zero_expectation():
    lik = counting(3.0)
    xs = np.array([2e-6, 1e-6, 0.5e-6, 0.0, -1e-6])
    vals = np.array([lik.chi2([x]) for x in xs])
    grads = np.array([lik.grad([x])[0] for x in xs])
    assert np.all(np.isfinite(vals)) and np.all(np.diff(vals) > 0)  # keeps rising: no wall, no NaN
    assert np.all(grads < 0)
    # continuity of value and slope at eps
    e = lik.eps
    assert lik.chi2([e * (1 - 1e-9)]) == pytest.approx(lik.chi2([e * (1 + 1e-9)]), rel=1e-6)
    assert lik.grad([e * (1 - 1e-9)])[0] == pytest.approx(lik.grad([e * (1 + 1e-9)])[0], rel=1e-4)


def test_fit_recovers_injected_signal_with_unit_pulls():
    pulls = []
    for seed in range(12):
        lik = shaped(seed, s_true=60.0)
        r = lik.fit(errors=True)
        assert r.valid
        pulls.append((r.values["sig"] - 60.0) / r.errors["sig"])
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.8 and 0.4 < pulls.std() < 1.6


def test_counting_limits_known_values():
    # n = 0, b = 0: Wilks (delta chi2 = 2s = 2.706) -> 1.353; Bayesian flat prior -> -ln(0.1) = 2.303
    assert lm.wilks_upper_limit(counting(0))["upper_limit"] == pytest.approx(2.706 / 2, abs=2e-3)
    b = lm.bayesian_upper_limit(counting(0), n_steps=2500, seed=1)
    assert b["upper_limit"] == pytest.approx(2.303, abs=0.12)
    # with a known background the flat-prior limit for n = 0 is still 2.303 (the b term cancels)
    b3 = lm.bayesian_upper_limit(counting(0, 3.0), n_steps=2500, seed=2)
    assert b3["upper_limit"] == pytest.approx(2.303, abs=0.15)
    # large b: Wilks limit on an Asimov n = b is ~ 1.645 sqrt(b) (+ the Poisson skew)
    ul = lm.wilks_upper_limit(counting(400, 400.0))["upper_limit"]
    assert ul == pytest.approx(1.645 * 20, rel=0.05)


def test_feldman_cousins_n0_b0_is_2p44_and_worker_independent():
    lik = counting(0)
    grid = np.array([2.0, 2.2, 2.4, 2.6, 2.8])
    r1 = lm.feldman_cousins(lik, grid, n_toys=1500, seed=3, workers=1, chunk=500)
    assert r1.n_failed.sum() == 0
    assert 2.3 < r1.upper_limit < 2.55  # FC table (PRD 57, 3873): 2.44
    r2 = lm.feldman_cousins(lik, grid[:2], n_toys=60, seed=3, workers=2, chunk=20)
    r1b = lm.feldman_cousins(lik, grid[:2], n_toys=60, seed=3, workers=1, chunk=60)
    assert np.array_equal(r2.t_crit, r1b.t_crit)


def exact_fc_upper(n0: int, b: float, cl: float = 0.9) -> float:
    """Feldman-Cousins (PRD 57, 3873) upper limit for a Poisson count n0 on a known background b,
    computed directly: mu is accepted when the Poisson mass of the counts ranked ahead of n0 (by
    the ratio P(n | mu + b) / P(n | max(n - b, 0) + b)) is below cl; the limit is the largest
    accepted mu (0.001 grid, then bisection: the edge is usually a jump of that mass)."""
    n = np.arange(150)
    best = poisson.logpmf(n, np.maximum(n - b, 0.0) + b)

    def ahead(mu):
        logp = poisson.logpmf(n, mu + b)
        lr = logp - best
        return np.exp(logp[lr > lr[n0] + 1e-12]).sum()

    mus = np.arange(0.0, 30.0, 1e-3)
    logp = poisson.logpmf(n[None, :], mus[:, None] + b)
    lr = logp - best
    mass = np.where(lr > lr[:, n0:n0 + 1] + 1e-12, np.exp(logp), 0.0).sum(axis=1)
    i = np.nonzero(mass < cl)[0][-1]
    return brentq(lambda m: ahead(m) - cl, mus[i], mus[i + 1], xtol=1e-7)


def test_feldman_cousins_counting_matches_exact_construction():
    # the independent construction reproduces FC's Table IV (90 % C.L.): n0 = 5, b = 3 -> 6.99;
    # n0 = 0, b = 0 -> 2.44
    exact = exact_fc_upper(5, 3.0)
    assert exact == pytest.approx(6.99, abs=0.006)
    assert exact_fc_upper(0, 0.0) == pytest.approx(2.44, abs=0.006)
    # Background known to 1e-6 b: toys with n = n0 then tie with the data, as in the discrete
    # construction (a 1e-3 b constraint spreads their Δχ² by ~0.01 > tie_tol, half of them rank
    # ahead of the data and the toy fraction below it rises by ~0.02 near the limit).
    lik = counting(5, 3.0, sigma_b=3e-6)
    grid = np.round(np.arange(6.6, 7.61, 0.1), 2)
    r = lm.feldman_cousins(lik, grid, n_toys=800, seed=1, chunk=400)
    assert r.n_failed.sum() == 0
    # the acceptance stays marginal on 7.0..7.45 (toy fraction - cl = +0.006..0.01): the
    # Monte Carlo error at 800-3200 toys is a few hundredths to a few tenths of an event
    assert 0.01 < r.upper_limit_err < 0.5
    # the error leaves out the grid: at a jump the interpolation is good to ~half a step
    assert abs(r.upper_limit - exact) < 3 * r.upper_limit_err + 0.05
    assert r.lower_limit == 6.6 and np.isnan(r.lower_limit_err)  # accepted at the grid's start
    assert r.n_toys_grid.max() > r.n_toys  # the points near the edge got more toys
    s = r.summary()
    assert s["upper_limit_err"] == r.upper_limit_err and s["n_toys_total"] == int(r.n_toys_grid.sum())
    assert np.all(r.t_crit_err >= 0)


def test_fc_adaptive_toys_extend_streams_and_ignore_workers():
    lik = counting(5, 3.0, sigma_b=3e-6)
    truth = np.array([7.0, 3.0])
    # toys added later continue the seed stream: the first ones never change
    whole, _ = lm._run_toys(lm._ToyTask(lik, truth, 7.0, 4, 2, 0, 50))
    parts = [lm._run_toys(task)[0] for task in lm._toy_range_tasks(lik, truth, 7.0, 4, 2, 20, 50, 13)]
    head, _ = lm._run_toys(lm._ToyTask(lik, truth, 7.0, 4, 2, 0, 20))
    assert np.array_equal(np.concatenate([head, *parts]), whole)
    # the adaptive rounds do not depend on the workers or the chunking
    grid = np.array([6.0, 6.9, 7.3, 8.0])
    r1 = lm.feldman_cousins(lik, grid, n_toys=40, seed=2, workers=1, chunk=40, max_toys=160)
    r2 = lm.feldman_cousins(lik, grid, n_toys=40, seed=2, workers=2, chunk=15, max_toys=160)
    assert r1.n_toys_grid.max() > 40  # the adaptive path ran
    assert np.array_equal(r1.n_toys_grid, r2.n_toys_grid) and np.array_equal(r1.frac_below, r2.frac_below)
    assert np.isfinite(r1.upper_limit_err)
    assert (r1.upper_limit, r1.upper_limit_err) == (r2.upper_limit, r2.upper_limit_err)
    r0 = lm.feldman_cousins(lik, grid, n_toys=40, seed=2, adaptive=False)
    assert np.array_equal(r0.n_toys_grid, [40] * 4)


def test_fc_band_covers_by_toys_and_wilks_for_shaped_model():
    lik = shaped(4)
    s_true = 30.0
    fc = lm.feldman_cousins(lik, np.array([20.0, 30.0, 40.0]), n_toys=300, seed=5, chunk=300)
    cov = lm.coverage(lik, s_true, float(fc.t_crit[1]), n_toys=300, seed=11, chunk=300)
    assert abs(cov["coverage"] - 0.9) < 4 * cov["stat_error"] + 0.01
    assert cov["n_failed"] == 0


def test_sensitivity_bands_median_matches_asimov():
    lik = counting(100, 100.0)
    res = lm.sensitivity_bands(lik, n_toys=120, seed=2, chunk=60)
    asimov = lm.wilks_upper_limit(counting(100, 100.0))["upper_limit"]
    assert res["median"] == pytest.approx(asimov, rel=0.15)
    assert res["minus2"] <= res["minus1"] <= res["median"] <= res["plus1"] <= res["plus2"]
    assert res["n_failed"] == 0


def test_profile_scan_and_2d():
    lik = shaped(2, s_true=40.0)
    sc = lm.profile_scan(lik, np.linspace(0, 120, 13))
    assert sc["delta_chi2"].min() >= -1e-6 and sc["delta_chi2"].min() < 1.0
    two = lm.scan_2d(lik, "sig", np.array([0.0, 40.0, 80.0]), "flat", np.array([30.0, 50.0, 70.0]))
    assert two["delta_chi2"].shape == (3, 3) and two["delta_chi2"].min() >= -1e-6


def test_bad_input_messages():
    t = np.ones((2, 3))
    with pytest.raises(LikelihoodError, match="'b'.*binning"):
        BinnedLikelihood(np.ones((2, 3)), [Component("s", t, 1.0), Component("b", np.ones((3, 2)), 1.0)], "s")
    with pytest.raises(LikelihoodError, match="'b'.*empty"):
        BinnedLikelihood(np.ones((2, 3)), [Component("s", t, 1.0), Component("b", np.zeros((2, 3)), 1.0)], "s")
    with pytest.raises(LikelihoodError, match="'b'.*negative"):
        BinnedLikelihood(np.ones((2, 3)), [Component("s", t, 1.0), Component("b", -t, 1.0)], "s")
    with pytest.raises(LikelihoodError, match="signal 'x'"):
        BinnedLikelihood(np.ones((2, 3)), [Component("s", t, 1.0)], "x")
    lik = BinnedLikelihood(np.ones((2, 3)), [Component("s", t, 1.0)], "s")
    with pytest.raises(LikelihoodError, match="binning"):
        lik.set_data(np.ones(6))


def test_klz800_like_preset_builds_and_fits(tmp_path):
    from scintnet.analysis.model import AnalysisConfigError, build_model, load_analysis_config

    cfg = load_analysis_config(overrides={"n_template_events": 3000, "n_volume_bins": 4, "n_energy_bins": 20})
    lik, info = build_model(cfg, cache_dir=tmp_path)
    assert lik.shape == (2, 4, 20)
    # 2nbb decays from T1/2 = 2.165e21 yr with 970 kg yr of 136Xe: ln2 * 4.43e24 * 970 / 2.165e21 ~ 1.38e6
    assert info.expected_decays["Xe136_2vbb"] == pytest.approx(np.log(2) * 4.4311e24 * 970 / 2.165e21, rel=0.01)
    r = lik.fit()
    assert r.valid and r.values["Xe136_0vbb"] < 5.0  # Asimov background-only data
    with pytest.raises(AnalysisConfigError, match="unknown analysis preset"):
        load_analysis_config("nope")
    bad = tmp_path / "a.toml"
    bad.write_text('preset = "klz800-like"\nsignal = "Xe136_0vbb"\n[[components]]\nname = "Xe136_0vbb"\n'
                   'source = "Xe136_0vbb"\nvertex = "moon"\nrate = 0.0\nunit = "decays"\n')
    with pytest.raises(AnalysisConfigError, match="vertex"):
        load_analysis_config(path=bad)


def test_newton_hessian_is_exact():
    lik = shaped(2)
    p = lik.nominal() * 1.2
    p[-1] = -0.7
    f, g, H = lik._eval_hess(p)
    assert f == pytest.approx(lik.chi2(p), rel=1e-12)
    assert np.allclose(g, lik.grad(p), rtol=1e-10, atol=1e-10)
    num = np.array([approx_fprime(p, lambda q, i=i: lik.grad(q)[i], 1e-5) for i in range(p.size)])
    assert np.allclose(H, num, rtol=1e-4, atol=1e-4 * np.abs(H).max())
    assert np.allclose(H, H.T)


@pytest.mark.parametrize("s_true", [0.0, 40.0])
def test_newton_matches_migrad_and_meets_kkt(s_true):
    worst = 0.0
    for seed in range(12):
        lik = shaped(seed, s_true=s_true)
        for fixed in ({}, {"sig": 25.0}):
            rn = lik.fit(fixed=fixed, method="newton")
            rm = lik.fit(fixed=fixed, method="minuit")
            assert rn.valid and rm.valid
            # Newton converges at least as deep as MIGRAD (EDM 1e-6 vs 1e-4) and to the same point
            assert rn.chi2 <= rm.chi2 + 1e-4
            worst = max(worst, rm.chi2 - rn.chi2)
            p = rn.array(lik.names)
            g = lik.grad(p)
            free = np.array([n not in fixed for n in lik.names])
            at_zero = free & (np.arange(p.size) < len(lik.rate_names)) & (p <= 0)
            assert np.all(g[at_zero] >= -1e-6)  # a rate at its bound may only be pushed outwards
            assert np.all(np.abs(g[free & ~at_zero]) < 1e-2)
            if rm.chi2 - rn.chi2 > 1e-3:
                continue  # MIGRAD stopped short (it does, with a rate stuck at its limit): Newton is deeper
            for name in lik.names:
                assert rn.values[name] == pytest.approx(rm.values[name], abs=0.05 * max(1.0, rm.errors.get(name, 1.0)),
                                                        rel=2e-2)
    assert worst < 0.5
    assert lik.n_newton_fallbacks == 0


def test_newton_puts_absent_signal_on_the_bound():
    lik = shaped(3, s_true=0.0)
    d = lik.expected(lik.nominal()).reshape(lik.shape)  # Asimov data without signal
    lik.set_data(np.round(d * 0) + d)
    r = lik.fit(method="newton")
    assert r.valid and r.values["sig"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(LikelihoodError, match="unknown minimizer"):
        lik.fit(method="bfgs")


def test_bayesian_limit_is_seed_stable_on_a_shaped_model():
    """Walkers start from the Laplace approximation and mix with DE moves: independent chains agree."""
    lik = shaped(4, s_true=10.0)
    a = lm.bayesian_upper_limit(lik, n_steps=2500, burn=500, seed=1)
    b = lm.bayesian_upper_limit(lik, n_steps=2500, burn=500, seed=2)
    assert a["n_effective"] > 300 and b["n_effective"] > 300
    assert a["upper_limit"] == pytest.approx(b["upper_limit"], rel=0.06)
    # and the flat-prior limit sits above the best fit, within a few of its errors
    best = lik.fit(errors=True)
    s_hat, err = best.values["sig"], best.errors["sig"]
    assert s_hat < a["upper_limit"] < s_hat + 4 * err


# ----------------------------------------------------------------------------- analysis.fit: run_fit, no CLI

SMALL_TOML = 'preset = "klz800-like"\nn_template_events = 3000\nn_volume_bins = 4\nn_energy_bins = 20\n'
FIT_KEYS = {"config", "shape", "n_parameters", "fit", "wilks", "signal_efficiency", "exposure_kg_yr",
            "expected_decays"}


@pytest.fixture(scope="module")
def fit_env(tmp_path_factory):
    """A small klz800-like analysis TOML; the templates cached once for the module."""
    d = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCINTNET_CACHE_DIR", str(d / "cache"))
        (d / "a.toml").write_text(SMALL_TOML)
        yield d


@pytest.fixture(scope="module")
def background_only(fit_env):
    from scintnet.analysis.fit import FitRequest, run_fit
    from scintnet.analysis.model import load_analysis_config

    acfg = load_analysis_config(path=fit_env / "a.toml")
    return acfg, run_fit(acfg, FitRequest())


def _write_score_file(path, groups, signal="Xe136_0vbb"):
    import h5py

    with h5py.File(path, "w") as f:
        if signal is not None:
            f.attrs["signal_source"] = signal
        for k, v in groups.items():
            f.create_group(k)["score"] = np.asarray(v, np.float32)


def test_run_fit_asimov_background_only_is_a_wilks_limit(fit_env, background_only):
    from scintnet.analysis import conversions as cv
    from scintnet.analysis.fit import fit_request, run_fit
    from scintnet.analysis.model import build_model

    acfg, res = background_only
    assert set(res) == FIT_KEYS  # no optional limits asked for
    assert res["shape"] == [2, 4, 20] and res["n_parameters"] == 24 and res["config"] == acfg.name
    assert res["fit"]["valid"] and res["fit"]["minimizer"] == "newton"
    s_hat = res["fit"]["values"][acfg.signal]
    assert s_hat == pytest.approx(0.0, abs=1e-3)  # Asimov data without signal: the signal sits on its bound
    assert res["fit"]["chi2"] == pytest.approx(0.0, abs=1e-3)  # ... and the model reproduces the data
    ul = res["wilks"]["upper_limit_decays"]
    assert 5.0 < ul < 500.0
    # the limit is where the profiled delta chi2 crosses chi2_1(90 %) = 2.706 (the KamLAND-Zen convention),
    # checked by an independent refit with the signal fixed there
    lik, info = build_model(acfg, data="asimov")
    free = lik.fit()
    at_ul = lik.fit(fixed={acfg.signal: ul})
    assert at_ul.chi2 - free.chi2 == pytest.approx(lm.wilks_threshold(0.9), abs=0.01)
    assert lm.wilks_threshold(0.9) == pytest.approx(2.706, abs=1e-3)
    # the conversions use the fitted model's exposure and signal efficiency
    eff = info.efficiency[acfg.signal]
    assert res["signal_efficiency"] == eff and res["exposure_kg_yr"] == info.exposure_kg_yr
    t = cv.halflife_from_counts(ul, info.exposure_kg_yr, efficiency=eff)
    assert res["wilks"]["halflife_yr"] == pytest.approx(t, rel=1e-12)
    assert (res["wilks"]["mbb_meV_min"], res["wilks"]["mbb_meV_max"]) == pytest.approx(cv.mbb_range(t))
    # a TOML path instead of the loaded configuration, and the request from the TOML: the same fit
    res2 = run_fit(fit_env / "a.toml", fit_request(fit_env / "a.toml"))
    assert res2["wilks"]["upper_limit_decays"] == pytest.approx(ul, rel=1e-9)


def test_run_fit_recovers_injected_signal(background_only):
    from scintnet.analysis.fit import FitRequest, run_fit

    acfg, base = background_only
    res = run_fit(acfg, FitRequest(signal_decays=50.0))
    assert res["expected_decays"][acfg.signal] == 50.0
    assert res["fit"]["values"][acfg.signal] == pytest.approx(50.0, rel=2e-3)
    # a signal in the data moves the limit up, above the injected rate
    assert res["wilks"]["upper_limit_decays"] > max(50.0, base["wilks"]["upper_limit_decays"])
    assert res["wilks"]["halflife_yr"] < base["wilks"]["halflife_yr"]


def test_run_fit_score_axis_gain(fit_env, background_only):
    from scintnet.analysis.fit import fit_request, run_fit

    acfg, base = background_only
    rng = np.random.default_rng(1)
    _write_score_file(fit_env / "sep.h5", {"Xe136_0vbb": rng.beta(3, 1, 2000), "bkg": rng.beta(1, 3, 2000)})
    same = rng.random(2000)
    _write_score_file(fit_env / "same.h5", {"Xe136_0vbb": same, "bkg": same})
    toml = fit_env / "s.toml"
    toml.write_text(SMALL_TOML + '[fit]\nscores = "sep.h5"\nscore_bins = 3\nscore_map = { "*" = "bkg" }\n')
    res = run_fit(acfg, fit_request(toml))
    sa = res["score_axis"]
    assert res["shape"] == [2, 4, 20, 3] and len(sa["edges"]) == 2 and sa["files"] == [str(fit_env / "sep.h5")]
    assert sa["groups"]["Bi214_film"] == ["bkg"] and sa["groups"][acfg.signal] == [acfg.signal]
    assert np.allclose(sa["pdfs"][acfg.signal], 1 / 3, atol=1e-3)  # equal signal population per score bin
    # the same data summed over the score axis is the plain Asimov fit
    wo = sa["without_score_axis"]["upper_limit_decays"]
    assert wo == pytest.approx(base["wilks"]["upper_limit_decays"], rel=1e-3)
    # backgrounds piled at low score, the signal flat: the classifier tightens the limit
    assert sa["limit_gain"] > 1.1
    assert sa["limit_gain"] == pytest.approx(wo / res["wilks"]["upper_limit_decays"])
    # identical score distributions for signal and backgrounds carry no information: no gain
    flat = run_fit(acfg, fit_request(toml, scores=[fit_env / "same.h5"]))
    assert flat["score_axis"]["files"] == [str(fit_env / "same.h5")]
    assert flat["score_axis"]["limit_gain"] == pytest.approx(1.0, rel=0.02)


def test_fit_request_merges_the_fit_table_with_arguments(tmp_path):
    from scintnet.analysis.fit import FitRequest, fit_request, read_fit_table

    toml = tmp_path / "a.toml"
    toml.write_text(SMALL_TOML + '[fit]\nscores = ["s.h5", "/abs/t.h5"]\nscore_bins = 3\nminimizer = "minuit"\n'
                    'score_map = { "*" = "bkg", "C11" = "x" }\n')
    assert read_fit_table(None) == {}
    r = fit_request(toml)
    assert r == FitRequest(scores=(tmp_path / "s.h5", Path("/abs/t.h5")), score_bins=3, minimizer="minuit",
                           score_map={"*": "bkg", "C11": "x"})
    r = fit_request(toml, scores=["o.h5"], score_bins=5, minimizer="newton", score_map=["C11 = y", "K40=z"],
                    fc_toys=10, plots=str(tmp_path))
    assert r.scores == (Path("o.h5"),) and r.score_bins == 5 and r.minimizer == "newton"
    assert r.score_map == {"*": "bkg", "C11": "y", "K40": "z"} and r.fc_toys == 10 and r.plots == tmp_path
    assert fit_request() == FitRequest() and FitRequest().score_bins == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seed = 2


def test_fit_errors_are_scintnet_errors_with_the_cli_text(fit_env, background_only, tmp_path):
    from scintnet.analysis.fit import FitError, FitRequest, fit_request, run_fit
    from scintnet.analysis.model import AnalysisConfigError
    from scintnet.errors import ScintnetError

    acfg, _ = background_only

    def raises(cls, text, fn, *a, **k):
        with pytest.raises(cls) as info:
            fn(*a, **k)
        assert isinstance(info.value, ScintnetError) and str(info.value) == text

    bad_min = "minimizer 'lbfgs' is unknown; choose from newton, minuit"
    raises(FitError, bad_min, fit_request, minimizer="lbfgs")
    raises(FitError, bad_min, FitRequest, minimizer="lbfgs")
    missing = tmp_path / "none.npy"
    raises(FitError, f"--data {str(missing)!r}: not 'asimov', 'toy:SEED' or an existing .npy histogram file",
           FitRequest, data=str(missing))
    raises(LikelihoodError, "--data 'toy:abc': use toy:SEED with a non-negative integer SEED, e.g. toy:3",
           fit_request, data="toy:abc")
    raises(FitError, "--score-map 'bad' must look like COMPONENT=GROUP", fit_request, score_map=["bad"])
    bad = tmp_path / "b.toml"
    bad.write_text(SMALL_TOML + "[fit]\nnope = 1\n")
    raises(AnalysisConfigError, "[fit]: unknown option(s) ['nope']; allowed: "
           "['minimizer', 'score_bins', 'score_map', 'scores']", fit_request, bad)
    bad.write_text(SMALL_TOML + '[fit]\nscore_bins = "x"\n')
    raises(AnalysisConfigError, "[fit].score_bins: expected an integer, got 'x'", fit_request, bad)
    txt = tmp_path / "h.npy"
    txt.write_text("not an array")
    with pytest.raises(FitError, match=r"^--data .*h\.npy: not a \.npy histogram \("):
        run_fit(acfg, FitRequest(data=str(txt)))
    wrong = tmp_path / "w.npy"
    np.save(wrong, np.zeros((2, 4, 7)))
    with pytest.raises(LikelihoodError, match="binning"):
        run_fit(acfg, FitRequest(data=str(wrong)))
    _write_score_file(tmp_path / "nosig.h5", {"bkg": np.random.default_rng(0).random(100)}, signal=None)
    raises(FitError, "the scores files hold no signal group ('Xe136_0vbb'); evaluated: bkg",
           run_fit, acfg, FitRequest(scores=(tmp_path / "nosig.h5",)))
