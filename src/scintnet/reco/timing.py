"""Single-photoelectron hit-time residual PDF used by the time-likelihood vertex fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detector.config import DetectorConfig


@dataclass(frozen=True)
class TimePDF:
    """Tabulated log-PDF of the time residual r = t_hit - t0 - d/v (ns).

    Scintillation profile (rise + decays) convolved with the count-weighted Gaussian
    transit-time spread, plus a flat floor for dark hits and late light.
    """

    grid_ns: np.ndarray
    logpdf: np.ndarray
    dlogpdf: np.ndarray

    def __call__(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log f(r) and d log f / dr, linearly interpolated."""
        return (np.interp(r, self.grid_ns, self.logpdf), np.interp(r, self.grid_ns, self.dlogpdf))


def build_time_pdf(cfg: DetectorConfig, floor: float = 1e-4, step_ns: float = 0.1) -> TimePDF:
    s = cfg.scintillator
    t = np.arange(-40.0, 300.0, step_ns)
    w = np.asarray(s.decay_weights, float)
    w = w / w.sum()
    emis = np.zeros_like(t)
    pos = t > 0
    for wk, tau in zip(w, s.decay_times_ns):
        if s.rise_time_ns > 0:
            emis[pos] += wk * (np.exp(-t[pos] / tau) - np.exp(-t[pos] / s.rise_time_ns)) / (tau - s.rise_time_ns)
        else:
            emis[pos] += wk * np.exp(-t[pos] / tau) / tau
    counts = np.array([p.count for p in cfg.pmts.types], float)
    sig = float(np.sqrt(np.sum(counts * np.array([p.tts_sigma_ns for p in cfg.pmts.types]) ** 2) / counts.sum()))
    # dispersion of the photon speed over a typical path (the PMT radius) adds in quadrature
    sig_disp = cfg.geometry.pmt_radius_mm / s.group_velocity_mm_per_ns * s.group_velocity_spread
    sig = float(np.hypot(sig, sig_disp))
    k = np.arange(-6 * sig, 6 * sig + step_ns, step_ns)
    g = np.exp(-0.5 * (k / sig) ** 2)
    pdf = np.convolve(emis, g / g.sum(), mode="same")
    pdf = pdf / (pdf.sum() * step_ns) + floor
    lp = np.log(pdf)
    return TimePDF(t, lp, np.gradient(lp, step_ns))
