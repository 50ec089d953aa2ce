"""A Geant-free silicon-tungsten sampling ECAL (the SiD-like calorimeter of seed 003).

Geometry (seed 003, SiD ECAL): 30 layers, 20 thin then 10 thick tungsten absorbers, each followed by a
silicon sensor plane of 4 x 4 mm^2 pixels.  The seed's text gives 2.5 mm for both; SiD's design has 2.5 mm
and 5.0 mm (SiD Letter of Intent, arXiv:0911.0006), which we take, so the thick section has the seed's
larger sampling step.  The seed quotes 26 X0 in total; pure W gives 28.5 X0 (X0 = 3.504 mm).

Shower model, per electron of energy E (all parameters from the literature, none tuned to a resolution):

* longitudinal profile: a gamma distribution in depth t [X0] with the GFlash homogeneous-medium
  parametrisation of its shower maximum T and shape alpha, *fluctuating from shower to shower* with their
  correlated log-normal spreads (Grindhammer & Peters, hep-ex/0001020, eqs. 8-11 of the homogeneous case);
* number of charged tracks crossing the sensor at depth t: Rossi's approximation B, N(t) = (E/E_c) dE/dt,
  reduced by the mean track angle <cos theta> = cos(21 MeV / (pi E_c)) (Amaldi, Phys. Scr. 23 (1981) 409;
  Fabjan & Gianotti, RMP 75 (2003) 1243) and drawn from a Poisson distribution: the sampling fluctuation;
* each crossing deposits a Landau-like (Moyal) energy in the silicon, in MIP units, times the path factor
  1/<cos theta>; width xi/MPV = 0.064 for 320 um Si (PDG 2024, sec. 34.2.9);
* lateral position of each crossing: GFlash's two-component profile (core R_c, tail R_t, core weight p,
  all functions of tau = t/T), in Moliere radii of W (R_M = 9.327 mm, PDG);
* readout: Gaussian pixel noise and a zero-suppression threshold, both in MIP units (design choices, a
  typical KPiX-like chain: noise 1/10 MIP, threshold 1/2 MIP).

Material constants (PDG "Atomic and nuclear properties", W): X0 = 6.76 g/cm^2 = 3.504 mm,
R_M = 9.327 mm, E_c(e-) = 7.97 MeV, Z = 74.

The fixed-size arrays this returns (``[n, layers, pixels]``) are what a readout-selection study needs;
results do not depend on the chunking (each chunk has its own seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..config import ConfigError

W_X0_MM = 3.504  # PDG
W_MOLIERE_MM = 9.327  # PDG
W_CRITICAL_MEV = 7.97  # PDG, electrons
W_Z = 74.0
SI_LANDAU_XI_OVER_MPV = 0.064  # 320 um Si: xi = 5.7 keV, MPV = 89 keV (PDG sec. 34.2.9)


class EcalConfigError(ConfigError):
    """An invalid ECAL geometry or beam setting."""


@dataclass(frozen=True)
class EcalConfig:
    """Geometry, readout and beam of the toy ECAL (lengths in mm, signals in MIP)."""

    n_thin_layers: int = 20
    thin_absorber_mm: float = 2.5
    n_thick_layers: int = 10
    thick_absorber_mm: float = 5.0
    pixel_mm: float = 4.0
    pixels_per_side: int = 16  # 16 x 16 x 30 = 7,680 channels, a 64 x 64 mm^2 module
    noise_mip: float = 0.1
    threshold_mip: float = 0.5
    beam_halfwidth_mm: float = 30.0  # uniform spot; small spots make the readout question trivial (issue 23)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise EcalConfigError(f"ecal.{f.name} must be a finite number, not {v!r}")
        for name in ("n_thin_layers", "n_thick_layers", "pixels_per_side"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 0:
                raise EcalConfigError(f"ecal.{name} must be a non-negative integer")
        if self.n_layers < 1 or self.pixels_per_side < 1:
            raise EcalConfigError("the ECAL needs at least one layer and one pixel")
        for name in ("thin_absorber_mm", "thick_absorber_mm", "pixel_mm"):
            if getattr(self, name) <= 0:
                raise EcalConfigError(f"ecal.{name} must be > 0")
        if self.noise_mip < 0 or self.threshold_mip < 0 or self.beam_halfwidth_mm < 0:
            raise EcalConfigError("noise, threshold and beam half-width must be >= 0")

    @property
    def n_layers(self) -> int:
        return int(self.n_thin_layers + self.n_thick_layers)

    @property
    def n_pixels(self) -> int:
        return int(self.pixels_per_side) ** 2

    @property
    def n_channels(self) -> int:
        return self.n_layers * self.n_pixels

    @property
    def width_mm(self) -> float:
        return self.pixel_mm * self.pixels_per_side

    def absorber_mm(self) -> np.ndarray:
        return np.r_[np.full(int(self.n_thin_layers), self.thin_absorber_mm),
                     np.full(int(self.n_thick_layers), self.thick_absorber_mm)]

    def sensor_depth_x0(self) -> np.ndarray:
        """Depth of each sensor plane (behind its absorber) in radiation lengths of W."""
        return np.cumsum(self.absorber_mm()) / W_X0_MM

    def total_x0(self) -> float:
        return float(self.sensor_depth_x0()[-1])


def mean_cos_theta() -> float:
    """Amaldi's effective track angle in a shower, cos(21 MeV / (pi E_c))."""
    return math.cos(21.0 / (math.pi * W_CRITICAL_MEV))


