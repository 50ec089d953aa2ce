"""Truth site multiplicity of an event (talk 001's interpretability study: KamNet trained on
single- vs multi-site 3 MeV gammas, then compared with the electron / electron-gamma model).

A *site* is a cluster of energy deposits: deposits closer than ``link_mm`` are joined
(single linkage; electron tracks of a few MeV are ≲ 1–2 cm long, Compton sites of MeV gammas
are ~10–30 cm apart), and a cluster counts if it holds at least ``min_frac`` of the event's
visible energy (default 10 %: small Compton kicks barely change the light pattern).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit


@njit(cache=True)
def _sites(offsets, pos, evis, link2, min_frac):  # pragma: no cover - numba
    n_ev = offsets.size - 1
    out = np.zeros(n_ev, np.int32)
    for e in range(n_ev):
        a, b = offsets[e], offsets[e + 1]
        m = b - a
        if m == 0:
            continue
        parent = np.arange(m)
        for i in range(m):
            for j in range(i + 1, m):
                d2 = 0.0
                for k in range(3):
                    d = pos[a + i, k] - pos[a + j, k]
                    d2 += d * d
                if d2 < link2:
                    ri = i
                    while parent[ri] != ri:
                        ri = parent[ri]
                    rj = j
                    while parent[rj] != rj:
                        rj = parent[rj]
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
        tot = 0.0
        for i in range(m):
            tot += evis[a + i]
        esum = np.zeros(m)
        for i in range(m):
            r = i
            while parent[r] != r:
                r = parent[r]
            esum[r] += evis[a + i]
        c = 0
        for i in range(m):
            if tot > 0 and esum[i] >= min_frac * tot:
                c += 1
        out[e] = c
    return out


def site_count(chunk, link_mm: float = 30.0, min_frac: float = 0.1) -> np.ndarray:
    """Number of deposit clusters per event (needs per-deposit truth: simulate with deposits)."""
    if chunk.dep_offsets.size != chunk.n_events + 1:
        raise ValueError("the events have no per-deposit truth (simulate without --no-deposits)")
    return _sites(chunk.dep_offsets, chunk.dep_pos_mm.astype(np.float64), chunk.dep_evis_MeV.astype(np.float64),
                  float(link_mm) ** 2, float(min_frac))


def split_by_sites(path: str | Path, out_single: str | Path, out_multi: str | Path, link_mm: float = 30.0,
                   min_frac: float = 0.1) -> dict:
    """Write the single-site (1 cluster) and multi-site (≥ 2) events of a file to two event files."""
    from ..io.store import EventFile, write_events

    with EventFile(path) as f:
        c = f.read(0, None, truth_detail=True)
        run, det, preset = f.run, f.detector_json, f.h5.attrs.get("preset", "")
        pos, typ = f.pmt_positions_mm(), f.pmt_types()
    n = site_count(c, link_mm, min_frac)
    single, multi = np.flatnonzero(n == 1), np.flatnonzero(n >= 2)
    for idx, out, lab in ((single, out_single, "single-site"), (multi, out_multi, "multi-site")):
        meta = {**run, "subset": lab, "site_link_mm": link_mm, "site_min_frac": min_frac, "parent_file": str(path)}
        write_events(out, [c.take(idx)], meta, det, str(preset), pos, typ)
    return {"n_events": int(c.n_events), "n_single": int(single.size), "n_multi": int(multi.size),
            "site_histogram": np.bincount(n).tolist()}
