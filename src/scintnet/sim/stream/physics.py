"""Stream physics: the samplers and the generator of one chunk (a pure function of config, seed and chunk).

Fast parametrised detector response (Gaussian energy and vertex resolution, Birks-quenched alpha light)
instead of the PMT-level simulation.  Chunk ``i`` holds every *family* (a muon with its neutrons, a
spallation isotope with its parent muon, a Bi-Po pair, an IBD pair, ...) whose origin lies in its time
window and draws all its random numbers from ``SeedSequence([seed, i])``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np

from ...io.stream import EVENT_TYPES, NUCLIDES, REGIONS
import scintnet.sim.stream.muons as muphys  # the module itself: "from . import" would import the package (a cycle)
from .config import (
    DAY_S,
    YEAR_S,
    Response,
    StreamConfig,
    StreamConfigError,
    StreamGeometry,
    stream_config_from_dict,
)

_NUCLIDE_CODE = {k: i for i, k in enumerate(NUCLIDES)}


# --------------------------------------------------------------------------- physics helpers


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _in_sphere(rng: np.random.Generator, n: int, r_mm: float) -> np.ndarray:
    return _unit(rng, n) * (r_mm * rng.random(n) ** (1 / 3))[:, None]


def _shell(rng: np.random.Generator, n: int, r_mm: float) -> np.ndarray:
    return _unit(rng, n) * r_mm


def visible_energy_MeV(prims: Any, n: int, material: str = "XeLS", kB: float = 0.11) -> np.ndarray:
    """Electron-equivalent visible energy of each decay (Birks-quenched, gammas fully absorbed).

    Assumption: gammas and annihilation photons deposit all their energy (true inside the
    XeLS, which is surrounded by 4.6 m of LS); alphas are quenched with the alpha table.
    """
    from ...physics.electron import quenched_energy
    from ...physics.particles import POSITRON

    e = np.zeros(n)
    ev = np.zeros(len(prims))
    for pt in np.unique(prims.ptype):
        m = prims.ptype == pt
        ev[m] = quenched_energy(int(pt), np.maximum(prims.energy_MeV[m], 1e-6), material, kB)
        if pt == POSITRON:
            ev[m] += 2 * quenched_energy(1, 0.511, material, kB)  # annihilation gammas
    np.add.at(e, prims.event, ev)
    return e / _energy_scale(material, kB)


def _energy_scale(material: str, kB: float) -> float:
    # calibrated on the 2.2 MeV neutron-capture gamma (as KamLAND does): E_vis(n capture) = 2.2246 MeV
    from ...physics.electron import quenched_energy

    return quenched_energy(1, 2.2246, material, kB) / 2.2246


def _alpha_visible_MeV(T_MeV: np.ndarray, material: str = "LS", kB: float = 0.11) -> np.ndarray:
    from ...physics.electron import quenched_energy
    from ...physics.particles import ALPHA

    out = np.zeros_like(T_MeV)
    m = T_MeV > 1e-3
    out[m] = quenched_energy(ALPHA, T_MeV[m], material, kB)
    return out / _energy_scale(material, kB)


def sample_spectrum_MeV(source: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Visible energies (MeV) of ``n`` decays of a named source (fast path, no PMTs)."""
    from ...physics.sources import get_source

    if n == 0:
        return np.zeros(0)
    return visible_energy_MeV(get_source(source).sample(n, rng), n)


def half_life_s(nuclide: str) -> float:
    from ...physics.nucdata import load_scheme

    t = load_scheme(nuclide).half_life_s
    if t is None:
        raise StreamConfigError(f"nuclide {nuclide} has no half-life in the decay table")
    return float(t)


