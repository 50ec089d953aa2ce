"""Conversions between signal counts, 0νββ half-life and the effective Majorana mass.

``T½ = ln2 · N136 · ε · t / n``  and  ``⟨mββ⟩ = m_e / (g_A² |M0ν| √(G0ν T½))``.

Published numbers carry their source in a comment; values marked *to check* come from
``reference/numbers.md`` rows with that status and must be verified before a publication.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# CODATA 2018
M_E_EV = 510_998.950  # electron mass, eV
N_AVOGADRO = 6.022_140_76e23  # 1/mol
M_XE136_G_PER_MOL = 135.907_214  # atomic mass of 136Xe (AME2020), g/mol
LN2 = math.log(2.0)

# Phase-space factor for 136Xe, Kotila & Iachello, PRC 85, 034316 (2012): 14.58e-15 /yr (numbers.md: to check)
G0NU_XE136_PER_YR = 14.58e-15
G_A = 1.27  # unquenched axial coupling used by KamLAND-Zen, PRL 130, 051801 (2023)


@dataclass(frozen=True)
class NME:
    """One nuclear-matrix-element calculation for 136Xe (dimensionless |M0ν|)."""

    value: float
    method: str
    reference: str


# The KLZ-800 PRL (130, 051801) quotes 36–156 meV for T½ > 2.3e26 yr with g_A = 1.27 and
# G0ν = 14.58e-15/yr; that range is reproduced by |M0ν| = 1.11 … 4.77 (numbers.md, "to check").
# The two end points are what the checks use; the intermediate entries are representative
# values of each method from the literature the PRL cites (individually *to check*).
NME_TABLE: dict[str, NME] = {
    "EDF": NME(4.77, "energy density functional (GCM+PNAMP)", "Vaquero, Rodríguez, Egido, PRL 111, 142501 (2013); upper end used by KLZ-800"),
    "IBM-2": NME(3.05, "interacting boson model", "Barea, Kotila, Iachello, PRC 91, 034304 (2015) [to check]"),
    "QRPA": NME(2.91, "quasiparticle RPA", "Mustonen & Engel, PRC 87, 064302 (2013) [to check]"),
    "SM": NME(2.28, "nuclear shell model", "Menéndez et al., NPA 818, 139 (2009) [to check]"),
    "SM-low": NME(1.11, "nuclear shell model / lowest adopted", "lower end of the range used by KLZ-800, PRL 130, 051801 (numbers.md: to check)"),
}
NME_RANGE_KLZ800 = (1.11, 4.77)  # reproduces 36–156 meV at 2.3e26 yr (PRL 130, 051801)


def nuclei_per_kg(enrichment: float = 1.0) -> float:
    """136Xe nuclei per kg of xenon with the given isotopic fraction (1.0: per kg of 136Xe)."""
    if not 0.0 < enrichment <= 1.0:
        raise ValueError(f"enrichment must be in (0, 1], got {enrichment}")
    return enrichment * N_AVOGADRO * 1000.0 / M_XE136_G_PER_MOL


def halflife_from_counts(counts: float, exposure_kg_yr: float, efficiency: float = 1.0,
                         enrichment: float = 1.0) -> float:
    """Half-life (yr) for which ``counts`` decays are expected.

    Parameters
    ----------
    counts : expected (or limit on the) number of signal decays
    exposure_kg_yr : xenon mass × live time in kg·yr (136Xe mass when ``enrichment`` is 1)
    efficiency : signal detection efficiency (0–1]
    enrichment : 136Xe isotopic fraction of the quoted mass
    """
    if counts <= 0:
        raise ValueError(f"counts must be > 0, got {counts}")
    if exposure_kg_yr <= 0 or not 0 < efficiency <= 1:
        raise ValueError("exposure must be > 0 and efficiency in (0, 1]")
    return LN2 * nuclei_per_kg(enrichment) * exposure_kg_yr * efficiency / counts


def counts_from_halflife(halflife_yr: float, exposure_kg_yr: float, efficiency: float = 1.0,
                         enrichment: float = 1.0) -> float:
    """Expected signal decays for a half-life (yr); the inverse of :func:`halflife_from_counts`."""
    if halflife_yr <= 0:
        raise ValueError(f"half-life must be > 0, got {halflife_yr}")
    return LN2 * nuclei_per_kg(enrichment) * exposure_kg_yr * efficiency / halflife_yr


def mbb_from_halflife(halflife_yr: float | np.ndarray, nme: float | np.ndarray,
                      g0nu_per_yr: float = G0NU_XE136_PER_YR, g_a: float = G_A) -> np.ndarray | float:
    """Effective Majorana mass in meV for a half-life (light-neutrino exchange)."""
    t = np.asarray(halflife_yr, float)
    m = np.asarray(nme, float)
    if np.any(t <= 0) or np.any(m <= 0):
        raise ValueError("half-life and NME must be > 0")
    out = M_E_EV / (g_a**2 * m * np.sqrt(g0nu_per_yr * t)) * 1e3
    return float(out) if out.ndim == 0 else out


def halflife_from_mbb(mbb_meV: float, nme: float, g0nu_per_yr: float = G0NU_XE136_PER_YR,
                      g_a: float = G_A) -> float:
    """Half-life (yr) giving ``mbb_meV``; inverse of :func:`mbb_from_halflife`."""
    if mbb_meV <= 0 or nme <= 0:
        raise ValueError("mbb and NME must be > 0")
    return (M_E_EV / (g_a**2 * nme * mbb_meV * 1e-3)) ** 2 / g0nu_per_yr


def mbb_range(halflife_yr: float, nme_range: tuple[float, float] = NME_RANGE_KLZ800, **kw) -> tuple[float, float]:
    """(min, max) ⟨mββ⟩ in meV over an NME range (large NME gives the small mass)."""
    lo, hi = sorted(nme_range)
    return float(mbb_from_halflife(halflife_yr, hi, **kw)), float(mbb_from_halflife(halflife_yr, lo, **kw))


# --- oscillation bands -------------------------------------------------------------------
@dataclass(frozen=True)
class Oscillation:
    """Three-flavour parameters (Δm² in eV²). NuFIT 5.2 (2022) best fits, JHEP 09 (2020) 178
    and www.nu-fit.org (with SK atmospheric data) — to check."""

    sin2_12: float = 0.303
    sin2_13_no: float = 0.02203
    sin2_13_io: float = 0.02219
    dm2_21: float = 7.41e-5
    dm2_3l_no: float = 2.511e-3  # Δm²31 (NO)
    dm2_3l_io: float = -2.498e-3  # Δm²32 (IO)


def mbb_band(m_lightest_eV: np.ndarray, ordering: str = "NO", osc: Oscillation = Oscillation()) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of ⟨mββ⟩ in eV over the Majorana phases, versus the lightest mass (eV)."""
    m0 = np.asarray(m_lightest_eV, float)
    if ordering == "NO":
        s13 = osc.sin2_13_no
        m1 = m0
        m2 = np.sqrt(m0**2 + osc.dm2_21)
        m3 = np.sqrt(m0**2 + osc.dm2_3l_no)
    elif ordering == "IO":
        s13 = osc.sin2_13_io
        m3 = m0
        m2 = np.sqrt(m0**2 - osc.dm2_3l_io)
        m1 = np.sqrt(m2**2 - osc.dm2_21)
    else:
        raise ValueError(f"ordering must be 'NO' or 'IO', got {ordering!r}")
    c13 = 1.0 - s13
    a = (1 - osc.sin2_12) * c13 * m1
    b = osc.sin2_12 * c13 * m2
    c = s13 * m3
    total = a + b + c
    lo = np.maximum(0.0, 2 * np.maximum(np.maximum(a, b), c) - total)  # |a + b e^{iα} + c e^{iβ}| min
    return lo, total
