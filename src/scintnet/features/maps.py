"""KamNet input maps (PRC 107, 014323, eq. 1–2): proper hit times on a (t, theta, phi) grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.events import EventChunk


@dataclass(frozen=True)
class MapSpec:
    t_min_ns: float = -20.0
    t_max_ns: float = 22.0
    dt_ns: float = 1.5
    n_theta: int = 38
    n_phi: int = 38

    @property
    def n_t(self) -> int:
        return int(round((self.t_max_ns - self.t_min_ns) / self.dt_ns))


def proper_times(chunk: EventChunk, pmt_pos_mm: np.ndarray, vertex_mm: np.ndarray, v_mm_per_ns: float) -> np.ndarray:
    """tau = T_raw - TOF - T0 per hit (eq. 1), T0 the charge-weighted mean of T_raw - TOF (eq. 2)."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    d = np.linalg.norm(pmt_pos_mm[chunk.hit_pmt] - vertex_mm[ev], axis=1)
    tc = chunk.hit_time_ns.astype(np.float64) - d / v_mm_per_ns
    q = chunk.hit_charge_pe.astype(np.float64)
    t0 = np.bincount(ev, weights=q * tc, minlength=chunk.n_events) / np.maximum(
        np.bincount(ev, weights=q, minlength=chunk.n_events), 1e-12)
    return tc - t0[ev]


def pmt_angle_bins(pmt_pos_mm: np.ndarray, spec: MapSpec) -> tuple[np.ndarray, np.ndarray]:
    """(theta, phi) bin of each PMT direction seen from the detector centre."""
    r = np.linalg.norm(pmt_pos_mm, axis=1)
    theta = np.arccos(np.clip(pmt_pos_mm[:, 2] / r, -1, 1))
    phi = np.arctan2(pmt_pos_mm[:, 1], pmt_pos_mm[:, 0]) + np.pi
    it = np.minimum((theta / np.pi * spec.n_theta).astype(np.int64), spec.n_theta - 1)
    ip = np.minimum((phi / (2 * np.pi) * spec.n_phi).astype(np.int64), spec.n_phi - 1)
    return it, ip


def cell_index(chunk: EventChunk, tau_ns: np.ndarray, pmt_pos_mm: np.ndarray, spec: MapSpec) -> np.ndarray:
    """Flat cell index t*(n_theta*n_phi) + theta*n_phi + phi per hit; under/overflow in edge bins."""
    it, ip = pmt_angle_bins(pmt_pos_mm, spec)
    tb = np.clip(np.floor((tau_ns - spec.t_min_ns) / spec.dt_ns).astype(np.int64), 0, spec.n_t - 1)
    return (tb * spec.n_theta + it[chunk.hit_pmt]) * spec.n_phi + ip[chunk.hit_pmt]


def occupied_cells(chunk: EventChunk, tau_ns: np.ndarray, pmt_pos_mm: np.ndarray, spec: MapSpec = MapSpec()) -> np.ndarray:
    """Number of distinct occupied (t, theta, phi) cells per event."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    ncell = spec.n_t * spec.n_theta * spec.n_phi
    key = np.unique(ev * ncell + cell_index(chunk, tau_ns, pmt_pos_mm, spec))
    return np.bincount(key // ncell, minlength=chunk.n_events)


def dense_maps(chunk: EventChunk, tau_ns: np.ndarray, pmt_pos_mm: np.ndarray, spec: MapSpec = MapSpec()) -> np.ndarray:
    """float32[n_events, n_t, n_theta, n_phi] charge maps (vectorised scatter)."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    ncell = spec.n_t * spec.n_theta * spec.n_phi
    flat = np.bincount(ev * ncell + cell_index(chunk, tau_ns, pmt_pos_mm, spec),
                       weights=chunk.hit_charge_pe, minlength=chunk.n_events * ncell)
    return flat.astype(np.float32).reshape(chunk.n_events, spec.n_t, spec.n_theta, spec.n_phi)


def select_pmts(chunk: EventChunk, keep_pmt: np.ndarray) -> EventChunk:
    """Hits of the PMTs with ``keep_pmt[pmt]`` true (e.g. only the fast 17-inch tubes)."""
    keep = np.asarray(keep_pmt, bool)[chunk.hit_pmt]
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    counts = np.bincount(ev[keep], minlength=chunk.n_events)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return EventChunk(
        hit_offsets=offsets, hit_pmt=chunk.hit_pmt[keep], hit_time_ns=chunk.hit_time_ns[keep],
        hit_charge_pe=chunk.hit_charge_pe[keep], vertex_mm=chunk.vertex_mm, edep_MeV=chunk.edep_MeV,
        evis_MeV=chunk.evis_MeV, npe=chunk.npe, label=chunk.label,
    )
