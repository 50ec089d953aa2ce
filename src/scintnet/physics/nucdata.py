"""Radioactive-decay emission: ENSDF decay schemes -> vectorised primaries.

The tables live in ``scintnet/physics/data/decay_data.json``, produced by
``scripts/extract_decay_data.py`` from the ENSDF decay data sets shipped with
paceENSDF (see the file's ``provenance``).  Energies in the JSON are keV; the
:class:`~scintnet.physics.particles.Primaries` produced here are in MeV and ns.

Model (per decay)
-----------------
1. Choose a branch (β-, β+, EC or α to a given daughter level) with probability
   ∝ its intensity per parent decay (ENSDF intensities; BR of each decay mode is
   folded in).  Intensities are renormalised to 1 over the modes present in the
   table (the missing IT share of e.g. 110mAg is ``unmodelled_fraction``).
2. Emit the lepton/alpha: β± kinetic energy from :func:`scintnet.physics.beta.sample_beta`
   (shape from ENSDF forbiddenness); EC: a K-shell (probability P_K from ENSDF) or
   L1-shell vacancy whose binding energy is released locally by X-rays/Auger
   electrons -- emitted as one ELECTRON of that energy if >= 1 keV; α: ALPHA of the
   ENSDF α energy (the recoil nucleus, < 0.2 MeV and strongly quenched, is ignored).
3. De-excite the daughter level: at each level pick a transition with probability
   ∝ I_γ (1 + α_tot); emit a GAMMA with probability 1/(1 + α_tot), otherwise a
   conversion ELECTRON carrying the *full* transition energy (the atomic binding
   energy is deposited locally by the relaxation cascade anyway, so lumping it into
   the electron is exact for calorimetry and avoids simulating X-rays/Auger).
   E0 transitions (no γ) always give the electron.
4. Timing: a level with 0.1 ns < T½ <= 10 µs delays its decay by an exponential
   time (τ = T½/ln 2) added to all later particles.  A level with T½ > 10 µs (or a
   level without known de-excitation) ends the event: its later decay belongs to a
   different trigger window, so it is not simulated here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from scintnet.physics import beta as _beta
from scintnet.physics.particles import ALPHA, ELECTRON, GAMMA, POSITRON, Primaries

DELAY_MIN_S = 0.1e-9  # below: prompt (unresolvable by PMT timing)
DELAY_MAX_S = 10e-6  # above: end of event (separate trigger)
EC_MIN_DEPOSIT_KEV = 1.0  # smaller atomic deposits are dropped
LN2 = np.log(2.0)


@dataclass(frozen=True)
class GammaTransition:
    """One electromagnetic transition out of a level.

    energy_keV : γ energy (keV); rel_intensity : relative γ intensity (ENSDF units);
    intensity_per_decay : γ per parent decay (0 for stand-alone level schemes);
    alpha : total internal-conversion coefficient; final_keV / final_index : final level.
    """

    energy_keV: float
    final_keV: float
    final_index: int
    rel_intensity: float
    intensity_per_decay: float
    alpha: float
    multipolarity: str = ""


@dataclass(frozen=True)
class Level:
    """Daughter level: energy (keV), half-life (s, None if unknown), J^π, transitions."""

    energy_keV: float
    half_life_s: float | None
    jpi: str
    transitions: tuple[GammaTransition, ...] = ()


@dataclass(frozen=True)
class BetaBranch:
    """A decay branch to a daughter level.

    kind : 'beta-', 'beta+', 'ec' or 'alpha'
    endpoint_keV : β endpoint (Q_eff - level [- 2 m_e]), EC energy, or α kinetic energy
    intensity : probability per parent decay
    level_keV / level_index : populated daughter level (index into ``DecayScheme.levels[daughter]``)
    shape : 'allowed', '1u', '2u', '3u' (β only); forbiddenness : ENSDF label
    pk : EC K-capture fraction; mean_keV_ensdf : ENSDF mean β energy (validation)
    """

    kind: str
    daughter: str
    Z_daughter: int
    A: int
    endpoint_keV: float
    intensity: float
    level_keV: float
    level_index: int
    shape: str = "allowed"
    forbiddenness: str = ""
    pk: float = 0.0
    mean_keV_ensdf: float | None = None


@dataclass
class DecayScheme:
    """Decay scheme of one parent nuclide (all decay modes)."""

    name: str
    Z: int
    A: int
    half_life_s: float | None
    Q_keV: dict[str, float]
    branching: dict[str, float]
    branches: list[BetaBranch]
    levels: dict[str, list[Level]]
    binding_keV: dict[str, dict[str, float]] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    unmodelled_fraction: float = 0.0


# --------------------------------------------------------------------------- loading
@lru_cache(maxsize=1)
def _raw() -> dict:
    txt = resources.files("scintnet.physics").joinpath("data", "decay_data.json").read_text()
    return json.loads(txt)


def provenance() -> dict:
    """Provenance block of the shipped table (package, version, date, script)."""
    return dict(_raw()["provenance"])


def available_nuclides() -> list[str]:
    """Parent nuclides with decay schemes (e.g. 'Bi214', 'Ag110m')."""
    return sorted(_raw()["nuclides"])


def available_level_schemes() -> list[str]:
    """Nuclides usable in :func:`sample_deexcitation` (stand-alone schemes + all daughters)."""
    names = set(_raw()["level_schemes"])
    for nd in _raw()["nuclides"].values():
        names.update(m["daughter"] for m in nd["modes"])
    return sorted(names)


def _levels_from_json(levels: list[dict], per_decay: bool) -> list[Level]:
    energies = np.array([lv["E"] for lv in levels])
    out = []
    for lv in levels:
        trs = []
        for g in lv["gammas"]:
            fi = int(np.argmin(np.abs(energies - g["Ef"])))
            trs.append(GammaTransition(
                g["E"], g["Ef"], fi, g["Irel"], g["Iabs"] if per_decay else 0.0, g["icc"], g["mult"]))
        out.append(Level(lv["E"], lv["T12_s"], lv["Jpi"], tuple(trs)))
    return out


@lru_cache(maxsize=None)
def load_scheme(nuclide: str) -> DecayScheme:
    """Decay scheme of ``nuclide`` (e.g. 'Bi214', 'Tl208', 'Ag110m').

    Raises
    ------
    ValueError
        If the nuclide is not in the shipped table.
    """
    nuclides = _raw()["nuclides"]
    if nuclide not in nuclides:
        raise ValueError(
            f"unknown nuclide {nuclide!r}; available: {', '.join(available_nuclides())}"
            " (re-run scripts/extract_decay_data.py to add more)")
    nd = nuclides[nuclide]
    levels: dict[str, list[Level]] = {}
    branches: list[BetaBranch] = []
    for m in nd["modes"]:
        lv = _levels_from_json(m["levels"], per_decay=True)
        levels[m["daughter"]] = lv
        energies = np.array([x.energy_keV for x in lv])
        for b in m["branches"]:
            li = int(np.argmin(np.abs(energies - b["level"])))
            branches.append(BetaBranch(
                kind=b["type"], daughter=m["daughter"], Z_daughter=m["Z_daughter"], A=m["A"],
                endpoint_keV=b["endpoint"], intensity=b["I"], level_keV=b["level"], level_index=li,
                shape=b.get("shape", "allowed"), forbiddenness=b.get("forb", ""),
                pk=b.get("PK", 0.0), mean_keV_ensdf=b.get("mean_ensdf")))
    return DecayScheme(
        name=nuclide, Z=nd["Z"], A=nd["A"], half_life_s=nd["T12_s"],
        Q_keV={m["mode"]: m["Q_eff"] for m in nd["modes"]},
        branching={m["mode"]: m["BR"] for m in nd["modes"]},
        branches=branches, levels=levels,
        binding_keV={m["daughter"]: m["binding_keV"] for m in nd["modes"] if "binding_keV" in m},
        datasets=[m["dataset"] for m in nd["modes"]],
        unmodelled_fraction=nd["unmodelled_fraction"],
    )


def _level_list(nuclide_daughter: str) -> list[Level]:
    raw = _raw()
    if nuclide_daughter in raw["level_schemes"]:
        return _levels_from_json(raw["level_schemes"][nuclide_daughter]["levels"], per_decay=False)
    for name in available_nuclides():
        sch = load_scheme(name)
        if nuclide_daughter in sch.levels:
            return sch.levels[nuclide_daughter]
    raise ValueError(
        f"no level scheme for {nuclide_daughter!r}; available: {', '.join(available_level_schemes())}")


# --------------------------------------------------------------------------- cascade tables
@dataclass
class _CascadeTable:
    """Padded per-level transition arrays for vectorised cascades (levels x max_transitions)."""

    energy_keV: np.ndarray  # float64[L, K]
    final: np.ndarray  # int64[L, K] global level index
    cdf: np.ndarray  # float64[L, K] cumulative choice probability; rows w/o transitions: inf
    p_gamma: np.ndarray  # float64[L, K] 1/(1+alpha)
    terminal: np.ndarray  # bool[L] stop the cascade here
    tau_ns: np.ndarray  # float64[L] mean life of the delay (0: prompt)


def _build_table(level_lists: list[list[Level]]) -> tuple[_CascadeTable, list[int]]:
    offsets, n = [], 0
    for lv in level_lists:
        offsets.append(n)
        n += len(lv)
    kmax = max([1] + [len(x.transitions) for lv in level_lists for x in lv])
    E = np.zeros((n, kmax))
    fin = np.zeros((n, kmax), np.int64)
    cdf = np.full((n, kmax), np.inf)
    pg = np.ones((n, kmax))
    term = np.ones(n, bool)
    tau = np.zeros(n)
    for off, lv in zip(offsets, level_lists):
        for i, level in enumerate(lv):
            g = off + i
            fin[g] = g
            w = np.array([t.rel_intensity * (1.0 + t.alpha) for t in level.transitions])
            hl = level.half_life_s
            long_lived = hl is not None and hl > DELAY_MAX_S
            if w.size == 0 or w.sum() <= 0 or long_lived:
                continue
            term[g] = False
            k = w.size
            cdf[g, :k] = np.cumsum(w) / w.sum()
            cdf[g, k - 1] = 1.0
            for j, t in enumerate(level.transitions):
                E[g, j] = t.energy_keV
                fin[g, j] = off + t.final_index
                pg[g, j] = 0.0 if t.multipolarity.strip("[]()").upper() == "E0" else 1.0 / (1.0 + t.alpha)
            if hl is not None and hl > DELAY_MIN_S:
                tau[g] = hl / LN2 * 1e9
    return _CascadeTable(E, fin, cdf, pg, term, tau), offsets


@lru_cache(maxsize=None)
def _scheme_table(nuclide: str) -> tuple[_CascadeTable, dict[str, int]]:
    sch = load_scheme(nuclide)
    names = list(sch.levels)
    table, offsets = _build_table([sch.levels[d] for d in names])
    return table, dict(zip(names, offsets))


@lru_cache(maxsize=None)
def _daughter_table(nuclide_daughter: str) -> tuple[_CascadeTable, np.ndarray]:
    lv = _level_list(nuclide_daughter)
    table, _ = _build_table([lv])
    return table, np.array([x.energy_keV for x in lv])


def _cascade(table: _CascadeTable, level: np.ndarray, event: np.ndarray, t0_ns: np.ndarray,
             rng: np.random.Generator) -> Primaries:
    """Vectorised γ/CE cascade from global level indices; loops over cascade steps only."""
    parts = []
    lvl, ev, t = level.astype(np.int64), event.astype(np.int64), t0_ns.astype(np.float64)
    for _ in range(1000):  # a cascade cannot be longer than the number of levels
        alive = ~table.terminal[lvl]
        if not alive.any():
            break
        lvl, ev, t = lvl[alive], ev[alive], t[alive]
        tau = table.tau_ns[lvl]
        delayed = tau > 0
        if delayed.any():
            t = t.copy()
            t[delayed] += rng.exponential(tau[delayed])
        u = rng.random(lvl.size)
        k = np.minimum((u[:, None] > table.cdf[lvl]).sum(axis=1), table.cdf.shape[1] - 1)
        e_keV = table.energy_keV[lvl, k]
        is_gamma = rng.random(lvl.size) < table.p_gamma[lvl, k]
        ptype = np.where(is_gamma, GAMMA, ELECTRON).astype(np.int8)
        parts.append(Primaries(ev.copy(), ptype, e_keV * 1e-3, t.copy()))
        lvl = table.final[lvl, k]
    return Primaries.concat(parts)


# --------------------------------------------------------------------------- public sampling
def sample_decays(nuclide: str, n_events: int, rng: np.random.Generator) -> Primaries:
    """Simulate ``n_events`` decays of ``nuclide`` (one decay per event).

    Parameters
    ----------
    nuclide : str
        Parent name, e.g. 'Bi214', 'Tl208', 'C10', 'Ag110m' (see :func:`available_nuclides`).
    n_events : int
        Number of decays; ``event`` indices are 0 .. n_events-1.
    rng : numpy.random.Generator

    Returns
    -------
    Primaries
        Sorted by event; energies MeV (kinetic), times ns after the decay.
    """
    sch = load_scheme(nuclide)
    table, offsets = _scheme_table(nuclide)
    if n_events <= 0:
        return Primaries.empty()
    prob = np.array([b.intensity for b in sch.branches])
    prob = prob / prob.sum()
    ib = rng.choice(prob.size, size=n_events, p=prob)
    event = np.arange(n_events, dtype=np.int64)
    parts = []
    start_level = np.empty(n_events, np.int64)
    for j in np.unique(ib):
        b = sch.branches[j]
        ev = event[ib == j]
        start_level[ev] = offsets[b.daughter] + b.level_index
        n = ev.size
        if b.kind in ("beta-", "beta+"):
            if b.endpoint_keV <= 0:
                continue
            e = _beta.sample_beta(b.endpoint_keV * 1e-3, b.Z_daughter, b.A, n, rng,
                                  positron=b.kind == "beta+", shape=b.shape)
            code = ELECTRON if b.kind == "beta-" else POSITRON
            parts.append(Primaries(ev, np.full(n, code, np.int8), e, np.zeros(n)))
        elif b.kind == "alpha":
            parts.append(Primaries(ev, np.full(n, ALPHA, np.int8), np.full(n, b.endpoint_keV * 1e-3),
                                   np.zeros(n)))
        elif b.kind == "ec":
            bind = sch.binding_keV.get(b.daughter, {})
            # K capture with ENSDF P_K, otherwise L1 (M+ shells: < 1 keV for Z <= 60, dropped)
            e_k = np.where(rng.random(n) < b.pk, bind.get("K", 0.0), bind.get("L1", 0.0))
            keep = e_k >= EC_MIN_DEPOSIT_KEV
            if keep.any():
                parts.append(Primaries(ev[keep], np.full(keep.sum(), ELECTRON, np.int8),
                                       e_k[keep] * 1e-3, np.zeros(keep.sum())))
    parts.append(_cascade(table, start_level, event, np.zeros(n_events), rng))
    return Primaries.concat(parts)


def sample_deexcitation(nuclide_daughter: str, level_keV: np.ndarray, event: np.ndarray,
                        rng: np.random.Generator, tol_keV: float = 2.0) -> Primaries:
    """γ/CE cascade from given excited levels (e.g. 136Ba after 2νββ of 136Xe).

    Parameters
    ----------
    nuclide_daughter : str
        Nucleus whose levels de-excite, e.g. 'Ba136' (see :func:`available_level_schemes`).
    level_keV : array
        Initial level energy (keV) per entry; matched to the table within ``tol_keV``.
    event : int array
        Event index per entry (copied into the output).
    rng : numpy.random.Generator

    Returns
    -------
    Primaries
        GAMMA / conversion ELECTRON, sorted by event; energies MeV, times ns.
    """
    table, energies = _daughter_table(nuclide_daughter)
    level_keV = np.atleast_1d(np.asarray(level_keV, dtype=np.float64))
    event = np.broadcast_to(np.asarray(event, dtype=np.int64), level_keV.shape)
    if level_keV.size == 0:
        return Primaries.empty()
    idx = np.argmin(np.abs(level_keV[:, None] - energies[None, :]), axis=1)
    bad = np.abs(energies[idx] - level_keV) > tol_keV
    if bad.any():
        raise ValueError(f"levels {np.unique(level_keV[bad])} keV not in the {nuclide_daughter} "
                         f"scheme (known: {energies.round(2).tolist()})")
    return _cascade(table, idx, event, np.zeros(level_keV.size), rng)


def gamma_line_intensity(nuclide: str, energy_keV: float, tol_keV: float = 1.0) -> float:
    """γ rays per parent decay with |E_γ - energy_keV| <= tol_keV (ENSDF table value)."""
    sch = load_scheme(nuclide)
    tot = 0.0
    for lv in sch.levels.values():
        for level in lv:
            for t in level.transitions:
                if abs(t.energy_keV - energy_keV) <= tol_keV:
                    tot += t.intensity_per_decay
    return tot