def longitudinal_parameters(energy_GeV: np.ndarray, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Shower maximum T [X0] and gamma shape alpha per shower (GFlash, homogeneous medium).

    With ``rng`` the pair fluctuates with GFlash's correlated log-normal spreads; without, the mean profile.
    """
    ln_y = np.log(np.asarray(energy_GeV, float) * 1e3 / W_CRITICAL_MEV)
    t_mean = ln_y - 0.858
    a_mean = 0.21 + (0.492 + 2.38 / W_Z) * ln_y
    if rng is None:
        return t_mean, a_mean
    s_t = 1.0 / (-1.4 + 1.26 * ln_y)
    s_a = 1.0 / (-0.58 + 0.86 * ln_y)
    rho = 0.705 - 0.023 * ln_y
    z1 = rng.standard_normal(ln_y.shape)
    z2 = rng.standard_normal(ln_y.shape)
    # log-normal with the same mean as the GFlash average (mu = ln mean - s^2/2)
    log_t = np.log(t_mean) - 0.5 * s_t**2 + s_t * z1
    log_a = np.log(a_mean) - 0.5 * s_a**2 + s_a * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    return np.exp(log_t), np.exp(log_a)


def lateral_parameters(tau: np.ndarray, energy_GeV: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GFlash core radius R_c, tail radius R_t (Moliere radii) and core weight p at relative depth tau."""
    ln_e = np.log(energy_GeV)
    r_c = (0.0251 + 0.00319 * ln_e) + (0.1162 - 0.000381 * W_Z) * tau
    k4 = 0.3585 + 0.0421 * ln_e
    r_t = (0.659 - 0.00309 * W_Z) * (np.exp(-2.59 * (tau - 0.645)) + np.exp(k4 * (tau - 0.645)))
    x = (0.401 + 0.00187 * W_Z - tau) / (1.313 - 0.0686 * ln_e)
    p = np.clip((2.632 - 0.00094 * W_Z) * np.exp(x - np.exp(x)), 0.0, 1.0)
    return r_c, r_t, p


def sample_radius_moliere(tau: np.ndarray, energy_GeV: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Radii (Moliere radii) from f(r) = p 2rRc^2/(r^2+Rc^2)^2 + (1-p) 2rRt^2/(r^2+Rt^2)^2 (inverse CDF)."""
    r_c, r_t, p = lateral_parameters(tau, energy_GeV)
    radius = np.where(rng.random(tau.shape) < p, r_c, r_t)
    u = rng.random(tau.shape) * (1 - 1e-9)
    return radius * np.sqrt(u / (1.0 - u))  # CDF r^2/(r^2+R^2)


def simulate_showers(cfg: EcalConfig, energy_GeV: np.ndarray, seed: int, chunk: int = 500) -> dict[str, np.ndarray]:
    """Electron showers at normal incidence, one per energy; returns pixel signals and truth.

    Returns ``{"signal_mip": float32 [n, layers, pixels], "energy_GeV": [n], "x_mm": [n], "y_mm": [n]}``;
    pixel ``k`` of a layer is at column ``k % side`` and row ``k // side`` from the module's corner.
    Chunk ``c`` draws from ``SeedSequence(seed, spawn_key=(c,))``, so a result depends on (seed, chunk).
    """
    energy_GeV = np.asarray(energy_GeV, dtype=float)
    if energy_GeV.ndim != 1 or not np.all(np.isfinite(energy_GeV)) or np.any(energy_GeV < 0.05):
        raise EcalConfigError("energies must be a 1-d array of finite values >= 0.05 GeV")
    n = len(energy_GeV)
    out = np.zeros((n, cfg.n_layers, cfg.n_pixels), np.float32)
    xs = np.zeros(n)
    ys = np.zeros(n)
    for c, start in enumerate(range(0, n, chunk)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(c,)))
        sl = slice(start, min(start + chunk, n))
        out[sl], xs[sl], ys[sl] = _chunk(cfg, energy_GeV[sl], rng)
    return {"signal_mip": out, "energy_GeV": energy_GeV.copy(), "x_mm": xs, "y_mm": ys}


def _chunk(cfg: EcalConfig, e_GeV: np.ndarray, rng: np.random.Generator):
    from scipy.special import gammaln

    n, n_l, side = len(e_GeV), cfg.n_layers, int(cfg.pixels_per_side)
    half = cfg.beam_halfwidth_mm
    x0 = rng.uniform(-half, half, n)
    y0 = rng.uniform(-half, half, n)
    t_max, alpha = longitudinal_parameters(e_GeV, rng)
    beta = np.maximum(alpha - 1.0, 1e-3) / t_max  # T = (alpha - 1) / beta
    t = cfg.sensor_depth_x0()[None, :]
    a, b = alpha[:, None], beta[:, None]
    log_pdf = a * np.log(b) + (a - 1) * np.log(t) - b * t - gammaln(a)  # dE/dt / E per X0
    cos_t = mean_cos_theta()
    mu = (e_GeV[:, None] * 1e3 / W_CRITICAL_MEV) * np.exp(log_pdf) * cos_t
    counts = rng.poisson(mu)  # [n, L] charged-track crossings of each sensor plane
    flat = counts.ravel()
    cell = np.repeat(np.arange(n * n_l), flat)  # event * L + layer, per crossing
    ev = cell // n_l
    layer = cell % n_l
    tau = cfg.sensor_depth_x0()[layer] / t_max[ev]
    r_mm = sample_radius_moliere(tau, e_GeV[ev], rng) * W_MOLIERE_MM
    phi = rng.uniform(0, 2 * np.pi, len(cell))
    half_w = 0.5 * cfg.width_mm
    col = np.floor((x0[ev] + r_mm * np.cos(phi) + half_w) / cfg.pixel_mm).astype(np.int64)
    row = np.floor((y0[ev] + r_mm * np.sin(phi) + half_w) / cfg.pixel_mm).astype(np.int64)
    inside = (col >= 0) & (col < side) & (row >= 0) & (row < side)  # lateral leakage leaves the module
    # Moyal (Landau approximation with finite variance) deposit in MIP units, times the path factor
    dep = (1.0 + SI_LANDAU_XI_OVER_MPV * _moyal_std(rng, len(cell))) / cos_t
    idx = (cell * cfg.n_pixels + row * side + col)[inside]
    sig = np.bincount(idx, weights=dep[inside], minlength=n * n_l * cfg.n_pixels).reshape(n, n_l, cfg.n_pixels)
    if cfg.noise_mip > 0:
        sig += cfg.noise_mip * rng.standard_normal(sig.shape)
    sig[sig < cfg.threshold_mip] = 0.0
    return sig.astype(np.float32), x0, y0


def _moyal_std(rng: np.random.Generator, n: int) -> np.ndarray:
    """Standard Moyal variates (location 0, scale 1): -ln(chi^2_1) has the Moyal density."""
    z = rng.standard_normal(n)
    return -np.log(np.maximum(z * z, 1e-300))
