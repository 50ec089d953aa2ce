"""KamNet input maps (PRC 107, 014323, eq. 1–2): proper hit times on a (t, theta, phi) grid.

Two levels of API:

* chunk-level helpers (``proper_times``, ``cell_index``, ``occupied_cells``, ``dense_maps``,
  ``select_pmts``) working on a whole :class:`~scintnet.io.events.EventChunk`;
* batch kernels (``batch_proper_times``, ``fill_maps``, ...) that read the hits of selected
  events straight from ragged arrays (no gather, no dense storage); the datasets use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from ..io.events import EventChunk

GRIDS = ("theta_phi", "equal_area")


@dataclass(frozen=True)
class MapSpec:
    """Binning of a spatiotemporal hit map.

    ``n_t`` bins of proper time over ``[t_min_ns, t_max_ns)``; hits below/above the window
    are kept in the first/last bin (paper: -20..22 ns, 28 bins of 1.5 ns).  ``grid`` is
    ``"theta_phi"`` (uniform in polar angle and azimuth, the paper's 38x38) or
    ``"equal_area"`` (uniform in cos(theta) and phi: every cell the same solid angle).

    ``t0_gate_ns``: None takes T0 as the paper does (eq. 2: charge-weighted mean of T_raw - TOF over
    all hits).  ``(lo, hi)`` restricts that mean to the hits whose residual to the vertex fit's start
    time lies in [lo, hi) — the first flash — so a delayed second flash in the same event (⁹⁰Nb's
    125 ns ⁹⁰Zr isomer, Bi–Po pile-up) no longer drags T0 between the two flashes; its hits then land
    in the last (overflow) time bin.  Events without hits in the gate fall back to eq. 2.
    """

    n_t: int = 28
    t_min_ns: float = -20.0
    t_max_ns: float = 22.0
    n_theta: int = 38
    n_phi: int = 38
    grid: str = "theta_phi"
    t0_gate_ns: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.n_t < 1 or self.n_theta < 1 or self.n_phi < 1:
            raise ValueError(f"MapSpec needs n_t, n_theta, n_phi >= 1 (got {self.n_t}, {self.n_theta}, {self.n_phi})")
        if not self.t_max_ns > self.t_min_ns:
            raise ValueError(f"MapSpec window must have t_max_ns > t_min_ns (got {self.t_min_ns}..{self.t_max_ns})")
        if self.grid not in GRIDS:
            raise ValueError(f"MapSpec grid must be one of {GRIDS}, got {self.grid!r}")
        if self.t0_gate_ns is not None:
            lo, hi = (float(x) for x in self.t0_gate_ns)
            if not hi > lo:
                raise ValueError(f"MapSpec t0_gate_ns must be (lo, hi) with hi > lo, got {self.t0_gate_ns}")
            object.__setattr__(self, "t0_gate_ns", (lo, hi))  # JSON lists -> a hashable tuple

    @property
    def gate(self) -> tuple[float, float]:
        """(lo, hi) for the kernels; (0, 0) means no gate (paper eq. 2)."""
        return self.t0_gate_ns if self.t0_gate_ns is not None else (0.0, 0.0)

    @classmethod
    def from_dt(cls, dt_ns: float, t_min_ns: float = -20.0, t_max_ns: float = 22.0, **kw) -> "MapSpec":
        """Spec with bins of ``dt_ns`` (rounded to a whole number of bins over the window)."""
        return cls(n_t=max(1, int(round((t_max_ns - t_min_ns) / dt_ns))), t_min_ns=t_min_ns, t_max_ns=t_max_ns, **kw)

    @property
    def dt_ns(self) -> float:
        return (self.t_max_ns - self.t_min_ns) / self.n_t

    @property
    def n_angle(self) -> int:
        return self.n_theta * self.n_phi

    @property
    def n_cells(self) -> int:
        return self.n_t * self.n_theta * self.n_phi

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_t, self.n_theta, self.n_phi)


PAPER_MAP = MapSpec()  # 28 x 38 x 38, -20..22 ns in 1.5 ns bins (KamNet paper sec. II)
# CPU scale: 3 ns bins over the same window and a 16x16 sphere -> 3,584 cells (11x fewer), so a
# small KamNet-like model trains on 2 cores in minutes while keeping the prompt/late-light split.
CPU_MAP = MapSpec(n_t=14, n_theta=16, n_phi=16)


# --------------------------------------------------------------------------- angles


def pmt_angle_bins(pmt_pos_mm: np.ndarray, spec: MapSpec) -> tuple[np.ndarray, np.ndarray]:
    """(theta, phi) bin of each PMT direction seen from the detector centre."""
    r = np.linalg.norm(pmt_pos_mm, axis=1)
    cos = np.clip(pmt_pos_mm[:, 2] / r, -1, 1)
    phi = np.arctan2(pmt_pos_mm[:, 1], pmt_pos_mm[:, 0]) + np.pi
    if spec.grid == "equal_area":
        u = (1.0 - cos) / 2.0  # 0 at the north pole, equal solid angle per bin
    else:
        u = np.arccos(cos) / np.pi
    it = np.minimum((u * spec.n_theta).astype(np.int64), spec.n_theta - 1)
    ip = np.minimum((phi / (2 * np.pi) * spec.n_phi).astype(np.int64), spec.n_phi - 1)
    return it, ip


def pixel_directions(n_theta: int, n_phi: int, grid: str) -> np.ndarray:
    """Unit vectors of the map's pixel centres [n_theta * n_phi, 3], row-major (θ index, φ index).

    The inverse of :func:`pmt_angle_bins` (each centre falls in its own bin): the spherical models
    build their pixel graphs from it, so the binning has one owner.
    """
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    u = (np.arange(n_theta) + 0.5) / n_theta
    cos = 1.0 - 2.0 * u if grid == "equal_area" else np.cos(np.pi * u)
    sin = np.sqrt(np.clip(1.0 - cos**2, 0.0, None))
    phi = 2 * np.pi * (np.arange(n_phi) + 0.5) / n_phi - np.pi
    d = np.stack([sin[:, None] * np.cos(phi)[None, :], sin[:, None] * np.sin(phi)[None, :],
                  np.broadcast_to(cos[:, None], (n_theta, n_phi))], axis=-1)
    return d.reshape(-1, 3)


def pmt_cells(pmt_pos_mm: np.ndarray, spec: MapSpec, keep_pmt: np.ndarray | None = None) -> np.ndarray:
    """int32[n_pmt] angular cell ``theta*n_phi + phi`` of each PMT, -1 for tubes not used."""
    it, ip = pmt_angle_bins(pmt_pos_mm, spec)
    cell = (it * spec.n_phi + ip).astype(np.int32)
    if keep_pmt is not None:
        cell = np.where(np.asarray(keep_pmt, bool), cell, -1).astype(np.int32)
    return cell


# --------------------------------------------------------------------------- chunk level


def proper_times(chunk: EventChunk, pmt_pos_mm: np.ndarray, vertex_mm: np.ndarray, v_mm_per_ns: float) -> np.ndarray:
    """tau = T_raw - TOF - T0 per hit (eq. 1), T0 the charge-weighted mean of T_raw - TOF (eq. 2)."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    d = np.linalg.norm(pmt_pos_mm[chunk.hit_pmt] - vertex_mm[ev], axis=1)
    tc = chunk.hit_time_ns.astype(np.float64) - d / v_mm_per_ns
    q = chunk.hit_charge_pe.astype(np.float64)
    t0 = np.bincount(ev, weights=q * tc, minlength=chunk.n_events) / np.maximum(
        np.bincount(ev, weights=q, minlength=chunk.n_events), 1e-12)
    return tc - t0[ev]


def time_bins(tau_ns: np.ndarray, spec: MapSpec) -> np.ndarray:
    """Time bin of each proper time; under/overflow go to the first/last bin."""
    x = np.floor((np.asarray(tau_ns, np.float64) - spec.t_min_ns) / spec.dt_ns)
    return np.clip(np.nan_to_num(x, nan=0.0), 0, spec.n_t - 1).astype(np.int64)


def cell_index(chunk: EventChunk, tau_ns: np.ndarray, pmt_pos_mm: np.ndarray, spec: MapSpec) -> np.ndarray:
    """Flat cell index t*(n_theta*n_phi) + theta*n_phi + phi per hit; under/overflow in edge bins."""
    cell = pmt_cells(pmt_pos_mm, spec)
    return time_bins(tau_ns, spec) * spec.n_angle + cell[chunk.hit_pmt]


def occupied_cells(chunk: EventChunk, tau_ns: np.ndarray, pmt_pos_mm: np.ndarray, spec: MapSpec = PAPER_MAP) -> np.ndarray:
    """Number of distinct occupied (t, theta, phi) cells per event (the paper's 'Nhit')."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    key = np.unique(ev * spec.n_cells + cell_index(chunk, tau_ns, pmt_pos_mm, spec))
    return np.bincount(key // spec.n_cells, minlength=chunk.n_events)


def dense_maps(chunk: EventChunk, tau_ns: np.ndarray, pmt_pos_mm: np.ndarray, spec: MapSpec = PAPER_MAP) -> np.ndarray:
    """float32[n_events, n_t, n_theta, n_phi] charge maps (vectorised scatter)."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    flat = np.bincount(ev * spec.n_cells + cell_index(chunk, tau_ns, pmt_pos_mm, spec),
                       weights=chunk.hit_charge_pe, minlength=chunk.n_events * spec.n_cells)
    return flat.astype(np.float32).reshape(chunk.n_events, *spec.shape)


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


