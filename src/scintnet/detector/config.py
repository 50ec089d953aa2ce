"""Detector configuration: explicit dataclasses loaded from TOML presets.

A preset is a TOML file in ``scintnet/detector/presets``; users may pass their own
file and override single fields with ``section.field=value`` strings (the CLI's
``--set``).  Nothing here is global: every function takes the config it needs.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """Raised for an invalid or unknown configuration."""


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
class PMTSystem:
    types: tuple[PMTType, ...]
    layout_seed: int  # reproducible quasi-uniform layout
    readout_window_ns: tuple[float, float]  # (start, stop) relative to the decay
    threshold_pe: float  # charge threshold for a hit, in p.e.


@dataclass(frozen=True)
class DetectorConfig:
    name: str
    description: str
    geometry: Geometry
    scintillator: Scintillator
    pmts: PMTSystem

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def n_pmts(self) -> int:
        return sum(t.count for t in self.pmts.types)


# ----------------------------------------------------------------------------- loading


def list_presets() -> list[str]:
    files = resources.files("scintnet.detector").joinpath("presets")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def _preset_text(name: str) -> str:
    res = resources.files("scintnet.detector").joinpath("presets", f"{name}.toml")
    if not res.is_file():
        raise ConfigError(f"unknown detector preset {name!r}; available: {', '.join(list_presets())}")
    return res.read_text()


def _parse_value(text: str) -> Any:
    """Parse a command-line override value with TOML syntax (falls back to a string)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (lists addressed by index)."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = data
        for p in parts[:-1]:
            if isinstance(node, list):
                node = node[int(p)]
            elif p in node:
                node = node[p]
            else:
                raise ConfigError(f"override {item!r}: no section {p!r}")
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = _parse_value(value)
        elif last in node:
            node[last] = _parse_value(value)
        else:
            raise ConfigError(f"override {item!r}: no field {last!r} (have: {', '.join(node)})")
    return data


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise ConfigError(f"{where}: missing field {name!r}")
            continue
        v = data[name]
        if isinstance(v, list):
            v = tuple(v)
        kwargs[name] = v
    return cls(**kwargs)


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
    data = _drop_retired(data)
    try:
        geo = dict(data["geometry"])
        regions = tuple(_build(Region, r, "geometry.regions") for r in geo.pop("regions"))
        geometry = _build(Geometry, {**geo, "regions": regions}, "geometry")
        scint = _build(Scintillator, data["scintillator"], "scintillator")
        pm = dict(data["pmts"])
        types = tuple(_build(PMTType, t, "pmts.types") for t in pm.pop("types"))
        pmts = _build(PMTSystem, {**pm, "types": types}, "pmts")
        cfg = DetectorConfig(
            name=data["name"], description=data.get("description", ""),
            geometry=geometry, scintillator=scint, pmts=pmts,
        )
    except KeyError as exc:
        raise ConfigError(f"detector config is missing section {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"detector config: {exc}") from None
    validate(cfg)
    return cfg


def validate(cfg: DetectorConfig) -> None:
    g = cfg.geometry
    radii = g.region_radii_mm()
    if any(b <= a for a, b in zip(radii, radii[1:])) or radii[0] <= 0:
        raise ConfigError("geometry.regions must have strictly increasing positive outer radii")
    if radii[-1] > g.pmt_radius_mm + 1e-9:
        raise ConfigError("the outermost region must lie inside the PMT sphere")
    if not 0 < g.balloon_radius_mm < radii[-1]:
        raise ConfigError("geometry.balloon_radius_mm must be inside the detector")
    s = cfg.scintillator
    if len(s.decay_times_ns) != len(s.decay_weights) or len(s.alpha_decay_weights) != len(s.decay_times_ns):
        raise ConfigError("scintillator decay_times_ns / decay_weights / alpha_decay_weights lengths differ")
    if s.light_yield_per_MeV <= 0 or s.group_velocity_mm_per_ns <= 0 or s.attenuation_length_mm <= 0:
        raise ConfigError("scintillator light yield, group velocity and attenuation length must be > 0")
    if not (s.rayleigh_length_mm > 0 and 0 <= s.reemission_probability <= 1 and s.reemission_time_ns >= 0):
        raise ConfigError("scintillator: need rayleigh_length_mm > 0, 0 <= reemission_probability <= 1, "
                          "reemission_time_ns >= 0")
    if not isinstance(s.cherenkov, bool):
        raise ConfigError("scintillator.cherenkov must be true or false")
    for t in cfg.pmts.types:
        if t.count <= 0 or not 0 < t.quantum_efficiency <= 1 or not 0 < t.photocoverage < 1:
            raise ConfigError(f"PMT type {t.name!r}: need count > 0, 0 < QE <= 1, 0 < coverage < 1")
    if sum(t.photocoverage for t in cfg.pmts.types) >= 1:
        raise ConfigError("total photocoverage must be < 1")
    w0, w1 = cfg.pmts.readout_window_ns
    if not w1 > w0:
        raise ConfigError("pmts.readout_window_ns must be (start, stop) with stop > start")


def load_config(preset: str | None = "klz800", path: str | Path | None = None,
                overrides: list[str] | None = None) -> DetectorConfig:
    """Load a detector configuration from a preset name or a TOML file, then apply overrides."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"detector config file {str(p)!r} not found")
        text = p.read_text()
    else:
        text = _preset_text(preset or "klz800")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in detector config: {exc}") from None
    return config_from_dict(apply_overrides(data, overrides))


def config_from_json(text: str) -> DetectorConfig:
    """Rebuild a config stored in an event file's metadata."""
    return config_from_dict(json.loads(text))
