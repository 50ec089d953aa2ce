"""Energy calibration from simulated electron guns, cached per detector configuration, and the
reconstructor that carries it.

Apart from :mod:`.energy` (the energy model and the calibration's fit and format) and :mod:`.pipeline`
(the reconstructor) because it needs both -- and the simulation -- which is what kept those two in an
import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .. import default_cache_dir
from ..detector.config import DetectorConfig
from ..detector.pmts import build_pmt_array
from ..sim.run import simulate_events
from .energy import CALIB_ENERGIES_MEV, CALIB_VERSION, EnergyCalibration, config_hash, fit_calibration
from .pipeline import Reconstructor


def calibration_path(cfg: DetectorConfig, cache_dir: Path | None = None) -> Path:
    d = (cache_dir or default_cache_dir()) / "reco"
    return d / f"energy_{cfg.name}_{config_hash(cfg)}_v{CALIB_VERSION}.json"


def make_calibration(cfg: DetectorConfig, n_per_energy: int = 400, seed: int = 12345, workers: int = 1,
                     energies_MeV: tuple[float, ...] = CALIB_ENERGIES_MEV) -> EnergyCalibration:
    """Simulate electron guns (uniform in the inner balloon) and fit the calibration."""
    pmts = build_pmt_array(cfg)
    rec = Reconstructor(cfg, pmts, calibration=None)
    r_ref = cfg.geometry.balloon_radius_mm
    raw, vtx, true = [], [], []
    for i, E in enumerate(energies_MeV):
        ch = simulate_events(cfg, cfg.name, "electron", n_per_energy, seed + i, vertex=f"sphere:{r_ref:g}",
                             energy_MeV=float(E), workers=workers)
        r = rec(ch)
        ok = r["valid"]
        raw.append(r["energy_raw_MeV"][ok])
        vtx.append(r["vertex_mm"][ok])
        true.append(np.full(int(ok.sum()), float(E)))
    return fit_calibration(np.concatenate(raw), np.concatenate(vtx), np.concatenate(true), cfg.name,
                           config_hash(cfg), r_ref, seed=seed)


def load_or_make_calibration(cfg: DetectorConfig, cache_dir: Path | None = None, force: bool = False,
                             workers: int = 1, log: Callable[[str], None] | None = None,
                             n_per_energy: int = 400) -> EnergyCalibration:
    """Cached calibration for ``cfg`` (same config hash and version), made when missing or ``force``."""
    path = calibration_path(cfg, cache_dir)
    if path.exists() and not force:
        try:
            cal = EnergyCalibration.from_json(path.read_text())
            if cal.version == CALIB_VERSION and cal.config_hash == config_hash(cfg):
                return cal
        except (ValueError, TypeError, KeyError):
            pass  # unreadable or stale: regenerate below
    if log:
        log(f"making the energy calibration for {cfg.name} (electron guns) -> {path}")
    cal = make_calibration(cfg, n_per_energy=n_per_energy, workers=workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..io.outputs import write_text_atomic

    write_text_atomic(path, cal.to_json())
    return cal


def reconstructor_for(cfg: DetectorConfig, calibrate: bool = True, cache_dir=None, workers: int = 1,
                      log: Callable[[str], None] | None = None) -> Reconstructor:
    """Reconstructor with the cached (or freshly made) energy calibration of ``cfg``."""
    cal = load_or_make_calibration(cfg, cache_dir, workers=workers, log=log) if calibrate else None
    return Reconstructor(cfg, build_pmt_array(cfg), cal)
