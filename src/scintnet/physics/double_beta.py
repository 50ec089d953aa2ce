"""136Xe double-beta decay kinematics.

* 0nbb: two electrons sharing Q, dN/dT1 ∝ F(Z,T1) p1 E1 F(Z,T2) p2 E2 with T2 = Q - T1,
  angular correlation 1 - beta1 beta2 cos(theta) (light-neutrino exchange).
* 2nbb: the two-electron distribution in the closure approximation,
  dN/dT1 dT2 ∝ F p1 E1 F p2 E2 (Q - T1 - T2)^5 (integrating the two neutrino momenta,
  ∫Eν1² Eν2² δ(K-Eν1-Eν2) = K^5/30).  Its summed spectrum reduces to Primakoff–Rosen when
  F ∝ E/p, which tests/test_sources.py checks.  Better than PR because it gives each
  electron its own energy and uses the full Fermi function.
* 2nbb to excited 0+/2+ states of 136Ba: the same with Q reduced by the level energy,
  then the level de-excites through the ENSDF cascade (``nucdata.sample_deexcitation``).

Q = 2457.83 keV (Redshaw et al., PRL 98, 053003 (2007)).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .beta import fermi_function
from .particles import ELECTRON, Primaries
from .vertex import isotropic

Q_XE136_MEV = 2.45783  # Redshaw et al., PRL 98, 053003 (2007)
Z_BA = 56
A_XE136 = 136
ME_MEV = 0.51099895  # CODATA 2018

# 136Ba levels fed by 2nbb to excited states (ENSDF adopted levels, keV)
BA136_LEVELS_KEV = {"0p1": 1579.0, "2p1": 818.5, "2p2": 1551.0}


def _electron_factor(T: np.ndarray) -> np.ndarray:
    E = T + ME_MEV
    p = np.sqrt(np.maximum(E * E - ME_MEV * ME_MEV, 0.0))
    return fermi_function(Z_BA, T, A_XE136) * p * E


@lru_cache(maxsize=16)
def _cdf_0nbb(q_MeV: float, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, q_MeV, n + 1)
    tm = 0.5 * (t[1:] + t[:-1])
    w = _electron_factor(tm) * _electron_factor(q_MeV - tm)
    cdf = np.concatenate([[0.0], np.cumsum(w)])
    return t, cdf / cdf[-1]


@lru_cache(maxsize=16)
def _cdf_2nbb(q_MeV: float, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Cell CDF of the 2-D (T1, T2) density on an n x n grid over the triangle T1+T2 < Q."""
    edges = np.linspace(0.0, q_MeV, n + 1)
    c = 0.5 * (edges[1:] + edges[:-1])
    f = _electron_factor(c)
    K = q_MeV - c[:, None] - c[None, :]
    w = f[:, None] * f[None, :] * np.clip(K, 0.0, None) ** 5
    cdf = np.cumsum(w.ravel())
    return edges, cdf / cdf[-1]


def sample_0nbb(n: int, rng: np.random.Generator, q_MeV: float = Q_XE136_MEV) -> tuple[np.ndarray, np.ndarray]:
    """Kinetic energies (T1, T2) in MeV of the two 0nbb electrons."""
    t, cdf = _cdf_0nbb(q_MeV)
    t1 = np.interp(rng.random(n), cdf, t)
    return t1, q_MeV - t1


def sample_2nbb(n: int, rng: np.random.Generator, q_MeV: float = Q_XE136_MEV) -> tuple[np.ndarray, np.ndarray]:
    """Kinetic energies (T1, T2) in MeV of the two 2nbb electrons (closure approximation)."""
    edges, cdf = _cdf_2nbb(q_MeV)
    m = edges.size - 1
    k = np.minimum(np.searchsorted(cdf, rng.random(n)), cdf.size - 1)
    i, j = np.divmod(k, m)
    h = edges[1] - edges[0]
    t1 = edges[i] + h * rng.random(n)
    t2 = edges[j] + h * rng.random(n)
    # the cell on the diagonal straddles T1+T2=Q: reflect points that fall outside
    over = t1 + t2 > q_MeV
    t1[over], t2[over] = q_MeV - t2[over], q_MeV - t1[over]
    return t1, t2


def primakoff_rosen(K_MeV: np.ndarray, q_MeV: float = Q_XE136_MEV) -> np.ndarray:
    """Primakoff–Rosen summed-energy spectrum dN/dK (unnormalised); K, T0 in m_e units inside."""
    k = np.asarray(K_MeV) / ME_MEV
    t0 = q_MeV / ME_MEV
    return np.where((k > 0) & (k < t0), k * (t0 - k) ** 5 * (k**4 + 10 * k**3 + 40 * k**2 + 60 * k + 30), 0.0)


def _correlated_directions(t1: np.ndarray, t2: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Directions with the 0nbb angular correlation 1 - b1 b2 cos(theta)."""
    n = t1.size
    b1 = np.sqrt(t1 * (t1 + 2 * ME_MEV)) / (t1 + ME_MEV)
    b2 = np.sqrt(t2 * (t2 + 2 * ME_MEV)) / (t2 + ME_MEV)
    a = b1 * b2
    # inverse CDF of f(c) ∝ 1 - a c on [-1, 1]
    u = rng.random(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(a > 1e-9, (1.0 - np.sqrt(np.maximum((1 + a) ** 2 - 4 * a * u, 0.0))) / a, 2 * u - 1)
    c = np.clip(c, -1.0, 1.0)
    d1 = isotropic(n, rng)
    # build a vector at angle acos(c) from d1 with a random azimuth
    tmp = np.where(np.abs(d1[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    e1 = np.cross(d1, tmp)
    e1 /= np.linalg.norm(e1, axis=1)[:, None]
    e2 = np.cross(d1, e1)
    phi = rng.uniform(0, 2 * np.pi, n)
    s = np.sqrt(1 - c * c)
    d2 = c[:, None] * d1 + (s * np.cos(phi))[:, None] * e1 + (s * np.sin(phi))[:, None] * e2
    return d1, d2


def _two_electrons(t1: np.ndarray, t2: np.ndarray, d1=None, d2=None) -> Primaries:
    n = t1.size
    ev = np.arange(n, dtype=np.int64)
    direction = None if d1 is None else np.concatenate([d1, d2])
    p = Primaries(
        np.concatenate([ev, ev]), np.full(2 * n, ELECTRON, np.int8),
        np.concatenate([t1, t2]), np.zeros(2 * n), direction,
    )
    return p.select(np.argsort(p.event, kind="stable"))


def primaries_0nbb(n: int, rng: np.random.Generator) -> Primaries:
    t1, t2 = sample_0nbb(n, rng)
    d1, d2 = _correlated_directions(t1, t2, rng)
    return _two_electrons(t1, t2, d1, d2)


def primaries_2nbb(n: int, rng: np.random.Generator) -> Primaries:
    t1, t2 = sample_2nbb(n, rng)
    return _two_electrons(t1, t2)


def primaries_2nbb_excited(n: int, rng: np.random.Generator, state: str = "0p1") -> Primaries:
    from .nucdata import sample_deexcitation

    if state not in BA136_LEVELS_KEV:
        raise ValueError(f"unknown 136Ba excited state {state!r}; choose from {sorted(BA136_LEVELS_KEV)}")
    level = BA136_LEVELS_KEV[state]
    t1, t2 = sample_2nbb(n, rng, Q_XE136_MEV - level / 1000.0)
    ev = np.arange(n, dtype=np.int64)
    gam = sample_deexcitation("Ba136", np.full(n, level), ev, rng)
    return Primaries.concat([_two_electrons(t1, t2), gam])
