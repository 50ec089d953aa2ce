"""Muon model v2 of the event stream: energy underground, stochastic losses, neutrons per shower.

Pure functions of a :class:`~scintnet.io.stream.Muons` / :class:`~scintnet.io.stream.Neutrons` section
(the stream generator in :mod:`.physics` draws with them).  The model, each number cited in the
``klz800`` preset:

* **Energy** at the detector from the underground spectrum of the PDG cosmic-ray review ("Muons
  underground"): dN/dE ∝ (E + ε(1 − e^(−bX)))^(−γ) at depth X (one effective depth for the whole
  sky: the Ikenoyama overburden is a mountain, not a flat slab).  Its mean ε(1 − e^(−bX))/(γ − 2) is
  compared with KamLAND's 260 ± 8 GeV in :func:`muon_figures`.
* **Stochastic losses** (bremsstrahlung, pair production: electromagnetic; photonuclear: hadronic) with
  energy-weighted loss coefficients b (per g/cm²) and a bremsstrahlung-like dN/dν ∝ 1/ν spectrum of
  the energy transfer ν, so the mean radiative loss is b·E per g/cm².  Transfers below
  ``transfer_min_MeV`` are left in the continuous light.  Each transfer is a *shower* at a uniform point
  of the track.
* **Showering class** as KamLAND defines it: the light beyond minimum ionisation (ΔQ) above
  ``showering_dq_MeV``.
* **Neutrons**: a shower of energy ν makes Poisson(k·(ν/GeV)^α) neutrons (hadronic showers; EM ones
  ``em_neutron_ratio`` times fewer).  With dN/dν ∝ 1/ν the mean yield of a muon of energy E is then
  ∝ E^α: α is the measured power of the neutron yield vs mean muon energy across underground sites,
  and k is fixed so that the yield averaged over the spectrum is KamLAND's 2.8e-4 n/(μ g/cm²).
* **Transport**: a fraction of the neutrons of hadronic showers is fast and travels an exponential
  distance of one interaction length first; all slow down (Fermi age τ: per-axis variance 2τ) and
  diffuse thermally until capture (per-axis variance 2·L²·t/τ_capture).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import erf

from ...io.stream import Muons, Neutrons, StreamConfig

LS_DENSITY_G_CM3 = 0.78  # "to check" (numbers.md); the same density as the v1 neutron normalisation


def effective_epsilon_GeV(m: Muons) -> float:
    """ε(1 − e^(−bX)): the spectrum's break energy at depth X (GeV)."""
    return m.spectrum_epsilon_GeV * (1.0 - np.exp(-m.spectrum_b_per_kmwe * m.depth_kmwe))


def mean_energy_GeV(m: Muons) -> float:
    """Mean muon energy at the detector (GeV) of the underground spectrum."""
    return effective_epsilon_GeV(m) / (m.spectrum_index - 2.0)


def sample_energy_GeV(m: Muons, n: int, rng: np.random.Generator) -> np.ndarray:
    """Muon energies (GeV): inverse CDF of dN/dE ∝ (E + ε')^(−γ) on E > 0 (a shifted Pareto law)."""
    u = 1.0 - rng.random(n)  # (0, 1]
    return effective_epsilon_GeV(m) * (u ** (-1.0 / (m.spectrum_index - 1.0)) - 1.0)


def _energy_quantiles_GeV(m: Muons, n: int = 200_000) -> np.ndarray:
    # deterministic midpoint quadrature of the spectrum (used for normalisations, no random numbers)
    u = (np.arange(n) + 0.5) / n
    return effective_epsilon_GeV(m) * (u ** (-1.0 / (m.spectrum_index - 1.0)) - 1.0)


def _yield_integral(E_GeV: np.ndarray, m: Muons) -> np.ndarray:
    """∫ ν^(α−1) dν over transfers ν in [ν_min, E] (ν in GeV): the shower neutrons of a muon ∝ this."""
    a, vmin = m.neutron_energy_power, m.transfer_min_MeV / 1e3
    E = np.maximum(E_GeV, vmin)
    if a == 0:
        return np.log(E / vmin)
    return (E**a - vmin**a) / a


def neutrons_per_shower_norm(m: Muons) -> float:
    """k in n̄(ν) = k (ν/GeV)^α for a hadronic shower, from the published yield averaged over the spectrum."""
    return _norm_cached(m)


@lru_cache(maxsize=8)
def _norm_cached(m: Muons) -> float:
    w = m.b_nucl_per_g_cm2 + m.em_neutron_ratio * m.b_em_per_g_cm2
    mean_int = float(_yield_integral(_energy_quantiles_GeV(m), m).mean())
    return m.neutron_yield_per_g_cm2 / max(w * mean_int, 1e-300)


def neutron_yield_per_g_cm2(m: Muons, E_GeV: np.ndarray | float) -> np.ndarray:
    """Mean neutrons per g/cm² of track of a muon of energy ``E_GeV`` (the model's E^α law)."""
    w = m.b_nucl_per_g_cm2 + m.em_neutron_ratio * m.b_em_per_g_cm2
    return neutrons_per_shower_norm(m) * w * _yield_integral(np.asarray(E_GeV, np.float64), m)


def mean_neutrons_per_shower(m: Muons, nu_MeV: np.ndarray, hadronic: np.ndarray) -> np.ndarray:
    """n̄ of showers of energy ``nu_MeV`` (hadronic or EM)."""
    k = neutrons_per_shower_norm(m) * (np.maximum(nu_MeV, 0.0) / 1e3) ** m.neutron_energy_power
    return np.where(hadronic, k, k * m.em_neutron_ratio)


