"""Detector materials and their photon attenuation coefficients.

Cross sections come from ``data/photon_xs.npz`` (barn/atom, EPDL97 for H/C/N/O, Boone & Chavez
for Xe; built by ``scripts/extract_xs.py``) and are combined by the mixture rule
mu = rho * N_A * sum_i w_i sigma_i / A_i.

Convention: ``attenuation_length_mm`` is 1 / mu_total with mu_total = photo + incoherent + pair
+ coherent (the usual "narrow-beam" attenuation of XCOM/EPDL tables).  The transport ignores
coherent (Rayleigh) scattering when tracking, because it deposits no energy and deflects by a
few degrees only above 100 keV (it is <1 % of mu above 0.5 MeV in LS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

N_A = 6.02214076e23  # 1/mol
BARN_CM2 = 1e-24
PROCESSES = ("photo", "incoherent", "pair", "coherent")

# Mean excitation energies of atoms bound in compounds (ICRU Report 37 (1984), Table 5.1;
# Xe from ICRU 37 Table 4.3, gas value 482 eV), used in the Bethe stopping power.
I_COMPOUND_EV = {"H": 19.2, "C": 81.0, "N": 82.0, "O": 106.0, "Xe": 482.0}


@dataclass(frozen=True)
class Material:
    """A homogeneous material.

    Attributes
    ----------
    name : str
    density_g_cm3 : float
    mass_fractions : dict[str, float]   element symbol -> mass fraction (sums to 1)
    molar_mass_override : dict[str, float]  g/mol, e.g. enriched 136Xe
    note : str   source / status of the composition
    """

    name: str
    density_g_cm3: float
    mass_fractions: dict[str, float]
    molar_mass_override: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def molar_mass(self, el: str) -> float:
        """Molar mass of element ``el`` in g/mol (override first, else standard weight)."""
        if el in self.molar_mass_override:
            return self.molar_mass_override[el]
        return float(_table()["A"][el])

    def atoms_per_mm3(self) -> dict[str, float]:
        """Number density of each element in atoms/mm^3."""
        rho_mm = self.density_g_cm3 * 1e-3  # g/mm^3
        return {el: rho_mm * w * N_A / self.molar_mass(el) for el, w in self.mass_fractions.items()}

    @property
    def z_over_a(self) -> float:
        """<Z/A> in mol/g (electrons per nucleon, per mole)."""
        zz = _table()["Z"]
        return sum(w * zz[el] / self.molar_mass(el) for el, w in self.mass_fractions.items())

    @property
    def electron_density_per_mm3(self) -> float:
        """Electron density in electrons/mm^3."""
        return self.density_g_cm3 * 1e-3 * N_A * self.z_over_a

    @property
    def mean_excitation_eV(self) -> float:
        """Mean excitation energy I by Bragg additivity, ln I = sum w Z/A ln I_i / <Z/A>."""
        zz = _table()["Z"]
        num = sum(w * zz[el] / self.molar_mass(el) * np.log(I_COMPOUND_EV[el])
                  for el, w in self.mass_fractions.items())
        return float(np.exp(num / self.z_over_a))

    @property
    def z_eff(self) -> float:
        """Electron-weighted effective Z, sum(w Z^2/A) / sum(w Z/A) (for bremsstrahlung yields)."""
        zz = _table()["Z"]
        num = sum(w * zz[el] ** 2 / self.molar_mass(el) for el, w in self.mass_fractions.items())
        return num / self.z_over_a


def _mix(components: list[tuple[float, dict[str, float]]]) -> dict[str, float]:
    """Mass fractions of a mixture of (mass weight, element mass fractions) components."""
    tot = sum(m for m, _ in components)
    out: dict[str, float] = {}
    for m, fr in components:
        for el, w in fr.items():
            out[el] = out.get(el, 0.0) + m / tot * w
    return out


def _molecule(formula: dict[str, int]) -> dict[str, float]:
    """Element mass fractions of a molecule given as {symbol: count} (standard weights)."""
    a = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999}
    mass = {el: n * a[el] for el, n in formula.items()}
    tot = sum(mass.values())
    return {el: m / tot for el, m in mass.items()}


def _xels_fractions() -> dict[str, float]:
    # XeLS (KamLAND-Zen 800, arXiv 2203.02139 / 2104.10452; "to check"): 82 % decane + 18 %
    # pseudocumene by volume (densities 0.730 and 0.876 g/cm^3), 2.4 g/L PPO, 3.1 wt % Xe.
    decane = _molecule({"C": 10, "H": 22})
    pc = _molecule({"C": 9, "H": 12})
    ppo = _molecule({"C": 15, "H": 11, "N": 1, "O": 1})
    ls = _mix([(0.82 * 730.0, decane), (0.18 * 876.0, pc), (2.4, ppo)])
    return _mix([(0.969, ls), (0.031, {"Xe": 1.0})])


MATERIALS: dict[str, Material] = {
    # KamLAND LS (80 % dodecane, 20 % PC, 1.36 g/L PPO): C 85.8 %, H 14.2 %, 0.777 g/cm^3
    # (shared/reference/numbers.md; the attenuation lengths there are computed for it).
    "LS": Material("LS", 0.777, {"C": 0.858, "H": 0.142},
                   note="KamLAND LS, shared/reference/numbers.md"),
    "XeLS": Material("XeLS", 0.78, _xels_fractions(),
                     molar_mass_override={"Xe": 135.7},  # ~91 % 136Xe enrichment
                     note="KLZ-800 XeLS, arXiv 2203.02139 (to check): 82/18 decane/PC, "
                          "2.4 g/L PPO, 3.1 wt % Xe, ~0.78 g/cm^3"),
    # KamLAND buffer oil: 53 % dodecane + 47 % isoparaffin, ~0.77 g/cm^3 (hep-ex/0212021); ~CH2.
    "oil": Material("oil", 0.77, _molecule({"C": 1, "H": 2}), note="buffer oil ~ CH2"),
}


# ------------------------------------------------------------------ cross-section table


@lru_cache(maxsize=1)
def _table() -> dict:
    res = resources.files("scintnet.physics").joinpath("data", "photon_xs.npz")
    with resources.as_file(res) as path, np.load(path) as d:
        els = [str(e) for e in d["elements"]]
        return {
            "E": d["energy_MeV"].copy(),
            "Z": dict(zip(els, (int(z) for z in d["Z"]))),
            "A": dict(zip(els, (float(a) for a in d["atomic_mass_g_mol"]))),
            "xs": {(el, p): d[f"{el}_{p}"].copy() for el in els for p in PROCESSES},
            "provenance": [str(s) for s in d["provenance"]],
        }


def table_energies_MeV() -> np.ndarray:
    """Energy grid of the cross-section table (MeV)."""
    return _table()["E"].copy()


def mu_table_per_mm(material: Material, process: str) -> np.ndarray:
    """Linear attenuation coefficient (1/mm) of ``process`` on the table grid.

    ``process`` is one of 'photo', 'incoherent', 'pair', 'coherent', 'total' (all four) or
    'total_no_coherent'.
    """
    t = _table()
    if process == "total":
        procs = PROCESSES
    elif process == "total_no_coherent":
        procs = PROCESSES[:3]
    elif process in PROCESSES:
        procs = (process,)
    else:
        raise ValueError(f"unknown process {process!r}")
    n = material.atoms_per_mm3()
    mu = np.zeros_like(t["E"])
    for el, n_el in n.items():
        for p in procs:
            mu += n_el * t["xs"][(el, p)] * BARN_CM2 * 1e2  # barn -> mm^2
    return mu


def _loglog(xq: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log-log interpolation; zero entries (below thresholds) interpolate linearly."""
    xq = np.clip(np.asarray(xq, dtype=float), x[0], x[-1])
    i = np.clip(np.searchsorted(x, xq, side="right"), 1, len(x) - 1)
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    t = np.log(xq / x0) / np.log(x1 / x0)
    pos = (y0 > 0) & (y1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.exp(np.log(np.where(pos, y0, 1.0)) + t * np.log(np.where(pos, y1 / y0, 1.0)))
    return np.where(pos, ll, y0 + t * (y1 - y0))


def linear_attenuation_per_mm(material: Material | str, E_MeV, process: str = "total"):
    """Linear attenuation coefficient mu (1/mm) at photon energy ``E_MeV`` (log-log interp.).

    Parameters
    ----------
    material : Material or key of MATERIALS
    E_MeV : float or array, photon energy in MeV (clipped to the 10 keV - 10 MeV table)
    process : 'total' | 'total_no_coherent' | 'photo' | 'incoherent' | 'pair' | 'coherent'
    """
    mat = MATERIALS[material] if isinstance(material, str) else material
    out = _loglog(np.asarray(E_MeV, dtype=float), _table()["E"], mu_table_per_mm(mat, process))
    return float(out) if np.ndim(E_MeV) == 0 else out


def attenuation_length_mm(material: Material | str, E_MeV):
    """Attenuation length 1/mu_total in mm, coherent scattering *included* (XCOM convention)."""
    return 1.0 / linear_attenuation_per_mm(material, E_MeV, "total")


def provenance() -> list[str]:
    """Provenance lines stored with the cross-section table."""
    return list(_table()["provenance"])
