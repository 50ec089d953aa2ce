"""The accelerator toy (seed 003): beamline physics, the mode sampler, the collapse metrics, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("cheetah")
import torch  # noqa: E402

from scintnet.accel import (N_SETTINGS, OUTPUT_NAMES, BeamlineConfig, GanConfig, ModeConfig,  # noqa: E402
                            build_beamline, classifier_auc, mode_occupancy, mode_radii, modes_recovered_fraction,
                            sample_operating_history, setting_names, track_settings, train_latent_gan,
                            train_plain_gan, wasserstein_columns)
from scintnet.accel.beamline import N_CELLS, N_CORRECTORS  # noqa: E402

torch.set_num_threads(1)
COL = {n: i for i, n in enumerate(OUTPUT_NAMES)}


def _off() -> np.ndarray:
    return np.zeros((1, N_SETTINGS))


def _exit_position_m(bl, name: str) -> float:
    s = 0.0
    for el in bl.segment.elements:
        s += float(el.length)
        if el.name == name:
            return s
    raise KeyError(name)


def test_setting_names_have_units_and_count():
    names = setting_names()
    assert len(names) == N_SETTINGS == 40
    assert sum(n.endswith("_k1_per_m2") for n in names) == 2 * N_CELLS == 20
    assert all(n.endswith(("_per_m2", "_rad")) for n in names)


def test_magnets_off_is_a_drift_of_the_whole_length():
    # sigma_x(L)^2 = sigma_x^2 + 2 L <x x'> + L^2 sigma_x'^2, with Twiss moments eps*beta, -eps*alpha, eps*gamma
    cfg = BeamlineConfig(beta_m=4.0, alpha=-1.5, emittance_m_rad=2e-8)
    bl = build_beamline(cfg)
    L = bl.length_m
    eps, beta, alpha = cfg.emittance_m_rad, cfg.beta_m, cfg.alpha
    gamma = (1 + alpha ** 2) / beta
    expect = np.sqrt(eps * beta - 2 * L * eps * alpha + L ** 2 * eps * gamma)
    out = track_settings(bl, _off())[0]
    assert out[COL["sigma_x_m"]] == pytest.approx(expect, rel=1e-9)
    assert out[COL["sigma_y_m"]] == pytest.approx(expect, rel=1e-9)
    assert out[COL["sigma_px_rad"]] == pytest.approx(np.sqrt(eps * gamma), rel=1e-9)
    assert out[COL["emittance_x_m_rad"]] == pytest.approx(eps, rel=1e-9)
    assert out[COL["mu_x_m"]] == 0 and out[COL["mu_y_m"]] == 0


def test_thin_quadrupole_focuses_x_with_focal_length_one_over_kl():
    import cheetah

    cfg = BeamlineConfig(quad_length_m=1e-3)  # thin: k1 L^2 ~ 1e-4
    bl = build_beamline(cfg)
    x0, y0 = 1e-3, 1e-3
    bl.incoming = cheetah.ParameterBeam.from_parameters(mu_x=torch.tensor(x0, dtype=torch.float64),
                                                        mu_y=torch.tensor(y0, dtype=torch.float64),
                                                        energy=torch.tensor(cfg.energy_eV, dtype=torch.float64),
                                                        dtype=torch.float64)
    d = bl.length_m - cfg.quad_length_m  # from q00 (the first element) to the screen
    f = d / 2
    s = _off()
    s[0, 0] = 1.0 / (f * cfg.quad_length_m)  # q00_k1_per_m2
    out = track_settings(bl, s)[0]
    # a thin lens of focal length f: x(d) = x0 (1 - d/f) = -x0 in the focusing plane, y(d) = y0 (1 + d/f)
    assert out[COL["mu_x_m"]] == pytest.approx(-x0, rel=2e-3)
    assert out[COL["mu_y_m"]] == pytest.approx(3 * y0, rel=2e-3)


def test_corrector_kick_moves_the_centroid_by_angle_times_distance():
    bl = build_beamline()
    theta = 2e-4
    s = _off()
    names = setting_names()
    s[0, names.index("hc3_angle_rad")] = theta
    s[0, names.index("vc5_angle_rad")] = -theta
    out = track_settings(bl, s)[0]
    # the kick lies somewhere within the 0.1 m long corrector: < 1 % of the ~ 18 m lever arm
    assert out[COL["mu_x_m"]] == pytest.approx(theta * (bl.length_m - _exit_position_m(bl, "hc3")), rel=1e-2)
    assert out[COL["mu_y_m"]] == pytest.approx(-theta * (bl.length_m - _exit_position_m(bl, "vc5")), rel=1e-2)


def test_emittance_is_conserved_without_bends_and_grows_with_the_dogleg():
    bl = build_beamline()
    hist = sample_operating_history(4, seed=1, beamline=bl)
    s = hist.settings.copy()
    s[:, -2:] = 0.0
    eps = bl.config.emittance_m_rad
    np.testing.assert_allclose(track_settings(bl, s)[:, COL["emittance_x_m_rad"]], eps, rtol=1e-6)
    s[:, -2:] = 0.05  # dispersion from the bends adds sigma_p^2 D^2 to the projected emittance
    assert np.all(track_settings(bl, s)[:, COL["emittance_x_m_rad"]] > 1.01 * eps)


def test_batched_tracking_equals_row_by_row():
    bl = build_beamline()
    hist = sample_operating_history(5, seed=2, beamline=bl)
    rows = np.concatenate([track_settings(bl, hist.settings[i]) for i in range(5)])
    np.testing.assert_allclose(hist.outputs, rows, rtol=1e-12)
    np.testing.assert_allclose(track_settings(bl, hist.settings, batch=2), rows, rtol=1e-12)


def test_mode_sampler_is_seeded_and_has_the_modes():
    bl = build_beamline()
    a = sample_operating_history(600, seed=7, modes=ModeConfig(n_modes=5), beamline=bl)
    b = sample_operating_history(600, seed=7, modes=ModeConfig(n_modes=5), beamline=bl)
    c = sample_operating_history(600, seed=8, modes=ModeConfig(n_modes=5), beamline=bl)
    np.testing.assert_array_equal(a.settings, b.settings)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert not np.allclose(a.settings, c.settings)
    assert a.centres.shape == (5, N_SETTINGS) and a.joint().shape == (600, N_SETTINGS + len(OUTPUT_NAMES))
    assert set(np.unique(a.mode)) == set(range(5))
    assert np.bincount(a.mode) == pytest.approx(np.full(5, 120), abs=40)
    # rows scatter about their own centre by the configured spread (quadrupoles: 1 % of k1_nominal)
    dev = a.settings[:, : 2 * N_CELLS] - a.centres[a.mode, : 2 * N_CELLS]
    assert dev.std() == pytest.approx(0.01 * bl.config.k1_nominal_per_m2, rel=0.1)
    dev_c = a.settings[:, 2 * N_CELLS: 2 * N_CELLS + 2 * N_CORRECTORS] - a.centres[a.mode, 2 * N_CELLS:
                                                                                  2 * N_CELLS + 2 * N_CORRECTORS]
    assert dev_c.std() == pytest.approx(ModeConfig().corrector_spread_rad, rel=0.1)
    w = sample_operating_history(2000, seed=7, modes=ModeConfig(n_modes=2, weights=(3, 1)), beamline=bl)
    assert np.mean(w.mode == 0) == pytest.approx(0.75, abs=0.04)


def _standardized_history(n=1200, n_modes=4, seed=3):
    from scintnet.accel import Standardizer

    hist = sample_operating_history(n, seed=seed, modes=ModeConfig(n_modes=n_modes))
    sc = Standardizer.fit(hist.joint())
    x = sc.transform(hist.joint())
    centres = ((hist.centres - sc.mean[:N_SETTINGS]) / sc.std[:N_SETTINGS])
    return hist, x, centres, mode_radii(x[:, :N_SETTINGS], hist.mode, centres)


def test_modes_recovered_counts_a_single_mode_generator_as_one_of_n():
    hist, x, centres, radii = _standardized_history(n_modes=4)
    real_occ = mode_occupancy(x[:, :N_SETTINGS], centres, radii)
    assert modes_recovered_fraction(real_occ, hist.weights) == 1.0
    assert real_occ[-1] < 0.01  # ~ no real row lies outside 3x its mode's RMS radius
    one_mode = x[hist.mode == 2]
    occ = mode_occupancy(one_mode[:, :N_SETTINGS], centres, radii)
    assert occ[2] == pytest.approx(1.0) and modes_recovered_fraction(occ, hist.weights) == pytest.approx(1 / 4)
    # samples midway between two modes are nearest to one of them but inside neither radius: off-mode
    mid = 0.5 * (centres[0] + centres[1]) + 0.0 * x[:50, :N_SETTINGS]
    occ_mid = mode_occupancy(mid, centres, radii)
    assert occ_mid[-1] == 1.0 and modes_recovered_fraction(occ_mid, hist.weights) == 0.0
    # a mode holding 10 % of its expected share is not recovered at min_share 0.2, is at 0.05
    occ_low = np.array([0.25, 0.25, 0.25, 0.025, 0.225])
    assert modes_recovered_fraction(occ_low, hist.weights, 0.2) == 0.75
    assert modes_recovered_fraction(occ_low, np.full(4, 0.25), 0.05) == 1.0


def test_identical_samples_give_zero_wasserstein_and_auc_one_half():
    _, x, _, _ = _standardized_history(n=600)
    assert np.all(wasserstein_columns(x, x.copy()) == 0.0)
    a, err = classifier_auc(x, x.copy(), seed=0, n_boot=50)
    assert a == pytest.approx(0.5, abs=1e-9) and err < 0.05
    shifted = x + np.r_[np.zeros(N_SETTINGS), 1.0, np.zeros(x.shape[1] - N_SETTINGS - 1)]
    w = wasserstein_columns(x, shifted)
    assert w[N_SETTINGS] == pytest.approx(1.0) and w.max() == pytest.approx(1.0) and w.sum() == pytest.approx(1.0)
    a_shift, _ = classifier_auc(x, shifted, seed=0, n_boot=20)
    assert a_shift > 0.9


def test_gans_are_seeded_and_sample_the_right_shape():
    _, x, _, _ = _standardized_history(n=400)
    cfg = GanConfig(steps=30, vae_steps=30, hidden=16)
    g1, g2 = train_plain_gan(x, cfg, seed=4), train_plain_gan(x, cfg, seed=4)
    assert g1.sample(7, seed=1).shape == (7, x.shape[1])
    np.testing.assert_array_equal(g1.sample(7, seed=1), g2.sample(7, seed=1))
    lat = train_latent_gan(x, cfg, seed=4)
    assert lat.sample(5).shape == (5, x.shape[1]) and np.isfinite(lat.reconstruction_mse(x))


def test_cli_bench_json_and_plot(tmp_path):
    from typer.testing import CliRunner

    from scintnet.cli import app

    png = tmp_path / "accel.png"
    r = CliRunner().invoke(app, ["accel", "bench", "--train", "300", "--test", "100", "--modes", "3", "--steps",
                                 "40", "--vae-steps", "40", "--hidden", "16", "--seed", "5", "--threads", "1",
                                 "--json", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    keys = {"modes_recovered_fraction", "wasserstein_mean", "wasserstein_max", "decoder_mse", "classifier_auc",
            "classifier_auc_err", "wall_s"}
    assert keys <= set(res["plain_gan"]) and keys <= set(res["latent_gan"])
    assert res["plain_gan"]["decoder_mse"] is None and res["latent_gan"]["decoder_mse"] >= 0
    assert res["seed"] == 5 and res["config"]["n_modes"] == 3 and res["config"]["gan"]["steps"] == 40
    assert res["real_holdout"]["modes_recovered_fraction"] == 1.0
    assert png.stat().st_size > 10_000


def test_cli_without_cheetah_names_the_extra(monkeypatch):
    from typer.testing import CliRunner

    import scintnet.accel.beamline as beamline
    from scintnet.cli import app

    monkeypatch.setattr(beamline, "cheetah", None)
    r = CliRunner().invoke(app, ["accel", "bench", "--json"])
    assert r.exit_code == 2
    assert "pip install 'scintnet[accel]'" in r.output and len(r.output.strip().splitlines()) == 1