def xe_isotope_rates_per_day(cfg: StreamConfig, seed: int = 12345, n_mc: int = 20000) -> dict[str, float]:
    """Production rate of each Xe spallation product (per day, whole XeLS).

    Normalised so that the sum of their decays with reconstructed energy in the ROI equals
    ``xe_roi_per_year`` (article 000 sec. 4.2).  The ROI fraction of each isotope is
    estimated from ``n_mc`` decays with a fixed seed, so the rates are deterministic.
    """
    rng = np.random.default_rng(seed)
    lo, hi = cfg.spallation.roi_MeV
    w, frac = {}, {}
    for iso in cfg.spallation.xe_isotopes:
        e = _smear_energy(sample_spectrum_MeV(iso.name, n_mc, rng), cfg.response, rng)
        frac[iso.name] = float(np.mean((e > lo) & (e < hi)))
        w[iso.name] = iso.relative_yield
    roi_per_unit = sum(w[k] * frac[k] for k in w)
    if roi_per_unit <= 0:
        raise StreamConfigError("no Xe spallation isotope reaches the ROI; cannot normalise the yields")
    scale = cfg.spallation.xe_roi_per_year / roi_per_unit / 365.25
    return {k: w[k] * scale for k in w}


@lru_cache(maxsize=4)
def _xe_rates_cached(cfg_json: str) -> dict[str, float]:
    return xe_isotope_rates_per_day(stream_config_from_dict(json.loads(cfg_json)))


def _smear_energy(e: np.ndarray, resp: Response, rng: np.random.Generator) -> np.ndarray:
    return e + rng.normal(size=e.shape) * resp.energy_resolution * np.sqrt(np.maximum(e, 1e-3))


def _smear_pos(p: np.ndarray, e: np.ndarray, resp: Response, rng: np.random.Generator) -> np.ndarray:
    s = resp.vertex_resolution_mm / np.sqrt(np.maximum(e, 0.1))
    return p + rng.normal(size=p.shape) * s[:, None]


# --------------------------------------------------------------------------- table builder


