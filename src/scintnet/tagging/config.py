"""Tagger settings: explicit dataclasses loaded from TOML presets in ``scintnet/tagging/presets``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, apply_overrides, build, preset_text, read_toml


class TagConfigError(ConfigError):
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
    max_pairs_train: int = 60000
    pointnet_epochs: int = 25


@dataclass(frozen=True)
class CoincidenceConfig:
    max_dt_s: float
    max_dr_mm: float
    min_prompt_MeV: float
    delayed_MeV: tuple[float, float]
    muon_veto_s: float
    seed: int
    offtime_start_s: float = 0.01  # off-time windows start 10 ms (~50 capture times) before the delayed event
    offtime_windows: int = 100000  # off-time windows of max_dt_s each (accidental statistics x this)
    pid_auc: float = 0.577  # positron/gamma PID AUC of the stream events' scores (scintnet tag-pid, docs/tagging.md)


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
class CleanConfig:
    """Data cleaning (KamNet paper sec. V.B): per-period two-template fits of the topology score.

    ``false_flag_probability``: the asymptotic probability that a period without excess is flagged (the
    one-sided likelihood-ratio threshold is its normal quantile squared).  ``single_site_rate``: "free"
    (the single-site yield of a period is profiled) or "global" (fixed to the stream-wide rate: 136Xe
    2nbb does not vary in time)."""

    period_days: float = 1.0
    fiducial_radius_mm: float = 1570.0
    energy_MeV: tuple[float, float] = (2.0, 3.0)
    muon_veto_s: float = 2.0e-3
    n_score_bins: int = 10
    bg_class: str = "beta_gamma"
    false_flag_probability: float = 0.01
    single_site_rate: str = "global"
    min_events: int = 30
    seed: int = 13

    def __post_init__(self) -> None:
        ok = (self.period_days > 0 and self.fiducial_radius_mm > 0 and self.energy_MeV[0] < self.energy_MeV[1]
              and self.muon_veto_s >= 0 and self.n_score_bins >= 2 and 0 < self.false_flag_probability < 0.5
              and self.single_site_rate in ("free", "global") and self.min_events > 0)
        if not ok:
            raise TagConfigError("clean: need period_days > 0, fiducial_radius_mm > 0, energy_MeV (low, high), "
                                 "muon_veto_s >= 0, n_score_bins >= 2, 0 < false_flag_probability < 0.5, "
                                 "single_site_rate 'free' or 'global', min_events > 0")


@dataclass(frozen=True)
class TagConfig:
    name: str
    spallation: SpallationTagConfig
    coincidence: CoincidenceConfig
    pid: PIDConfig
    clean: CleanConfig = field(default_factory=CleanConfig)


def load_tag_config(preset: str = "klz800", path: str | Path | None = None,
                    overrides: list[str] | None = None) -> TagConfig:
    """Load tagger settings from a shipped preset or a TOML file, with ``section.field=value`` overrides."""
    try:
        if path is not None:
            d = read_toml(path, what="tagging config")
        else:
            d = read_toml(text=preset_text("scintnet.tagging", "presets", preset, "tagging preset"),
                          what="tagging preset")
        cfg = build(TagConfig, apply_overrides(d, overrides), "tagging")
    except TagConfigError:
        raise
    except ConfigError as exc:
        raise TagConfigError(str(exc)) from None
    s, c, p = cfg.spallation, cfg.coincidence, cfg.pid
    checks = [
        (s.window_s > 0 and s.max_distance_mm > 0 and s.fiducial_radius_mm > 0, "spallation: window_s, "
         "max_distance_mm and fiducial_radius_mm must be > 0"),
        (0 < s.exposure_loss_target < 1 and 0 < s.false_tag_target < 1, "spallation: targets must be in (0, 1)"),
        (s.max_points > 0 and s.max_pairs_train > 0 and s.pointnet_epochs > 0,
         "spallation: max_points, max_pairs_train and pointnet_epochs must be > 0"),
        (c.max_dt_s > 0 and c.max_dr_mm > 0 and c.delayed_MeV[0] < c.delayed_MeV[1] and c.muon_veto_s >= 0,
         "coincidence: need max_dt_s > 0, max_dr_mm > 0, delayed_MeV (low, high), muon_veto_s >= 0"),
        (c.offtime_start_s >= 5 * c.max_dt_s and c.offtime_windows >= 1 and 0.5 <= c.pid_auc < 1.0,
         "coincidence: need offtime_start_s >= 5 x max_dt_s, offtime_windows >= 1, pid_auc in [0.5, 1)"),
        (p.energy_MeV > 0 and p.positron_kinetic_MeV >= 0 and p.events_per_class > 0 and p.epochs > 0
         and p.max_minutes > 0 and p.e_window_MeV[0] < p.e_window_MeV[1],
         "pid: energies, events_per_class, epochs and max_minutes must be > 0, e_window_MeV (low, high)"),
    ]
    for ok, msg in checks:
        if not ok:
            raise TagConfigError(f"tagging config: {msg}")
    return cfg
