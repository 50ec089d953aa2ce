"""Sparse sensing: the ECAL toy's shower physics, the readout-selection methods, the PMT readout masks."""

import json

import numpy as np
import pytest

from scintnet.sparse.ecal import (EcalConfig, EcalConfigError, longitudinal_parameters,
                                  mean_cos_theta, sample_radius_moliere, simulate_showers)
from scintnet.sparse.regress import RegressorConfig, fit_calibration, fit_stochastic_constant, resolution
from scintnet.sparse.select import (TopKSelector, n_keep, select, select_greedy, select_occupancy, select_qr,
                                    select_random)

# a central beam, no readout noise: the calorimeter's intrinsic behaviour
CENTRAL = EcalConfig(beam_halfwidth_mm=0.0, noise_mip=0.0, threshold_mip=0.0)


def _weighted_sum(cfg, sig):
    """Sampling-fraction calibration: each sensor stands for the absorber in front of it."""
    w = cfg.absorber_mm() / cfg.thin_absorber_mm
    return (sig.sum(2) * w).sum(1)


def test_config_rejects_bad_values_with_one_line_errors():
    for bad in ({"pixel_mm": float("nan")}, {"pixel_mm": -4.0}, {"n_thin_layers": 2.5},
                {"beam_halfwidth_mm": float("inf")}, {"noise_mip": -0.1}, {"pixels_per_side": 0}):
        with pytest.raises(EcalConfigError):
            EcalConfig(**bad)
    with pytest.raises(EcalConfigError):
        simulate_showers(CENTRAL, np.array([5.0, np.nan]), seed=1)
    with pytest.raises(ValueError):
        n_keep(100, 1.0)
    assert EcalConfig().n_channels == 7680 and abs(EcalConfig().total_x0() - 28.54) < 0.01


def test_lateral_containment_in_moliere_radii():
    """~90 % of an EM shower's energy lies within one Moliere radius (PDG 34.5), ~95 % within two."""
    rng = np.random.default_rng(3)
    e = np.full(20000, 10.0)
    t_max, _ = longitudinal_parameters(e, None)
    # crossings sample depth along the mean gamma profile
    alpha = longitudinal_parameters(e[:1], None)[1][0]
    depth = rng.gamma(alpha, t_max[0] / (alpha - 1), len(e))
    r = sample_radius_moliere(depth / t_max[0], e, rng)
    assert 0.85 < np.mean(r < 1.0) < 0.95
    assert np.mean(r < 2.0) > 0.93


def test_shower_maximum_moves_by_ln_energy():
    """Depth of the shower maximum grows as ln E (t_max = ln(E/E_c) - 0.858 for electrons)."""
    cfg = CENTRAL
    depth = cfg.sensor_depth_x0()
    mean_depth = {}
    for e in (2.0, 20.0):
        # energy-weighted: each sensor stands for the absorber in front of it
        sig = simulate_showers(cfg, np.full(300, e), seed=5)["signal_mip"].sum(2) * cfg.absorber_mm()
        mean_depth[e] = float((sig * depth).sum() / sig.sum())
    assert abs((mean_depth[20.0] - mean_depth[2.0]) - np.log(10.0)) < 0.3


def test_sampling_resolution_scales_as_inverse_sqrt_energy_and_is_linear():
    cfg = CENTRAL
    energies = np.array([1.0, 4.0, 16.0])
    res, err, resp = [], [], []
    for j, e in enumerate(energies):
        s = _weighted_sum(cfg, simulate_showers(cfg, np.full(1500, e), seed=10 + j)["signal_mip"])
        r = resolution(s, np.full(len(s), e), n_boot=100)
        res.append(r["sigma_over_e"])
        err.append(r["sigma_over_e_err"])
        resp.append(s.mean() / e)
    fit = fit_stochastic_constant(energies, np.array(res), np.array(err))
    # Fabjan's estimate 3.2 % sqrt(dE_mip / (cos theta)) with dE = E_c * 0.714 X0 = 5.7 MeV: 9.3 %/sqrt(E)
    assert 0.07 < fit["stochastic"] < 0.14
    assert fit["constant"] < 0.03
    assert 2.8 < res[0] / res[2] < 5.0  # 1/sqrt(E) alone gives 4 (1/E noise 16, a constant 1)
    assert np.ptp(resp) / np.mean(resp) < 0.04  # linear within leakage (28.5 X0)
    assert 0.6 < mean_cos_theta() < 0.7


def test_random_readout_degradation_matches_its_expectation():
    """Reading a random fraction f of the pixels: Var(S_f / f) = Var(S) + (1-f)/f <sum_i e_i^2> (pixel
    deposits e_i).  Showers are clustered (the core radius is ~1 mm, the pixels 4 mm), so this exceeds the
    Poisson thinning of the tracks, sigma / sqrt(f)."""
    cfg = EcalConfig(noise_mip=0.0, threshold_mip=0.0, beam_halfwidth_mm=4.0)
    sig = simulate_showers(cfg, np.full(2000, 5.0), seed=21)["signal_mip"]
    e = (sig * (cfg.absorber_mm() / cfg.thin_absorber_mm)[None, :, None]).reshape(len(sig), -1)
    s = e.sum(1)
    rng = np.random.default_rng(4)
    for f in (0.5, 0.66):
        kept = (e * (rng.random(e.shape) < f)).sum(1) / f  # a fresh random pattern per shower
        measured = kept.std() / kept.mean()
        expected = np.sqrt(s.var() + (1 - f) / f * (e**2).sum(1).mean()) / s.mean()
        assert abs(measured / expected - 1) < 0.06
        assert measured > s.std() / s.mean() / np.sqrt(f)


