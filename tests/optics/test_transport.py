"""Validation of photon cross sections, charged-particle tables and the transport kernel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scintnet.detector.config import Geometry, Region, load_config
from scintnet.physics.electron import csda_range_mm, electron_collision_stopping
from scintnet.physics.materials import (
    MATERIALS, Material, attenuation_length_mm, linear_attenuation_per_mm, provenance,
)
from scintnet.physics.particles import ALPHA, ELECTRON, GAMMA, POSITRON, Primaries
from scintnet.physics.transport import (
    C_MM_PER_NS, ME, first_interaction_distances, quenched_energy, sample_compton_cos, transport,
)

# gamma attenuation lengths in LS, shared/reference/numbers.md (EPDL97), mm
REF_ATT_MM = {0.5: 130.0, 1.0: 178.0, 1.46: 216.0, 2.0: 255.0, 2.614: 296.0}


@pytest.fixture(scope="module")
def cfg():
    return load_config("klz800")


@pytest.fixture(scope="module")
def big_ls():
    """A single 1 km LS sphere: nothing escapes."""
    return Geometry((Region("LS", 1e6, "LS", True),), 1000.0, 25.0, 2e6)


def _sphere(r_mm: float) -> Geometry:
    return Geometry((Region("LS", r_mm, "LS", True),), 0.5 * r_mm, 25.0, 2 * r_mm)


def _gun(ptype: int, E: float, n: int, direction=None) -> Primaries:
    d = None if direction is None else np.tile(direction, (n, 1)).astype(float)
    return Primaries(np.arange(n, dtype=np.int64), np.full(n, ptype, np.int8), np.full(n, E),
                     np.zeros(n), d)


def _per_event(dep, n, field="edep_MeV"):
    return np.bincount(dep.event, getattr(dep, field), minlength=n)


# ----------------------------------------------------------------------- cross sections


def test_table_provenance():
    prov = " ".join(provenance())
    assert "EPDL97" in prov and "tdcrpy" in prov


@pytest.mark.parametrize("E", [0.5, 1.0, 1.46, 2.0, 2.614])
def test_attenuation_length_ls_table(E):
    assert attenuation_length_mm("LS", E) == pytest.approx(REF_ATT_MM[E], rel=0.03)


def test_pair_fraction_ls():
    # numbers.md: pair 1.4 % of interactions at 2.6 MeV
    f = linear_attenuation_per_mm("LS", 2.614, "pair") / linear_attenuation_per_mm("LS", 2.614)
    assert 0.010 < f < 0.018
    assert linear_attenuation_per_mm("LS", 1.0, "pair") == 0.0


def test_xe_raises_low_energy_attenuation():
    assert attenuation_length_mm("XeLS", 0.05) < 0.5 * attenuation_length_mm("LS", 0.05)
    assert attenuation_length_mm("XeLS", 2.614) == pytest.approx(
        attenuation_length_mm("LS", 2.614), rel=0.02)


@pytest.mark.parametrize("E", [0.5, 1.0, 2.614])
def test_first_interaction_mc(E, big_ls, cfg):
    d = first_interaction_distances(E, 20000, big_ls, cfg.scintillator, seed=11)
    assert len(d) == 20000
    # tracking ignores coherent scattering (<0.2 % of mu here), compare with the full length
    assert d.mean() == pytest.approx(REF_ATT_MM[E], rel=0.03)


# ----------------------------------------------------------------- charged particles


def test_estar_water():
    # NIST ESTAR, liquid water: collision stopping power (MeV cm2/g) and CSDA range (g/cm2)
    water = Material("water", 1.0, {"H": 0.111894, "O": 0.888106})
    for T, s_ref, r_ref in [(0.1, 4.115, 0.01431), (1.0, 1.849, 0.4367), (2.0, 1.824, 0.9785)]:
        assert electron_collision_stopping(water, T) * 10 == pytest.approx(s_ref, rel=0.03)
        assert csda_range_mm(water, T) / 10 == pytest.approx(r_ref, rel=0.03)


def test_birks_ratios(cfg):
    kB = cfg.scintillator.birks_kB_mm_per_MeV
    q_e = quenched_energy(ELECTRON, 1.0, "LS", kB)
    assert 0.85 < q_e < 1.0
    q_a = quenched_energy(ALPHA, 7.69, "LS", kB)
    assert 0.07 < q_a / 7.69 < 0.13  # ~0.7 MeV electron-equivalent for the 214Po alpha
    assert quenched_energy(ELECTRON, 1.0, "LS", 0.0) == pytest.approx(1.0, rel=1e-9)
    assert 4.0 < csda_range_mm("LS", 1.0) < 6.5  # ~0.42 g/cm2 / 0.777 g/cm3


# ----------------------------------------------------------------------- transport


@pytest.mark.parametrize("ptype,E,extra", [(GAMMA, 2.614, 0.0), (ELECTRON, 1.0, 0.0),
                                           (POSITRON, 1.0, 2 * ME), (ALPHA, 5.0, 0.0)])
def test_energy_conservation(ptype, E, extra, big_ls, cfg):
    n = 3000
    dep = transport(_gun(ptype, E, n), np.zeros((n, 3)), big_ls, cfg.scintillator, seed=3)
    np.testing.assert_allclose(_per_event(dep, n), E + extra, rtol=1e-9)
    assert np.all(np.diff(dep.event) >= 0)
    assert np.all(dep.evis_MeV <= dep.edep_MeV + 1e-12)


def test_compton_edge_and_photopeak(cfg):
    E = 0.662
    edge = 2 * E * E / (ME + 2 * E)  # 0.477 MeV
    n = 20000
    small = transport(_gun(GAMMA, E, n), np.zeros((n, 3)), _sphere(30.0), cfg.scintillator, 1)
    es = _per_event(small, n)
    assert es.max() <= E + 1e-9
    below = np.sum((es > edge - 0.05) & (es <= edge))
    above = np.sum((es > edge + 0.02) & (es < edge + 0.07))
    assert below > 3 * above  # a clear Compton edge
    peak_small = np.mean(es > E - 1e-6)
    large = transport(_gun(GAMMA, E, n), np.zeros((n, 3)), _sphere(1000.0), cfg.scintillator, 2)
    peak_large = np.mean(_per_event(large, n) > E - 1e-6)
    assert peak_small < 0.05 < 0.5 < peak_large  # mostly escapes from 3 cm, contained in 1 m


def test_klein_nishina_distribution():
    k = 1.0 / ME
    cos = sample_compton_cos(1.0, 200_000, seed=5)
    edges = np.linspace(-1, 1, 41)
    fine = np.linspace(-1, 1, 40 * 50 + 1)
    c = 0.5 * (fine[1:] + fine[:-1])
    p = 1.0 / (1.0 + k * (1.0 - c))
    dsig = p * p * (p + 1.0 / p - (1.0 - c * c))  # dsigma/dcos up to constants
    expected = dsig.reshape(40, 50).sum(1)
    expected = expected / expected.sum() * len(cos)
    obs, _ = np.histogram(cos, edges)
    chi2 = np.sum((obs - expected) ** 2 / expected)
    assert chi2 / 39 < 1.8


def test_positron_ops_delay(big_ls, cfg):
    sc = dataclasses.replace(cfg.scintillator, ops_fraction=0.3, ops_lifetime_ns=2.0)
    n = 20000
    dep = transport(_gun(POSITRON, 0.005, n), np.zeros((n, 3)), big_ls, sc, seed=9)
    g = dep.ptype == GAMMA
    # the first annihilation-photon interaction satisfies t = t_ann + |x - x_ann| / c
    t_ann = np.full(n, np.inf)
    np.minimum.at(t_ann, dep.event[g], dep.t_ns[g] - np.linalg.norm(dep.pos_mm[g], axis=1)
                  / C_MM_PER_NS)
    delayed = t_ann[t_ann > 1e-3]
    assert len(delayed) / n == pytest.approx(0.3 * np.exp(-1e-3 / 2.0), abs=0.015)
    # exponential: the MLE of the mean of a truncated-at-~0 exponential is the sample mean
    assert delayed.mean() == pytest.approx(2.0, rel=0.05)
    assert np.all(dep.ptype[~g] == POSITRON)


def test_regions_and_vertices(cfg):
    g = cfg.geometry
    vert = np.array([[0, 0, 0], [3000.0, 0, 0], [0, 7000.0, 0], [0, 0, 9000.0]])
    prim = Primaries(np.array([3, 2, 1, 0]), np.full(4, ALPHA, np.int8), np.full(4, 5.0),
                     np.array([1.0, 2.0, 3.0, 4.0]))
    dep = transport(prim, vert, g, cfg.scintillator, 0)
    assert list(dep.event) == [0, 1, 2]  # the event born outside the detector is lost
    np.testing.assert_allclose(dep.pos_mm, vert[:3])
    np.testing.assert_allclose(dep.t_ns, [4.0, 3.0, 2.0])
    assert dep.evis_MeV[0] > 0 and dep.evis_MeV[1] > 0 and dep.evis_MeV[2] == 0.0  # buffer oil


def test_reproducible(cfg):
    n = 500
    prim = Primaries.concat([_gun(GAMMA, 2.614, n), _gun(POSITRON, 1.5, n), _gun(ELECTRON, 1.2, n)])
    rng = np.random.default_rng(0)
    vert = rng.uniform(-1500, 1500, (n, 3))
    a = transport(prim, vert, cfg.geometry, cfg.scintillator, seed=42)
    b = transport(prim, vert, cfg.geometry, cfg.scintillator, seed=42)
    c = transport(prim, vert, cfg.geometry, cfg.scintillator, seed=43)
    for f in ("event", "pos_mm", "t_ns", "edep_MeV", "evis_MeV", "ptype"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert len(a) != len(c) or not np.array_equal(a.pos_mm, c.pos_mm)


def test_given_directions(big_ls, cfg):
    n = 2000
    dep = transport(_gun(ELECTRON, 2.0, n, direction=[0.0, 0.0, 1.0]), np.zeros((n, 3)), big_ls,
                    cfg.scintillator, 1)
    z = np.bincount(dep.event, dep.pos_mm[:, 2] * dep.edep_MeV, minlength=n) / 2.0
    assert z.mean() > 1.0  # energy-weighted track centre moves forward (range ~1 cm)
    assert MATERIALS["XeLS"].mass_fractions["Xe"] == pytest.approx(0.031)
