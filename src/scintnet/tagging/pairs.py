"""Candidate ↔ (muon, neutrons) association: the common input of the spallation taggers.

For every candidate decay, every preceding muon within ``window_s`` that has at least one
detected neutron capture within ``max_distance_mm`` of the candidate forms a *pair* with
features (I) the number of such neutrons, (II) the distance to the nearest one and (III)
the time since the muon (article 000 sec. 4.2).  The search is a Numba two-pointer sweep
over time-sorted neutrons, restricted to neutrons that can be near a candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from ..io.stream import EVENT_TYPES, Stream


@dataclass
class Candidates:
    """Candidate decays (rows of the stream's event table) with truth labels."""

    row: np.ndarray  # int64 row in /events
    t_s: np.ndarray
    pos_mm: np.ndarray
    E_MeV: np.ndarray
    is_spallation: np.ndarray  # bool: Xe spallation product (incl. 137Xe)
    parent_muon: np.ndarray  # int64 true parent muon row (-1 none)
    etype: np.ndarray

    def __len__(self) -> int:
        return int(self.row.size)

    def subset(self, m: np.ndarray) -> "Candidates":
        return Candidates(*(getattr(self, f)[m] for f in self.__dataclass_fields__))


def select_candidates(stream: Stream, fiducial_radius_mm: float, min_energy_MeV: float,
                      types: tuple[str, ...] = ("spall_xe", "xe137", "xe136_2vbb", "xe136_0vbb")) -> Candidates:
    """Detected events of ``types`` reconstructed inside the fiducial radius above threshold."""
    ev = stream.events
    m = (stream.of_type(*types) & (ev["detected"] == 1) & (ev["E_MeV"] > min_energy_MeV)
         & (np.linalg.norm(ev["pos_mm"], axis=1) < fiducial_radius_mm))
    rows = np.flatnonzero(m)
    spall = np.isin(ev["type"][rows], [EVENT_TYPES["spall_xe"], EVENT_TYPES["xe137"]])
    return Candidates(rows, ev["t_s"][rows], ev["pos_mm"][rows].astype(np.float64), ev["E_MeV"][rows], spall,
                      np.where(spall, ev["muon"][rows], -1), ev["type"][rows])


@dataclass
class Pairs:
    """Ragged (candidate → pairs) table; pair ``j`` of candidate ``i`` is ``offsets[i] + j``."""

    offsets: np.ndarray
    muon: np.ndarray
    n_near: np.ndarray
    d_min_mm: np.ndarray
    dt_s: np.ndarray

    def candidate_of_pair(self) -> np.ndarray:
        return np.repeat(np.arange(self.offsets.size - 1), np.diff(self.offsets))


@dataclass
class NeutronTable:
    t_s: np.ndarray
    pos_mm: np.ndarray
    muon: np.ndarray
    muon_t_s: np.ndarray


def neutron_table(stream: Stream, near_radius_mm: float | None = None) -> NeutronTable:
    """Detected spallation-neutron captures (time-sorted), optionally only within ``near_radius_mm``."""
    ev = stream.events
    m = np.isin(ev["type"], [EVENT_TYPES["neutron"], EVENT_TYPES["ncap_xe136"]]) & (ev["detected"] == 1) & (ev["muon"] >= 0)
    if near_radius_mm is not None:
        m &= np.linalg.norm(ev["pos_mm"], axis=1) < near_radius_mm
    r = np.flatnonzero(m)
    mu = ev["muon"][r]
    return NeutronTable(ev["t_s"][r], ev["pos_mm"][r].astype(np.float64), mu, stream.muons["t_s"][mu])


@nb.njit(cache=True)
def _pairs_kernel(ct, cp, nt, np_, nmu, nmut, window, rmax):
    nc = ct.size
    cap = 1024
    off = np.zeros(nc + 1, np.int64)
    out_mu = np.empty(cap, np.int64)
    out_n = np.empty(cap, np.int32)
    out_d = np.empty(cap, np.float64)
    out_dt = np.empty(cap, np.float64)
    bm = np.empty(4096, np.int64)
    bd = np.empty(4096, np.float64)
    bt = np.empty(4096, np.float64)
    lo = 0
    npair = 0
    r2 = rmax * rmax
    for i in range(nc):
        t = ct[i]
        while lo < nt.size and nmut[lo] < t - window:
            lo += 1
        k = 0
        j = lo
        while j < nt.size and nt[j] < t:
            dx = np_[j, 0] - cp[i, 0]
            dy = np_[j, 1] - cp[i, 1]
            dz = np_[j, 2] - cp[i, 2]
            d2 = dx * dx + dy * dy + dz * dz
            if d2 < r2 and nmut[j] >= t - window:
                if k == bm.size:
                    bm2 = np.empty(2 * k, np.int64)
                    bd2 = np.empty(2 * k, np.float64)
                    bt2 = np.empty(2 * k, np.float64)
                    bm2[:k] = bm
                    bd2[:k] = bd
                    bt2[:k] = bt
                    bm, bd, bt = bm2, bd2, bt2
                bm[k] = nmu[j]
                bd[k] = np.sqrt(d2)
                bt[k] = t - nmut[j]
                k += 1
            j += 1
        if k > 0:
            o = np.argsort(bm[:k])
            s = 0
            while s < k:
                e = s
                m = bm[o[s]]
                dmin = bd[o[s]]
                while e < k and bm[o[e]] == m:
                    if bd[o[e]] < dmin:
                        dmin = bd[o[e]]
                    e += 1
                if npair == out_mu.size:
                    n2 = 2 * npair
                    a = np.empty(n2, np.int64)
                    a[:npair] = out_mu
                    out_mu = a
                    b = np.empty(n2, np.int32)
                    b[:npair] = out_n
                    out_n = b
                    c = np.empty(n2, np.float64)
                    c[:npair] = out_d
                    out_d = c
                    d = np.empty(n2, np.float64)
                    d[:npair] = out_dt
                    out_dt = d
                out_mu[npair] = m
                out_n[npair] = e - s
                out_d[npair] = dmin
                out_dt[npair] = bt[o[s]]
                npair += 1
                s = e
        off[i + 1] = npair
    return off, out_mu[:npair], out_n[:npair], out_d[:npair], out_dt[:npair]


def find_pairs(cands: Candidates, neutrons: NeutronTable, window_s: float, max_distance_mm: float) -> Pairs:
    """All (candidate, muon) pairs with ≥1 detected neutron within ``max_distance_mm`` and the window.

    Candidates must be time-sorted (``select_candidates`` returns them so).
    """
    if len(cands) and np.any(np.diff(cands.t_s) < 0):
        raise ValueError("candidates must be sorted in time")
    order = np.argsort(neutrons.t_s, kind="stable")
    off, mu, n, d, dt = _pairs_kernel(cands.t_s, np.ascontiguousarray(cands.pos_mm), neutrons.t_s[order],
                                      np.ascontiguousarray(neutrons.pos_mm[order]), neutrons.muon[order],
                                      neutrons.muon_t_s[order], float(window_s), float(max_distance_mm))
    return Pairs(off, mu, n, d, dt)


def best_pair_by_count(pairs: Pairs) -> np.ndarray:
    """Index of each candidate's pair with the most neutrons near it (ties: nearest neutron); -1 if none."""
    nc = pairs.offsets.size - 1
    best = np.full(nc, -1, np.int64)
    if pairs.muon.size == 0:
        return best
    cand = pairs.candidate_of_pair()
    key = pairs.n_near.astype(np.float64) - pairs.d_min_mm / 1e5  # lexicographic (n, -d)
    order = np.lexsort((key, cand))
    last = np.r_[cand[order][1:] != cand[order][:-1], True]
    best[cand[order][last]] = order[last]
    return best
