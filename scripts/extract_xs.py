"""Build the photon cross-section table ``src/scintnet/physics/data/photon_xs.npz``.

Sources (offline, from PyPI packages; needed only to *rebuild* the table):

* H, C, N, O: EPDL97 (Cullen et al., UCRL-50400 Vol. 6 Rev. 5) in ENDF-6 format, as shipped in
  ``tdcrpy`` (``tdcrpy/decayData/photo-ENDF.zip``, files ``photoat-0ZZ_X_000.txt``, the
  ENDF/B-VII photo-atomic sublibrary).  MF=23 sections: MT 502 coherent, 504 incoherent,
  515 pair (electron field), 517 pair (nuclear field), 522 total photoionisation.
* Xe: *not* in tdcrpy's zip (only H C N O Na P S Cl are shipped), so it comes from ``mucoeff``
  (Boone & Chavez, Med. Phys. 23, 1997 (1996); mass attenuation coefficients per process,
  linearly interpolated by the package's own routine).  Xe is 3.1 wt % of XeLS, so this
  second source only matters for photoabsorption below ~100 keV.  Cross-check: for H, C, O
  the two sources agree within 0.5 % (incoherent, pair, coherent) and 1 % (photo) on this grid.

Output: sigma in barn/atom for each element and process on a common log grid 10 keV - 10 MeV,
plus provenance strings.  Run with ``python scripts/extract_xs.py`` after
``pip install tdcrpy mucoeff``.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import io
import zipfile
from pathlib import Path

import numpy as np

N_A = 6.02214076e23
ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8, "Xe": 54}
# Standard atomic weights (IUPAC 2021, abridged) in g/mol; per-material overrides (enriched Xe)
# live in materials.py.
ATOMIC_MASS = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Xe": 131.293}
PROCESSES = ("photo", "incoherent", "pair", "coherent")
ENDF_MT = {"coherent": (502,), "incoherent": (504,), "pair": (515, 517), "photo": (522,)}
GRID_MeV = np.logspace(np.log10(0.010), np.log10(10.0), 241)  # 80 points / decade
OUT = Path(__file__).resolve().parents[1] / "src/scintnet/physics/data/photon_xs.npz"


def _float(s: str) -> float:
    """Parse an ENDF-6 real like ' 1.234567+3' (exponent without 'E')."""
    s = s.strip()
    if not s:
        return 0.0
    for i in range(len(s) - 1, 0, -1):
        if s[i] in "+-" and s[i - 1] not in "eE":
            return float(s[:i] + "e" + s[i:])
    return float(s)


def parse_mf23(text: str, mt: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (E_eV, sigma_barn) of the TAB1 record in section MF=23/MT=mt."""
    lines = [ln for ln in text.splitlines() if len(ln) >= 75 and ln[70:72].strip() == "23"
             and ln[72:75].strip() == str(mt)]
    if not lines:
        raise KeyError(f"MF23/MT{mt} missing")
    # lines[0] = HEAD, lines[1] = TAB1 control (NR, NP), then ceil(NR/3) lines of ranges.
    nr = int(lines[1][44:55])
    npts = int(lines[1][55:66])
    vals: list[float] = []
    for ln in lines[2 + (nr + 2) // 3:]:
        for k in range(6):
            vals.append(_float(ln[11 * k:11 * k + 11]))
    xy = np.array(vals[: 2 * npts]).reshape(npts, 2)
    return xy[:, 0], xy[:, 1]


def loglog_interp(x: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """ENDF interpolation law 5 (log-log); zero where the tabulated value is zero (thresholds)."""
    x = np.asarray(x)
    y = np.asarray(y)
    # drop duplicated energies (edges are given as repeated points); keep the upper value
    out = np.zeros_like(xq)
    i = np.clip(np.searchsorted(x, xq, side="right"), 1, len(x) - 1)
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    ok = (y0 > 0) & (y1 > 0) & (x1 > x0)
    t = np.log(xq[ok] / x0[ok]) / np.log(x1[ok] / x0[ok])
    out[ok] = np.exp(np.log(y0[ok]) + t * np.log(y1[ok] / y0[ok]))
    lin = ~ok & (x1 > x0)
    out[lin] = y0[lin] + (xq[lin] - x0[lin]) / (x1[lin] - x0[lin]) * (y1[lin] - y0[lin])
    return out


def from_epdl97(zf: zipfile.ZipFile, sym: str, z: int) -> dict[str, np.ndarray]:
    name = f"photoat-{z:03d}_{sym}_000.txt"
    text = io.TextIOWrapper(zf.open(name), encoding="ascii").read()
    out = {}
    for proc, mts in ENDF_MT.items():
        total = np.zeros_like(GRID_MeV)
        for mt in mts:
            e_ev, sig = parse_mf23(text, mt)
            total += loglog_interp(e_ev, sig, GRID_MeV * 1e6)
        out[proc] = total
    return out


def from_mucoeff(sym: str, z: int) -> dict[str, np.ndarray]:
    import mucoeff.api as mu

    e_kev = GRID_MeV * 1e3
    to_barn = ATOMIC_MASS[sym] / N_A * 1e24  # (cm^2/g) -> barn/atom
    flag = mu.Flag
    return {
        "photo": mu.mu(flag.MU_PHOTO, z, e_kev) * to_barn,
        "incoherent": mu.mu(flag.MU_COMPTON, z, e_kev) * to_barn,
        "pair": (mu.mu(flag.MU_PAIR, z, e_kev) + mu.mu(flag.MU_TRIPLET, z, e_kev)) * to_barn,
        "coherent": mu.mu(flag.MU_RAYLEIGH, z, e_kev) * to_barn,
    }


def main() -> None:
    import tdcrpy

    zpath = Path(tdcrpy.__file__).parent / "decayData" / "photo-ENDF.zip"
    arrays: dict[str, np.ndarray] = {"energy_MeV": GRID_MeV}
    sources = {}
    with zipfile.ZipFile(zpath) as zf:
        shipped = set(zf.namelist())
        for sym, z in ELEMENTS.items():
            if f"photoat-{z:03d}_{sym}_000.txt" in shipped:
                xs = from_epdl97(zf, sym, z)
                sources[sym] = f"EPDL97 ENDF-6 photoat-{z:03d}_{sym}_000.txt in tdcrpy {md.version('tdcrpy')}"
            else:
                xs = from_mucoeff(sym, z)
                sources[sym] = (f"mucoeff {md.version('mucoeff')} (Boone & Chavez, Med. Phys. 23, 1997 "
                                "(1996)); pair = nuclear + triplet")
            for proc in PROCESSES:
                arr = np.maximum(np.nan_to_num(xs[proc], nan=0.0), 0.0)
                arrays[f"{sym}_{proc}"] = arr.astype(np.float64)
    arrays["elements"] = np.array(list(ELEMENTS))
    arrays["Z"] = np.array(list(ELEMENTS.values()))
    arrays["atomic_mass_g_mol"] = np.array([ATOMIC_MASS[s] for s in ELEMENTS])
    arrays["processes"] = np.array(PROCESSES)
    prov = [
        "units: energy_MeV in MeV, <El>_<process> in barn/atom",
        "processes: photo = total photoionisation, incoherent = Compton (with binding), "
        "pair = nuclear + electron field, coherent = Rayleigh",
        *[f"{s}: {src}" for s, src in sources.items()],
        f"built by scripts/extract_xs.py on {_dt.date.today().isoformat()}",
    ]
    arrays["provenance"] = np.array(prov)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print("\n".join(prov))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
