"""Vertex reconstruction: charge centroid (fast seed) and hit-time likelihood (default).

The likelihood fit is a damped Newton (Levenberg–Marquardt) minimisation of
``-sum_i log f_type(i)(t_i - t0 - |x - p_i| / v)`` over (x, y, z, t0), run per event inside
one Numba kernel over all events of a chunk (no Python loop per event or per hit).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..io.events import EventChunk
from .timing import TimePDF, TimePDFTable

MIN_HITS = 4  # four parameters


def centroid_vertex(chunk: EventChunk, pmt_pos_mm: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Charge-weighted centroid of hit PMT positions times ``scale`` (radial-bias correction).

    A point source at radius r pulls the centroid only to about r * (acceptance
    asymmetry); ``scale`` (from :func:`centroid_scale`) undoes that bias.
    """
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    q = chunk.hit_charge_pe.astype(np.float64)
    out = np.zeros((chunk.n_events, 3))
    for k in range(3):
        out[:, k] = np.bincount(ev, weights=q * pmt_pos_mm[chunk.hit_pmt, k], minlength=chunk.n_events)
    qs = np.bincount(ev, weights=q, minlength=chunk.n_events)
    return scale * out / np.maximum(qs, 1e-9)[:, None]


def centroid_scale(expected_charge, pmt_pos_mm: np.ndarray, r_mm: float = 1000.0) -> float:
    """Ratio r / centroid radius for a point at radius ``r_mm`` under the optical model."""
    x = np.array([[0.0, 0.0, r_mm]])
    mu = expected_charge(x)[0]
    c = (mu[:, None] * pmt_pos_mm).sum(0) / mu.sum()
    return float(r_mm / c[2])


@nb.njit(cache=True)
def _lookup(tab, typ, x0, step, r):
    x = (r - x0) / step
    n = tab.shape[1]
    if x <= 0.0:
        return tab[typ, 0]
    if x >= n - 1:
        return tab[typ, n - 1]
    i = int(x)
    f = x - i
    return tab[typ, i] * (1.0 - f) + tab[typ, i + 1] * f


@nb.njit(cache=True)
def _nll(par, px, py, pz, t, typ, x0, step, lp, inv_v):
    s = 0.0
    for i in range(t.shape[0]):
        dx = par[0] - px[i]
        dy = par[1] - py[i]
        dz = par[2] - pz[i]
        d = np.sqrt(dx * dx + dy * dy + dz * dz)
        s -= _lookup(lp, typ[i], x0, step, t[i] - par[3] - d * inv_v)
    return s


@nb.njit(cache=True)
def _grad_hess(par, px, py, pz, t, typ, x0, step, lp, dlp, d2lp, inv_v, g, H):
    """Gradient and a positive semi-definite (Gauss–Newton) Hessian of the NLL."""
    g[:] = 0.0
    H[:, :] = 0.0
    J = np.empty(4)
    for i in range(t.shape[0]):
        dx = par[0] - px[i]
        dy = par[1] - py[i]
        dz = par[2] - pz[i]
        d = max(np.sqrt(dx * dx + dy * dy + dz * dz), 1e-6)
        r = t[i] - par[3] - d * inv_v
        d1 = _lookup(dlp, typ[i], x0, step, r)
        w = -_lookup(d2lp, typ[i], x0, step, r)
        if w < 0.0:
            w = 0.0  # drop the non-convex tail curvature; damping takes care of the rest
        J[0] = -dx / d * inv_v
        J[1] = -dy / d * inv_v
        J[2] = -dz / d * inv_v
        J[3] = -1.0
        for a in range(4):
            g[a] -= d1 * J[a]
            for b in range(4):
                H[a, b] += w * J[a] * J[b]


