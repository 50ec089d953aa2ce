#!/usr/bin/env python
"""Extract compact decay schemes from the ENSDF decay data shipped with ``paceENSDF``.

Writes ``src/scintnet/physics/data/decay_data.json`` consumed by
:mod:`scintnet.physics.nucdata`.  Nothing here is hand-typed: every energy,
intensity, half-life, spin/parity and conversion coefficient is copied from the
JSON-formatted ENSDF decay data sets distributed with paceENSDF (A. M. Hurst,
https://pypi.org/project/paceENSDF/), which are a 1:1 translation of the ENSDF
decay data sets (NNDC).  The only derived quantities are

* intensities per parent decay  = relative intensity x normalisation (NR or NB) x BR / 100
  (ENSDF manual, "Normalization record"),
* beta forbiddenness from the spin/parity change when ENSDF does not quote it,
* beta+ endpoints for EC/beta+ data sets, which ENSDF/paceENSDF already give.

paceENSDF contains decay data sets only (no "adopted levels"); the 136Ba levels
needed for 136Xe 2nubb to excited states are therefore taken from the 136La EC
decay data set, which populates all three levels (0+ 1579, 2+ 1551, 2+ 818.5 keV)
and lists their de-exciting gammas.  Isomeric transitions (IT) are not in the
package either: the missing share (1 - sum BR) is recorded as ``unmodelled_fraction``.

Usage::

    python scripts/extract_decay_data.py [--out PATH] [nuclide ...]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import glob
import json
import os
import re
import sys
from typing import Any

DEFAULT_NUCLIDES = [
    "Bi214", "Tl208", "C10", "Xe137", "I130", "I132", "I124", "I122", "Sb118", "Nb90",
    "Bi212", "Po212", "Po214", "K40", "Co60", "Ag110m",
    # low-energy / film / LS-spallation backgrounds of the klz800-like fit model
    "Bi210", "Kr85", "C11", "He6",
]
# Daughter level schemes wanted on their own: name -> (data set parent, max level keV).
LEVEL_SCHEMES = {"Ba136": ("La136", 1600.0)}

MODE_NAMES = {
    "betaMinusDecay": "beta-",
    "electronCaptureBetaPlusDecay": "ec",
    "alphaDecay": "alpha",
}


def _ensdf_dir() -> str:
    import paceENSDF

    return paceENSDF.get_data("ENSDF_JSON")


def _num(x: Any, default: float = 0.0) -> float:
    return default if x is None else float(x)


def _split_name(name: str) -> tuple[str, bool]:
    """``'Ag110m'`` -> (``'Ag110'``, True)."""
    m = re.fullmatch(r"([A-Z][a-z]?\d+)(m?)", name)
    if not m:
        raise ValueError(f"bad nuclide name {name!r}")
    return m.group(1), bool(m.group(2))


def find_datasets(name: str) -> list[str]:
    """ENSDF decay data-set files for a parent (ground state, or first isomer for ``...m``)."""
    base, isomer = _split_name(name)
    files = sorted(glob.glob(os.path.join(_ensdf_dir(), f"j_input_{base}_*.json")))
    if not files:
        raise LookupError(f"no paceENSDF decay data set for {base}")

    def parent_level(f: str) -> float:
        tag = os.path.basename(f).rsplit("_", 1)[1].replace("keV.json", "")
        try:
            return float(tag)
        except ValueError:  # e.g. '0.0pX' (unknown offset) -> sort last
            return 1e9

    levels = sorted({parent_level(f) for f in files})
    want = levels[0] if not isomer else next((lv for lv in levels if lv > 0), None)
    if want is None or (not isomer and want != 0.0):
        raise LookupError(f"no data set for {name} (parent levels {levels})")
    return [f for f in files if parent_level(f) == want]


def atomic_binding_keV(z: int) -> dict:
    """K and L1 subshell binding energies (keV) of element ``z``.

    From the ENDF/B-VII.0 atomic relaxation sub-library (EADL, MF=28/MT=533)
    shipped with the ``tdcrpy`` package (decayData/atom-ENDF-VII0.zip); paceENSDF
    gives EC shell fractions but no binding energies.
    """
    import importlib.util
    import zipfile

    spec = importlib.util.find_spec("tdcrpy")
    if spec is None or not spec.submodule_search_locations:
        return {}
    zpath = os.path.join(list(spec.submodule_search_locations)[0], "decayData", "atom-ENDF-VII0.zip")
    with zipfile.ZipFile(zpath) as zf:
        name = next((n for n in zf.namelist() if n.startswith(f"atom-{z:03d}_")), None)
        if name is None:
            return {}
        lines = [ln for ln in zf.read(name).decode().splitlines()
                 if ln[70:72].strip() == "28" and ln[72:75].strip() == "533"]

    def f(x: str) -> float:  # ENDF floats: '3.180500+4'
        x = x.strip()
        return float(re.sub(r"(?<=\d)([+-])(\d+)$", r"e\1\2", x)) if x else 0.0

    nss = int(lines[0][44:55])
    out, i = {}, 1
    for _ in range(nss):
        subi, ntr = int(f(lines[i][0:11])), int(lines[i][55:66])
        ebi = f(lines[i + 1][0:11]) / 1e3
        out[{1: "K", 3: "L1", 4: "L2", 5: "L3"}.get(subi, str(subi))] = round(ebi, 4)
        i += 2 + ntr
    return {k: out[k] for k in ("K", "L1") if k in out}


def _jpi(spins: list[dict]) -> tuple[float | None, int | None, str]:
    if not spins:
        return None, None, ""
    s = spins[0]
    j, p = s.get("spinReal"), s.get("parity")
    txt = ""
    if j is not None:
        j2 = round(2 * j)
        txt = f"{j2 // 2}" if j2 % 2 == 0 else f"{j2}/2"
        if p:
            txt += "+" if p > 0 else "-"
        if s.get("spinIsTentative") or s.get("parityIsTentative") or len(spins) > 1:
            txt = f"({txt})"
    return j, p, txt


def shape_from_ensdf(branch: dict, jpi_parent, jpi_level) -> tuple[str, str, str]:
    """Return (ensdf_degree, shape, source) for a beta branch.

    shape is one of 'allowed', '1u', '2u', '3u' (non-unique forbidden are
    treated as allowed by the spectrum code, see beta.py).
    """
    deg = branch.get("forbiddennessDegree")
    src = "ENSDF"
    if deg is None:
        (ji, pi), (jf, pf) = jpi_parent, jpi_level
        if ji is None or jf is None or not pi or not pf:
            return "unknown", "allowed", "unknown Jpi -> allowed"
        dj, dpi = abs(round(ji - jf)), pi * pf
        src = "from Jpi change"
        if dj <= 1:
            deg = "A" if dpi > 0 else "1F"
            if dj == 0 and ji == 0 and jf == 0 and dpi < 0:
                deg = "1F"
        else:
            # L = dj; unique when (-1)^dj == -dpi, i.e. the parity matches an L=dj-1 tensor
            unique = (dpi < 0) == (dj % 2 == 0)
            order = dj - 1 if unique else dj
            deg = f"{order}UF" if unique else f"{order}F"
    m = re.fullmatch(r"(\d*)(U?)(F|A)", deg)
    shape = "allowed"
    if m and m.group(2) == "U":
        shape = f"{m.group(1)}u"
        if shape not in ("1u", "2u", "3u"):
            shape = "3u"  # highest implemented
    return deg, shape, src


TWO_ME_KEV = 1021.998  # 2 m_e c^2 (CODATA 2018: m_e c^2 = 510.999 keV)


def _endpoint(from_q: float, ensdf: Any) -> dict:
    """Endpoint consistent with energy conservation (Q_eff - level).

    ENSDF sometimes quotes a *measured* endpoint (e.g. 137Xe g.s. 4040(70) keV vs
    Q = 4173 keV); the sampler uses the Q-based value so that the energy released
    per decay is exactly Q.  The ENSDF number is kept when it differs by > 1 keV.
    """
    out = {"endpoint": round(from_q, 4)}
    if ensdf is not None and abs(float(ensdf) - from_q) > 1.0:
        out["endpoint_ensdf"] = float(ensdf)
    return out


def _half_life(hl: list[dict]) -> tuple[float | None, str]:
    if not hl:
        return None, ""
    h = hl[0]
    val = h.get("halfLifeConverted")
    txt = f"{h.get('halfLifeBest')} {h.get('unitHalfLifeBest')}"
    if h.get("unitHalfLifeConverted") not in (None, "s"):
        return None, txt  # widths (eV) etc.
    return (None if val is None else float(val)), txt


def _norm(d: dict) -> dict:
    nr = d["decaySchemeNormalization"][0]["normalizationRecord"][0]
    br = nr.get("multiplerBranchingRatio")
    return {
        "NR": _num(nr.get("multiplerPhotonIntensity"), 1.0) if nr.get("recordExistsNR") else 1.0,
        "NB": _num(nr.get("multiplerLeptonIntensity"), 1.0) if nr.get("recordExistsNB") else 1.0,
        "BR": _num(br, 1.0) if nr.get("recordExistsBR") and br else 1.0,
    }


# Adopted level half-lives that neither the decay data set nor paceENSDF's RIPL files carry, each with
# its evaluation.  Only levels whose delay is resolvable by PMT timing (T1/2 > 0.1 ns) matter here.
ADOPTED_HALF_LIVES_S = {
    # 10B 718.38 keV 1+: tau_m = 1.020(5) ns, T1/2 = 0.707 ns (ENSDF adopted levels for A = 10,
    # D.R. Tilley et al., Nucl. Phys. A 745, 155 (2004)); KamNet paper sec. V.A: "released 0.7 ns after".
    ("B10", 718.38): (0.707e-9, "0.707 ns (ENSDF adopted, Tilley et al. NPA 745 (2004) 155)"),
}


def _ripl_half_lives(Z: int, A: int) -> list[tuple[float, float]]:
    """(level keV, T1/2 s) of the daughter's levels in paceENSDF's RIPL-format files (ENSDF adopted values).

    RIPL level lines: index, energy (MeV), J, parity, T1/2 (s; <= 0 unknown), number of gammas, ...
    """
    import paceENSDF

    root = os.path.join(os.path.dirname(paceENSDF.__file__), "ENSDF_RIPL")
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*", f"z{Z:03d}_a{A}_ripl.dat"))):
        with open(path) as fh:
            for line in fh:
                tok = line.split()
                if len(tok) < 7 or len(line) - len(line.lstrip()) > 10:
                    continue
                try:
                    int(tok[0])
                    e_keV, hl = float(tok[1]) * 1000.0, float(tok[4])
                except ValueError:
                    continue
                if hl > 0:
                    out.append((e_keV, hl))
    return out


def _fill_half_life(daughter: str, Z: int, A: int, e_keV: float) -> tuple[float | None, str, str]:
    for e, hl in _ripl_half_lives(Z, A):
        if abs(e - e_keV) < 1.0:
            return hl, f"{hl:.4g} s", "paceENSDF ENSDF_RIPL (adopted)"
    for (nuc, e), (hl, txt) in ADOPTED_HALF_LIVES_S.items():
        if nuc == daughter and abs(e - e_keV) < 1.0:
            return hl, txt, "ADOPTED_HALF_LIVES_S (scripts/extract_decay_data.py)"
    return None, "", ""


def extract_levels(d: dict, norm: dict, max_keV: float | None = None) -> list[dict]:
    """Daughter level scheme of one data set (levels sorted by energy).

    Level half-lives: the data set's isomer record, else the adopted value from paceENSDF's RIPL files,
    else :data:`ADOPTED_HALF_LIVES_S`; ``T12_src`` says which.
    """
    levels = []
    for lv in d["levelScheme"]:
        e = _num(lv.get("levelEnergy"))
        if max_keV is not None and e > max_keV:
            continue
        hl, hl_txt = _half_life(lv.get("isomerDecay") or [])
        hl_src = "ENSDF decay data set" if hl is not None else ""
        if hl is None and e > 0:
            hl, hl_txt, hl_src = _fill_half_life(d["daughterID"], d["daughterAtomicNumber"],
                                                 d["daughterAtomicMass"], e)
        gammas = []
        for g in lv.get("gammaDecay") or []:
            icc = g.get("calculatedTotalInternalConversionCoefficient")
            icc_src = "BrIcc (ENSDF)"
            if not icc:
                icc = g.get("experimentalTotalInternalConversionCoefficient")
                icc_src = "experimental (ENSDF)" if icc else "none"
            irel = _num(g.get("gammaIntensity"))
            gammas.append({
                "E": _num(g.get("gammaEnergy")),
                "Ef": _num(g.get("levelEnergyFinal")),
                "Irel": irel,
                # gammas per 100 decays of the parent
                "Iabs": irel * norm["NR"] * norm["BR"],
                "icc": _num(icc),
                "mult": g.get("multipolarity") or "",
                **({"icc_src": icc_src} if icc_src != "BrIcc (ENSDF)" else {}),
            })
        j, p, jpi = _jpi(lv.get("spins") or [])
        levels.append({"E": e, "Jpi": jpi, "T12_s": hl, "T12": hl_txt, **({"T12_src": hl_src} if hl_src else {}),
                       "gammas": gammas})
    levels.sort(key=lambda x: x["E"])
    return levels


def extract_dataset(path: str) -> dict:
    with open(path) as fh:
        d = json.load(fh)
    mode = MODE_NAMES[d["decayMode"]]
    norm = _norm(d)
    par = d["parentDecay"][0]
    pj, pp, pjpi = _jpi(par.get("spins") or [])
    hl, hl_txt = _half_life(par.get("halfLife") or [])
    q = _num(par.get("valueQ"))
    # ENSDF Q is ground state to ground state; an isomeric parent adds its level energy.
    q_eff = q + _num(par.get("parentDecayLevelEnergy"))
    branches = []
    for lv in d["levelScheme"]:
        e = _num(lv.get("levelEnergy"))
        lj, lp, _ = _jpi(lv.get("spins") or [])
        for b in lv.get("betaMinusDecay") or []:
            deg, shape, src = shape_from_ensdf(b, (pj, pp), (lj, lp))
            branches.append({
                "type": "beta-", "level": e,
                **_endpoint(q_eff - e, b.get("endPointBetaMinusEnergy")),
                "I": _num(b.get("betaMinusIntensity")) * norm["NB"] * norm["BR"],
                "mean_ensdf": b.get("averageBetaMinusEnergy"),
                "forb": deg, "shape": shape, "shape_src": src,
            })
        for b in lv.get("betaPlusDecay") or []:
            deg, shape, src = shape_from_ensdf(b, (pj, pp), (lj, lp))
            ib = _num(b.get("betaPlusIntensity")) * norm["NB"] * norm["BR"]
            iec = _num(b.get("electronCaptureIntensity")) * norm["NB"] * norm["BR"]
            if iec == 0 and ib == 0:
                iec = _num(b.get("totalElectronCaptureBetaPlusIntensity")) * norm["NB"] * norm["BR"]
            if ib > 0:
                branches.append({
                    "type": "beta+", "level": e,
                    **_endpoint(q_eff - e - TWO_ME_KEV, b.get("endPointBetaPlusEnergy")),
                    "I": ib, "mean_ensdf": b.get("averageBetaPlusEnergy"),
                    "forb": deg, "shape": shape, "shape_src": src,
                })
            if iec > 0:
                fr = (b.get("calculatedAtomicShellElectronCaptureFractions") or [{}])[0]
                branches.append({
                    "type": "ec", "level": e,
                    **_endpoint(q_eff - e, b.get("electronCaptureEnergy")),
                    "I": iec,
                    "PK": _num(fr.get("calculatedElectronCaptureFractionAtomicShellK"), 0.0),
                })
        for b in lv.get("alphaDecay") or []:
            branches.append({
                "type": "alpha", "level": e, "endpoint": _num(b.get("alphaEnergy")),
                "I": _num(b.get("alphaIntensity")) * norm["BR"],
            })
    for b in branches:  # per 100 decays -> per decay
        b["I"] /= 100.0
    binding = {}
    if any(b["type"] == "ec" for b in branches):
        binding = atomic_binding_keV(d["daughterAtomicNumber"])
    levels = extract_levels(d, norm)
    for lv in levels:
        for g in lv["gammas"]:
            g["Iabs"] /= 100.0
    return {
        "mode": mode,
        "dataset": os.path.basename(path),
        "parent": d["parentID"], "daughter": d["daughterID"],
        "Z": d["parentAtomicNumber"], "A": d["parentAtomicMass"],
        "Z_daughter": d["daughterAtomicNumber"], "A_daughter": d["daughterAtomicMass"],
        "parent_level": _num(par.get("parentDecayLevelEnergy")),
        "parent_Jpi": pjpi, "T12_s": hl, "T12": hl_txt,
        "Q": q, "Q_eff": q_eff, "BR": norm["BR"], "norm": norm,
        "branches": branches, "levels": levels,
        **({"binding_keV": binding,
            "binding_src": "ENDF/B-VII.0 EADL atomic relaxation (tdcrpy decayData)"} if binding else {}),
    }


def extract_nuclide(name: str) -> dict:
    modes = [extract_dataset(p) for p in find_datasets(name)]
    modes.sort(key=lambda m: -m["BR"])
    first = modes[0]
    return {
        "Z": first["Z"], "A": first["A"], "parent_level": first["parent_level"],
        "Jpi": first["parent_Jpi"], "T12_s": first["T12_s"], "T12": first["T12"],
        "source": "paceENSDF ENSDF_JSON",
        "unmodelled_fraction": max(0.0, 1.0 - sum(m["BR"] for m in modes)),
        "modes": modes,
    }


def extract_level_scheme(name: str) -> dict:
    parent, emax = LEVEL_SCHEMES[name]
    (path,) = find_datasets(parent)
    with open(path) as fh:
        d = json.load(fh)
    assert d["daughterID"] == name, (d["daughterID"], name)
    return {
        "Z": d["daughterAtomicNumber"], "A": d["daughterAtomicMass"],
        "source": "paceENSDF ENSDF_JSON (levels/gammas of a decay data set)",
        "dataset": os.path.basename(path), "max_level": emax,
        "levels": extract_levels(d, {"NR": 1.0, "BR": 1.0}, emax),
    }


def _version(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    import paceENSDF

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(
        here, "..", "src", "scintnet", "physics", "data", "decay_data.json"))
    ap.add_argument("nuclides", nargs="*", default=DEFAULT_NUCLIDES)
    a = ap.parse_args(argv)
    out: dict[str, Any] = {
        "provenance": {
            "package": "paceENSDF", "version": paceENSDF.__version__,
            "binding_energies": f"tdcrpy {_version('tdcrpy')} decayData/atom-ENDF-VII0.zip",
            "data": "ENSDF decay data sets (NNDC) as JSON in paceENSDF/ENSDF_JSON",
            "extracted": _dt.date.today().isoformat(),
            "script": "scripts/extract_decay_data.py",
            "units": "energies keV; I = per parent decay (beta/ec/alpha branches); "
                     "gamma Irel relative, Iabs per parent decay; icc total conversion coeff.",
            "conventions": "I = I_rel * NB (or NR) * BR / 100; forbiddenness from ENSDF or Jpi change; "
                           "non-unique forbidden -> 'allowed' shape",
        },
        "nuclides": {},
        "level_schemes": {},
    }
    for n in a.nuclides:
        out["nuclides"][n] = extract_nuclide(n)
        nd = out["nuclides"][n]
        print(f"{n:7s} modes={[m['mode'] for m in nd['modes']]} "
              f"branches={sum(len(m['branches']) for m in nd['modes'])} "
              f"levels={sum(len(m['levels']) for m in nd['modes'])}", file=sys.stderr)
    for n in LEVEL_SCHEMES:
        out["level_schemes"][n] = extract_level_scheme(n)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e3:.0f} kB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