# --------------------------------------------------------------------------- batch kernels
# Each kernel walks the hit range offsets[e]:offsets[e+1] of the requested events directly,
# so a batch never copies the hits of the whole set; PMTs with cell < 0 are ignored.
# ``t_fit`` float64[n_events] (the vertex fit's start times) and ``g_lo, g_hi`` are the T0 gate of
# ``MapSpec.t0_gate_ns``; g_hi <= g_lo (``MapSpec.gate`` of an ungated spec) is the paper's eq. 2.


@nb.njit(cache=True)
def _t0(offsets, pmt, time_ns, charge_pe, e, vx, vy, vz, pmt_pos, cell, inv_v, t_fit, lo, hi):
    """Charge-weighted mean of T_raw - TOF over the used hits of event e (eq. 2); with a gate
    (hi > lo and a finite fit start time ``t_fit``) only over hits with T_raw - TOF - t_fit in [lo, hi)."""
    gated = hi > lo and np.isfinite(t_fit)
    sq = 0.0
    sqt = 0.0
    gq = 0.0
    gqt = 0.0
    for h in range(offsets[e], offsets[e + 1]):
        p = pmt[h]
        if cell[p] < 0:
            continue
        dx = pmt_pos[p, 0] - vx
        dy = pmt_pos[p, 1] - vy
        dz = pmt_pos[p, 2] - vz
        tc = time_ns[h] - np.sqrt(dx * dx + dy * dy + dz * dz) * inv_v
        sq += charge_pe[h]
        sqt += charge_pe[h] * tc
        if gated and tc - t_fit >= lo and tc - t_fit < hi:
            gq += charge_pe[h]
            gqt += charge_pe[h] * tc
    if gq > 0:
        return gqt / gq
    return sqt / sq if sq > 0 else 0.0