class _Table:
    """Accumulates event families of one chunk (local ids; parents refer to local ids)."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                                  ("t_s", "type", "nuclide", "region", "detected", "true_E_MeV",
                                                   "true_pos_mm", "muon", "parent")}
        self.n = 0

    def add(self, t_s, etype, E, pos, nuclide=-1, region=0, detected=1, muon=-1, parent=-1) -> np.ndarray:
        n = len(t_s)
        ids = np.arange(self.n, self.n + n, dtype=np.int64)

        def b(v, dt):
            return np.broadcast_to(np.asarray(v, dt), (n,)).copy()

        self.cols["t_s"].append(np.asarray(t_s, np.float64))
        self.cols["type"].append(b(etype, np.int8))
        self.cols["nuclide"].append(b(nuclide, np.int16))
        self.cols["region"].append(b(region, np.int8))
        self.cols["detected"].append(b(detected, np.int8))
        self.cols["true_E_MeV"].append(np.asarray(E, np.float64))
        self.cols["true_pos_mm"].append(np.asarray(pos, np.float64).reshape(n, 3))
        self.cols["muon"].append(b(muon, np.int64))
        self.cols["parent"].append(b(parent, np.int64))
        self.n += n
        return ids

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k, v in self.cols.items():
            out[k] = np.concatenate(v) if v else np.zeros((0, 3) if k == "true_pos_mm" else 0)
        return out


def _region_of(pos: np.ndarray, g: StreamGeometry) -> np.ndarray:
    return np.where(np.linalg.norm(pos, axis=1) < g.xels_radius_mm, REGIONS["xels"], REGIONS["ls"]).astype(np.int8)


# --------------------------------------------------------------------------- muons and neutrons


def _sample_muons(cfg: StreamConfig, n: int, t0: float, t1: float, rng: np.random.Generator,
                  through: np.ndarray | None = None, shower_p: float = 0.0) -> dict[str, np.ndarray]:
    """Muon tracks crossing the LS sphere (muon model v2, :mod:`.muons`).

    ``through`` forces each track through a point (mm): the parent of an isotope made there, which with
    probability ``shower_p`` made it in a shower at that point (energy from the yield-weighted spectrum)."""
    m, g = cfg.muons, cfg.geometry
    R = g.ls_radius_mm
    # zenith: dN/dcos ~ cos^p  ->  cos = U^(1/(p+1))
    c = rng.random(n) ** (1.0 / (m.zenith_cos_power + 1.0))
    s = np.sqrt(1 - c**2)
    phi = rng.uniform(0, 2 * np.pi, n)
    d = np.stack([s * np.cos(phi), s * np.sin(phi), -c], axis=1)
    if through is None:
        # uniform flux through the disc perpendicular to the track
        a = np.cross(d, np.array([1.0, 0, 0]))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        bvec = np.cross(d, a)
        r = R * np.sqrt(rng.random(n))
        psi = rng.uniform(0, 2 * np.pi, n)
        p0 = a * (r * np.cos(psi))[:, None] + bvec * (r * np.sin(psi))[:, None]
    else:
        p0 = through - (through * d).sum(1)[:, None] * d  # closest point of the line to the centre
    b = np.linalg.norm(p0, axis=1)
    h = np.sqrt(np.maximum(R**2 - b**2, 0.0))
    entry = p0 - h[:, None] * d
    L = 2 * h
    E_GeV = muphys.sample_energy_GeV(m, n, rng)
    sh_mu, sh_s, sh_E, sh_had = muphys.sample_transfers(m, E_GeV, L, rng)
    if through is not None:
        # the isotope's production shower at the isotope (hadronic/EM as the neutron-yield weights say)
        prod = np.flatnonzero(rng.random(n) < shower_p)
        w_h = m.b_nucl_per_g_cm2 / max(m.b_nucl_per_g_cm2 + m.em_neutron_ratio * m.b_em_per_g_cm2, 1e-300)
        sh_mu = np.concatenate([sh_mu, prod])
        sh_s = np.concatenate([sh_s, ((through[prod] - entry[prod]) * d[prod]).sum(1)])
        sh_E = np.concatenate([sh_E, muphys.production_shower_MeV(m, E_GeV[prod], rng)])
        sh_had = np.concatenate([sh_had, rng.random(prod.size) < w_h])
        o = np.argsort(sh_mu, kind="stable")
        sh_mu, sh_s, sh_E, sh_had = sh_mu[o], sh_s[o], sh_E[o], sh_had[o]
    nsh = np.bincount(sh_mu, minlength=n)
    sh_off = np.concatenate([[0], np.cumsum(nsh)]).astype(np.int64)
    dq = np.bincount(sh_mu, weights=sh_E, minlength=n)
    showering = dq > m.showering_dq_MeV
    edep = m.dedx_MeV_per_mm * L + dq
    t = np.sort(rng.uniform(t0, t1, n)) if through is None else rng.uniform(t0, t1, n)
    # reconstructed track (assumed Gaussian smearing of entry point and direction)
    r_entry = entry + rng.normal(size=(n, 3)) * cfg.response.muon_entry_resolution_mm
    r_dir = d + rng.normal(size=(n, 3)) * np.deg2rad(cfg.response.muon_angle_resolution_deg)
    r_dir /= np.linalg.norm(r_dir, axis=1, keepdims=True)
    pf_off, pf = muphys.reco_profiles(cfg, sh_mu, entry[sh_mu] + d[sh_mu] * sh_s[:, None], sh_E, n, L, r_entry,
                                      r_dir, nsh > 0, rng)
    return {"t_s": t, "entry_mm": entry, "dir": d, "length_mm": L, "impact_mm": b,
            "showering": showering.astype(np.int8), "edep_MeV": edep, "reco_entry_mm": r_entry, "reco_dir": r_dir,
            "energy_GeV": E_GeV, "dq_MeV": dq,
            "shower_offsets": sh_off, "shower_s_mm": sh_s, "shower_E_MeV": sh_E, "shower_hadronic": sh_had.astype(np.int8),
            "profile_offsets": pf_off, "profile_MeV": pf, "n_neutrons": np.zeros(n, np.int32)}


def _add_neutrons(tab: _Table, cfg: StreamConfig, mu: dict[str, np.ndarray], mu_ids: np.ndarray,
                  rng: np.random.Generator, origin_mm: np.ndarray | None = None,
                  n_extra: np.ndarray | None = None) -> None:
    """Neutrons of each muon's showers (:mod:`.muons`), plus ``n_extra`` emitted by the isotope at ``origin_mm``."""
    nc, m = cfg.neutrons, cfg.muons
    n = mu["t_s"].size
    sh_mu = np.repeat(np.arange(n), np.diff(mu["shower_offsets"]))
    had = mu["shower_hadronic"] == 1
    n_sh = rng.poisson(muphys.mean_neutrons_per_shower(m, mu["shower_E_MeV"], had))
    rep = np.repeat(np.arange(sh_mu.size), n_sh)
    prod = [mu["entry_mm"][sh_mu[rep]] + mu["dir"][sh_mu[rep]] * mu["shower_s_mm"][rep][:, None]]
    owner = [sh_mu[rep]]
    hadr = [had[rep]]
    if origin_mm is not None and n_extra is not None:
        # the isotope's own evaporation neutrons: slow (no fast leg)
        rep = np.repeat(np.arange(n), n_extra)
        prod.append(origin_mm[rep])
        owner.append(rep)
        hadr.append(np.zeros(rep.size, bool))
    prod_mm = np.concatenate(prod)
    own = np.concatenate(owner)
    k = own.size
    if k == 0:
        return
    dt = rng.exponential(nc.capture_time_us * 1e-6, k)
    cap = muphys.transport_neutrons(nc, prod_mm, np.concatenate(hadr), dt, rng)
    r = np.linalg.norm(cap, axis=1)
    inside = r < cfg.geometry.ls_radius_mm  # captured in the buffer oil: not seen
    det = inside & (dt > muphys.dead_time_s(nc, mu["showering"][own])) & (rng.random(k) < nc.efficiency)
    in_xe = r < cfg.geometry.xels_radius_mm
    on_xe = in_xe & (rng.random(k) < nc.xe136_capture_fraction)
    E = np.where(on_xe, nc.xe136_capture_gamma_MeV, nc.capture_gamma_MeV)
    etype = np.where(on_xe, EVENT_TYPES["ncap_xe136"], EVENT_TYPES["neutron"])
    keep = inside
    ids = tab.add(mu["t_s"][own][keep] + dt[keep], etype[keep], E[keep], cap[keep],
                  region=_region_of(cap[keep], cfg.geometry), detected=det[keep].astype(np.int8),
                  muon=mu_ids[own][keep])
    np.add.at(mu["n_neutrons"], own[keep & det], 1)
    # 136Xe(n,gamma)137Xe -> 137Xe beta decay (T1/2 from the ENSDF table)
    sel = on_xe[keep]
    if sel.any():
        k2 = int(sel.sum())
        t_x = mu["t_s"][own][keep][sel] + dt[keep][sel] + rng.exponential(half_life_s("Xe137") / np.log(2), k2)
        tab.add(t_x, EVENT_TYPES["xe137"], sample_spectrum_MeV("Xe137", k2, rng), cap[keep][sel],
                nuclide=_NUCLIDE_CODE["Xe137"], muon=mu_ids[own][keep][sel], parent=ids[sel])


