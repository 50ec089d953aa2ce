"""Time-ordered event stream: muons, spallation, 136Xe, Bi-Po, IBD and accidental singles.

The stream uses a fast parametrised detector response (Gaussian energy and vertex
resolution, Birks-quenched alpha light) instead of the PMT-level simulation, so a year of
KamLAND-Zen 800 is generated in about a minute.  Rates, yields and multiplicities come from
a :class:`StreamConfig` loaded from a TOML preset in ``scintnet/sim/stream_presets`` (each
number cited there).

Generation is chunked in time: chunk ``i`` holds every *family* (a muon with its neutrons,
a spallation isotope with its parent muon, a Bi-Po pair, an IBD pair, ...) whose origin lies
in ``[i, i+1) * chunk_days`` and draws all its random numbers from ``SeedSequence([seed, i])``,
so the file does not depend on the number of workers.  Chunks are written atomically to
``<out>.chunks/`` (resumable) and merged, time-sorted, into ``<out>``::

    /events   t_s f8, type i1, nuclide i2, region i1, detected i1, E_MeV f4, pos_mm f4[3],
              true_E_MeV f4, true_pos_mm f4[3], muon i8 (row in /muons), parent i8 (row in /events)
    /muons    t_s f8, entry_mm f4[3], dir f4[3], length_mm f4, impact_mm f4, showering i1,
              edep_MeV f4, n_neutrons i4, reco_entry_mm f4[3], reco_dir f4[3],
              shower_offsets i8[n+1], shower_s_mm f4, shower_E_MeV f4
    attrs     format="scintnet-stream", config (JSON), days, seed, event_types (JSON), nuclides (JSON)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from .. import __version__
from ..config import ConfigError, apply_overrides, build, list_presets, preset_text, read_toml
from ..executor import get_executor
from ..io.store import atomic_path, create_h5

FORMAT = "scintnet-stream"
DAY_S = 86400.0
YEAR_S = 365.25 * DAY_S

# event type codes (int8)
EVENT_TYPES: dict[str, int] = {
    "neutron": 1, "ncap_xe136": 2, "xe137": 3, "spall_xe": 4, "spall_c10": 5, "xe136_2vbb": 6,
    "xe136_0vbb": 7, "bi214": 8, "po214": 9, "bi212": 10, "po212": 11, "ibd_prompt": 12,
    "ibd_delayed": 13, "single": 14,
}
REGIONS = {"xels": 0, "film": 1, "ls": 2}
SPALLATION_TYPES = (EVENT_TYPES["spall_xe"], EVENT_TYPES["xe137"])  # Xe spallation for the tag


class StreamConfigError(ConfigError):
    """An invalid or unknown stream configuration."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class StreamGeometry:
    xels_radius_mm: float
    ls_radius_mm: float
    film_um: float
    xels_mass_kg: float
    spallation_radius_mm: float


@dataclass(frozen=True)
class Response:
    energy_resolution: float
    vertex_resolution_mm: float
    energy_threshold_MeV: float
    muon_entry_resolution_mm: float
    muon_angle_resolution_deg: float


@dataclass(frozen=True)
class Muons:
    rate_hz: float
    zenith_cos_power: float
    dedx_MeV_per_mm: float
    showering_fraction: float
    showers_mean: float
    shower_energy_mean_MeV: float
    neutron_yield_per_g_cm2: float
    neutron_fraction_from_showers: float


@dataclass(frozen=True)
class Neutrons:
    capture_time_us: float
    capture_gamma_MeV: float
    lateral_scale_mm: float
    diffusion_sigma_mm: float
    efficiency_nonshowering: float
    efficiency_showering: float
    dead_time_us: float
    xe136_capture_fraction: float
    xe136_capture_gamma_MeV: float


@dataclass(frozen=True)
class XeIsotope:
    name: str
    relative_yield: float


@dataclass(frozen=True)
class Spallation:
    xe_roi_per_year: float
    roi_MeV: tuple[float, float]
    c10_yield_per_mu_g_cm2: float
    c10_neutron_probability: float
    xe_parent_showering: float
    xe_neutrons_per_lost_nucleon: float
    xe_isotopes: tuple[XeIsotope, ...]