@nb.njit(cache=True)
def fill_maps(out, idx, offsets, pmt, time_ns, charge_pe, vertex_mm, pmt_pos, cell, inv_v, t_fit, g_lo, g_hi,
              t_min, dt, n_t, n_angle, vertex_frame=False, n_theta=0, n_phi=0, equal_area=False):
    """Scatter charges into ``out`` float32[B, n_t*n_angle] (zeroed by the caller).

    ``vertex_frame``: the angular cell is the direction u = (PMT - vertex) / |PMT - vertex| seen from
    the event's vertex, binned like :func:`pmt_angle_bins` on an ``n_theta`` x ``n_phi`` grid (``cell``
    then only says which tubes are used).  Why: seen from the detector centre an off-centre event's map
    carries a dipole from its vertex offset (near tubes see more light) that the network must learn to
    undo at every radius.  Seen from the vertex, the tubes per solid angle grow as d^2 while each sees
    light as 1/d^2, so a point-like isotropic event gives a nearly flat map, and what is left is the
    event's own topology (the multi-site gamma deposits).
    """
    for b in range(idx.shape[0]):
        e = idx[b]
        vx, vy, vz = vertex_mm[e, 0], vertex_mm[e, 1], vertex_mm[e, 2]
        t0 = _t0(offsets, pmt, time_ns, charge_pe, e, vx, vy, vz, pmt_pos, cell, inv_v, t_fit[e], g_lo, g_hi)
        for h in range(offsets[e], offsets[e + 1]):
            p = pmt[h]
            c = cell[p]
            if c < 0:
                continue
            dx = pmt_pos[p, 0] - vx
            dy = pmt_pos[p, 1] - vy
            dz = pmt_pos[p, 2] - vz
            d = np.sqrt(dx * dx + dy * dy + dz * dz)
            tau = time_ns[h] - d * inv_v - t0
            k = int(np.floor((tau - t_min) / dt))
            k = min(max(k, 0), n_t - 1)
            if vertex_frame:
                cos = min(max(dz / d, -1.0), 1.0)
                u = (1.0 - cos) / 2.0 if equal_area else np.arccos(cos) / np.pi
                it = min(int(u * n_theta), n_theta - 1)
                ip = min(int((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * n_phi), n_phi - 1)
                c = it * n_phi + ip
            out[b, k * n_angle + c] += charge_pe[h]


@nb.njit(cache=True)
def count_cells(idx, offsets, pmt, time_ns, charge_pe, vertex_mm, pmt_pos, cell, inv_v, t_fit, g_lo, g_hi,
                t_min, dt, n_t, n_angle):
    """Occupied cells per event (int32[B]) with a reusable marker array (no dense maps)."""
    mark = np.full(n_t * n_angle, -1, np.int64)
    res = np.zeros(idx.shape[0], np.int32)
    for b in range(idx.shape[0]):
        e = idx[b]
        vx, vy, vz = vertex_mm[e, 0], vertex_mm[e, 1], vertex_mm[e, 2]
        t0 = _t0(offsets, pmt, time_ns, charge_pe, e, vx, vy, vz, pmt_pos, cell, inv_v, t_fit[e], g_lo, g_hi)
        n = 0
        for h in range(offsets[e], offsets[e + 1]):
            p = pmt[h]
            c = cell[p]
            if c < 0:
                continue
            dx = pmt_pos[p, 0] - vx
            dy = pmt_pos[p, 1] - vy
            dz = pmt_pos[p, 2] - vz
            tau = time_ns[h] - np.sqrt(dx * dx + dy * dy + dz * dz) * inv_v - t0
            k = min(max(int(np.floor((tau - t_min) / dt)), 0), n_t - 1)
            j = k * n_angle + c
            if mark[j] != b:
                mark[j] = b
                n += 1
        res[b] = n
    return res


@nb.njit(cache=True)
def fill_spectra(out, idx, offsets, pmt, time_ns, charge_pe, vertex_mm, pmt_pos, cell, inv_v, t_fit, g_lo, g_hi,
                 t_min, dt, n_bins):
    """Charge-weighted proper-time spectra float32[B, n_bins], edge bins keep under/overflow."""
    for b in range(idx.shape[0]):
        e = idx[b]
        vx, vy, vz = vertex_mm[e, 0], vertex_mm[e, 1], vertex_mm[e, 2]
        t0 = _t0(offsets, pmt, time_ns, charge_pe, e, vx, vy, vz, pmt_pos, cell, inv_v, t_fit[e], g_lo, g_hi)
        for h in range(offsets[e], offsets[e + 1]):
            p = pmt[h]
            if cell[p] < 0:
                continue
            dx = pmt_pos[p, 0] - vx
            dy = pmt_pos[p, 1] - vy
            dz = pmt_pos[p, 2] - vz
            tau = time_ns[h] - np.sqrt(dx * dx + dy * dy + dz * dz) * inv_v - t0
            k = min(max(int(np.floor((tau - t_min) / dt)), 0), n_bins - 1)
            out[b, k] += charge_pe[h]


@nb.njit(cache=True)
def fill_points(out, mask, idx, offsets, pmt, time_ns, charge_pe, vertex_mm, pmt_pos, pmt_dir, pmt_type, cell, inv_v,
                t_fit, g_lo, g_hi, vertex_frame=False, inv_r_ref=0.0):
    """Point cloud rows (dir x, y, z, tau, charge, type) of the used hits per event.

    ``out`` float32[B, N, 6] and ``mask`` bool[B, N] are zeroed by the caller; hits keep their
    stored order unless an event has more than N, then the earliest N in proper time are kept
    (in time order), so truncation drops the latest (mostly dark/late) light.

    ``vertex_frame``: ``out`` is float32[B, N, 8]; the direction is the unit vector from the
    reconstructed vertex to the PMT (the direction the light travelled) instead of ``pmt_dir``,
    and two rotation-invariant vertex scalars follow: u . r_vertex * inv_r_ref and
    |r_vertex| * inv_r_ref (``inv_r_ref``: 1 / PMT-sphere radius, 1/mm).
    """
    n_max = out.shape[1]
    for b in range(idx.shape[0]):
        e = idx[b]
        vx, vy, vz = vertex_mm[e, 0], vertex_mm[e, 1], vertex_mm[e, 2]
        t0 = _t0(offsets, pmt, time_ns, charge_pe, e, vx, vy, vz, pmt_pos, cell, inv_v, t_fit[e], g_lo, g_hi)
        a = offsets[e]
        m = offsets[e + 1] - a
        tau = np.empty(m)
        used = np.zeros(m, np.bool_)
        for j in range(m):
            p = pmt[a + j]
            used[j] = cell[p] >= 0
            dx = pmt_pos[p, 0] - vx
            dy = pmt_pos[p, 1] - vy
            dz = pmt_pos[p, 2] - vz
            tau[j] = time_ns[a + j] - np.sqrt(dx * dx + dy * dy + dz * dz) * inv_v - t0
        n_used = 0
        for j in range(m):
            if used[j]:
                n_used += 1
        # sort only when hits must be dropped: keep the earliest n_max
        order = np.argsort(tau) if n_used > n_max else np.arange(m)
        k = 0
        for j in order:
            if k >= n_max:
                break
            if not used[j]:
                continue
            p = pmt[a + j]
            if vertex_frame:
                ux = pmt_pos[p, 0] - vx
                uy = pmt_pos[p, 1] - vy
                uz = pmt_pos[p, 2] - vz
                un = 1.0 / np.sqrt(ux * ux + uy * uy + uz * uz)
                ux *= un
                uy *= un
                uz *= un
                out[b, k, 0] = ux
                out[b, k, 1] = uy
                out[b, k, 2] = uz
                out[b, k, 6] = (ux * vx + uy * vy + uz * vz) * inv_r_ref
                out[b, k, 7] = np.sqrt(vx * vx + vy * vy + vz * vz) * inv_r_ref
            else:
                out[b, k, 0] = pmt_dir[p, 0]
                out[b, k, 1] = pmt_dir[p, 1]
                out[b, k, 2] = pmt_dir[p, 2]
            out[b, k, 3] = tau[j]
            out[b, k, 4] = charge_pe[a + j]
            out[b, k, 5] = pmt_type[p]
            mask[b, k] = True
            k += 1