# --------------------------------------------------------------------------- one chunk


def generate_chunk(cfg: StreamConfig, seed: int, chunk: int, t0_s: float, t1_s: float) -> dict[str, Any]:
    """All families with origin in ``[t0_s, t1_s)`` (pure function of its arguments)."""
    ss = np.random.SeedSequence([int(seed), int(chunk)])
    rngs = [np.random.default_rng(s) for s in ss.spawn(8)]
    dt = t1_s - t0_s
    g, resp, sp, ra = cfg.geometry, cfg.response, cfg.spallation, cfg.radioactivity
    tab = _Table()
    muons: list[dict[str, np.ndarray]] = []
    n_mu = 0

    def add_muons(mu: dict[str, np.ndarray]) -> np.ndarray:
        nonlocal n_mu
        ids = np.arange(n_mu, n_mu + mu["t_s"].size, dtype=np.int64)
        n_mu += mu["t_s"].size
        muons.append(mu)
        return ids

    # 1. cosmic muons with their neutrons
    rng = rngs[0]
    mu = _sample_muons(cfg, rng.poisson(cfg.muons.rate_hz * dt), t0_s, t1_s, rng)
    _add_neutrons(tab, cfg, mu, add_muons(mu), rng)

    # 2. spallation isotopes with their parent muon (injected: a few per day, negligible extra muon rate)
    rng = rngs[1]
    mass_g = g.xels_mass_kg * 1e3 * (g.spallation_radius_mm / g.xels_radius_mm) ** 3  # LS ~ XeLS density
    flux = cfg.muons.rate_hz / (np.pi * (g.ls_radius_mm / 10) ** 2)  # mu / cm2 / s
    iso_specs: list[tuple[str, int, float, float, np.ndarray]] = []
    # 10C from carbon everywhere within spallation_radius (rate = Y * flux * mass, KamLAND PRC 81, 025807)
    n_c = rng.poisson(sp.c10_yield_per_mu_g_cm2 * flux * mass_g * dt)
    iso_specs.append(("C10", EVENT_TYPES["spall_c10"], sp.c10_parent_showering, 0.0,
                      (rng.random(n_c) < sp.c10_neutron_probability).astype(np.int64)))
    rates = _xe_rates_cached(cfg.to_json())
    for iso in sp.xe_isotopes:
        k = rng.poisson(rates[iso.name] * dt / DAY_S)
        from ...physics.nucdata import load_scheme

        lost = 136 - load_scheme(iso.name).A
        iso_specs.append((iso.name, EVENT_TYPES["spall_xe"], sp.xe_parent_showering, 0.0,
                          rng.poisson(sp.xe_neutrons_per_lost_nucleon * lost, k)))
    for name, etype, shp, _, n_extra in iso_specs:
        k = n_extra.size
        if k == 0:
            continue
        r = g.spallation_radius_mm if name == "C10" else g.xels_radius_mm
        pos = _in_sphere(rng, k, r)
        pmu = _sample_muons(cfg, k, t0_s, t1_s, rng, through=pos, shower_p=shp)
        ids = add_muons(pmu)
        _add_neutrons(tab, cfg, pmu, ids, rng, origin_mm=pos, n_extra=n_extra)
        t = pmu["t_s"] + rng.exponential(half_life_s(name) / np.log(2), k)
        tab.add(t, etype, sample_spectrum_MeV(name, k, rng), pos, nuclide=_NUCLIDE_CODE[name],
                region=_region_of(pos, g), muon=ids)

    # 3. 136Xe double beta decay (uniform in the XeLS)
    rng = rngs[2]
    n136 = ra.xe136_mass_kg * 4.431e24  # 136Xe nuclei per kg (numbers.md, computed)
    for etype, src, thalf in ((EVENT_TYPES["xe136_2vbb"], "Xe136_2vbb", ra.xe136_2vbb_half_life_yr),
                              (EVENT_TYPES["xe136_0vbb"], "Xe136_0vbb", ra.xe136_0vbb_half_life_yr)):
        if thalf <= 0:
            continue
        k = rng.poisson(n136 * np.log(2) / (thalf * YEAR_S) * dt)
        tab.add(rng.uniform(t0_s, t1_s, k), etype, sample_spectrum_MeV(src, k, rng),
                _in_sphere(rng, k, g.xels_radius_mm))

    # 4. Bi-Po pairs in the XeLS and on the film (U: 12.35 Bq/mg 238U, Th: 4.06 Bq/mg 232Th, secular equilibrium)
    rng = rngs[3]
    act = {"u_xels": ra.u238_xels_g_per_g * g.xels_mass_kg * 1e3 * 12.35e3,
           "th_xels": ra.th232_xels_g_per_g * g.xels_mass_kg * 1e3 * 4.06e3,
           "u_film": ra.u238_film_g_per_g * ra.film_mass_g * 12.35e3,
           "th_film": ra.th232_film_g_per_g * ra.film_mass_g * 4.06e3}
    for key, bq in act.items():
        chain_u = key.startswith("u")
        bi, po = ("Bi214", "Po214") if chain_u else ("Bi212", "Po212")
        br = 0.99979 if chain_u else 0.6406  # beta branch to Po (ENSDF, nucdata branching)
        k = rng.poisson(bq * br * dt)
        film = key.endswith("film")
        pos = _shell(rng, k, g.xels_radius_mm) if film else _in_sphere(rng, k, g.xels_radius_mm)
        region = REGIONS["film"] if film else REGIONS["xels"]
        t = rng.uniform(t0_s, t1_s, k)
        ids = tab.add(t, EVENT_TYPES[bi.lower()], sample_spectrum_MeV(bi, k, rng), pos,
                      nuclide=_NUCLIDE_CODE[bi], region=region)
        Ta = 7.687 if chain_u else 8.785  # alpha energies (ENSDF)
        T = np.full(k, Ta)
        if film:
            # the alpha crosses the nylon (to the XeLS or the LS side, both scintillate) and loses
            # energy along depth/|cos| (linear range approximation): weak quenched light or none
            depth = rng.random(k) * g.film_um
            cosv = rng.random(k)
            frac = 1 - depth / np.maximum(cosv, 1e-6) / ra.alpha_range_film_um
            T = np.where(frac > 0, Ta * np.clip(frac, 0, 1), 0.0)
        t_po = t + rng.exponential(half_life_s(po) / np.log(2), k)
        tab.add(t_po, EVENT_TYPES[po.lower()], _alpha_visible_MeV(T), pos, nuclide=_NUCLIDE_CODE[po],
                region=region, parent=ids)

    # 5. IBD pairs in the LS: prompt e+ (visible E), delayed 2.2 MeV capture
    rng = rngs[4]
    k = rng.poisson(cfg.ibd.rate_per_day * dt / DAY_S)
    pos = _in_sphere(rng, k, g.ls_radius_mm)
    t = rng.uniform(t0_s, t1_s, k)
    Ep = 0.9 + rng.gamma(cfg.ibd.prompt_shape, (cfg.ibd.prompt_mean_MeV - 0.9) / cfg.ibd.prompt_shape, k)
    ids = tab.add(t, EVENT_TYPES["ibd_prompt"], Ep, pos, region=_region_of(pos, g))
    dpos = pos + rng.normal(size=(k, 3)) * cfg.ibd.neutron_sigma_mm
    tab.add(t + rng.exponential(cfg.neutrons.capture_time_us * 1e-6, k), EVENT_TYPES["ibd_delayed"],
            np.full(k, cfg.neutrons.capture_gamma_MeV), dpos, region=_region_of(dpos, g), parent=ids)

    # 6. accidental singles
    rng = rngs[5]
    s = sample_singles(cfg, rng.poisson(cfg.singles.rate_hz * dt), rng)
    tab.add(rng.uniform(t0_s, t1_s, s[0].size), EVENT_TYPES["single"], s[0], s[1], region=_region_of(s[1], g))

    # detector response
    ev = tab.arrays()
    rng = rngs[6]
    ev["E_MeV"] = _smear_energy(ev["true_E_MeV"], resp, rng)
    ev["pos_mm"] = _smear_pos(ev["true_pos_mm"], np.maximum(ev["true_E_MeV"], 0.1), resp, rng)
    ev["detected"] &= (ev["E_MeV"] > resp.energy_threshold_MeV).astype(np.int8)
    if cfg.convection.enabled:
        ev = _add_convection(ev, cfg, seed, chunk, t0_s, t1_s)
    mu_all = _concat_muons(muons)
    return {"events": ev, "muons": mu_all}


