"""Tests for scintnet.physics.beta (Fermi function, shapes, sampler)."""

from __future__ import annotations

import io
import zipfile
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import trapezoid

from scintnet.physics import beta, nucdata


def test_fermi_limits():
    T = np.array([0.01, 0.1, 1.0, 3.0])
    # Z -> 0: no Coulomb distortion
    np.testing.assert_allclose(beta.fermi_function(1e-6, T, A=1), 1.0, atol=1e-4)
    # attractive field enhances electrons, repulsive suppresses positrons, mostly at low T
    fm = beta.fermi_function(84, T, A=214)
    fp = beta.fermi_function(84, T, A=214, positron=True)
    assert np.all(fm > 1) and fm[0] > fm[-1]
    assert fp[0] < 0.01 and np.all(fp < 1) and fp[0] < fp[-1]


def test_fermi_vectorised_and_fast():
    import time

    T = np.linspace(1e-3, 3.0, 200_000)
    t0 = time.perf_counter()
    f = beta.fermi_function(np.full(T.size, 56.0), T, A=136)
    assert time.perf_counter() - t0 < 2.0
    assert f.shape == T.shape and np.all(np.isfinite(f))


def test_pdf_normalised_and_sampler_matches_mean():
    E0 = 2.0
    T = np.linspace(0, E0, 20001)
    pdf = beta.beta_pdf(T, E0, 20, 40)
    assert abs(trapezoid(pdf, T) - 1) < 1e-3
    assert pdf[0] == 0 and pdf[-1] == 0
    x = beta.sample_beta(E0, 20, 40, 200_000, np.random.default_rng(0))
    assert x.min() >= 0 and x.max() <= E0
    assert abs(x.mean() - beta.mean_energy(E0, 20, 40)) < 3e-3


def test_unique_shapes_are_harder():
    m = [beta.mean_energy(1.3, 20, 40, shape=s) for s in ("allowed", "1u", "2u", "3u")]
    assert m[0] < m[1] < m[2] < m[3]
    with pytest.raises(ValueError):
        beta.shape_factor(np.ones(2), np.ones(2), "4x")


def _branch(nuclide: str, kind: str, level_keV: float) -> nucdata.BetaBranch:
    sch = nucdata.load_scheme(nuclide)
    return next(b for b in sch.branches if b.kind == kind and abs(b.level_keV - level_keV) < 1)


# Mean energies computed by ENSDF (LOGFT, allowed/unique shapes) and stored in the table;
# BetaShape (X. Mougeot, PRC 91 (2015) 055504) values cross-checked below when tdcrpy is present.
@pytest.mark.parametrize("nuclide,kind,level", [
    ("Bi214", "beta-", 0.0), ("C10", "beta+", 718.38), ("Xe137", "beta-", 0.0),
    ("Tl208", "beta-", 3197.717), ("Xe137", "beta-", 455.49), ("I124", "beta+", 602.74),
])
def test_mean_energy_vs_ensdf(nuclide, kind, level):
    b = _branch(nuclide, kind, level)
    rng = np.random.default_rng(1)
    x = beta.sample_beta(b.endpoint_keV / 1e3, b.Z_daughter, b.A, 100_000, rng,
                         positron=kind == "beta+", shape=b.shape)
    assert x.mean() * 1e3 == pytest.approx(b.mean_keV_ensdf, rel=0.01)


def _betashape_mean(member: str) -> float:
    spec = find_spec("tdcrpy")
    if spec is None:
        pytest.skip("BetaShape cross-check needs tdcrpy (extra scintnet[nucdata]; make test / CI install it)")
    z = Path(list(spec.submodule_search_locations)[0]) / "decayData" / "All-nuclides_BetaShape.zip"
    with zipfile.ZipFile(z) as zf:
        lines = io.TextIOWrapper(zf.open(member)).read().splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.split()[:1] == ["E(keV)"])
    data = np.array([[float(v) for v in ln.split()[:2]] for ln in lines[i + 1:] if ln.strip()])
    e, dn = data[:, 0], data[:, 1]
    return float(trapezoid(e * dn, e) / trapezoid(dn, e))


@pytest.mark.nucdata
@pytest.mark.parametrize("nuclide,member,kind,level,rel", [
    ("Bi214", "Bi214/beta-_Bi214_trans0.bs", "beta-", 0.0, 0.01),
    ("Tl208", "Tl208/beta-_Tl208_tot.bs", None, None, 0.02),
    ("K40", "K40/2021/beta-_K40_trans0.bs", "beta-", 0.0, 0.01),  # 3rd forbidden unique
    ("Co60", "Co60/2021/beta-_Co60_trans3.bs", "beta-", 2505.748, 0.01),
    ("I124", "I124/beta+_I124_trans0.bs", "beta+", 0.0, 0.02),  # 1st forbidden unique
])
def test_mean_energy_vs_betashape(nuclide, member, kind, level, rel):
    ref = _betashape_mean(member)
    if kind is None:  # intensity-weighted over all beta- branches
        sch = nucdata.load_scheme(nuclide)
        bs = [b for b in sch.branches if b.kind == "beta-"]
        w = np.array([b.intensity for b in bs])
        m = [beta.mean_energy(b.endpoint_keV / 1e3, b.Z_daughter, b.A, shape=b.shape) for b in bs]
        ours = float(np.dot(w, m) / w.sum()) * 1e3
    else:
        b = _branch(nuclide, kind, level)
        ours = beta.mean_energy(b.endpoint_keV / 1e3, b.Z_daughter, b.A, kind == "beta+", b.shape) * 1e3
    assert ours == pytest.approx(ref, rel=rel)