@dataclass(frozen=True)
class Radioactivity:
    xe136_mass_kg: float
    xe136_2vbb_half_life_yr: float
    xe136_0vbb_half_life_yr: float
    u238_xels_g_per_g: float
    th232_xels_g_per_g: float
    film_mass_g: float
    u238_film_g_per_g: float
    th232_film_g_per_g: float
    alpha_range_film_um: float


@dataclass(frozen=True)
class IBD:
    rate_per_day: float
    prompt_mean_MeV: float
    prompt_shape: float
    neutron_sigma_mm: float


@dataclass(frozen=True)
class Singles:
    rate_hz: float
    slope_MeV: float
    external_fraction: float
    external_depth_mm: float


@dataclass(frozen=True)
class StreamConfig:
    """Everything that fixes a stream's physics (with ``days`` and ``seed``, its content)."""

    name: str
    description: str
    chunk_days: float
    geometry: StreamGeometry
    response: Response
    muons: Muons
    neutrons: Neutrons
    spallation: Spallation
    radioactivity: Radioactivity
    ibd: IBD
    singles: Singles

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


_SECTIONS = {"geometry": StreamGeometry, "response": Response, "muons": Muons, "neutrons": Neutrons,
             "spallation": Spallation, "radioactivity": Radioactivity, "ibd": IBD, "singles": Singles}


def list_stream_presets() -> list[str]:
    return list_presets("scintnet.sim", "stream_presets")


def _stream_error(exc: ConfigError) -> StreamConfigError:
    return StreamConfigError(str(exc))


def stream_config_from_dict(d: dict[str, Any]) -> StreamConfig:
    """Build a :class:`StreamConfig` from parsed TOML/JSON (clear one-line errors)."""
    try:
        cfg = build(StreamConfig, d, "stream")
    except StreamConfigError:
        raise
    except ConfigError as exc:
        raise _stream_error(exc) from None
    g, m, n = cfg.geometry, cfg.muons, cfg.neutrons
    checks = [
        (cfg.chunk_days > 0, "chunk_days must be > 0"),
        (0 < g.xels_radius_mm < g.ls_radius_mm <= 1e5, "geometry: need 0 < xels_radius_mm < ls_radius_mm"),
        (g.film_um > 0 and g.xels_mass_kg > 0 and g.spallation_radius_mm > 0,
         "geometry: film_um, xels_mass_kg and spallation_radius_mm must be > 0"),
        (0 <= cfg.response.energy_resolution < 1 and cfg.response.vertex_resolution_mm >= 0,
         "response: need 0 <= energy_resolution < 1 and vertex_resolution_mm >= 0"),
        (0 <= m.rate_hz <= 1e4 and 0 <= m.showering_fraction <= 1, "muons: need 0 <= rate_hz <= 1e4 and "
         "0 <= showering_fraction <= 1"),
        (n.capture_time_us > 0 and 0 <= n.efficiency_showering <= 1 and 0 <= n.efficiency_nonshowering <= 1,
         "neutrons: need capture_time_us > 0 and efficiencies in [0, 1]"),
        (cfg.spallation.roi_MeV[0] < cfg.spallation.roi_MeV[1], "spallation.roi_MeV must be (low, high)"),
        (all(x.relative_yield >= 0 for x in cfg.spallation.xe_isotopes), "spallation.xe_isotopes: yields >= 0"),
        (cfg.ibd.rate_per_day >= 0 and cfg.singles.rate_hz >= 0, "ibd / singles rates must be >= 0"),
        (0 <= cfg.singles.external_fraction <= 1, "singles.external_fraction must be in [0, 1]"),
    ]
    for ok, msg in checks:
        if not ok:
            raise StreamConfigError(f"stream config: {msg}")
    return cfg