@nb.njit(cache=True)
def _fit_one(par, px, py, pz, t, typ, x0, step, lp, dlp, d2lp, inv_v, max_iter):
    # t0 seed: scan the likelihood over t0 at the seed vertex (robust against dark hits)
    m = t.shape[0]
    tc = np.empty(m)
    for i in range(m):
        dx = par[0] - px[i]
        dy = par[1] - py[i]
        dz = par[2] - pz[i]
        tc[i] = t[i] - np.sqrt(dx * dx + dy * dy + dz * dz) * inv_v
    med = np.median(tc)
    best = 1e300
    for k in range(121):
        t0 = med - 40.0 + 0.5 * k
        s = 0.0
        for i in range(m):
            s -= _lookup(lp, typ[i], x0, step, tc[i] - t0)
        if s < best:
            best = s
            par[3] = t0
    g = np.empty(4)
    H = np.empty((4, 4))
    A = np.empty((4, 4))
    f = _nll(par, px, py, pz, t, typ, x0, step, lp, inv_v)
    lam = 1e-3
    n_it = 0
    for it in range(max_iter):
        n_it = it + 1
        _grad_hess(par, px, py, pz, t, typ, x0, step, lp, dlp, d2lp, inv_v, g, H)
        accepted = False
        while lam < 1e10:
            for a in range(4):
                for b in range(4):
                    A[a, b] = H[a, b]
                A[a, a] += lam * max(H[a, a], 1e-12)
            delta = -np.linalg.solve(A, g)
            trial = par + delta
            ft = _nll(trial, px, py, pz, t, typ, x0, step, lp, inv_v)
            if ft < f:
                par[:] = trial
                accepted = True
                lam = max(lam * 0.3, 1e-6)
                break
            lam *= 5.0
        if not accepted:
            break
        small = abs(delta[0]) + abs(delta[1]) + abs(delta[2]) < 0.5 and abs(delta[3]) < 0.01
        f_old = f
        f = _nll(par, px, py, pz, t, typ, x0, step, lp, inv_v)
        if small or f_old - f < 1e-6:
            break
    return f, n_it


@nb.njit(cache=True)
def _fit_all(offsets, pmt, time_ns, pmt_pos, pmt_type, seeds, x0, step, lp, dlp, d2lp, inv_v, max_iter, min_hits):
    n = offsets.shape[0] - 1
    out = np.full((n, 4), np.nan)
    nll = np.full(n, np.nan)
    iters = np.zeros(n, np.int32)
    par = np.empty(4)
    for e in range(n):
        a = offsets[e]
        m = offsets[e + 1] - a
        if m < min_hits:
            continue
        px = np.empty(m)
        py = np.empty(m)
        pz = np.empty(m)
        t = np.empty(m)
        typ = np.empty(m, np.int64)
        for j in range(m):
            p = pmt[a + j]
            px[j] = pmt_pos[p, 0]
            py[j] = pmt_pos[p, 1]
            pz[j] = pmt_pos[p, 2]
            t[j] = time_ns[a + j]
            typ[j] = pmt_type[p]
        par[0] = seeds[e, 0]
        par[1] = seeds[e, 1]
        par[2] = seeds[e, 2]
        par[3] = 0.0
        f, k = _fit_one(par, px, py, pz, t, typ, x0, step, lp, dlp, d2lp, inv_v, max_iter)
        out[e] = par
        nll[e] = f / m
        iters[e] = k
    return out, nll, iters


def fit_vertices(chunk: EventChunk, pmt_pos_mm: np.ndarray, pmt_type: np.ndarray, table: TimePDFTable,
                 v_mm_per_ns: float, seed_mm: np.ndarray, max_iter: int = 50) -> dict[str, np.ndarray]:
    """Time-likelihood vertices of all events of ``chunk`` (Numba, one kernel call).

    Returns ``vertex_mm`` float64[n, 3], ``t0_ns`` float64[n] (start time: the residual PDF's
    zero), ``nll_per_hit`` and ``iterations``; events with fewer than 4 hits get NaN.
    """
    pmt_type = np.asarray(pmt_type, np.int64)
    if table.logpdf.shape[0] <= int(pmt_type.max(initial=0)):
        raise ValueError(f"time-PDF table has {table.logpdf.shape[0]} PMT types, layout uses {int(pmt_type.max()) + 1}")
    res, nll, it = _fit_all(np.asarray(chunk.hit_offsets, np.int64), np.asarray(chunk.hit_pmt, np.int64),
                            np.asarray(chunk.hit_time_ns, np.float64), np.asarray(pmt_pos_mm, np.float64),
                            pmt_type, np.asarray(seed_mm, np.float64), table.t0_ns, table.step_ns, table.logpdf,
                            table.dlogpdf, table.d2logpdf, 1.0 / v_mm_per_ns, max_iter, MIN_HITS)
    return {"vertex_mm": res[:, :3], "t0_ns": res[:, 3], "nll_per_hit": nll, "iterations": it}


def fit_vertex_time(chunk: EventChunk, pmt_pos_mm: np.ndarray, pdf: TimePDF, v_mm_per_ns: float,
                    seed_mm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood vertex (mm) and start time t0 (ns) per event with one PDF for all tubes."""
    seeds = np.zeros((chunk.n_events, 3)) if seed_mm is None else seed_mm
    n_pmt = pmt_pos_mm.shape[0]
    r = fit_vertices(chunk, pmt_pos_mm, np.zeros(n_pmt, np.int64), TimePDFTable.from_pdf(pdf), v_mm_per_ns, seeds)
    return r["vertex_mm"], r["t0_ns"]
