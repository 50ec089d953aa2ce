"""Analysis configuration (TOML presets) and templates for the KamLAND-Zen-like binned fit.

Binning: datasets (singles / spallation-tagged) × equal-volume radial shells × visible-energy
bins [× classifier-score bins].  Each template factorises (assumption: vertex resolution
independent of energy) into dataset fraction × radial fraction × energy fraction:

* energy: truth visible energies from scintnet's particle transport (no optics: fast), cached
  on disk keyed by the detector configuration, source, event count and seed, then smeared
  event by event with σ = r·σ₀√E' at E' = E(1+s)(1+k(E−2.5 MeV)); the derivatives with
  respect to s, r, k at their 1σ give the morphing templates (linear nuisances);
* radius: Monte-Carlo vertices (fixed seed) for "xels" (uniform in the balloon), "film" (on
  the balloon), "ls" (uniform), smeared by the vertex resolution, with the balloon-bottom cut.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.special import ndtr

from ..config import ConfigError, build, list_presets, preset_text, read_toml
from ..io.outputs import atomic_path
from .conversions import LN2, nuclei_per_kg
from .likelihood import BinnedLikelihood, Component, LikelihoodError

E_REF_MEV = 2.5  # pivot of the non-linearity nuisance
UNITS = ("decays", "halflife_yr", "per_day", "roi_per_yr", "per_kt_day_above_5.5MeV", "per_kt_day")
NUISANCES = ("energy_scale", "energy_resolution", "energy_nonlinearity", "spallation_tag_efficiency",
             "film_radius", "vertex_resolution")
VERTICES = ("xels", "film", "ls")


class AnalysisConfigError(ConfigError):
    """Invalid analysis configuration (message names the field)."""


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    source: tuple[str, ...]
    vertex: str
    rate: float
    unit: str
    constraint_rel: float | None = None
    spallation: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class Response:
    """1σ of the shape nuisances (0 switches one off).

    scale / resolution / non-linearity: relative energy response; tag_efficiency_sigma:
    absolute uncertainty of the spallation-tag efficiency (moves spallation decays between the
    datasets); film_radius_sigma_mm: balloon radius / position; vertex_res_sigma: relative
    uncertainty of the vertex resolution (radial leakage between shells).
    """

    scale_sigma: float = 0.005
    resolution_sigma: float = 0.05
    nonlinearity_sigma: float = 0.005
    tag_efficiency_sigma: float = 0.0
    film_radius_sigma_mm: float = 0.0
    vertex_res_sigma: float = 0.0


@dataclass(frozen=True)
class AnalysisConfig:
    name: str
    signal: str
    xe_mass_kg: float
    enrichment: float
    livetime_yr: float
    xels_radius_mm: float
    fit_radius_mm: float
    n_volume_bins: int
    bottom_cut_z_mm: float | None
    vertex_res_mm: float
    energy_range_MeV: tuple[float, float]
    n_energy_bins: int
    roi_MeV: tuple[float, float]
    resolution_sqrtE: float
    ls_density_g_cm3: float
    tagged_exposure: float
    spallation_tag_efficiency: float
    datasets: tuple[str, ...]
    components: tuple[ComponentSpec, ...]
    response: Response = Response()
    n_template_events: int = 40000
    template_seed: int = 1
    description: str = ""

    @property
    def energy_edges(self) -> np.ndarray:
        return np.linspace(*self.energy_range_MeV, self.n_energy_bins + 1)

    @property
    def volume_edges_mm(self) -> np.ndarray:
        """Equal-volume shells: r_i = R (i/N)^(1/3)."""
        return self.fit_radius_mm * np.cbrt(np.arange(self.n_volume_bins + 1) / self.n_volume_bins)

    @property
    def active(self) -> tuple[ComponentSpec, ...]:
        return tuple(c for c in self.components if c.enabled)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.datasets), self.n_volume_bins, self.n_energy_bins)


def list_analysis_presets() -> list[str]:
    return list_presets("scintnet.analysis", "presets")


def load_analysis_config(preset: str | None = "klz800-like", path: str | Path | None = None,
                         overrides: dict[str, Any] | None = None) -> AnalysisConfig:
    """Load a shipped preset (or a TOML file) and apply top-level ``overrides``."""
    try:
        if path is not None:
            data = read_toml(path, what="analysis config")
            if "preset" in data:  # a user file may start from a preset and change fields
                base = read_toml(text=_preset_text(data.pop("preset")), what="analysis preset")
                base.update(data)
                data = base
        else:
            data = read_toml(text=_preset_text(preset or "klz800-like"), what="analysis preset")
    except AnalysisConfigError:
        raise
    except ConfigError as exc:
        raise AnalysisConfigError(str(exc)) from None
    data.update(overrides or {})
    return config_from_dict(data)


def _preset_text(name: str) -> str:
    try:
        return preset_text("scintnet.analysis", "presets", name, "analysis preset")
    except ConfigError as exc:
        raise AnalysisConfigError(str(exc)) from None


def parse_toy_seed(data: str) -> int:
    """The seed of a ``toy:SEED`` data spec (a non-negative integer), else LikelihoodError."""
    text = data[4:].strip() if data.startswith("toy:") else ""
    if not text.isdigit():
        raise LikelihoodError(f"--data {data!r}: use toy:SEED with a non-negative integer SEED, e.g. toy:3")
    return int(text)


def config_from_dict(d: dict[str, Any]) -> AnalysisConfig:
    """Build and check an :class:`AnalysisConfig` (types by ``config.build``, then ranges and names)."""
    if not isinstance(d, dict):
        raise AnalysisConfigError("analysis config must be a table")
    d = dict(d)
    d.pop("fit", None)  # fit/limit options of a user file are read by the CLI
    comps = d.get("components", [])
    if not isinstance(comps, (list, tuple)):
        raise AnalysisConfigError("components must be a list of tables")
    norm = []
    for c in comps:  # a single source may be written as a string
        if isinstance(c, dict) and isinstance(c.get("source"), str):
            c = {**c, "source": [c["source"]]}
        norm.append(c)
    d["components"] = norm
    try:
        cfg = build(AnalysisConfig, d, "analysis")
    except AnalysisConfigError:
        raise
    except ConfigError as exc:
        raise AnalysisConfigError(str(exc)) from None
    for i, c in enumerate(cfg.components):
        where = f"components[{i}] ({c.name})"
        if c.vertex not in VERTICES:
            raise AnalysisConfigError(f"{where}: vertex must be one of {VERTICES}, got {c.vertex!r}")
        if c.unit not in UNITS:
            raise AnalysisConfigError(f"{where}: unit must be one of {UNITS}, got {c.unit!r}")
        if not c.rate >= 0:
            raise AnalysisConfigError(f"{where}: rate must be >= 0")
        if c.constraint_rel is not None and not c.constraint_rel > 0:
            raise AnalysisConfigError(f"{where}: constraint_rel must be > 0 (or absent)")
    names = [c.name for c in cfg.active]
    if cfg.signal not in names:
        raise AnalysisConfigError(f"signal {cfg.signal!r} is not an enabled component ({', '.join(names)})")
    if len(set(names)) != len(names):
        raise AnalysisConfigError(f"duplicate component names in {names}")
    if len(cfg.datasets) not in (1, 2):
        raise AnalysisConfigError("datasets must be ['singles'] or ['singles', 'tagged']")
    lo, hi = cfg.energy_range_MeV
    checks = [
        (cfg.xe_mass_kg > 0 and 0 < cfg.enrichment <= 1 and cfg.livetime_yr > 0,
         "need xe_mass_kg > 0, 0 < enrichment <= 1, livetime_yr > 0"),
        (0 < cfg.fit_radius_mm <= 1e5 and cfg.xels_radius_mm > 0 and cfg.vertex_res_mm >= 0,
         "need 0 < fit_radius_mm, xels_radius_mm > 0, vertex_res_mm >= 0"),
        (1 <= cfg.n_volume_bins <= 1000 and 1 <= cfg.n_energy_bins <= 10000,
         "need 1 <= n_volume_bins <= 1000 and 1 <= n_energy_bins <= 10000"),
        (0 <= lo < hi and cfg.roi_MeV[0] < cfg.roi_MeV[1], "energy_range_MeV and roi_MeV must be (low, high)"),
        (cfg.resolution_sqrtE > 0 and cfg.ls_density_g_cm3 > 0, "need resolution_sqrtE > 0, ls_density > 0"),
        (0 <= cfg.tagged_exposure <= 1 and 0 <= cfg.spallation_tag_efficiency <= 1,
         "tagged_exposure and spallation_tag_efficiency must be in [0, 1]"),
        (cfg.n_template_events >= 100, "n_template_events must be >= 100"),
        (all(getattr(cfg.response, f.name) >= 0 for f in dataclasses.fields(cfg.response)),
         "response sigmas must be >= 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise AnalysisConfigError(f"analysis config: {msg}")
    return cfg


# --- templates ---------------------------------------------------------------------------
def _cache_dir() -> Path:
    from ..reco.energy import default_cache_dir

    return default_cache_dir() / "analysis"


def truth_visible_energy(detector_cfg, source: str, n: int, seed: int, vertex: str = "xels",
                         cache_dir: Path | None = None) -> np.ndarray:
    """Truth visible energies (MeV, quenched) of ``n`` decays from the particle transport, cached."""
    from ..physics.sources import get_source
    from ..physics.transport import transport
    from ..physics.vertex import parse_vertex, sample_vertices

    key = hashlib.sha256(f"{detector_cfg.to_json()}|{source}|{n}|{seed}|{vertex}|v1".encode()).hexdigest()[:20]
    d = cache_dir or _cache_dir()
    path = d / f"evis_{source}_{key}.npy"
    if path.exists():
        return np.load(path)
    ss = np.random.SeedSequence([int(seed), int.from_bytes(source.encode()[:8].ljust(8, b"\0"), "little")])
    s_gen, s_tr = ss.spawn(2)
    rng = np.random.default_rng(s_gen)
    try:
        src = get_source(source)
    except ValueError as exc:
        raise AnalysisConfigError(f"background {source!r}: {exc}") from None
    prims = src.sample(n, rng)
    vtx = sample_vertices(parse_vertex(vertex, detector_cfg.geometry), n, rng)
    deps = transport(prims, vtx, detector_cfg.geometry, detector_cfg.scintillator, int(s_tr.generate_state(1)[0]))
    evis = np.bincount(deps.event, weights=deps.evis_MeV, minlength=n)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # an open file: np.save adds no ".npy"
        np.save(f, evis)
    return evis


def smeared_energy_pdf(evis: np.ndarray, edges: np.ndarray, res_sqrtE: float, scale: float = 0.0,
                       res_rel: float = 0.0, nonlin: float = 0.0) -> np.ndarray:
    """Per-decay probability in each energy bin after the detector response (MeV)."""
    e = np.asarray(evis, float)
    e = e[e > 0]
    ep = e * (1 + scale) * (1 + nonlin * (e - E_REF_MEV))
    sig = res_sqrtE * (1 + res_rel) * np.sqrt(np.maximum(ep, 1e-6))
    cdf = ndtr((edges[None, :] - ep[:, None]) / sig[:, None])
    return np.diff(cdf, axis=1).sum(axis=0) / max(np.asarray(evis).size, 1)


def radial_pdf(cfg: AnalysisConfig, vertex: str, n: int = 400_000, seed: int = 7,
               radius_shift_mm: float = 0.0, res_scale: float = 1.0) -> np.ndarray:
    """Fraction of decays reconstructed in each equal-volume shell (after the bottom cut).

    For "ls" (uniform everywhere) the fraction is per decay inside the fit sphere.
    ``radius_shift_mm`` moves the balloon (film and XeLS vertices), ``res_scale`` scales the
    vertex resolution; the same seed is used for every variation (common random numbers), so
    finite differences are smooth.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, VERTICES.index(vertex)]))
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    rb = cfg.xels_radius_mm + radius_shift_mm
    if vertex == "xels":
        r = rb * np.cbrt(rng.random(n))
    elif vertex == "film":
        r = np.full(n, rb)
    else:  # uniform in a sphere slightly larger than the fit volume (leakage both ways)
        r_out = cfg.fit_radius_mm + 5 * cfg.vertex_res_mm
        r = r_out * np.cbrt(rng.random(n))
    x = u * r[:, None] + res_scale * cfg.vertex_res_mm * rng.normal(size=(n, 3))
    keep = np.ones(n, bool) if cfg.bottom_cut_z_mm is None else x[:, 2] >= cfg.bottom_cut_z_mm
    h, _ = np.histogram(np.linalg.norm(x[keep], axis=1), cfg.volume_edges_mm)
    frac = h / n
    if vertex == "ls":
        frac *= (cfg.fit_radius_mm + 5 * cfg.vertex_res_mm) ** 3 / cfg.fit_radius_mm**3
    return frac


