"""Detector configuration: explicit dataclasses loaded from TOML presets.

A preset is a TOML file in ``scintnet/detector/presets``; users may pass their own
file and override single fields with ``section.field=value`` strings (the CLI's
``--set``).  Nothing here is global: every function takes the config it needs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError, apply_overrides, build, parse_value, preset_text, read_toml, require
from ..config import list_presets as _list_presets

__all__ = ["ConfigError", "DetectorConfig", "Geometry", "PMTSystem", "PMTType", "PMTVariation", "Region", "Scintillator",
           "apply_overrides", "config_from_dict", "config_from_json", "list_presets", "load_config",
           "parse_value", "validate"]


@dataclass(frozen=True)
class Region:
    """A spherical shell ``r < outer_radius_mm`` (inside the previous region's outer radius)."""

    name: str
    outer_radius_mm: float
    material: str  # key into scintnet.physics.materials.MATERIALS
    scintillating: bool
    light_yield_scale: float = 1.0  # relative light yield (XeLS vs LS)


@dataclass(frozen=True)
class Geometry:
    regions: tuple[Region, ...]
    balloon_radius_mm: float  # inner (Xe-loaded) balloon radius; film vertices sit here
    balloon_film_um: float
    pmt_radius_mm: float  # radius of the sphere of PMT photocathodes

    def region_radii_mm(self) -> list[float]:
        return [r.outer_radius_mm for r in self.regions]


@dataclass(frozen=True)
class Scintillator:
    """Light emission of the scintillators."""

    light_yield_per_MeV: float  # photons/MeV (tuning: sets the p.e. yield and so sigma_E)
    birks_kB_mm_per_MeV: float
    rise_time_ns: float
    decay_times_ns: tuple[float, ...]
    decay_weights: tuple[float, ...]
    alpha_decay_weights: tuple[float, ...]  # alphas have more slow light
    attenuation_length_mm: float  # total optical attenuation length of LS at 400 nm (scintillator.optics.media)
    # Effective speed of light used by reconstruction and the network inputs for time of flight.  The
    # simulation does not use it: photons travel at c / n_g(lambda) of each medium (optics.media).
    group_velocity_mm_per_ns: float
    ops_fraction: float = 0.5  # fraction of e+ forming ortho-positronium (~50 %, PRC 83, 015504)
    ops_lifetime_ns: float = 3.0  # o-Ps lifetime in LS (2.97 +- 0.04 ns, arXiv 1804.09456)
    rayleigh_length_mm: float = 28200.0  # LS Rayleigh length at 430 nm (LAB: 28.2 m, arXiv:1504.00987)
    reemission_probability: float = 0.80  # PPO re-emission after absorption (to check, arXiv:1509.02327)
    reemission_time_ns: float = 1.6  # PPO fluorescence decay time (to check)
    cherenkov: bool = False  # Cherenkov light of e-/e+ tracks (Frank-Tamm, optics.response)


@dataclass(frozen=True)
class PMTType:
    name: str
    count: int
    photocoverage: float  # fraction of the 4pi sphere this type covers in total
    quantum_efficiency: float  # includes collection efficiency
    tts_sigma_ns: float  # transit-time spread (Gaussian sigma)
    spe_sigma: float  # single-p.e. charge resolution (relative Gaussian width)
    dark_rate_hz: float


@dataclass(frozen=True)
class PMTVariation:
    """Seeded per-tube deviations from the type values: the hidden truth of a calibration benchmark.

    Every tube's QE, TTS and single-p.e. width are scaled by a factor uniform in ``1 +- *_half_width``,
    its time offset (cable and transit delay) is uniform in ``+- time_offset_half_width_ns``, its dark
    rate is scaled by a factor log-uniform in ``dark_rate_factor_range``; ``n_dead`` tubes give nothing
    (QE and dark rate 0), ``n_hot`` tubes have ``hot_dark_factor`` times their dark rate.  The defaults
    are the calibration issue's spreads (tuning of the benchmark, not a measured KamLAND property).
    """

    seed: int
    qe_half_width: float = 0.15
    time_offset_half_width_ns: float = 2.0
    tts_half_width: float = 0.30
    spe_half_width: float = 0.30
    dark_rate_factor_range: tuple[float, float] = (0.5, 3.0)
    n_dead: int = 5
    n_hot: int = 5
    hot_dark_factor: float = 20.0


@dataclass(frozen=True)
class PMTSystem:
    types: tuple[PMTType, ...]
    layout_seed: int  # reproducible quasi-uniform layout
    readout_window_ns: tuple[float, float]  # (start, stop) relative to the decay
    threshold_pe: float  # charge threshold for a hit, in p.e.
    # per-tube deviations (detector.pmts.build_pmt_array); None: every tube has its type's values
    variation: PMTVariation | None = None


@dataclass(frozen=True)
class DetectorConfig:
    name: str
    description: str
    geometry: Geometry
    scintillator: Scintillator
    pmts: PMTSystem

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["pmts"]["variation"] is None:  # nominal tubes: the dict (and every hash of it) of older versions
            del d["pmts"]["variation"]
        return d

    def nominal(self) -> "DetectorConfig":
        """This detector without per-tube deviations (what a simulation of it assumes)."""
        return dataclasses.replace(self, pmts=dataclasses.replace(self.pmts, variation=None))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def n_pmts(self) -> int:
        return sum(t.count for t in self.pmts.types)


# ----------------------------------------------------------------------------- loading


def list_presets() -> list[str]:
    return _list_presets("scintnet.detector", "presets")


def _preset_text(name: str) -> str:
    return preset_text("scintnet.detector", "presets", name, "detector preset")


# Fields that older scintnet versions wrote into event files.  ``None``: dropped whatever its value (the
# file's hits were simulated with it; the current simulation has no such knob); any other value: the only
# value whose meaning the current code reproduces, any other is refused.
RETIRED_FIELDS: dict[str, dict[str, Any]] = {
    # the Gaussian photon-speed spread that stood for dispersion and scattering (replaced by optics.media)
    "scintillator": {"group_velocity_spread": None},
}


def _drop_retired(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    for section, retired in RETIRED_FIELDS.items():
        if isinstance(data.get(section), dict):
            sec = dict(data[section])
            for k, ok in retired.items():
                if k in sec:
                    if ok is not None and sec[k] != ok:
                        raise ConfigError(f"{section}.{k} = {sec[k]!r} is no longer supported (only {ok!r})")
                    del sec[k]
            data[section] = sec
    return data


def config_from_dict(data: dict[str, Any]) -> DetectorConfig:
    """Build and validate a detector config from parsed TOML / JSON (every error names the field)."""
    if not isinstance(data, dict):
        raise ConfigError(f"detector config must be a table, got {type(data).__name__}")
    data = _drop_retired(data)
    data.setdefault("description", "")
    for sec in ("name", "geometry", "scintillator", "pmts"):
        if sec not in data:
            raise ConfigError(f"detector config is missing section {sec!r}")
    cfg = build(DetectorConfig, data, "detector")
    validate(cfg)
    return cfg


# Largest sizes accepted: a detector radius of 100 m (JUNO's acrylic sphere is 17.7 m) and a light yield of
# 2e5 photons/MeV (several times the brightest known scintillators); beyond them a typo, not a detector.
MAX_RADIUS_MM = 1e5
MAX_LIGHT_YIELD_PER_MeV = 2e5


def validate(cfg: DetectorConfig) -> None:
    """Ranges and geometry of a detector config (types and finiteness are checked by ``build``)."""
    g = cfg.geometry
    radii = g.region_radii_mm()
    require(len(radii) > 0, "geometry.regions must not be empty")
    require(all(b > a for a, b in zip(radii, radii[1:])) and radii[0] > 0,
            "geometry.regions must have strictly increasing positive outer radii")
    require(0 < g.pmt_radius_mm <= MAX_RADIUS_MM, f"geometry.pmt_radius_mm must be in (0, {MAX_RADIUS_MM:g}] mm")
    require(radii[-1] <= g.pmt_radius_mm + 1e-9, "the outermost region must lie inside the PMT sphere")
    require(0 < g.balloon_radius_mm < radii[-1], "geometry.balloon_radius_mm must be inside the detector")
    require(g.balloon_film_um > 0, "geometry.balloon_film_um must be > 0")
    for r in g.regions:
        require(r.light_yield_scale >= 0, f"region {r.name!r}: light_yield_scale must be >= 0")
    s = cfg.scintillator
    require(len(s.decay_times_ns) == len(s.decay_weights) == len(s.alpha_decay_weights) > 0,
            "scintillator decay_times_ns / decay_weights / alpha_decay_weights must be non-empty, same length")
    require(all(t > 0 for t in s.decay_times_ns), "scintillator.decay_times_ns must be > 0")
    for name in ("decay_weights", "alpha_decay_weights"):
        w = getattr(s, name)
        require(all(x >= 0 for x in w) and sum(w) > 0, f"scintillator.{name} must be >= 0 with a positive sum")
    require(0 < s.light_yield_per_MeV <= MAX_LIGHT_YIELD_PER_MeV,
            f"scintillator.light_yield_per_MeV must be in (0, {MAX_LIGHT_YIELD_PER_MeV:g}]")
    require(s.group_velocity_mm_per_ns > 0 and s.attenuation_length_mm > 0,
            "scintillator group velocity and attenuation length must be > 0")
    require(s.birks_kB_mm_per_MeV >= 0 and s.rise_time_ns >= 0,
            "scintillator.birks_kB_mm_per_MeV and rise_time_ns must be >= 0")
    require(0 <= s.ops_fraction <= 1 and s.ops_lifetime_ns > 0,
            "scintillator: need 0 <= ops_fraction <= 1 and ops_lifetime_ns > 0")
    require(s.rayleigh_length_mm > 0 and 0 <= s.reemission_probability <= 1 and s.reemission_time_ns >= 0,
            "scintillator: need rayleigh_length_mm > 0, 0 <= reemission_probability <= 1, reemission_time_ns >= 0")
    require(len(cfg.pmts.types) > 0, "pmts.types must not be empty")
    for t in cfg.pmts.types:
        require(t.count > 0 and 0 < t.quantum_efficiency <= 1 and 0 < t.photocoverage < 1,
                f"PMT type {t.name!r}: need count > 0, 0 < QE <= 1, 0 < coverage < 1")
        require(t.tts_sigma_ns >= 0 and t.spe_sigma >= 0 and t.dark_rate_hz >= 0,
                f"PMT type {t.name!r}: tts_sigma_ns, spe_sigma and dark_rate_hz must be >= 0")
    require(sum(t.photocoverage for t in cfg.pmts.types) < 1, "total photocoverage must be < 1")
    require(cfg.n_pmts <= 1_000_000, "more than 10^6 PMTs")
    w0, w1 = cfg.pmts.readout_window_ns
    require(w1 > w0 and w1 - w0 <= 1e6, "pmts.readout_window_ns must be (start, stop) with start < stop "
            "and at most 1 ms long")
    require(cfg.pmts.threshold_pe >= 0, "pmts.threshold_pe must be >= 0")
    v = cfg.pmts.variation
    if v is not None:
        require(0 <= v.qe_half_width < 1 and 0 <= v.tts_half_width < 1 and 0 <= v.spe_half_width < 1,
                "pmts.variation: qe/tts/spe half widths must be in [0, 1)")
        require(all(t.quantum_efficiency * (1 + v.qe_half_width) <= 1 for t in cfg.pmts.types),
                "pmts.variation.qe_half_width would push a QE above 1")
        require(0 <= v.time_offset_half_width_ns <= 1000, "pmts.variation.time_offset_half_width_ns must be in [0, 1000]")
        lo, hi = v.dark_rate_factor_range
        require(0 < lo <= hi, "pmts.variation.dark_rate_factor_range must be (low, high) with 0 < low <= high")
        require(v.n_dead >= 0 and v.n_hot >= 0 and v.n_dead + v.n_hot <= cfg.n_pmts,
                "pmts.variation: n_dead and n_hot must be >= 0 and together at most the number of tubes")
        require(v.hot_dark_factor >= 1, "pmts.variation.hot_dark_factor must be >= 1")


def load_config(preset: str | None = "klz800", path: str | Path | None = None,
                overrides: list[str] | None = None) -> DetectorConfig:
    """Load a detector configuration from a preset name or a TOML file, then apply overrides."""
    if path is not None:
        data = read_toml(path, what="detector config")
    else:
        data = read_toml(text=_preset_text(preset or "klz800"), what="detector preset")
    return config_from_dict(apply_overrides(data, overrides))


def config_from_json(text: str) -> DetectorConfig:
    """Rebuild a config stored in an event file's metadata."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"stored detector config is not valid JSON: {exc}") from None
    return config_from_dict(data)
