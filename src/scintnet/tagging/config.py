"""Tagger settings: explicit dataclasses loaded from TOML presets in ``scintnet/tagging/presets``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


class TagConfigError(ValueError):
    """Invalid or unknown tagger configuration."""


@dataclass(frozen=True)
class SpallationTagConfig:
    window_s: float
    max_distance_mm: float
    fiducial_radius_mm: float
    min_energy_MeV: float
    exposure_loss_target: float
    false_tag_target: float
    track_dedx_radius_mm: float
    max_points: int
    seed: int


@dataclass(frozen=True)
class CoincidenceConfig:
    max_dt_s: float
    max_dr_mm: float
    min_prompt_MeV: float
    delayed_MeV: tuple[float, float]
    muon_veto_s: float
    seed: int


@dataclass(frozen=True)
class PIDConfig:
    """Positron vs gamma PID (talk 001): guns at equal visible energy, a graph network on PMT hits."""

    energy_MeV: float  # gamma energy
    positron_kinetic_MeV: float
    events_per_class: int  # training events per class (the test set is half as large, independent seeds)
    model: str = "particlenet"
    model_preset: str = "pid"
    epochs: int = 6
    max_minutes: float = 15.0
    vertex: str = "sphere:1570"
    e_window_MeV: tuple[float, float] = (1.7, 2.7)
    detector_preset: str = "klz800"
    seed: int = 5


@dataclass(frozen=True)
class TagConfig:
    name: str
    spallation: SpallationTagConfig
    coincidence: CoincidenceConfig
    pid: PIDConfig


def load_tag_config(preset: str = "klz800", path: str | Path | None = None) -> TagConfig:
    """Load tagger settings from a shipped preset or a TOML file."""
    try:
        if path is not None:
            text = Path(path).read_text()
        else:
            res = resources.files("scintnet.tagging").joinpath("presets", f"{preset}.toml")
            if not res.is_file():
                raise TagConfigError(f"unknown tagging preset {preset!r}")
            text = res.read_text()
        d = tomllib.loads(text)
        c = dict(d["coincidence"])
        c["delayed_MeV"] = tuple(c["delayed_MeV"])
        p = dict(d["pid"])
        if "e_window_MeV" in p:
            p["e_window_MeV"] = tuple(p["e_window_MeV"])
        return TagConfig(d["name"], SpallationTagConfig(**d["spallation"]), CoincidenceConfig(**c), PIDConfig(**p))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise TagConfigError(f"bad tagging config: {' '.join(str(exc).split())[:200]}") from None
