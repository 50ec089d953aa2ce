"""Energy estimate from total charge with the detector's position-dependent acceptance.

Two steps:

1. ``visible_energy``: dark-charge-subtracted total charge divided by the optical model's
   expected p.e. per MeV at the reconstructed vertex (analytic position correction);
2. :class:`EnergyCalibration`: a residual radial correction and the non-linearity
   (quenching, threshold, multi-p.e. hits), both measured on simulated electron-gun events
   of the same detector configuration.  Calibrations are cached per configuration hash and
   format version (see :func:`scintnet.reco.calibrate.load_or_make_calibration`) and regenerated on demand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from ..detector.config import DetectorConfig
from .. import default_cache_dir  # noqa: F401  (re-exported)
from ..detector.pmts import PMTArray

# Part of the cache key with the detector-config hash.  The key does not see the simulation code, so
# bump this whenever the simulated light of the calibration guns changes: version 1 files made before
# issue 17's optics were still being read (found in issue 19: a stale calibration moved the demo's
# selected events and its XGBoost floor from 49.4 % to 46.7 %)
CALIB_VERSION = 2
CALIB_ENERGIES_MEV = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)


class ExpectedCharge:
    """Expected p.e. per PMT per MeV of visible energy at given positions (optical model).

    The production-mode light model of :mod:`scintnet.optics.response` (direct light through the
    spectrum-averaged transmission, plus scattered and re-emitted light from the cached light table),
    evaluated without sampling: it gives the position correction of the energy scale without a
    Monte-Carlo calibration.
    """

    def __init__(self, cfg: DetectorConfig, pmts: PMTArray):
        self.cfg, self.pmts = cfg, pmts
        self.pos = pmts.pos_mm
        t0, t1 = cfg.pmts.readout_window_ns
        self.dark_pe = float((pmts.dark_rate_hz * (t1 - t0) * 1e-9).sum())

    def __call__(self, x_mm: np.ndarray) -> np.ndarray:
        """float64[n, n_pmt] expected p.e. per MeV."""
        from ..optics.response import expected_pe_per_MeV

        return expected_pe_per_MeV(self.cfg, self.pmts, np.asarray(x_mm, float))

    def pe_per_MeV(self, x_mm: np.ndarray) -> np.ndarray:
        return self(x_mm).sum(1)


def visible_energy(total_charge_pe: np.ndarray, vertex_mm: np.ndarray, model: ExpectedCharge) -> np.ndarray:
    """Visible (quenched) energy in MeV: dark-charge-subtracted charge / expected p.e. per MeV."""
    return (np.asarray(total_charge_pe) - model.dark_pe) / model.pe_per_MeV(vertex_mm)


def config_hash(cfg: DetectorConfig) -> str:
    """Short hash of the full detector configuration (identifies a calibration)."""
    return hashlib.sha256(cfg.to_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EnergyCalibration:
    """Map from the optical-model energy to the electron-equivalent energy (MeV).

    ``rho_edges``/``rho_corr``: residual correction factor in bins of (r / r_ref_mm)^3;
    ``raw_MeV``/``true_MeV``: median corrected raw energy of electron guns at each true
    kinetic energy (piecewise-linear, extrapolated linearly beyond the end points).
    """

    version: int
    preset: str
    config_hash: str
    r_ref_mm: float
    rho_edges: tuple[float, ...]
    rho_corr: tuple[float, ...]
    raw_MeV: tuple[float, ...]
    true_MeV: tuple[float, ...]
    n_per_energy: int
    seed: int

    def __call__(self, e_raw_MeV: np.ndarray, vertex_mm: np.ndarray) -> np.ndarray:
        rho = (np.linalg.norm(vertex_mm, axis=1) / self.r_ref_mm) ** 3
        k = np.clip(np.searchsorted(self.rho_edges, rho, side="right") - 1, 0, len(self.rho_corr) - 1)
        e1 = np.asarray(e_raw_MeV) * np.asarray(self.rho_corr)[k]
        x, y = np.asarray(self.raw_MeV), np.asarray(self.true_MeV)
        out = np.interp(e1, x, y)
        lo, hi = e1 < x[0], e1 > x[-1]
        out[lo] = y[0] + (e1[lo] - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
        out[hi] = y[-1] + (e1[hi] - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "EnergyCalibration":
        d = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def fit_calibration(e_raw_MeV: np.ndarray, vertex_mm: np.ndarray, e_true_MeV: np.ndarray, preset: str,
                    cfg_hash: str, r_ref_mm: float, n_rho: int = 8, seed: int = 0) -> EnergyCalibration:
    """Build the calibration from gun events (true energies on a grid of distinct values)."""
    ok = np.isfinite(e_raw_MeV) & np.isfinite(vertex_mm).all(1)
    e_raw, vtx, e_true = e_raw_MeV[ok], vertex_mm[ok], e_true_MeV[ok]
    grid = np.unique(e_true)
    if grid.size < 2:
        raise ValueError("energy calibration needs guns at two or more energies")
    # residual radial factor: ratio to each energy's median (removes the non-linearity), pooled
    norm = np.empty_like(e_raw)
    for E in grid:
        s = e_true == E
        norm[s] = e_raw[s] / np.median(e_raw[s])
    rho = (np.linalg.norm(vtx, axis=1) / r_ref_mm) ** 3
    edges = np.quantile(rho, np.linspace(0, 1, n_rho + 1))
    edges[0], edges[-1] = 0.0, np.inf
    k = np.clip(np.searchsorted(edges, rho, side="right") - 1, 0, n_rho - 1)
    corr = np.array([1.0 / np.median(norm[k == j]) if np.any(k == j) else 1.0 for j in range(n_rho)])
    e1 = e_raw * corr[k]
    raw = np.array([np.median(e1[e_true == E]) for E in grid])
    if np.any(np.diff(raw) <= 0):
        raise ValueError("energy calibration is not monotonic (too few gun events?)")
    return EnergyCalibration(CALIB_VERSION, preset, cfg_hash, float(r_ref_mm), tuple(float(x) for x in edges),
                             tuple(float(x) for x in corr), tuple(float(x) for x in raw),
                             tuple(float(x) for x in grid), int(np.bincount(np.searchsorted(grid, e_true)).min()),
                             int(seed))


