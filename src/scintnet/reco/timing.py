"""Single-photoelectron hit-time residual PDFs used by the time-likelihood vertex fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detector.config import DetectorConfig


@dataclass(frozen=True)
class TimePDF:
    """Tabulated log-PDF of the time residual r = t_hit - t0 - d/v (ns).

    Scintillation profile (rise + decays) convolved with the light-transport delays of the optical
    model (dispersion, scattering, re-emission) and the Gaussian transit-time spread, plus a flat floor
    for dark hits and late light.
    """

    grid_ns: np.ndarray
    logpdf: np.ndarray
    dlogpdf: np.ndarray

    def __call__(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log f(r) and d log f / dr, linearly interpolated."""
        return (np.interp(r, self.grid_ns, self.logpdf), np.interp(r, self.grid_ns, self.dlogpdf))


@dataclass(frozen=True)
class TimePDFTable:
    """Per-PMT-type log-PDF tables on a uniform grid (what the Numba fitter reads).

    ``logpdf``, ``dlogpdf``, ``d2logpdf`` are float64[n_types, n_grid] sampled at
    ``t0_ns + step_ns * k``; values outside the grid take the edge value.
    """

    t0_ns: float
    step_ns: float
    logpdf: np.ndarray
    dlogpdf: np.ndarray
    d2logpdf: np.ndarray

    @classmethod
    def from_pdf(cls, pdf: TimePDF) -> "TimePDFTable":
        """Single-type table from a :class:`TimePDF` (its grid must be uniform)."""
        g = pdf.grid_ns
        step = float(g[1] - g[0])
        d2 = np.gradient(pdf.dlogpdf, step)
        return cls(float(g[0]), step, pdf.logpdf[None].copy(), pdf.dlogpdf[None].copy(), d2[None])


def _emission(cfg: DetectorConfig, t: np.ndarray) -> np.ndarray:
    s = cfg.scintillator
    w = np.asarray(s.decay_weights, float)
    w = w / w.sum()
    emis = np.zeros_like(t)
    pos = t > 0
    for wk, tau in zip(w, s.decay_times_ns):
        if s.rise_time_ns > 0:
            emis[pos] += wk * (np.exp(-t[pos] / tau) - np.exp(-t[pos] / s.rise_time_ns)) / (tau - s.rise_time_ns)
        else:
            emis[pos] += wk * np.exp(-t[pos] / tau) / tau
    return emis


def _smeared_logpdf(emis: np.ndarray, sig: float, step_ns: float, floor: float,
                    transport: np.ndarray | None = None) -> np.ndarray:
    pdf = emis
    if transport is not None:
        # light transport (dispersion, scattering, re-emission): a causal kernel on the same grid
        k0 = int(np.argmax(transport > 0))
        ker = transport[k0:]
        full = np.convolve(emis, ker)[: emis.size]
        shift = k0 - int(round(-_T_LO / step_ns))  # the kernel's grid starts at _T_LO, not 0
        pdf = np.roll(full, shift)
        if shift < 0:
            pdf[shift:] = 0.0
        else:
            pdf[:shift] = 0.0
    k = np.arange(-6 * sig, 6 * sig + step_ns, step_ns)
    g = np.exp(-0.5 * (k / sig) ** 2)
    pdf = np.convolve(pdf, g / g.sum(), mode="same")
    pdf = pdf / (pdf.sum() * step_ns) + floor
    return np.log(pdf)


_T_LO, _T_HI = -40.0, 300.0


def _transport(cfg: DetectorConfig, t: np.ndarray) -> np.ndarray:
    """Light-transport delay distribution relative to the reco TOF speed (optics.response), on ``t``."""
    from ..optics.response import transport_delay_pdf

    return transport_delay_pdf(cfg, t, cfg.scintillator.group_velocity_mm_per_ns)


def build_time_pdf(cfg: DetectorConfig, floor: float = 1e-4, step_ns: float = 0.1) -> TimePDF:
    """One PDF for all tubes: scintillation profile x light transport x count-weighted transit-time spread."""
    t = np.arange(_T_LO, _T_HI, step_ns)
    counts = np.array([p.count for p in cfg.pmts.types], float)
    sig = float(np.sqrt(np.sum(counts * np.array([p.tts_sigma_ns for p in cfg.pmts.types]) ** 2) / counts.sum()))
    lp = _smeared_logpdf(_emission(cfg, t), sig, step_ns, floor, _transport(cfg, t))
    return TimePDF(t, lp, np.gradient(lp, step_ns))


def build_time_pdf_table(cfg: DetectorConfig, floor: float = 1e-4, step_ns: float = 0.1) -> TimePDFTable:
    """One PDF per PMT type (each type's transit-time spread with the common light transport)."""
    t = np.arange(_T_LO, _T_HI, step_ns)
    emis = _emission(cfg, t)
    tr = _transport(cfg, t)
    lps = np.stack([_smeared_logpdf(emis, float(p.tts_sigma_ns), step_ns, floor, tr) for p in cfg.pmts.types])
    d1 = np.gradient(lps, step_ns, axis=1)
    return TimePDFTable(float(t[0]), step_ns, lps, d1, np.gradient(d1, step_ns, axis=1))