def sample_transfers(m: Muons, E_GeV: np.ndarray, length_mm: np.ndarray, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stochastic losses above ``transfer_min_MeV`` of each muon.

    Returns (muon index, position along the track in mm, energy ν in MeV, hadronic flag) per shower,
    sorted by muon.  Count: Poisson((b_em + b_nucl)·X·ln(E/ν_min)) for X the track's g/cm²; ν is
    log-uniform in [ν_min, E] (dN/dν ∝ 1/ν); hadronic with probability b_nucl / (b_em + b_nucl)."""
    b = m.b_em_per_g_cm2 + m.b_nucl_per_g_cm2
    vmin = m.transfer_min_MeV
    E_MeV = E_GeV * 1e3
    X = length_mm / 10.0 * LS_DENSITY_G_CM3
    lam = b * X * np.log(np.maximum(E_MeV, vmin) / vmin)
    cnt = rng.poisson(lam)
    mu = np.repeat(np.arange(E_GeV.size), cnt)
    s = rng.random(mu.size) * length_mm[mu]
    nu = vmin * (np.maximum(E_MeV[mu], vmin) / vmin) ** rng.random(mu.size)
    had = rng.random(mu.size) < (m.b_nucl_per_g_cm2 / b if b > 0 else 0.0)
    return mu, s, nu, had


def production_shower_MeV(m: Muons, E_GeV: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Energy (MeV) of the shower that made an isotope: the transfer spectrum 1/ν weighted by a yield ∝ ν^α,
    p(ν) ∝ ν^(α−1) on [ν_min, E] (assumption: isotope yields scale with the shower like the neutron yield)."""
    a, vmin = m.neutron_energy_power, m.transfer_min_MeV
    E = np.maximum(E_GeV * 1e3, vmin * (1 + 1e-9))
    u = rng.random(E.size)
    if a == 0:
        return vmin * (E / vmin) ** u
    return (vmin**a + u * (E**a - vmin**a)) ** (1.0 / a)


def transport_neutrons(n: Neutrons, prod_mm: np.ndarray, hadronic: np.ndarray, t_capture_s: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """Capture vertices (mm) of neutrons made at ``prod_mm``: fast leg (hadronic showers only), slowing
    down (Fermi age) and thermal diffusion over the capture time."""
    k = prod_mm.shape[0]
    fast = hadronic & (rng.random(k) < n.fast_fraction)
    d = rng.normal(size=(k, 3))
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    leg = np.where(fast, rng.exponential(n.fast_length_mm, k), 0.0)
    var_mm2 = 2.0 * n.fermi_age_cm2 * 100.0 + 2.0 * n.diffusion_length_mm**2 * t_capture_s / (n.capture_time_us * 1e-6)
    return prod_mm + d * leg[:, None] + rng.normal(size=(k, 3)) * np.sqrt(var_mm2)[:, None]


def dead_time_s(n: Neutrons, showering: np.ndarray) -> np.ndarray:
    """Time after each muon in which no neutron capture is recorded (0 with dead-time-free electronics)."""
    if n.deadtime_free:
        return np.zeros(showering.shape)
    return (n.dead_time_us + np.where(showering == 1, n.dead_time_showering_us, 0.0)) * 1e-6


def reco_profiles(cfg: StreamConfig, mu_sh: np.ndarray, sh_point_mm: np.ndarray, sh_E: np.ndarray,
                  n_mu: int, length_mm: np.ndarray, reco_entry_mm: np.ndarray, reco_dir: np.ndarray,
                  has_profile: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructed light (MeV) in bins along the reconstructed track, as ``(offsets[n+1], values)``.

    Only muons with ``has_profile`` (a stochastic loss above ``transfer_min_MeV``) store a profile; the
    others are minimum ionising (``dedx_MeV_per_mm`` per mm).  Each shower's light is spread along the
    track with a Gaussian of ``muon_profile_resolution_mm`` (assumption: the profile reconstruction's
    resolution), the continuous light is ``dedx`` per mm, and each bin gets photostatistics
    (``energy_resolution`` · √E)."""
    resp, m = cfg.response, cfg.muons
    w = resp.muon_profile_bin_mm
    nb = np.where(has_profile, np.ceil(length_mm / w).astype(np.int64), 0)
    off = np.concatenate([[0], np.cumsum(nb)]).astype(np.int64)
    vals = np.zeros(int(off[-1]), np.float64)
    if vals.size == 0:
        return off, vals.astype(np.float32)
    owner = np.repeat(np.arange(n_mu), nb)
    j = np.arange(vals.size) - off[owner]
    lo = j * w
    hi = np.minimum(lo + w, length_mm[owner])
    vals += m.dedx_MeV_per_mm * np.maximum(hi - lo, 0.0)
    sig = max(resp.muon_profile_resolution_mm, 1e-6)
    for i in np.flatnonzero(has_profile[mu_sh]):  # few showers: a loop over them is cheap
        mu = mu_sh[i]
        s = float(((sh_point_mm[i] - reco_entry_mm[mu]) * reco_dir[mu]).sum())
        a, b = off[mu], off[mu + 1]
        edges = np.arange(b - a + 1) * w
        cdf = 0.5 * (1 + erf((edges - s) / (np.sqrt(2) * sig)))
        vals[a:b] += sh_E[i] * np.diff(cdf)
    vals = np.maximum(vals + rng.normal(size=vals.size) * resp.energy_resolution * np.sqrt(vals), 0.0)
    return off, vals.astype(np.float32)
