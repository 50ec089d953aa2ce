"""Full per-chunk reconstruction (input checks, centroid seed, time fit, energy) and its summary."""

from __future__ import annotations


import numpy as np

from ..detector.config import DetectorConfig
from ..detector.pmts import PMTArray
from ..io.events import EventChunk
from .energy import EnergyCalibration, ExpectedCharge, visible_energy
from .timing import build_time_pdf_table
from .vertex import MIN_HITS, centroid_scale, centroid_vertex, fit_vertices

# bit flags of bad events (uint8); an event is valid when its flags are 0
BAD_FLAGS = {"no_hits": 1, "nan_hit": 2, "bad_pmt_id": 4, "too_few_hits": 8, "fit_failed": 16,
             "vertex_outside": 32}


def hit_flags(chunk: EventChunk, n_pmt: int) -> np.ndarray:
    """uint8[n] input-problem flags per event (no hits, NaN time/charge, PMT id outside the layout)."""
    n = chunk.n_events
    nh = chunk.nhit()
    ev = np.repeat(np.arange(n), nh)
    flags = np.zeros(n, np.uint8)
    flags[nh == 0] |= BAD_FLAGS["no_hits"]
    flags[(nh > 0) & (nh < MIN_HITS)] |= BAD_FLAGS["too_few_hits"]
    nan = ~(np.isfinite(chunk.hit_time_ns) & np.isfinite(chunk.hit_charge_pe))
    flags[np.unique(ev[nan])] |= BAD_FLAGS["nan_hit"]
    pmt = np.asarray(chunk.hit_pmt, np.int64)
    flags[np.unique(ev[(pmt < 0) | (pmt >= n_pmt)])] |= BAD_FLAGS["bad_pmt_id"]
    return flags


def drop_hits_of(chunk: EventChunk, bad_event: np.ndarray) -> EventChunk:
    """Same events with all hits of ``bad_event`` removed (so kernels never index bad PMT ids)."""
    if not bad_event.any():
        return chunk
    keep = ~np.repeat(bad_event, chunk.nhit())
    counts = np.where(bad_event, 0, chunk.nhit())
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return EventChunk(hit_offsets=offsets, hit_pmt=chunk.hit_pmt[keep], hit_time_ns=chunk.hit_time_ns[keep],
                      hit_charge_pe=chunk.hit_charge_pe[keep], vertex_mm=chunk.vertex_mm, edep_MeV=chunk.edep_MeV,
                      evis_MeV=chunk.evis_MeV, npe=chunk.npe, label=chunk.label)


def summarize_flags(flags: np.ndarray) -> dict[str, int]:
    """Count of events per bad reason (an event may have several)."""
    return {k: int(((flags & b) != 0).sum()) for k, b in BAD_FLAGS.items() if ((flags & b) != 0).any()}


def summary_line(n_total: int, flags: np.ndarray, what: str = "events") -> str:
    """One line: how many events were skipped and why."""
    bad = int((flags != 0).sum())
    why = ", ".join(f"{k} {v}" for k, v in summarize_flags(flags).items())
    return f"{n_total - bad} of {n_total} {what} kept, {bad} skipped" + (f" ({why})" if bad else "")


class Reconstructor:
    """Vertex (centroid-seeded time likelihood), start time and energy of event chunks.

    ``calibration=None`` gives the uncalibrated optical-model energy only
    (``energy_MeV`` equals ``energy_raw_MeV``).
    """

    def __init__(self, cfg: DetectorConfig, pmts: PMTArray, calibration: EnergyCalibration | None):
        self.cfg = cfg
        self.pmts = pmts
        self.model = ExpectedCharge(cfg, pmts)
        self.scale = centroid_scale(self.model, pmts.pos_mm)
        self.table = build_time_pdf_table(cfg)
        self.v = cfg.scintillator.group_velocity_mm_per_ns
        self.calibration = calibration
        # a vertex is "outside" beyond the outermost scintillating region
        self.r_max_mm = max(r.outer_radius_mm for r in cfg.geometry.regions if r.scintillating)

    def __call__(self, chunk: EventChunk) -> dict[str, np.ndarray]:
        flags = hit_flags(chunk, self.pmts.n)
        clean = drop_hits_of(chunk, flags != 0)
        seed = centroid_vertex(clean, self.pmts.pos_mm, self.scale)
        fit = fit_vertices(clean, self.pmts.pos_mm, self.pmts.type_index, self.table, self.v, seed)
        vtx = fit["vertex_mm"]
        failed = ~np.isfinite(vtx).all(1) & (flags == 0)
        flags[failed] |= BAD_FLAGS["fit_failed"]
        r = np.linalg.norm(np.nan_to_num(vtx, nan=0.0), axis=1)
        flags[(r > self.r_max_mm) & (flags == 0)] |= BAD_FLAGS["vertex_outside"]
        valid = flags == 0
        e_raw = np.full(chunk.n_events, np.nan)
        if valid.any():
            e_raw[valid] = visible_energy(clean.total_charge()[valid], vtx[valid], self.model)
        e = e_raw.copy()
        if self.calibration is not None and valid.any():
            e[valid] = self.calibration(e_raw[valid], vtx[valid])
        nanv = np.where(valid[:, None], vtx, np.nan)
        return {"vertex_mm": nanv, "t0_ns": np.where(valid, fit["t0_ns"], np.nan), "energy_MeV": e,
                "energy_raw_MeV": e_raw, "valid": valid, "flags": flags, "centroid_mm": seed,
                "nll_per_hit": fit["nll_per_hit"]}