def load_stream_config(preset: str = "klz800", path: str | Path | None = None,
                       overrides: list[str] | None = None) -> StreamConfig:
    """Load a shipped stream preset (or a TOML file when ``path`` is given).

    ``overrides`` are ``section.field=value`` strings (TOML values), e.g.
    ``spallation.xe_roi_per_year=2000`` for a spallation-enriched training stream.
    """
    try:
        if path is not None:
            data = read_toml(path, what="stream config")
        else:
            data = read_toml(text=preset_text("scintnet.sim", "stream_presets", preset, "stream preset"),
                             what="stream preset")
        apply_overrides(data, overrides)
    except ConfigError as exc:
        raise _stream_error(exc) from None
    return stream_config_from_dict(data)


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
    from ..physics.electron import quenched_energy
    from ..physics.particles import POSITRON

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
    from ..physics.electron import quenched_energy

    return quenched_energy(1, 2.2246, material, kB) / 2.2246


def _alpha_visible_MeV(T_MeV: np.ndarray, material: str = "LS", kB: float = 0.11) -> np.ndarray:
    from ..physics.electron import quenched_energy
    from ..physics.particles import ALPHA

    out = np.zeros_like(T_MeV)
    m = T_MeV > 1e-3
    out[m] = quenched_energy(ALPHA, T_MeV[m], material, kB)
    return out / _energy_scale(material, kB)