# --------------------------------------------------------------------------- convection periods (paper sec. V.B)

_CONVECTION_STREAM = 0x636F6E76  # "conv": the convection draws' own seed stream (no other draw changes)


def convection_periods_s(cfg: StreamConfig, seed: int, t_end_s: float) -> np.ndarray:
    """The injected convection periods up to ``t_end_s``: (n, 2) disjoint (start, stop) in s, clipped to it.

    Starts are a Poisson process of ``rate_per_day``, durations exponential with ``mean_duration_days``;
    overlapping periods merge.  Drawn in order from their own seed stream, so the periods before any time
    are the same whatever ``t_end_s`` (each chunk regenerates them; the stream end only clips them)."""
    c = cfg.convection
    if not c.enabled or c.rate_per_day <= 0 or t_end_s <= 0:
        return np.zeros((0, 2))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _CONVECTION_STREAM]))
    per: list[list[float]] = []
    t = 0.0
    while True:
        t += rng.exponential(DAY_S / c.rate_per_day)
        dur = rng.exponential(c.mean_duration_days * DAY_S)
        if t >= t_end_s:
            break
        stop = min(t + dur, t_end_s)
        if per and t <= per[-1][1]:
            per[-1][1] = max(per[-1][1], stop)
        else:
            per.append([t, stop])
    return np.asarray(per, np.float64).reshape(-1, 2)


