"""Sensitivity calculators (KamNet paper eq. 5-8) and counts <-> T1/2 <-> <mbb> conversions."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from scintnet.analysis import conversions as cv
from scintnet.analysis import sensitivity as sn


# --- eq. 5-8 -------------------------------------------------------------------------------
def test_eq5_counting_factor():
    assert sn.sensitivity_factor(0.9, 0.7) == pytest.approx(1.0757, abs=5e-4)  # paper: 1.076
    assert sn.sensitivity_factor(1.0, 1.0) == 1.0
    with pytest.raises(ValueError, match="fpr"):
        sn.sensitivity_factor(0.9, 0.0)


def test_eq6_mixed_background_reproduces_paper_and_limits():
    # no rejection of anything (FPR_LL = FPR_2nu = TPR = 1): no gain
    assert sn.mixed_sensitivity_factor(1.0, 1.0) == pytest.approx(1.0)
    # FPR_2nu defaults to TPR: with no LL background the factor is sqrt(TPR) < 1
    assert sn.mixed_sensitivity_factor(0.9, 0.5, frac_ll=0.0) == pytest.approx(np.sqrt(0.9))
    # paper: 2.2 % gain at TPR 0.9 -> FPR_LL = ((0.9/1.022)^2 - 0.418*0.9)/0.582 ~ 0.686 (31 % rejection)
    fpr_ll = ((0.9 / 1.022) ** 2 - 0.418 * 0.9) / 0.582
    assert 0.68 < fpr_ll < 0.70
    assert sn.mixed_sensitivity_factor(0.9, fpr_ll) == pytest.approx(1.022, abs=1e-6)


def test_eq7_exposure_and_fv_expansion_numbers():
    # 157 -> 165.8 cm is +17.7 % volume, +8.5 % sensitivity (paper §V.D)
    gain_v = (165.8 / 157.0) ** 3
    assert gain_v - 1 == pytest.approx(0.177, abs=1.5e-3)
    assert sn.exposure_gain(gain_v) - 1 == pytest.approx(0.085, abs=1.5e-3)
    # overall 10.8 % = 1.022 * 1.085
    assert 1.022 * sn.exposure_gain(gain_v) - 1 == pytest.approx(0.108, abs=2e-3)
    assert sn.exposure_gain(4.0, background_ratio=4.0) == pytest.approx(1.0)  # B grows with M: no gain


def test_eq8_excited_state_efficiency_and_sn():
    eff = np.array([0.54, 0.49, 0.56])
    r = np.array([0.2970, 0.002366, 3.246e-8])  # branching at g_A = 0.60 (paper §VI)
    assert sn.excited_state_efficiency(eff, r) == pytest.approx(0.540, abs=5e-4)
    assert sn.sn_gain(0.0691, 1.0, 0.1187, 1.0) - 1 == pytest.approx(0.72, abs=0.01)
    with pytest.raises(ValueError):
        sn.excited_state_efficiency(eff, np.zeros(3))


def test_threshold_scan_finds_analytic_optimum():
    # signal ~ N(1,1), background ~ N(0,1): S(t) = Q(t-1)/sqrt(Q(t)); numeric optimum of the analytic curve
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    sig, bkg = rng.normal(1, 1, 200_000), rng.normal(0, 1, 200_000)
    scan = sn.threshold_scan(sig, bkg, thresholds=np.linspace(-2, 3, 501))
    t = np.linspace(-2, 3, 5001)
    s_an = norm.sf(t - 1) / np.sqrt(norm.sf(t))
    assert scan.best_factor == pytest.approx(s_an.max(), rel=0.01)
    assert scan.best_threshold == pytest.approx(t[np.argmax(s_an)], abs=0.1)
    # reference point: 90 % of the signal kept
    assert scan.tpr[np.searchsorted(scan.thresholds, scan.threshold_at_tpr)] >= 0.9
    assert scan.factor_at_tpr == pytest.approx(0.9 / np.sqrt(norm.sf(1 - 1.2816)), rel=0.01)


def test_fiducial_expansion_recovers_exponential_shift():
    # film density ~ exp((r - R)/L) inside the balloon; a cut keeping 41 % shifts iso-density by L ln(1/0.41)
    rng = np.random.default_rng(5)
    L, n = 100.0, 400_000
    # sample r in [1100, 1900] with density per volume ∝ exp(r/L): pdf ∝ r^2 exp(r/L) (rejection sampling)
    r = rng.uniform(1100, 1900, 4 * n)
    w = (r / 1900) ** 2 * np.exp((r - 1900) / L)
    r = r[rng.random(r.size) < w][:n]
    kept = r[rng.random(r.size) < 0.41]
    res = sn.fiducial_expansion(r, kept, r0_mm=1570.0, fit_range_mm=(1200, 1850))
    assert res["r_new_mm"] - 1570.0 == pytest.approx(L * np.log(1 / 0.41), rel=0.05)
    assert res["sensitivity_gain"] == pytest.approx(np.sqrt((res["r_new_mm"] / 1570) ** 3) - 1, rel=1e-9)


def _write_scores(path, rng):
    with h5py.File(path, "w") as f:
        f.attrs["signal_source"] = "Xe136_0vbb"
        groups = {"Xe136_0vbb": (1.0, 1900, 4000), "I130": (0.0, 1900, 2000), "Xe137": (0.3, 1900, 2000),
                  "Xe136_2vbb": (1.0, 1900, 2000)}
        for name, (mu, rmax, n) in groups.items():
            g = f.create_group(name)
            g["score"] = rng.normal(mu, 1.0, n).astype(np.float32)
            g["label"] = np.full(n, int(name == "Xe136_0vbb"), np.int8)
            g["energy_MeV"] = rng.normal(2.4, 0.1, n).astype(np.float32)
            g["radius_mm"] = (rmax * np.cbrt(rng.random(n))).astype(np.float32)


def test_sensitivity_from_synthetic_scores(tmp_path):
    p = tmp_path / "scores.h5"
    _write_scores(p, np.random.default_rng(0))
    res = sn.sensitivity_from_scores(p)
    b = res["backgrounds"]
    # identical distributions: no rejection beyond the 10 % signal loss -> S ~ 0.9/sqrt(0.9)
    assert b["Xe136_2vbb"]["sensitivity_factor_at_ref_tpr"] == pytest.approx(np.sqrt(0.9), abs=0.03)
    assert b["I130"]["rejection_at_ref_tpr"] > b["Xe137"]["rejection_at_ref_tpr"] > 0.1
    assert res["mixed"]["sources"] == ["Xe137", "I130"]
    assert 0.9 < res["mixed"]["sensitivity_factor_at_ref_tpr"] < 1.3


def test_sensitivity_behind_the_double_pulse_cut(tmp_path):
    """A background whose events half carry a second flash: the cut removes that half at 1 % signal
    loss, so the eq. 6 factor improves; a source without second flashes only pays the 1 %."""
    p = tmp_path / "scores.h5"
    rng = np.random.default_rng(3)
    _write_scores(p, rng)
    with h5py.File(p, "a") as f:
        for name in f:
            n = f[name]["score"].shape[0]
            x = rng.uniform(0.02, 0.05, n)
            if name == "I130":
                x[: n // 2] = 0.3  # the delayed flash
            f[name]["second_pulse_fraction"] = x.astype(np.float32)
    plain = sn.sensitivity_from_scores(p)
    cut = sn.sensitivity_from_scores(p, double_pulse_loss=0.01)
    assert cut["double_pulse"]["signal_loss"] == 0.01
    r0, r1 = (x["backgrounds"]["I130"]["rejection_at_ref_tpr"] for x in (plain, cut))
    assert r1 == pytest.approx(0.5 + 0.5 * r0, abs=0.03)
    assert cut["backgrounds"]["Xe137"]["rejection_at_ref_tpr"] < plain["backgrounds"]["Xe137"]["rejection_at_ref_tpr"]
    assert cut["mixed"]["sensitivity_factor_at_ref_tpr"] > plain["mixed"]["sensitivity_factor_at_ref_tpr"]
    with h5py.File(p, "a") as f:
        del f["Xe137"]["second_pulse_fraction"]
    with pytest.raises(ValueError, match="second_pulse_fraction"):
        sn.sensitivity_from_scores(p, double_pulse_loss=0.01)


def test_scores_file_errors(tmp_path):
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f.create_group("x")["score"] = np.zeros(3)
    with pytest.raises(ValueError, match="signal_source"):
        sn.read_scores(p)
    with pytest.raises(FileNotFoundError):
        sn.read_scores(tmp_path / "none.h5")


# --- conversions ---------------------------------------------------------------------------
def test_nuclei_per_kg_and_counts_roundtrip():
    assert cv.nuclei_per_kg() == pytest.approx(4.431e24, rel=2e-4)  # numbers.md
    t = cv.halflife_from_counts(8.0, 970.0)
    assert cv.counts_from_halflife(t, 970.0) == pytest.approx(8.0)
    # twice the efficiency -> twice the half-life for the same limit on counts
    assert cv.halflife_from_counts(8.0, 970.0, efficiency=0.5) == pytest.approx(t / 2)
    with pytest.raises(ValueError, match="counts"):
        cv.halflife_from_counts(0.0, 970.0)


def test_klz800_mbb_ranges():
    lo, hi = cv.mbb_range(2.3e26)
    assert round(lo) == 36 and round(hi) == 156  # PRL 130, 051801
    lo, hi = cv.mbb_range(3.8e26)
    assert lo == pytest.approx(28, abs=0.5) and hi == pytest.approx(122, abs=1.0)  # arXiv 2406.11438
    t = cv.halflife_from_mbb(50.0, 3.0)
    assert cv.mbb_from_halflife(t, 3.0) == pytest.approx(50.0)


def test_oscillation_bands():
    m0 = np.array([0.0, 1e-3, 0.1])
    lo_no, hi_no = cv.mbb_band(m0, "NO")
    lo_io, hi_io = cv.mbb_band(m0, "IO")
    # IO floor at m_lightest = 0 is ~ 15-19 meV; NO max at m0 = 0 is a few meV
    assert 0.015 < lo_io[0] < 0.022 and 0.045 < hi_io[0] < 0.052
    assert hi_no[0] < 0.005 and np.all(lo_no <= hi_no)
    # quasi-degenerate: max ~ the heavy masses (NO: ~m0; IO: ~sqrt(m0^2 + |dm2_32|))
    assert hi_no[2] == pytest.approx(0.1, rel=0.02) and hi_io[2] == pytest.approx(np.hypot(0.1, 0.05), rel=0.02)
    assert lo_no[2] == pytest.approx(0.1 * (1 - 2 * 0.303), rel=0.1)  # phases cancel: (c12^2 - s12^2) m0
    with pytest.raises(ValueError):
        cv.mbb_band(m0, "XO")


def test_cli_machine_readable_figures(tmp_path):
    import json

    from typer.testing import CliRunner

    from scintnet.cli import app

    r = CliRunner().invoke(app, ["sensitivity", "--tpr", "0.9", "--fpr", "0.7", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sensitivity_factor"] == pytest.approx(1.076, abs=1e-3)
    r = CliRunner().invoke(app, ["limit", "--halflife", "2.3e26", "--json"])
    d = json.loads(r.stdout)
    assert round(d["mbb_meV_min"]) == 36 and round(d["mbb_meV_max"]) == 156
    p = tmp_path / "scores.h5"
    _write_scores(p, np.random.default_rng(1))
    r = CliRunner().invoke(app, ["sensitivity", str(p), "--json"])
    assert r.exit_code == 0 and "mixed" in json.loads(r.stdout)
    r = CliRunner().invoke(app, ["limit", "--json"])
    assert r.exit_code == 2
