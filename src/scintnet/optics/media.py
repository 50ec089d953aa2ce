"""Wavelength-resolved optical properties of the detector media (no layers, no sampling).

Everything the photon tracker (:mod:`scintnet.optics.tracking`) and the production-mode light model
(:mod:`scintnet.optics.response`) need is tabulated here on one wavelength grid ``WL_NM``:

* emission spectrum of the scintillator (PPO) -- scintillation and re-emission use the same spectrum;
* refractive index n(lambda) (Cauchy form) and group index n_g = n - lambda dn/dlambda of LS and buffer oil:
  photons travel at c / n_g(lambda) in each medium (chromatic dispersion);
* absorption split into a re-emitting part (the fluor, PPO: absorbed and re-emitted isotropically with
  probability ``reemission_probability`` after an exponential delay ``reemission_time_ns``) and a
  non-re-emitting part (solvent and impurities), and Rayleigh scattering (lambda^-4, 1 + cos^2 angular
  distribution);
* the relative spectral response of a bialkali photocathode; the preset's ``quantum_efficiency`` is the
  value averaged over the emitted spectrum, so the p.e. yield of a config does not move when the shape does.

Sources and status (see also ``shared/reference/numbers.md``):

* LS composition 80 % dodecane / 20 % pseudocumene / 1.36 g/L PPO (KamLAND, hep-ex/0212021).
  n_D of dodecane 1.4216 and pseudocumene 1.5048 with Abbe numbers 58 / 31 (handbook values, to check),
  mixed by volume -> Cauchy A = 1.4243, B = 4750 nm^2: n(400 nm) = 1.454, n_g(400 nm) = 1.513
  (v_g = 198 mm/ns).  KamLAND quotes n ~ 1.44 for its LS (to check).  XeLS (decane/PC/PPO) is given the
  same optical properties (tuning: its composition is close).
* buffer oil (dodecane + isoparaffin): n_D = 1.428, dodecane-like dispersion B = 3806 nm^2 (to check).
* total attenuation length of LS at 400 nm: ``scintillator.attenuation_length_mm`` (~10 m, KamLAND
  bench test, arXiv:physics/0404071); the non-re-emitting absorption is what is left after Rayleigh and PPO
  absorption at 400 nm, falling e-fold per 60 nm towards the red (tuning: shape).
* Rayleigh scattering length 28.2 m at 430 nm measured for LAB (arXiv:1504.00987), used for the LS
  (``scintillator.rayleigh_length_mm``; to check for PC/dodecane); buffer oil 40 m at 430 nm (to check).
* PPO absorption: one decade per 10 nm above 340 nm, 0.36 mm absorption length at 340 nm (from the PPO
  molar extinction tail at 1.36 g/L; approximate, to check against arXiv:1509.02327); below 330 nm the
  solvent (PC) absorbs within microns and transfers the energy to PPO (counted as re-emitting absorption).
  Re-emission probability ~0.8 and PPO decay time ~1.6 ns (to check, arXiv:1509.02327).
* PPO emission spectrum: peak 360-365 nm with a shoulder near 380 nm and a tail to 480 nm (shape read
  approximately from published PPO spectra; to check).
* bialkali response: 300-650 nm, maximum near 400-420 nm (Hamamatsu datasheets; shape approximate).
* buffer-oil absorption length 20 m at 400 nm (to check).
* Surfaces: the 25 um nylon balloons are not modelled (index-matched to < 1 %, no reflection); the PMT
  sphere is black outside the photocathodes and photocathodes do not reflect.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..detector.config import DetectorConfig

C_MM_PER_NS = 299.792458
ALPHA_FS = 1.0 / 137.035999
WL_STEP_NM = 2.0
WL_NM = np.arange(281.0, 650.0, WL_STEP_NM)  # bin centres, 280-650 nm

# (lambda nm, relative intensity): PPO emission (approximate shape, see module docstring)
_PPO_EMISSION = np.array([
    [335, 0.0], [340, 0.02], [345, 0.08], [350, 0.25], [355, 0.58], [360, 0.88], [365, 1.0], [370, 0.96],
    [375, 0.87], [380, 0.82], [385, 0.72], [390, 0.61], [395, 0.51], [400, 0.42], [410, 0.28], [420, 0.18],
    [430, 0.11], [440, 0.07], [450, 0.045], [460, 0.03], [480, 0.012], [500, 0.005], [520, 0.0]])
# (lambda nm, relative response): bialkali photocathode behind borosilicate glass (approximate)
_BIALKALI = np.array([
    [280, 0.0], [300, 0.05], [310, 0.30], [320, 0.55], [340, 0.80], [360, 0.93], [380, 0.99], [400, 1.0],
    [420, 1.0], [440, 0.93], [460, 0.83], [480, 0.70], [500, 0.56], [520, 0.42], [540, 0.30], [560, 0.20],
    [580, 0.12], [600, 0.07], [620, 0.035], [650, 0.01]])

# Cauchy n = A + B / lambda^2 (lambda in nm), see module docstring
CAUCHY = {"LS": (1.4243, 4750.0), "oil": (1.4170, 3806.0)}
OIL_ABSORPTION_MM_400 = 20000.0  # to check
OIL_RAYLEIGH_MM_430 = 40000.0  # to check
PPO_ABS_MM_340 = 0.36  # PPO absorption length at 340 nm (approximate)
PPO_DECADE_NM = 10.0
OTHER_ABS_EFOLD_NM = 60.0  # tuning: shape of the non-re-emitting absorption


def optical_medium(material: str) -> str:
    """Optical medium of a region material: scintillators share the LS optics, everything else is oil."""
    return "LS" if material in ("LS", "XeLS") else "oil"


def scint_radius_mm(cfg: DetectorConfig) -> float:
    """Outer radius of the regions with LS optics that are contiguous from the centre (XeLS + LS), 0 if none."""
    r = 0.0
    for reg in cfg.geometry.regions:
        if optical_medium(reg.material) != "LS":
            break
        r = reg.outer_radius_mm
    return r


def refractive_index(medium: str, wl_nm) -> np.ndarray:
    a, b = CAUCHY[medium]
    wl = np.asarray(wl_nm, float)
    return a + b / wl**2


def group_index(medium: str, wl_nm) -> np.ndarray:
    """n_g = n - lambda dn/dlambda = A + 3 B / lambda^2 for the Cauchy form."""
    a, b = CAUCHY[medium]
    wl = np.asarray(wl_nm, float)
    return a + 3.0 * b / wl**2


def _interp(table: np.ndarray, wl: np.ndarray) -> np.ndarray:
    return np.clip(np.interp(wl, table[:, 0], table[:, 1], left=0.0, right=0.0), 0.0, None)


def emission_spectrum(wl_nm=WL_NM) -> np.ndarray:
    """PPO emission probability per bin (normalised to 1 on ``WL_NM``)."""
    s = _interp(_PPO_EMISSION, np.asarray(wl_nm, float))
    return s / s.sum()


def pmt_response_shape(wl_nm=WL_NM) -> np.ndarray:
    """Relative bialkali response, normalised so that its mean over the emission spectrum is 1."""
    q = _interp(_BIALKALI, np.asarray(wl_nm, float))
    return q / float(np.sum(emission_spectrum(WL_NM) * _interp(_BIALKALI, WL_NM)))


def ppo_absorption_per_mm(wl_nm) -> np.ndarray:
    wl = np.asarray(wl_nm, float)
    mu = (1.0 / PPO_ABS_MM_340) * 10.0 ** (-(wl - 340.0) / PPO_DECADE_NM)
    return np.where(wl < 330.0, 100.0, mu)  # solvent absorption + transfer below 330 nm


def rayleigh_per_mm(length_mm_430: float, wl_nm) -> np.ndarray:
    return (1.0 / length_mm_430) * (430.0 / np.asarray(wl_nm, float)) ** 4


@dataclass(frozen=True)
class OpticalTables:
    """Per-region optical arrays on ``WL_NM`` (index [region, wavelength bin]), as the kernels read them.

    slowness_ns_per_mm : n_g / c;  mu_reemit / mu_absorb / mu_rayleigh : 1/mm
    emission_cdf : cumulative emission spectrum;  response : relative photocathode response
    reemit_prob, reemit_tau_ns : fluor re-emission;  medium : optical medium name per region
    """

    wl_nm: np.ndarray
    slowness_ns_per_mm: np.ndarray
    mu_reemit: np.ndarray
    mu_absorb: np.ndarray
    mu_rayleigh: np.ndarray
    emission: np.ndarray
    emission_cdf: np.ndarray
    response: np.ndarray
    reemit_prob: float
    reemit_tau_ns: float
    medium: tuple[str, ...]
    r_outer_mm: np.ndarray

    @property
    def mu_total(self) -> np.ndarray:
        return self.mu_reemit + self.mu_absorb + self.mu_rayleigh

    def attenuation_length_mm(self, region: int, wl_nm: float) -> float:
        k = int(np.argmin(np.abs(self.wl_nm - wl_nm)))
        return float(1.0 / self.mu_total[region, k])

    def medium_arrays(self, medium: str) -> tuple[np.ndarray, np.ndarray]:
        """(slowness, total extinction) of the first region of ``medium``."""
        i = self.medium.index(medium)
        return self.slowness_ns_per_mm[i], self.mu_total[i]


def _ls_absorption(att_400_mm: float, ray_430_mm: float, wl: np.ndarray) -> np.ndarray:
    mu_other_400 = 1.0 / att_400_mm - rayleigh_per_mm(ray_430_mm, 400.0) - ppo_absorption_per_mm(400.0)
    if mu_other_400 <= 0:
        raise ValueError(
            f"scintillator.attenuation_length_mm = {att_400_mm} is longer than Rayleigh scattering and PPO "
            "absorption alone allow at 400 nm")
    return mu_other_400 * np.exp(-(wl - 400.0) / OTHER_ABS_EFOLD_NM)


@lru_cache(maxsize=8)
def _tables_cached(cfg_json: str) -> OpticalTables:
    from ..detector.config import config_from_json

    return _build(config_from_json(cfg_json))


def optical_tables(cfg: DetectorConfig) -> OpticalTables:
    """The optical arrays of a detector configuration (cached per configuration)."""
    return _tables_cached(cfg.to_json())


def _build(cfg: DetectorConfig) -> OpticalTables:
    s = cfg.scintillator
    wl = WL_NM
    regs = cfg.geometry.regions
    n = len(regs)
    slow = np.zeros((n, wl.size))
    mre, mab, mra = np.zeros((n, wl.size)), np.zeros((n, wl.size)), np.zeros((n, wl.size))
    media = []
    for i, r in enumerate(regs):
        med = optical_medium(r.material)
        media.append(med)
        slow[i] = group_index(med, wl) / C_MM_PER_NS
        if med == "LS":
            mra[i] = rayleigh_per_mm(s.rayleigh_length_mm, wl)
            mre[i] = ppo_absorption_per_mm(wl)
            mab[i] = _ls_absorption(s.attenuation_length_mm, s.rayleigh_length_mm, wl)
        else:
            mra[i] = rayleigh_per_mm(OIL_RAYLEIGH_MM_430, wl)
            mab[i] = (1.0 / OIL_ABSORPTION_MM_400) * np.exp(-(wl - 400.0) / OTHER_ABS_EFOLD_NM)
    em = emission_spectrum(wl)
    return OpticalTables(
        wl_nm=wl, slowness_ns_per_mm=slow, mu_reemit=mre, mu_absorb=mab, mu_rayleigh=mra,
        emission=em, emission_cdf=np.cumsum(em), response=pmt_response_shape(wl),
        reemit_prob=float(s.reemission_probability), reemit_tau_ns=float(s.reemission_time_ns),
        medium=tuple(media), r_outer_mm=np.array([r.outer_radius_mm for r in regs], float),
    )


# ------------------------------------------------------------------------------------- Cherenkov
def frank_tamm_per_mm(beta: float, medium: str = "LS", wl_nm=WL_NM) -> np.ndarray:
    """Cherenkov photons per mm per wavelength bin (Frank-Tamm): 2 pi alpha / lambda^2 (1 - 1/(beta n)^2) dlambda."""
    wl = np.asarray(wl_nm, float)
    nn = refractive_index(medium, wl)
    f = np.clip(1.0 - 1.0 / (beta * beta * nn * nn), 0.0, None)
    return 2.0 * np.pi * ALPHA_FS * f / (wl * 1e-6) ** 2 * (WL_STEP_NM * 1e-6)


def cherenkov_yield_table(medium: str, stopping_MeV_per_mm, t_grid_MeV: np.ndarray) -> np.ndarray:
    """Cumulative Cherenkov photons N(T) emitted by an electron slowing from T to rest (CSDA).

    N(T) = int_0^T (dN/dx)(T') / S(T') dT' on ``t_grid_MeV`` (log grid); ``stopping_MeV_per_mm(T)`` is the
    total stopping power.  A track segment from T_hi to T_lo emits N(T_hi) - N(T_lo) photons.
    """
    me = 0.51099895
    t = np.asarray(t_grid_MeV, float)
    g = 1.0 + t / me
    beta = np.sqrt(1.0 - 1.0 / g**2)
    dndx = np.array([frank_tamm_per_mm(b, medium).sum() for b in beta])
    integrand = dndx / np.asarray(stopping_MeV_per_mm(t), float)
    out = np.zeros_like(t)
    out[1:] = np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(t))
    return out