def _add_convection(ev: dict[str, np.ndarray], cfg: StreamConfig, seed: int, chunk: int, t0_s: float,
                    t1_s: float) -> dict[str, np.ndarray]:
    """Append the chunk's convection-injected 214Bi-214Po pairs (own seed stream, own response draws) and the
    ``convection`` flag column (1: injected)."""
    g, ra, c = cfg.geometry, cfg.radioactivity, cfg.convection
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(chunk), _CONVECTION_STREAM]))
    per = convection_periods_s(cfg, seed, t1_s)
    lo, hi = np.maximum(per[:, 0], t0_s), np.minimum(per[:, 1], t1_s)
    lo, hi = lo[hi > lo], hi[hi > lo]
    # the film's 214Bi decay rate (Bq; as in generate_chunk step 4), scaled by bi214_factor while a period lasts
    rate = c.bi214_factor * ra.u238_film_g_per_g * ra.film_mass_g * 12.35e3 * 0.99979
    k_per = rng.poisson(rate * (hi - lo)) if lo.size else np.zeros(0, np.int64)
    k = int(k_per.sum())
    tab = _Table()
    if k:
        t = np.repeat(lo, k_per) + rng.random(k) * np.repeat(hi - lo, k_per)
        r = np.maximum(g.xels_radius_mm - rng.exponential(c.depth_mm, k), 0.0)
        pos = _unit(rng, k) * r[:, None]
        ids = tab.add(t, EVENT_TYPES["bi214"], sample_spectrum_MeV("Bi214", k, rng), pos,
                      nuclide=_NUCLIDE_CODE["Bi214"], region=REGIONS["xels"])
        tab.add(t + rng.exponential(half_life_s("Po214") / np.log(2), k), EVENT_TYPES["po214"],
                _alpha_visible_MeV(np.full(k, 7.687)), pos, nuclide=_NUCLIDE_CODE["Po214"],
                region=REGIONS["xels"], parent=ids)
    extra = tab.arrays()
    n0 = ev["t_s"].size
    extra["E_MeV"] = _smear_energy(extra["true_E_MeV"], cfg.response, rng)
    extra["pos_mm"] = _smear_pos(extra["true_pos_mm"], np.maximum(extra["true_E_MeV"], 0.1), cfg.response, rng)
    extra["detected"] = (extra["detected"].astype(np.int8) & (extra["E_MeV"] > cfg.response.energy_threshold_MeV)).astype(np.int8)
    extra["parent"] = np.where(extra["parent"] >= 0, extra["parent"] + n0, -1)
    out = {key: np.concatenate([v, np.asarray(extra[key]).astype(v.dtype, copy=False).reshape(-1, *v.shape[1:])])
           for key, v in ev.items()}
    out["convection"] = np.concatenate([np.zeros(n0, np.int8), np.ones(extra["t_s"].size, np.int8)])
    return out


def sample_singles(cfg: StreamConfig, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Accidental singles: (visible energy MeV, position mm); external gammas pile up at the LS edge."""
    s, R = cfg.singles, cfg.geometry.ls_radius_mm
    E = cfg.response.energy_threshold_MeV + rng.exponential(s.slope_MeV, n)
    ext = rng.random(n) < s.external_fraction
    r = np.where(ext, np.maximum(R - rng.exponential(s.external_depth_mm, n), 0.0), R * rng.random(n) ** (1 / 3))
    return E, _unit(rng, n) * r[:, None]


def _concat_muons(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k in parts[0]:
        if k.endswith("_offsets"):
            offs, base = [np.zeros(1, np.int64)], 0
            for p in parts:
                offs.append(p[k][1:] + base)
                base += int(p[k][-1])
            out[k] = np.concatenate(offs)
        else:
            out[k] = np.concatenate([p[k] for p in parts])
    return out