def test_selection_methods_keep_exactly_k_and_find_the_informative_channels():
    rng = np.random.default_rng(0)
    n, p = 3000, 60
    x = rng.exponential(1.0, (n, p)).astype(np.float32)
    x[:, 50:] = 0.0  # dead channels
    y = x[:, :6].sum(1) + 0.05 * rng.standard_normal(n)
    for m in ("random", "occupancy", "qr", "greedy"):
        mask = select(m, x, y, 10, seed=1)
        assert mask.dtype == bool and mask.sum() == 10
        assert np.array_equal(mask, select(m, x, y, 10, seed=1))
    assert select_greedy(x, y, 6)[:6].all()  # forward selection picks the six that carry y
    assert not select_qr(x, y, 50)[50:].any()  # QR never picks a dead channel before the live ones
    assert not select_occupancy(x, y, 50)[50:].any()


def test_learned_selector_finds_the_informative_channels():
    import torch

    rng = np.random.default_rng(1)
    n, p = 4000, 40
    x = rng.exponential(1.0, (n, p)).astype(np.float32)
    y = 5.0 + x[:, :4].sum(1)
    sel = TopKSelector(p, 4, seed=0)
    fit_calibration(x, y, np.ones(p, bool), 0, RegressorConfig(hidden=16, epochs=25), selector=sel)
    assert sel.mask()[:4].sum() >= 3
    out = sel(torch.ones(2, p), 1.0)
    assert torch.all((out == 0) | (out == 1)) and int(out[0].sum()) == 4  # a hard top-k in the forward pass


def test_ecal_bench_reproduces_the_ordering_and_writes_results(tmp_path):
    from scintnet.sparse.bench import EcalBenchConfig, sparse_bench, write_results

    ecal = EcalConfig(pixels_per_side=8, n_thin_layers=10, n_thick_layers=5, beam_halfwidth_mm=12.0)
    cfg = EcalBenchConfig(energies_GeV=(2.5, 5.0), train_showers=2000, test_showers=300, epochs=8,
                          methods=("full", "random", "greedy"), random_draws=2)
    res = sparse_bench(ecal, cfg, None)
    e = res["ecal"]
    for m in ("full", "random", "greedy"):
        assert set(e[m]["sigma_over_e"]) == {"2.5", "5.0"} and set(e[m]["sigma_over_e_err"]) == {"2.5", "5.0"}
    for k in ("2.5", "5.0"):
        assert e["random"]["sigma_over_e"][k] > e["full"]["sigma_over_e"][k]  # fewer channels cost resolution
        assert abs(e["full"]["bias"][k]) < 0.03
    files = write_results(res, tmp_path)
    assert (tmp_path / "ecal_sigma_vs_energy.png").exists() and (tmp_path / "ecal_degradation.png").exists()
    masks = json.loads((tmp_path / "masks.json").read_text())
    assert len(masks["greedy"]) == n_keep(ecal.n_channels, 0.34)
    with pytest.raises(FileExistsError):
        write_results(res, tmp_path)
    assert files[0].name == "bench.json"


def test_pmt_mask_keeps_the_energy_scale_and_geometric_covers_the_sphere(tmp_path):
    from scintnet.detector.config import load_config
    from scintnet.features.maps import select_pmts
    from scintnet.reco.calibrate import load_or_make_calibration, reconstructor_for
    from scintnet.sim.run import simulate_events
    from scintnet.sparse.pmt import charge_matrix, masked_reconstructor, select_geometric

    cfg = load_config("klz400-fast")
    load_or_make_calibration(cfg, tmp_path, n_per_energy=120)
    full = reconstructor_for(cfg, cache_dir=tmp_path)
    ch = simulate_events(cfg, cfg.name, "Xe136_0vbb", 150, 7, vertex="sphere:1000")
    keep = select_geometric(full.pmts.pos_mm, n_keep(full.pmts.n, 0.34), seed=0)
    assert keep.sum() == n_keep(full.pmts.n, 0.34)
    # uniform coverage: the largest gap between kept tubes is small against random's
    d = full.pmts.pos_mm / np.linalg.norm(full.pmts.pos_mm, axis=1, keepdims=True)
    rnd = select_random(np.zeros((1, len(d))), None, int(keep.sum()), seed=0)
    gap = lambda m: np.arccos(np.clip((d @ d[m].T).max(1), -1, 1)).max()  # noqa: E731
    assert gap(keep) < 0.8 * gap(rnd)
    chm = select_pmts(ch, keep)
    e_full = np.median(full(ch)["energy_MeV"])
    e_masked = np.median(masked_reconstructor(full, keep)(chm)["energy_MeV"])
    e_naive = np.median(full(chm)["energy_MeV"])
    assert abs(e_masked / e_full - 1) < 0.03  # told about the mask: the 0nbb peak stays at Q
    assert e_naive / e_full < 0.85  # not told: it sees only the kept tubes' light
    q = charge_matrix(ch, full.pmts.n)
    assert q.shape == (150, full.pmts.n) and np.allclose(q.sum(1), ch.total_charge(), rtol=1e-4)


def test_cli_sparse_bench_json_keys(tmp_path):
    from typer.testing import CliRunner

    from scintnet.cli import app

    r = CliRunner().invoke(app, ["sparse", "bench", "--no-pmt", "--train-showers", "300", "--test-showers", "40",
                                 "--energies", "2.5,5", "--epochs", "2", "--methods", "full,random,occupancy",
                                 "--json", "--threads", "1"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    assert set(res["ecal"]) == {"full", "random", "occupancy"}
    assert "sigma_over_e_err" in res["ecal"]["random"] and "5.0" in res["ecal"]["random"]["sigma_over_e"]
    bad = CliRunner().invoke(app, ["sparse", "bench", "--no-pmt", "--methods", "full,magic"])
    assert bad.exit_code == 2 and "magic" in bad.output