def sample_spectrum_MeV(source: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Visible energies (MeV) of ``n`` decays of a named source (fast path, no PMTs)."""
    from ..physics.sources import get_source

    if n == 0:
        return np.zeros(0)
    return visible_energy_MeV(get_source(source).sample(n, rng), n)


def half_life_s(nuclide: str) -> float:
    from ..physics.nucdata import load_scheme

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
        b = lambda v, dt: np.broadcast_to(np.asarray(v, dt), (n,)).copy()  # noqa: E731
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
                  through: np.ndarray | None = None, showering_p: float | None = None) -> dict[str, np.ndarray]:
    """Muon tracks crossing the LS sphere; ``through`` forces each track through a point (mm)."""
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
    shp = m.showering_fraction if showering_p is None else showering_p
    showering = rng.random(n) < shp
    nsh = np.where(showering, 1 + rng.poisson(max(m.showers_mean - 1, 0.0), n), 0)
    sh_off = np.concatenate([[0], np.cumsum(nsh)]).astype(np.int64)
    sh_mu = np.repeat(np.arange(n), nsh)
    sh_s = rng.random(sh_mu.size) * L[sh_mu]
    if through is not None and sh_mu.size:
        # the shower that made the isotope sits at the isotope (first shower of each muon)
        first = sh_off[:-1][nsh > 0]
        sh_s[first] = ((through - entry) * d).sum(1)[nsh > 0]
    sh_E = rng.exponential(m.shower_energy_mean_MeV, sh_mu.size)
    edep = m.dedx_MeV_per_mm * L + np.bincount(sh_mu, weights=sh_E, minlength=n)
    t = np.sort(rng.uniform(t0, t1, n)) if through is None else rng.uniform(t0, t1, n)
    # reconstructed track (assumed Gaussian smearing of entry point and direction)
    r_entry = entry + rng.normal(size=(n, 3)) * cfg.response.muon_entry_resolution_mm
    r_dir = d + rng.normal(size=(n, 3)) * np.deg2rad(cfg.response.muon_angle_resolution_deg)
    r_dir /= np.linalg.norm(r_dir, axis=1, keepdims=True)
    return dict(t_s=t, entry_mm=entry, dir=d, length_mm=L, impact_mm=b, showering=showering.astype(np.int8),
                edep_MeV=edep, reco_entry_mm=r_entry, reco_dir=r_dir, shower_offsets=sh_off,
                shower_s_mm=sh_s, shower_E_MeV=sh_E, n_neutrons=np.zeros(n, np.int32))


def _neutron_constants(cfg: StreamConfig) -> tuple[float, float]:
    """(neutrons per mm of non-showering track, neutrons per MeV of shower energy).

    Fixed so that the mean yield equals the published 2.8e-4 n/(mu g/cm2) (KamLAND PRC 81, 025807):
    mean chord of an isotropic-ish flux through a sphere is 4R/3.
    """
    m, g = cfg.muons, cfg.geometry
    rho = 0.78  # g/cm3 LS density ("to check", numbers.md)
    mean_gcm2 = 4 * g.ls_radius_mm / 3 / 10 * rho
    n_mu = m.neutron_yield_per_g_cm2 * mean_gcm2
    per_mm = (1 - m.neutron_fraction_from_showers) * n_mu / (4 * g.ls_radius_mm / 3)
    per_MeV = m.neutron_fraction_from_showers * n_mu / max(m.showering_fraction * m.showers_mean
                                                           * m.shower_energy_mean_MeV, 1e-12)
    return per_mm, per_MeV


def _add_neutrons(tab: _Table, cfg: StreamConfig, mu: dict[str, np.ndarray], mu_ids: np.ndarray,
                  rng: np.random.Generator, origin_mm: np.ndarray | None = None,
                  n_extra: np.ndarray | None = None) -> None:
    """Neutrons of each muon (track + showers), plus ``n_extra`` produced at ``origin_mm``."""
    nc = cfg.neutrons
    per_mm, per_MeV = _neutron_constants(cfg)
    n = mu["t_s"].size
    # along the track
    n_tr = rng.poisson(per_mm * mu["length_mm"])
    tr_mu = np.repeat(np.arange(n), n_tr)
    prod = [mu["entry_mm"][tr_mu] + mu["dir"][tr_mu] * (rng.random(tr_mu.size) * mu["length_mm"][tr_mu])[:, None]]
    owner = [tr_mu]
    # at showers
    sh_mu = np.repeat(np.arange(n), np.diff(mu["shower_offsets"]))
    n_sh = rng.poisson(per_MeV * mu["shower_E_MeV"])
    rep = np.repeat(np.arange(sh_mu.size), n_sh)
    prod.append(mu["entry_mm"][sh_mu[rep]] + mu["dir"][sh_mu[rep]] * mu["shower_s_mm"][rep][:, None])
    owner.append(sh_mu[rep])
    if origin_mm is not None and n_extra is not None:
        rep = np.repeat(np.arange(n), n_extra)
        prod.append(origin_mm[rep])
        owner.append(rep)
    prod_mm = np.concatenate(prod)
    own = np.concatenate(owner)
    k = own.size
    if k == 0:
        return
    # transport: exponential lateral distance from the production point + thermal diffusion
    perp = _unit(rng, k)
    perp -= (perp * mu["dir"][own]).sum(1)[:, None] * mu["dir"][own]
    perp /= np.maximum(np.linalg.norm(perp, axis=1, keepdims=True), 1e-9)
    cap = prod_mm + perp * rng.exponential(nc.lateral_scale_mm, k)[:, None] + rng.normal(size=(k, 3)) * nc.diffusion_sigma_mm
    r = np.linalg.norm(cap, axis=1)
    inside = r < cfg.geometry.ls_radius_mm  # captured in the buffer oil: not seen
    dt = rng.exponential(nc.capture_time_us * 1e-6, k)
    eff = np.where(mu["showering"][own] == 1, nc.efficiency_showering, nc.efficiency_nonshowering)
    det = inside & (dt > nc.dead_time_us * 1e-6) & (rng.random(k) < eff)
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
        m = int(sel.sum())
        t_x = mu["t_s"][own][keep][sel] + dt[keep][sel] + rng.exponential(half_life_s("Xe137") / np.log(2), m)
        tab.add(t_x, EVENT_TYPES["xe137"], sample_spectrum_MeV("Xe137", m, rng), cap[keep][sel],
                nuclide=_NUCLIDE_CODE["Xe137"], muon=mu_ids[own][keep][sel], parent=ids[sel])


NUCLIDES = ("C10", "Xe137", "I130", "I132", "I124", "I122", "Sb118", "Nb90", "Bi214", "Po214", "Bi212", "Po212")
_NUCLIDE_CODE = {k: i for i, k in enumerate(NUCLIDES)}


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
    iso_specs.append(("C10", EVENT_TYPES["spall_c10"], cfg.muons.showering_fraction, 0.0,
                      (rng.random(n_c) < sp.c10_neutron_probability).astype(np.int64)))
    rates = _xe_rates_cached(cfg.to_json())
    for iso in sp.xe_isotopes:
        k = rng.poisson(rates[iso.name] * dt / DAY_S)
        from ..physics.nucdata import load_scheme

        lost = 136 - load_scheme(iso.name).A
        iso_specs.append((iso.name, EVENT_TYPES["spall_xe"], sp.xe_parent_showering, 0.0,
                          rng.poisson(sp.xe_neutrons_per_lost_nucleon * lost, k)))
    for name, etype, shp, _, n_extra in iso_specs:
        k = n_extra.size
        if k == 0:
            continue
        r = g.spallation_radius_mm if name == "C10" else g.xels_radius_mm
        pos = _in_sphere(rng, k, r)
        pmu = _sample_muons(cfg, k, t0_s, t1_s, rng, through=pos, showering_p=shp)
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
    mu_all = _concat_muons(muons)
    return {"events": ev, "muons": mu_all}


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
        if k == "shower_offsets":
            offs, base = [np.zeros(1, np.int64)], 0
            for p in parts:
                offs.append(p[k][1:] + base)
                base += int(p[k][-1])
            out[k] = np.concatenate(offs)
        else:
            out[k] = np.concatenate([p[k] for p in parts])
    return out


# --------------------------------------------------------------------------- run driver


@dataclass(frozen=True)
class StreamRun:
    config_json: str
    days: float
    seed: int

    @property
    def cfg(self) -> StreamConfig:
        return stream_config_from_dict(json.loads(self.config_json))

    @property
    def n_chunks(self) -> int:
        return max(1, int(np.ceil(self.days / self.cfg.chunk_days - 1e-9)))

    def bounds_s(self, i: int) -> tuple[float, float]:
        c = self.cfg.chunk_days * DAY_S
        return i * c, min((i + 1) * c, self.days * DAY_S)

    def meta(self) -> dict[str, Any]:
        return {"days": self.days, "seed": self.seed, "config": json.loads(self.config_json), "version": 1}


def _write_group(h5: h5py.Group, d: dict[str, np.ndarray]) -> None:
    for k, v in d.items():
        # chunked with a Fletcher-32 checksum (a damaged file is an error, see io.store), compressed when large
        kw = dict(compression="gzip", compression_opts=1, shuffle=True) if v.size > 1000 else {}
        h5.create_dataset(k, data=v, chunks=True if v.size else None, fletcher32=bool(v.size), **kw)


def _chunk_task(args: tuple[StreamRun, int, str]) -> int:
    run, i, workdir = args
    t0, t1 = run.bounds_s(i)
    res = generate_chunk(run.cfg, run.seed, i, t0, t1)
    path = Path(workdir) / f"chunk_{i:06d}.h5"
    with atomic_path(path) as tmp:
        with create_h5(tmp) as h5:
            _write_group(h5.create_group("events"), res["events"])
            _write_group(h5.create_group("muons"), res["muons"])
            h5.attrs["meta"] = json.dumps(run.meta() | {"chunk": i}, sort_keys=True)
    return int(res["events"]["t_s"].size)


def _chunk_ok(path: Path, run: StreamRun, i: int) -> bool:
    try:
        with h5py.File(path, "r") as h5:
            return json.loads(h5.attrs["meta"]) == json.loads(json.dumps(run.meta() | {"chunk": i}, sort_keys=True))
    except (OSError, KeyError, ValueError):
        return False


def run_stream(cfg: StreamConfig, days: float, seed: int, out: str | Path, workers: int = 1,
               progress: Callable[[int], None] | None = None, keep_chunks: bool = False) -> dict[str, Any]:
    """Generate ``days`` of stream into ``out`` (resumable; same result for any ``workers``)."""
    if not days > 0:
        raise StreamConfigError(f"--days must be positive, got {days}")
    out = Path(out)
    run = StreamRun(cfg.to_json(), float(days), int(seed))
    workdir = out.with_name(out.name + ".chunks")
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = workdir / "run.json"
    if stamp.exists() and json.loads(stamp.read_text()) != json.loads(json.dumps(run.meta(), sort_keys=True)):
        raise StreamConfigError(f"{workdir} holds chunks of a different stream (other seed/config/days); remove it")
    stamp.write_text(json.dumps(run.meta(), sort_keys=True))
    todo, resumed = [], 0
    for i in range(run.n_chunks):
        p = workdir / f"chunk_{i:06d}.h5"
        if p.exists() and _chunk_ok(p, run, i):
            resumed += 1
            if progress:
                progress(1)
        else:
            todo.append((run, i, str(workdir)))
    for _ in get_executor(workers).map_unordered(_chunk_task, todo):
        if progress:
            progress(1)
    summary = merge_chunks(run, workdir, out)
    if not keep_chunks:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary | {"resumed_chunks": resumed, "n_chunks": run.n_chunks}


def merge_chunks(run: StreamRun, workdir: Path, out: Path) -> dict[str, Any]:
    """Concatenate chunk files, assign global ids, time-sort and remap truth links."""
    ev: dict[str, list[np.ndarray]] = {}
    mu: dict[str, list[np.ndarray]] = {}
    ev_base = mu_base = sh_base = 0
    for i in range(run.n_chunks):
        with h5py.File(workdir / f"chunk_{i:06d}.h5", "r") as h5:
            e = {k: h5["events"][k][()] for k in h5["events"]}
            m = {k: h5["muons"][k][()] for k in h5["muons"]}
        e["muon"] = np.where(e["muon"] >= 0, e["muon"] + mu_base, -1)
        e["parent"] = np.where(e["parent"] >= 0, e["parent"] + ev_base, -1)
        m["shower_offsets"] = (m["shower_offsets"] + sh_base)[(0 if i == 0 else 1):]
        sh_base = int(m["shower_offsets"][-1]) if m["shower_offsets"].size else sh_base
        for k, v in e.items():
            ev.setdefault(k, []).append(v)
        for k, v in m.items():
            mu.setdefault(k, []).append(v)
        ev_base += e["t_s"].size
        mu_base += m["t_s"].size
    E = {k: np.concatenate(v) for k, v in ev.items()}
    M = {k: np.concatenate(v) for k, v in mu.items()}
    t_end = run.days * DAY_S
    # time-sort muons (their shower lists move with them)
    mo = np.argsort(M["t_s"], kind="stable")
    mu_row = np.empty_like(mo)
    mu_row[mo] = np.arange(mo.size)
    so, sh_counts = M.pop("shower_offsets"), None
    sh_counts = np.diff(so)
    starts = so[:-1]
    idx = np.concatenate([np.arange(starts[j], starts[j] + sh_counts[j]) for j in mo]) if so[-1] > 0 else np.zeros(0, np.int64)
    M["shower_s_mm"], M["shower_E_MeV"] = M["shower_s_mm"][idx], M["shower_E_MeV"][idx]
    for k in list(M):
        if not k.startswith("shower_"):
            M[k] = M[k][mo]
    M["shower_offsets"] = np.concatenate([[0], np.cumsum(sh_counts[mo])]).astype(np.int64)
    # events: drop the ones decaying after the end of the stream, time-sort, remap links
    keep = np.flatnonzero(E["t_s"] < t_end)
    order = keep[np.argsort(E["t_s"][keep], kind="stable")]
    row = np.full(E["t_s"].size, -1, np.int64)
    row[order] = np.arange(order.size)
    for k in list(E):
        E[k] = E[k][order]
    E["parent"] = np.where(E["parent"] >= 0, row[np.maximum(E["parent"], 0)], -1)
    E["muon"] = np.where(E["muon"] >= 0, mu_row[np.maximum(E["muon"], 0)], -1)
    cast = {"t_s": np.float64, "E_MeV": np.float32, "pos_mm": np.float32, "true_E_MeV": np.float32,
            "true_pos_mm": np.float32}
    for k, dt in cast.items():
        E[k] = E[k].astype(dt)
    for k in ("entry_mm", "dir", "length_mm", "impact_mm", "edep_MeV", "reco_entry_mm", "reco_dir",
              "shower_s_mm", "shower_E_MeV"):
        M[k] = M[k].astype(np.float32)
    with atomic_path(out) as tmp:
        with create_h5(tmp) as h5:
            _write_group(h5.create_group("events"), E)
            _write_group(h5.create_group("muons"), M)
            h5.attrs.update(format=FORMAT, scintnet_version=__version__, days=run.days, seed=run.seed,
                            config=run.config_json, event_types=json.dumps(EVENT_TYPES),
                            nuclides=json.dumps(list(NUCLIDES)), regions=json.dumps(REGIONS), complete=True)
    counts = {k: int((E["type"] == v).sum()) for k, v in EVENT_TYPES.items()}
    return {"out": str(out), "days": run.days, "n_events": int(E["t_s"].size), "n_muons": int(M["t_s"].size),
            "counts": counts}


# --------------------------------------------------------------------------- reading


@dataclass
class Stream:
    """A stream file in memory (events and muons as dicts of arrays)."""

    events: dict[str, np.ndarray]
    muons: dict[str, np.ndarray]
    days: float
    config: StreamConfig
    attrs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, *names: str) -> np.ndarray:
        return np.isin(self.events["type"], [EVENT_TYPES[n] for n in names])


def _check_table(tab: dict[str, np.ndarray], name: str, path: str | Path) -> None:
    # one row per entry, except the ragged shower list of the muons (shower_offsets[n + 1], shower_*[m])
    lengths = {k: len(v) for k, v in tab.items() if not k.startswith("shower_")}
    if len(set(lengths.values())) > 1:
        raise StreamConfigError(f"{path}: the {name} columns have different lengths {lengths} (corrupt file)")
    if "shower_offsets" in tab:
        o = tab["shower_offsets"]
        n = next(iter(lengths.values()), 0)
        ragged = {k: len(v) for k, v in tab.items() if k.startswith("shower_") and k != "shower_offsets"}
        if (len(o) != n + 1 or o[0] != 0 or np.any(np.diff(o) < 0)
                or any(m != int(o[-1]) for m in ragged.values())):
            raise StreamConfigError(f"{path}: {name}/shower_offsets do not match the shower lists (corrupt file)")
    for k, v in tab.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise StreamConfigError(f"{path}: non-finite values in {name}/{k} (corrupt file)")
    t = tab.get("t_s")
    if t is not None and t.size > 1 and np.any(np.diff(t) < 0):
        raise StreamConfigError(f"{path}: {name}/t_s is not time-ordered (corrupt file)")


def read_stream(path: str | Path) -> Stream:
    """Read a stream file (one-line error for anything that is not one).

    Checked: the HDF5 structure (a time-limited probe), the format attribute, both tables with equal column
    lengths, finite values and time order, the stored config and the stream length."""
    from ..io.store import EventFileError, probe_hdf5

    p = Path(path)
    if not p.is_file():
        raise StreamConfigError(f"{path}: no such stream file" if not p.exists() else f"{path} is not a file")
    try:
        if not h5py.is_hdf5(p):
            raise StreamConfigError(f"{path} is not an HDF5 file (stream files are HDF5)")
        probe_hdf5(p)
        with h5py.File(p, "r") as h5:
            if h5.attrs.get("format") != FORMAT:
                raise StreamConfigError(f"{path} is not a scintnet stream file (format attribute missing)")
            for g in ("events", "muons"):
                if not isinstance(h5.get(g), h5py.Group):
                    raise StreamConfigError(f"{path}: missing group {g!r} (not a complete stream file)")
            ev = {k: np.asarray(h5["events"][k][()]) for k in h5["events"]}
            mu = {k: np.asarray(h5["muons"][k][()]) for k in h5["muons"]}
            for need in ("t_s", "E_MeV", "type"):
                if need not in ev:
                    raise StreamConfigError(f"{path}: events/{need} missing")
            _check_table(ev, "events", path)
            _check_table(mu, "muons", path)
            raw = h5.attrs["config"]
            cfg = stream_config_from_dict(json.loads(raw if isinstance(raw, str) else raw.decode()))
            days = float(h5.attrs["days"])
            if not 0 < days < 1e7:
                raise StreamConfigError(f"{path}: bad stream length {days} days")
            return Stream(ev, mu, days, cfg, {k: h5.attrs[k] for k in h5.attrs})
    except EventFileError as exc:
        raise StreamConfigError(str(exc)) from None
    except (OSError, KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        if isinstance(exc, StreamConfigError):
            raise
        raise StreamConfigError(f"cannot read stream file {path}: {' '.join(str(exc).split())[:200]}") from None
