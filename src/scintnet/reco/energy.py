"""Energy estimate from total charge with the detector's position-dependent acceptance."""

from __future__ import annotations

import numpy as np

from ..detector.config import DetectorConfig
from ..detector.pmts import PMTArray


class ExpectedCharge:
    """Expected p.e. per PMT per MeV of visible energy at given positions (optical model).

    Same gray-disk formula as :mod:`scintnet.optics.response`, evaluated analytically: it
    gives the position correction of the energy scale without a Monte-Carlo calibration.
    """

    def __init__(self, cfg: DetectorConfig, pmts: PMTArray):
        self.ly = cfg.scintillator.light_yield_per_MeV
        self.att = cfg.scintillator.attenuation_length_mm
        self.pos = pmts.pos_mm
        self.dir = pmts.direction
        self.gain = pmts.area_mm2 * pmts.qe
        t0, t1 = cfg.pmts.readout_window_ns
        self.dark_pe = float((pmts.dark_rate_hz * (t1 - t0) * 1e-9).sum())

    def __call__(self, x_mm: np.ndarray) -> np.ndarray:
        """float64[n, n_pmt] expected p.e. per MeV."""
        out = np.empty((x_mm.shape[0], self.pos.shape[0]))
        for s in range(0, x_mm.shape[0], 256):
            v = self.pos[None, :, :] - x_mm[s:s + 256, None, :]
            d = np.sqrt((v * v).sum(-1))
            cos = np.clip((v * self.dir[None]).sum(-1) / d, 0.0, None)
            out[s:s + 256] = self.ly * self.gain * cos / (4 * np.pi * d * d) * np.exp(-d / self.att)
        return out

    def pe_per_MeV(self, x_mm: np.ndarray) -> np.ndarray:
        return self(x_mm).sum(1)


def visible_energy(total_charge_pe: np.ndarray, vertex_mm: np.ndarray, model: ExpectedCharge) -> np.ndarray:
    """Visible (quenched) energy in MeV: dark-charge-subtracted charge / expected p.e. per MeV."""
    return (np.asarray(total_charge_pe) - model.dark_pe) / model.pe_per_MeV(vertex_mm)