def _radial_terms(cfg: AnalysisConfig, vertex: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Nominal radial pdf and its derivatives at +-1 sigma of the film radius and the vertex resolution."""
    rs = cfg.response
    rad = radial_pdf(cfg, vertex)
    d_film = np.zeros_like(rad)
    if rs.film_radius_sigma_mm > 0 and vertex in ("film", "xels"):
        d_film = 0.5 * (radial_pdf(cfg, vertex, radius_shift_mm=rs.film_radius_sigma_mm)
                        - radial_pdf(cfg, vertex, radius_shift_mm=-rs.film_radius_sigma_mm))
    d_res = np.zeros_like(rad)
    if rs.vertex_res_sigma > 0:
        d_res = 0.5 * (radial_pdf(cfg, vertex, res_scale=1 + rs.vertex_res_sigma)
                       - radial_pdf(cfg, vertex, res_scale=1 - rs.vertex_res_sigma))
    return rad, [d_film, d_res]


@dataclass
class ModelInfo:
    """What went into the model (per component): expected decays, ROI fraction, constraint."""

    config: AnalysisConfig
    expected_decays: dict[str, float]
    efficiency: dict[str, float]
    roi_fraction: dict[str, float]
    n136: float
    exposure_kg_yr: float
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.config.name, "expected_decays": self.expected_decays, "efficiency": self.efficiency,
                "roi_fraction": self.roi_fraction, "n136": self.n136, "exposure_kg_yr": self.exposure_kg_yr,
                "shape": list(self.config.shape)}


def _decays(c: ComponentSpec, cfg: AnalysisConfig, n136: float, pdf_full: np.ndarray, evis: np.ndarray) -> float:
    days = cfg.livetime_yr * 365.25
    if c.unit == "decays":
        return c.rate
    if c.unit == "halflife_yr":
        return LN2 * n136 * cfg.livetime_yr / c.rate if c.rate > 0 else 0.0
    if c.unit == "per_day":
        return c.rate * days
    if c.unit == "roi_per_yr":
        roi = smeared_energy_pdf(evis, np.array(cfg.roi_MeV), cfg.resolution_sqrtE)[0]
        if roi <= 0:
            raise AnalysisConfigError(f"component {c.name!r}: no decays in the ROI, rate per ROI event undefined")
        return c.rate * cfg.livetime_yr / roi
    m_kt = 4 / 3 * math.pi * (cfg.fit_radius_mm / 1e3) ** 3 * cfg.ls_density_g_cm3 * 1e-3
    if c.unit == "per_kt_day":  # decays per kt of LS per day, in the fit sphere
        return c.rate * m_kt * days
    # per kt day above 5.5 MeV, in the LS inside the fit sphere
    above = smeared_energy_pdf(evis, np.array([5.5, 1e3]), cfg.resolution_sqrtE)[0]
    if above <= 0:
        raise AnalysisConfigError(f"component {c.name!r}: no decays above 5.5 MeV in its template")
    return c.rate * m_kt * days / above


def build_model(cfg: AnalysisConfig, detector_cfg=None, data: np.ndarray | str = "asimov",
                signal_decays: float | None = None, cache_dir: Path | None = None,
                score_pdfs: dict[str, np.ndarray] | None = None,
                log: Callable[[str], None] | None = None) -> tuple[BinnedLikelihood, ModelInfo]:
    """Templates + likelihood for a configuration.

    ``data``: a histogram of shape ``cfg.shape`` (+ score axis), ``"asimov"`` (nominal
    expectation) or ``"toy:SEED"``.  ``score_pdfs`` adds a classifier-score axis: per
    component the probability of each score bin (every enabled component needs one).
    ``log``: one line per component while the templates are built (seconds each on first use, then cached).
    """
    if detector_cfg is None:
        from ..detector.config import load_config

        detector_cfg = load_config("klz800")
    n136 = cfg.xe_mass_kg * nuclei_per_kg(cfg.enrichment)
    edges = cfg.energy_edges
    rs = cfg.response
    comps: list[Component] = []
    info = ModelInfo(cfg, {}, {}, {}, n136, cfg.xe_mass_kg * cfg.enrichment * cfg.livetime_yr)
    rad_cache: dict[str, np.ndarray] = {}
    for k, c in enumerate(cfg.active):
        if log:
            log(f"templates {k + 1}/{len(cfg.active)}: {c.name} ({', '.join(c.source)})")
        per = max(cfg.n_template_events // len(c.source), 1000)
        # film sources deposit less energy (gammas escape outward); LS-uniform ones behave like XeLS here
        vtx = "film" if c.vertex == "film" else "xels"
        evis = np.concatenate([truth_visible_energy(detector_cfg, s, per, cfg.template_seed, vtx, cache_dir)
                               for s in c.source])
        e0 = smeared_energy_pdf(evis, edges, cfg.resolution_sqrtE)
        morph_e = []
        for kw, sig in (("scale", rs.scale_sigma), ("res_rel", rs.resolution_sigma), ("nonlin", rs.nonlinearity_sigma)):
            up = smeared_energy_pdf(evis, edges, cfg.resolution_sqrtE, **{kw: sig})
            dn = smeared_energy_pdf(evis, edges, cfg.resolution_sqrtE, **{kw: -sig})
            morph_e.append(0.5 * (up - dn))
        if c.vertex not in rad_cache:
            rad_cache[c.vertex] = _radial_terms(cfg, c.vertex)
        rad, rad_morph = rad_cache[c.vertex]
        if len(cfg.datasets) == 2:
            f_tag = cfg.spallation_tag_efficiency if c.spallation else cfg.tagged_exposure
            ds = np.array([1 - f_tag, f_tag])
            # the tag efficiency moves spallation decays between the datasets (exactly linear)
            d_ds = rs.tag_efficiency_sigma * np.array([-1.0, 1.0]) if c.spallation else np.zeros(2)
        else:
            ds = np.array([1 - cfg.spallation_tag_efficiency if c.spallation else 1.0])
            d_ds = -rs.tag_efficiency_sigma * np.ones(1) if c.spallation else np.zeros(1)
        tmpl = ds[:, None, None] * rad[None, :, None] * e0[None, None, :]
        morph = [ds[:, None, None] * rad[None, :, None] * m[None, None, :] for m in morph_e]
        morph.append(d_ds[:, None, None] * rad[None, :, None] * e0[None, None, :])
        morph += [ds[:, None, None] * m[None, :, None] * e0[None, None, :] for m in rad_morph]
        morph = np.stack(morph)
        if score_pdfs is not None:
            if c.name not in score_pdfs:
                raise LikelihoodError(f"no classifier-score template for background {c.name!r}")
            sp = np.asarray(score_pdfs[c.name], float)
            tmpl = tmpl[..., None] * sp
            morph = morph[..., None] * sp
        if tmpl.sum() <= 0:
            raise LikelihoodError(f"template {c.name!r} is empty in the fit window")
        dec = _decays(c, cfg, n136, e0, evis)
        if c.name == cfg.signal and signal_decays is not None:
            dec = float(signal_decays)
        con = (dec, c.constraint_rel * dec) if (c.constraint_rel and dec > 0) else None
        comps.append(Component(c.name, tmpl, dec, con, morph))
        info.expected_decays[c.name] = dec
        info.efficiency[c.name] = float(tmpl.sum())
        info.roi_fraction[c.name] = float(smeared_energy_pdf(evis, np.array(cfg.roi_MeV), cfg.resolution_sqrtE)[0])
    shape = comps[0].template.shape
    # nuisances with sigma 0 are dropped (their morph rows would be all zero)
    sig = {"energy_scale": rs.scale_sigma, "energy_resolution": rs.resolution_sigma,
           "energy_nonlinearity": rs.nonlinearity_sigma, "spallation_tag_efficiency": rs.tag_efficiency_sigma,
           "film_radius": rs.film_radius_sigma_mm, "vertex_resolution": rs.vertex_res_sigma}
    keep = [j for j, n in enumerate(NUISANCES) if sig[n] > 0]
    comps = [dataclasses.replace(c, morph=c.morph[keep]) for c in comps]
    lik = BinnedLikelihood(np.zeros(shape), comps, cfg.signal, nuisances=[NUISANCES[j] for j in keep])
    if isinstance(data, str):
        if data == "asimov":
            lik.set_data(lik.expected(lik.nominal()).reshape(shape))
        elif data.startswith("toy:"):
            d, aux = lik.sample(lik.nominal(), np.random.default_rng(parse_toy_seed(data)))
            lik.set_data(d, aux)
        else:
            raise LikelihoodError(f"data must be a histogram, 'asimov' or 'toy:SEED', got {data!r}")
    else:
        lik.set_data(np.asarray(data, float))
    return lik, info


def roi_mask(cfg: AnalysisConfig, r_max_mm: float | None = None) -> np.ndarray:
    """Boolean mask over (volume, energy) bins: energy bin centre in the ROI and shell inside r_max."""
    ec = 0.5 * (cfg.energy_edges[1:] + cfg.energy_edges[:-1])
    ve = cfg.volume_edges_mm
    vin = ve[1:] <= (r_max_mm or ve[-1]) + 1e-6
    return vin[:, None] & ((ec >= cfg.roi_MeV[0]) & (ec <= cfg.roi_MeV[1]))[None, :]


def config_to_dict(cfg: AnalysisConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))
