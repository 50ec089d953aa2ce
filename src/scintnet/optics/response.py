"""Light emission, propagation and PMT response: photoelectrons and the hits the readout keeps.

Two modes give the same physics (``mode=``):

``"reference"``
    every optical photon is tracked (:mod:`scintnet.optics.tracking`): scintillation photons,
    Poisson(light yield x visible energy) per deposit, isotropic, wavelength from the PPO spectrum,
    start time = deposit time + scintillation profile; Cherenkov photons on the cone of each e-/e+ track
    segment (Frank-Tamm with n(lambda)).  Used to validate and to build the light tables.
``"production"`` (default)
    photoelectrons are sampled directly.  Scintillation light has two components:

    * direct: mu_ij = N_gamma A_j QE_j cos(eta_ij) / (4 pi d_ij^2) * T(d_LS, d_oil), the gray-disk flux with the
      spectrum-averaged transmission T over the path lengths in LS and oil; each p.e. gets a wavelength from
      the spectrum transmitted along that path and flies at c / n_g(lambda) in each medium (dispersion);
    * scattered / re-emitted: per unit photocathode area, a table in (source radius, cos angle between the
      source and the tube directions) of the detected fraction and of its time-residual distribution
      (t - t_emit - |x_pmt - x_src| n_g(400 nm)/c), built once by the reference mode and cached
      (:mod:`scintnet.optics.tables`).

    Cherenkov photons (few: ~2 % of the light) are tracked as in the reference mode.

Both modes then go through one readout: transit-time spread (Gaussian), single-p.e. charge (Gaussian),
dark hits uniform in the window, first-hit time and total charge per PMT above threshold.

Why Numba: per event the work is a loop over deposits x PMTs followed by a variable number of
photoelectrons per PMT; vectorising it in NumPy needs (events x deposits x PMTs) temporaries and ragged
repeats (the compiled loop was ~6x faster, benchmarks/bench_sim.py).  Deposits closer than ``CLUSTER_MM``
share one solid-angle computation; photon *times* always use the exact deposit position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numba as nb
import numpy as np

from ..detector.config import DetectorConfig
from ..detector.pmts import PMTArray
from ..physics.particles import ALPHA, Deposits
from . import media, rng, tracking
from .tracking import FLAG_CHERENKOV, propagate, sample_bin

CLUSTER_MM = 50.0
MODES = ("production", "reference")


@dataclass
class Hits:
    """Ragged per-event PMT hits of one chunk.

    offsets : int64[n_events + 1]  hits of event e are ``offsets[e]:offsets[e+1]``
    pmt : int32[n_hits]            PMT index
    time_ns : float32[n_hits]      first-hit time (relative to the decay)
    charge_pe : float32[n_hits]    total charge in p.e.
    npe : int32[n_events]          true number of photoelectrons (signal, not dark)
    pe : PhotoElectrons | None     the photoelectrons before the readout (when asked for)
    """

    offsets: np.ndarray
    pmt: np.ndarray
    time_ns: np.ndarray
    charge_pe: np.ndarray
    npe: np.ndarray
    pe: "PhotoElectrons | None" = None

    @property
    def n_events(self) -> int:
        return int(self.offsets.size - 1)

    def nhit(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class PhotoElectrons:
    """Photoelectrons of a chunk before the readout: event-sorted, times without the transit-time spread.

    flags: bit 0 scattered, bit 1 re-emitted, bit 2 Cherenkov (:mod:`scintnet.optics.tracking`).
    """

    offsets: np.ndarray
    pmt: np.ndarray
    time_ns: np.ndarray
    flags: np.ndarray


# ----------------------------------------------------------------------------------- shared pieces
@nb.njit(cache=True, inline="always")
def _sample_emission(st, taus, emis, row):
    """Scintillation delay of row ``row`` (0 electrons, 1 alphas) of the table of :func:`emission_table`.

    Inverse CDF of the whole profile (mixture of rise + exponential decays) with one uniform and linear
    interpolation; in the last quantile bin, the exact tail: a component by its share of the tail, then
    t0 + Exp(tau) (memoryless; the rise term is e^(-t0/rise) ~ 0 there).  Two logarithms per p.e. were
    the largest single cost of the production mode.
    """
    m = taus.size
    nq = emis.shape[1] - 2 * m
    f = rng.uniform(st) * (nq - 1)
    i = int(f)
    if i < nq - 2:
        a = emis[row, 2 * m + i]
        return a + (f - i) * (emis[row, 2 * m + i + 1] - a)
    u = rng.uniform(st)
    k = 0
    while k < m - 1 and u > emis[row, m + k]:
        k += 1
    return emis[row, 2 * m + nq - 2] + rng.exponential(st, taus[k])


N_Q_EMISSION = 4097


def emission_table(rise_ns: float, taus_ns, weights, alpha_weights) -> np.ndarray:
    """float64[2, 2 m + N_Q_EMISSION]: per row (electron, alpha) the cumulative component weights, the
    cumulative component shares of the tail beyond the last-but-one quantile, and the quantiles of the
    scintillation-delay distribution at levels i / (N_Q_EMISSION - 1)."""
    taus = np.asarray(taus_ns, float)
    m = taus.size
    t = np.linspace(0.0, 40.0 * taus.max() + 10.0 * rise_ns, 2_000_001)
    out = np.zeros((2, 2 * m + N_Q_EMISSION))
    levels = np.linspace(0.0, 1.0, N_Q_EMISSION)
    for row, w in enumerate((weights, alpha_weights)):
        w = np.asarray(w, float) / np.sum(w)
        surv = np.zeros((m, t.size))
        for k, tau in enumerate(taus):
            if rise_ns > 0 and abs(tau - rise_ns) > 1e-9:
                surv[k] = (tau * np.exp(-t / tau) - rise_ns * np.exp(-t / rise_ns)) / (tau - rise_ns)
            else:
                surv[k] = np.exp(-t / tau)
        cdf = 1.0 - (w[:, None] * surv).sum(0)
        q = np.interp(levels, cdf, t)
        t0 = q[-2]
        s0 = np.array([np.interp(t0, t, surv[k]) for k in range(m)]) * w
        out[row, :m] = np.cumsum(w)
        out[row, m:2 * m] = np.cumsum(s0 / s0.sum())
        out[row, 2 * m:] = q
    return out


@nb.njit(cache=True)
def _ensure(buf_pmt, buf_t, buf_f, n, extra):
    """Room for ``extra`` more photoelectrons (called before a loop, never inside one)."""
    if n + extra <= buf_pmt.size:
        return buf_pmt, buf_t, buf_f
    cap = 2 * buf_pmt.size + extra
    a = np.empty(cap, np.int32)
    a[:n] = buf_pmt[:n]
    b = np.empty(cap, np.float64)
    b[:n] = buf_t[:n]
    c = np.empty(cap, np.int8)
    c[:n] = buf_f[:n]
    return a, b, c


@nb.njit(cache=True, inline="always")
def _push(buf_pmt, buf_t, buf_f, n, pmt, t_ns, flag) -> int:
    """Store one photoelectron at index ``n`` (room made by :func:`_ensure`); returns the new count."""
    buf_pmt[n] = pmt
    buf_t[n] = t_ns
    buf_f[n] = flag
    return n + 1


@nb.njit(cache=True)
def _cherenkov_photons(st, g, dep_pos, dep_t, dep_dir, dep_tk, dep_ed, dep_reg, ch_tgrid, ch_cum,
                       ch_n, wl_w, r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray, re_p, re_tau, em_cdf, pos, r2_disk,
                       qe, resp, g_off, g_idx, n_z, n_phi, buf_pmt, buf_t, buf_f, n):
    """Track the Cherenkov photons of one e-/e+ track segment (deposit ``g``)."""
    tk = dep_tk[g]
    if tk <= 0.0 or dep_dir[g, 0] * dep_dir[g, 0] + dep_dir[g, 1] * dep_dir[g, 1] + dep_dir[g, 2] * dep_dir[g, 2] < 0.5:
        return buf_pmt, buf_t, buf_f, n
    reg = dep_reg[g]
    tl = max(tk - dep_ed[g], ch_tgrid[0])
    nc_hi = np.interp(tk, ch_tgrid, ch_cum[reg])
    nc_lo = np.interp(tl, ch_tgrid, ch_cum[reg]) if tl > ch_tgrid[0] else 0.0
    mean = nc_hi - nc_lo
    if mean <= 0.0:
        return buf_pmt, buf_t, buf_f, n
    nph = rng.poisson(st, mean)
    buf_pmt, buf_t, buf_f = _ensure(buf_pmt, buf_t, buf_f, n, nph)
    tm = 0.5 * (tk + tl)
    gm = 1.0 + tm / 0.51099895
    beta = math.sqrt(1.0 - 1.0 / (gm * gm))
    for _ in range(nph):
        # wavelength ~ (1 - 1/(beta n)^2) / lambda^2 on the grid (rejection against 1/lambda^2)
        k = 0
        cost = 1.0
        for _try in range(100):
            k = sample_bin(st, wl_w)
            nn = ch_n[reg, k]
            f = 1.0 - 1.0 / (beta * beta * nn * nn)
            if f > 0.0 and rng.uniform(st) * (1.0 - 1.0 / (nn * nn)) < f:
                cost = 1.0 / (beta * nn)
                break
        ux, uy, uz = tracking._rotate(dep_dir[g, 0], dep_dir[g, 1], dep_dir[g, 2], cost,
                                      2.0 * math.pi * rng.uniform(st))
        alive, x, y, z, t, k2, fl = propagate(st, dep_pos[g, 0], dep_pos[g, 1], dep_pos[g, 2], ux, uy, uz, dep_t[g], k,
                                              FLAG_CHERENKOV, r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray, re_p,
                                              re_tau, em_cdf)
        j = tracking.detect(st, x, y, z, k2, pos, r2_disk, qe, resp, g_off, g_idx, n_z, n_phi) if alive else -1
        if j >= 0:
            n = _push(buf_pmt, buf_t, buf_f, n, j, t, fl)
    return buf_pmt, buf_t, buf_f, n


# ----------------------------------------------------------------------------------- reference mode
@nb.njit(cache=True)
def _reference_pe(st, n_events, dep_offsets, dep_pos, dep_t, dep_evis, dep_alpha, dep_dir, dep_tk, dep_ed,
                  dep_reg, light_yield, taus, cumw, r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray,
                  re_p, re_tau, em_cdf, resp, pos, r2_disk, qe, g_off, g_idx, n_z, n_phi, do_ch, ch_tgrid, ch_cum,
                  ch_n, wl_w):
    cap = max(1024, n_events * 256)
    buf_pmt = np.empty(cap, np.int32)
    buf_t = np.empty(cap, np.float64)
    buf_f = np.empty(cap, np.int8)
    offsets = np.zeros(n_events + 1, np.int64)
    n = 0
    for e in range(n_events):
        for g in range(dep_offsets[e], dep_offsets[e + 1]):
            if dep_evis[g] > 0.0:
                nph = rng.poisson(st, light_yield * dep_evis[g])
                buf_pmt, buf_t, buf_f = _ensure(buf_pmt, buf_t, buf_f, n, nph)
                for _ in range(nph):
                    te = _sample_emission(st, taus, cumw, 1 if dep_alpha[g] else 0)
                    ux, uy, uz = tracking._iso(st)
                    k = sample_bin(st, em_cdf)
                    alive, x, y, z, t, k2, fl = propagate(st, dep_pos[g, 0], dep_pos[g, 1], dep_pos[g, 2], ux, uy, uz,
                                                          dep_t[g] + te, k, 0, r_outer, r_pmt, slow, mu_re, mu_ab,
                                                          mu_ray, re_p, re_tau, em_cdf)
                    j = tracking.detect(st, x, y, z, k2, pos, r2_disk, qe, resp, g_off, g_idx, n_z, n_phi) if alive else -1
                    if j >= 0:
                        n = _push(buf_pmt, buf_t, buf_f, n, j, t, fl)
            if do_ch and not dep_alpha[g]:
                buf_pmt, buf_t, buf_f, n = _cherenkov_photons(
                    st, g, dep_pos, dep_t, dep_dir, dep_tk, dep_ed, dep_reg, ch_tgrid, ch_cum, ch_n, wl_w,
                    r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray, re_p, re_tau, em_cdf, pos, r2_disk, qe, resp,
                    g_off, g_idx, n_z, n_phi, buf_pmt, buf_t, buf_f, n)
        offsets[e + 1] = n
    return offsets, buf_pmt[:n].copy(), buf_t[:n].copy(), buf_f[:n].copy()


# ----------------------------------------------------------------------------------- production mode
@nb.njit(cache=True, inline="always")
def _path_split(px, py, pz, qx, qy, qz, r_s):
    """Lengths of the straight path p -> q inside and outside the sphere r < r_s (p inside it)."""
    vx, vy, vz = qx - px, qy - py, qz - pz
    d = math.sqrt(vx * vx + vy * vy + vz * vz)
    ux, uy, uz = vx / d, vy / d, vz / d
    b = px * ux + py * uy + pz * uz
    c = px * px + py * py + pz * pz - r_s * r_s
    if c >= 0.0:
        return 0.0, d, d
    ds = -b + math.sqrt(b * b - c)
    if ds > d:
        ds = d
    return ds, d - ds, d


@nb.njit(cache=True)
def _event_counts(st, mu, ncl, cl_pos, cl_w, e_tot, cx, cy, cz, light_yield, pos, gain, geo, geo_step, geo_nr,
                  geo_nc, r_pmt, ind_dens, ind_r_step, ind_nc, n_rad, mu_dir, mu_ind, npe_pmt):
    """Expected direct (per cluster) and diffuse p.e. per PMT of one event and their Poisson counts.

    Returns (npe_tot, rc, ir, ar, cx, cy, cz): the count and the centroid lookup the sampling reuses.
    (A function of its own so that its loops over the argument arrays carry no reference counting.)
    """
    npmt = pos.shape[0]
    # --- expected direct p.e. per (cluster, PMT) and scattered/re-emitted p.e. per PMT ---
    for c in range(ncl):
        nphot = light_yield * cl_w[c]
        px, py, pz = cl_pos[c, 0], cl_pos[c, 1], cl_pos[c, 2]
        r = math.sqrt(px * px + py * py + pz * pz)
        fr_g = min(r / geo_step, geo_nr - 1.000001)
        i_g = int(fr_g)
        a_g = fr_g - i_g
        inv = 1.0 / (max(r, 1e-9) * r_pmt)
        for j in range(npmt):
            ca = (px * pos[j, 0] + py * pos[j, 1] + pz * pos[j, 2]) * inv if r > 1e-6 else 1.0
            fc = min(max((ca + 1.0) * 0.5 * (geo_nc - 1), 0.0), geo_nc - 1.000001)
            k_g = int(fc)
            b_g = fc - k_g
            g = ((1 - a_g) * ((1 - b_g) * geo[i_g, k_g] + b_g * geo[i_g, k_g + 1])
                 + a_g * ((1 - b_g) * geo[i_g + 1, k_g] + b_g * geo[i_g + 1, k_g + 1]))
            mu[c, j] = nphot * gain[j] * g
    cx /= e_tot
    cy /= e_tot
    cz /= e_tot
    rc = math.sqrt(cx * cx + cy * cy + cz * cz)
    fr = min(rc / ind_r_step, n_rad - 1.000001)
    ir = int(fr)
    ar = fr - ir
    for j in range(npmt):
        if rc > 1e-6:
            ca = (cx * pos[j, 0] + cy * pos[j, 1] + cz * pos[j, 2]) / (rc * r_pmt)
        else:
            ca = pos[j, 2] / r_pmt
        fa = min(max((ca + 1.0) * 0.5 * ind_nc - 0.5, 0.0), ind_nc - 1.000001)
        ia = int(fa)
        aa = fa - ia
        dens = ((1 - ar) * ((1 - aa) * ind_dens[ir, ia] + aa * ind_dens[ir, ia + 1])
                + ar * ((1 - aa) * ind_dens[ir + 1, ia] + aa * ind_dens[ir + 1, ia + 1]))
        mu_ind[j] = light_yield * e_tot * gain[j] * dens
    # --- sample photoelectrons: a Poisson count per PMT (the fast RNG makes 1879 small-mean draws
    # cheaper than one draw and a binary search per p.e.)
    # Poisson counts per PMT first, then room for all of them once: reassigning the buffers inside
    # the PMT loop (even on a rare path) makes Numba refcount them at every iteration
    npe_tot = 0
    for j in range(npmt):
        tot = 0.0
        for c in range(ncl):
            tot += mu[c, j]
        mu_dir[j] = tot
        m_all = tot + mu_ind[j]
        k_j = rng.poisson(st, m_all) if m_all > 0.0 else 0
        npe_pmt[j] = k_j
        npe_tot += k_j
    return npe_tot, rc, ir, ar, cx, cy, cz


@nb.njit(cache=True)
def _sample_event_pe(st, npmt, npe_pmt, mu_dir, mu_ind, mu, ncl, cl_w, e_tot, nd, cl_of, dep_evis, d0, taus,
                     cumw, dep_alpha, dep_pos, pos, r_s, q_step_s, q_step_o, dir_cdf, nq_wl, n_wl, dep_t, slow_s,
                     slow_o, rc, cx, cy, cz, r_pmt, ind_nc, ir, ar, nq_t, ind_cdf, s_ref, buf_pmt, buf_t, buf_f, n):
    """The photoelectrons of one event (production mode) written at ``n`` of the buffers; returns the new n.

    A function of its own: arrays that are arguments and never rebound get no reference counting in its
    loops (in the caller, rebinding the growing buffers made Numba refcount them per p.e.).
    """
    for j in range(npmt):
        npe_j = npe_pmt[j]
        if npe_j == 0:
            continue
        tot = mu_dir[j]
        m_all = tot + mu_ind[j]
        for _k in range(npe_j):
            direct = rng.uniform(st) * m_all < tot
            if direct:
                u = rng.uniform(st) * tot
                c = 0
                acc = mu[0, j]
                while acc < u and c < ncl - 1:
                    c += 1
                    acc += mu[c, j]
                wsum = cl_w[c]
            else:
                c = -1
                wsum = e_tot
            # a deposit (of the cluster, or of the event for diffuse light) by visible energy
            u2 = rng.uniform(st) * wsum
            acc2 = 0.0
            sel = -1
            for i in range(nd):
                if cl_of[i] >= 0 and (c < 0 or cl_of[i] == c):
                    sel = i
                    acc2 += dep_evis[d0 + i]
                    if acc2 >= u2:
                        break
            g = d0 + sel
            te = _sample_emission(st, taus, cumw, 1 if dep_alpha[g] else 0)
            if direct:
                ds, do, _ = _path_split(dep_pos[g, 0], dep_pos[g, 1], dep_pos[g, 2], pos[j, 0], pos[j, 1],
                                        pos[j, 2], r_s)
                i_s = min(int(ds / q_step_s + 0.5), dir_cdf.shape[0] - 1)
                i_o = min(int(do / q_step_o + 0.5), dir_cdf.shape[1] - 1)
                fq = rng.uniform(st) * (nq_wl - 1)
                iq = int(fq)
                x = dir_cdf[i_s, i_o, iq] + (fq - iq) * (dir_cdf[i_s, i_o, iq + 1] - dir_cdf[i_s, i_o, iq])
                k = min(int(x), n_wl - 1)
                t = dep_t[g] + te + ds * slow_s[k] + do * slow_o[k]
                fl = 0
            else:
                vx = pos[j, 0] - dep_pos[g, 0]
                vy = pos[j, 1] - dep_pos[g, 1]
                vz = pos[j, 2] - dep_pos[g, 2]
                d = math.sqrt(vx * vx + vy * vy + vz * vz)
                if rc > 1e-6:
                    ca = (cx * pos[j, 0] + cy * pos[j, 1] + cz * pos[j, 2]) / (rc * r_pmt)
                else:
                    ca = pos[j, 2] / r_pmt
                ia = min(int((ca + 1.0) * 0.5 * ind_nc), ind_nc - 1)
                irr = ir + 1 if rng.uniform(st) < ar else ir
                fq = rng.uniform(st) * (nq_t - 1)
                iq = int(fq)
                tau = ind_cdf[irr, ia, iq] + (fq - iq) * (ind_cdf[irr, ia, iq + 1] - ind_cdf[irr, ia, iq])
                t = dep_t[g] + te + d * s_ref + tau
                fl = 3  # scattered and/or re-emitted (not split here)
            n = _push(buf_pmt, buf_t, buf_f, n, j, t, fl)
    return n


@nb.njit(cache=True)
def _production_pe(st, n_events, dep_offsets, dep_pos, dep_t, dep_evis, dep_alpha, dep_dir, dep_tk, dep_ed,
                   dep_reg, light_yield, taus, cumw, cluster_mm, pos, gain, qe,
                   geo, geo_step, geo_nr, geo_nc, r_s, s_ref, slow_s, slow_o, dir_cdf, q_step_s, q_step_o,
                   ind_dens, ind_cdf, ind_r_step, ind_nc,
                   do_ch, r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray, re_p, re_tau, em_cdf, resp, r2_disk,
                   g_off, g_idx, n_z, n_phi, ch_tgrid, ch_cum, ch_n, wl_w):
    npmt = pos.shape[0]
    cap = max(1024, n_events * 256)
    buf_pmt = np.empty(cap, np.int32)
    buf_t = np.empty(cap, np.float64)
    buf_f = np.empty(cap, np.int8)
    offsets = np.zeros(n_events + 1, np.int64)
    n = 0
    mu_dir = np.zeros(npmt)
    mu_ind = np.zeros(npmt)
    npe_pmt = np.zeros(npmt, np.int64)
    n_rad = ind_dens.shape[0]
    nq_wl = dir_cdf.shape[2]
    nq_t = ind_cdf.shape[2]
    n_wl = slow_s.size
    for e in range(n_events):
        d0 = dep_offsets[e]
        d1 = dep_offsets[e + 1]
        nd = d1 - d0
        # --- cluster visible deposits (greedy, within cluster_mm of a seed) ---
        cl_of = np.full(nd, -1, np.int64)
        cl_pos = np.zeros((nd, 3))
        cl_w = np.zeros(nd)
        ncl = 0
        e_tot = 0.0
        cx, cy, cz = 0.0, 0.0, 0.0
        for i in range(nd):
            w = dep_evis[d0 + i]
            if w <= 0.0:
                continue
            e_tot += w
            cx += w * dep_pos[d0 + i, 0]
            cy += w * dep_pos[d0 + i, 1]
            cz += w * dep_pos[d0 + i, 2]
            found = -1
            for c in range(ncl):
                dx = dep_pos[d0 + i, 0] - cl_pos[c, 0]
                dy = dep_pos[d0 + i, 1] - cl_pos[c, 1]
                dz = dep_pos[d0 + i, 2] - cl_pos[c, 2]
                if dx * dx + dy * dy + dz * dz < cluster_mm * cluster_mm:
                    found = c
                    break
            if found < 0:
                found = ncl
                cl_pos[ncl, 0] = dep_pos[d0 + i, 0]
                cl_pos[ncl, 1] = dep_pos[d0 + i, 1]
                cl_pos[ncl, 2] = dep_pos[d0 + i, 2]
                ncl += 1
            cl_of[i] = found
            cl_w[found] += w
        if e_tot > 0.0:
            mu = np.empty((ncl, npmt))
            npe_tot, rc, ir, ar, cx, cy, cz = _event_counts(
                st, mu, ncl, cl_pos, cl_w, e_tot, cx, cy, cz, light_yield, pos, gain, geo, geo_step, geo_nr, geo_nc,
                r_pmt, ind_dens, ind_r_step, ind_nc, n_rad, mu_dir, mu_ind, npe_pmt)
            buf_pmt, buf_t, buf_f = _ensure(buf_pmt, buf_t, buf_f, n, npe_tot)
            n = _sample_event_pe(st, npmt, npe_pmt, mu_dir, mu_ind, mu, ncl, cl_w, e_tot, nd, cl_of, dep_evis, d0,
                taus, cumw, dep_alpha, dep_pos, pos, r_s, q_step_s, q_step_o, dir_cdf, nq_wl, n_wl, dep_t,
                slow_s, slow_o, rc, cx, cy, cz, r_pmt, ind_nc, ir, ar, nq_t, ind_cdf, s_ref, buf_pmt, buf_t, buf_f, n)
        if do_ch:
            for g in range(d0, d1):
                if not dep_alpha[g]:
                    buf_pmt, buf_t, buf_f, n = _cherenkov_photons(
                        st, g, dep_pos, dep_t, dep_dir, dep_tk, dep_ed, dep_reg, ch_tgrid, ch_cum, ch_n, wl_w,
                        r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray, re_p, re_tau, em_cdf, pos, r2_disk, qe, resp,
                        g_off, g_idx, n_z, n_phi, buf_pmt, buf_t, buf_f, n)
        offsets[e + 1] = n
    return offsets, buf_pmt[:n].copy(), buf_t[:n].copy(), buf_f[:n].copy()


# ----------------------------------------------------------------------------------- readout
@nb.njit(cache=True)
def _write_hits(first_t, charge, threshold, t_lo, t_hi, out_pmt, out_t, out_q, nh):
    """Hits of one event above threshold in the window, written at ``nh`` (own function: no refcounts)."""
    for j in range(first_t.size):
        if charge[j] >= threshold and first_t[j] >= t_lo and first_t[j] < t_hi:
            out_pmt[nh] = j
            out_t[nh] = first_t[j]
            out_q[nh] = charge[j]
            nh += 1
    return nh


@nb.njit(cache=True)
def _readout(st, n_events, pe_off, pe_pmt, pe_t, tts, t_off, spe, dark_mean, t_lo, t_hi, threshold):
    npmt = tts.size
    cap = max(1024, n_events * 64)
    out_pmt = np.empty(cap, np.int32)
    out_t = np.empty(cap, np.float32)
    out_q = np.empty(cap, np.float32)
    offsets = np.zeros(n_events + 1, np.int64)
    npe_out = np.zeros(n_events, np.int32)
    first_t = np.full(npmt, np.inf)
    charge = np.zeros(npmt)
    dark_cdf = np.cumsum(dark_mean)
    dark_tot = dark_cdf[npmt - 1] if npmt > 0 else 0.0
    nh = 0
    for e in range(n_events):
        for j in range(npmt):
            first_t[j] = np.inf
            charge[j] = 0.0
        for m in range(pe_off[e], pe_off[e + 1]):
            j = pe_pmt[m]
            z1, z2 = rng.normal_pair(st)
            t = pe_t[m] + t_off[j] + tts[j] * z1
            if t < first_t[j]:
                first_t[j] = t
            q = 1.0 + spe[j] * z2
            if q < 0.0:
                q = 0.0
            charge[j] += q
        npe_out[e] = pe_off[e + 1] - pe_off[e]
        # dark hits: Poisson in total, each on a PMT by its rate (= a Poisson count per PMT), uniform in time
        nd_tot = rng.poisson(st, dark_tot) if dark_tot > 0.0 else 0
        for _ in range(nd_tot):
            j = tracking.bisect(dark_cdf, rng.uniform(st) * dark_tot)
            t = t_lo + (t_hi - t_lo) * rng.uniform(st)
            if t < first_t[j]:
                first_t[j] = t
            q = 1.0 + spe[j] * rng.normal(st)
            if q > 0.0:
                charge[j] += q
        if nh + npmt > cap:  # grow outside the PMT loop (array reassignment inside it costs refcounts)
            cap2 = 2 * cap + npmt
            a = np.empty(cap2, np.int32)
            a[:nh] = out_pmt[:nh]
            out_pmt = a
            b = np.empty(cap2, np.float32)
            b[:nh] = out_t[:nh]
            out_t = b
            q2 = np.empty(cap2, np.float32)
            q2[:nh] = out_q[:nh]
            out_q = q2
            cap = cap2
        nh = _write_hits(first_t, charge, threshold, t_lo, t_hi, out_pmt, out_t, out_q, nh)
        offsets[e + 1] = nh
    return offsets, out_pmt[:nh].copy(), out_t[:nh].copy(), out_q[:nh].copy(), npe_out


# ----------------------------------------------------------------------------------- Python API
class LightModel:
    """Everything the kernels need for one (detector config, PMT array), built once and reused."""

    def __init__(self, cfg: DetectorConfig, pmts: PMTArray):
        from . import tables as _tables

        self.cfg, self.pmts = cfg, pmts
        self.opt = media.optical_tables(cfg)
        g = cfg.geometry
        self.r_pmt = float(g.pmt_radius_mm)
        self.r_disk = np.sqrt(pmts.area_mm2 / np.pi)
        self.grid = _grid_cached(cfg, pmts)
        self.r_s = media.scint_radius_mm(cfg)
        self.direct = _tables.direct_table(cfg)
        self.indirect = _tables.indirect_table(cfg)
        self.cherenkov = _tables.cherenkov_tables(cfg)

    def track_args(self):
        o = self.opt
        return (o.r_outer_mm, self.r_pmt, o.slowness_ns_per_mm, o.mu_reemit, o.mu_absorb, o.mu_rayleigh,
                o.reemit_prob, o.reemit_tau_ns, o.emission_cdf)


_GRID_CACHE: dict = {}


def _grid_cached(cfg: DetectorConfig, pmts: PMTArray):
    key = (cfg.geometry.pmt_radius_mm, pmts.pos_mm.tobytes(), pmts.area_mm2.tobytes())
    if key not in _GRID_CACHE:
        _GRID_CACHE.clear()
        _GRID_CACHE[key] = tracking.build_pmt_grid(pmts.pos_mm, np.sqrt(pmts.area_mm2 / np.pi),
                                                   cfg.geometry.pmt_radius_mm)
    return _GRID_CACHE[key]


_MODEL_CACHE: dict = {}


@lru_cache(maxsize=8)
def _emission_cached(rise, taus, weights, alpha_weights) -> np.ndarray:
    return emission_table(rise, taus, weights, alpha_weights)


def light_model(cfg: DetectorConfig, pmts: PMTArray) -> LightModel:
    key = (cfg.to_json(), pmts.pos_mm.tobytes(), pmts.qe.tobytes(), pmts.area_mm2.tobytes())
    m = _MODEL_CACHE.get(key)
    if m is None:
        if len(_MODEL_CACHE) > 4:
            _MODEL_CACHE.clear()
        m = _MODEL_CACHE[key] = LightModel(cfg, pmts)
    return m


def _deposit_arrays(deposits: Deposits, n_events: int, cfg: DetectorConfig):
    m = len(deposits)
    dep_offsets = np.searchsorted(deposits.event, np.arange(n_events + 1)).astype(np.int64)
    dirs = deposits.dir if deposits.dir is not None else np.zeros((m, 3))
    tk = deposits.tkin_MeV if deposits.tkin_MeV is not None else np.zeros(m)
    r = np.linalg.norm(deposits.pos_mm, axis=1) if m else np.zeros(0)
    radii = np.array([x.outer_radius_mm for x in cfg.geometry.regions])
    reg = np.minimum(np.searchsorted(radii, r, side="right"), radii.size - 1).astype(np.int64)
    return (dep_offsets, np.ascontiguousarray(deposits.pos_mm, np.float64),
            np.ascontiguousarray(deposits.t_ns, np.float64), np.ascontiguousarray(deposits.evis_MeV, np.float64),
            np.ascontiguousarray(deposits.ptype == ALPHA), np.ascontiguousarray(dirs, np.float64),
            np.ascontiguousarray(tk, np.float64), np.ascontiguousarray(deposits.edep_MeV, np.float64), reg)


def photoelectrons(deposits: Deposits, n_events: int, cfg: DetectorConfig, pmts: PMTArray, seed: int,
                   mode: str = "production") -> PhotoElectrons:
    """Photoelectrons (before the readout) of ``n_events`` events from their event-sorted deposits."""
    if mode not in MODES:
        raise ValueError(f"unknown optics mode {mode!r}; use one of {', '.join(MODES)}")
    s = cfg.scintillator
    lm = light_model(cfg, pmts)
    deps = _deposit_arrays(deposits, n_events, cfg)
    g_off, g_idx, n_z, n_phi = lm.grid
    ch = lm.cherenkov
    common_emit = (float(s.light_yield_per_MeV), np.asarray(s.decay_times_ns, float),
                   _emission_cached(float(s.rise_time_ns), tuple(s.decay_times_ns), tuple(s.decay_weights),
                                    tuple(s.alpha_decay_weights)))
    st = rng.new_state(seed)
    if mode == "reference":
        out = _reference_pe(st, n_events, *deps, *common_emit, *lm.track_args(), lm.opt.response,
                            pmts.pos_mm, lm.r_disk**2, pmts.qe, g_off, g_idx, n_z, n_phi, bool(s.cherenkov),
                            ch.t_grid, ch.cum, ch.n, ch.wl_weight)
    else:
        d, ind = lm.direct, lm.indirect
        out = _production_pe(
            st, n_events, *deps, *common_emit, CLUSTER_MM, pmts.pos_mm, pmts.area_mm2 * pmts.qe,
            pmts.qe, d.geo, d.geo_r_step_mm, d.geo.shape[0], d.geo_n_cos, lm.r_s, ind.s_ref, d.slow_s, d.slow_o,
            d.wl_quantiles, d.q_step_s_mm, d.q_step_o_mm,
            ind.density, ind.t_quantiles, ind.r_step_mm, ind.n_cos,
            bool(s.cherenkov), *lm.track_args()[:-1], lm.opt.emission_cdf, lm.opt.response, lm.r_disk**2,
            g_off, g_idx, n_z, n_phi, ch.t_grid, ch.cum, ch.n, ch.wl_weight)
    return PhotoElectrons(*out)


def simulate_hits(deposits: Deposits, n_events: int, cfg: DetectorConfig, pmts: PMTArray, seed: int,
                  mode: str = "production", keep_pe: bool = False) -> Hits:
    """PMT hits for ``n_events`` events from their (event-sorted) deposits.

    ``seed`` drives both the light (photoelectrons) and the readout, from two derived streams.
    """
    ss = np.random.SeedSequence([int(seed) % 2**63, 7])
    s_pe, s_ro = (int(x.generate_state(1)[0]) for x in ss.spawn(2))
    pe = photoelectrons(deposits, n_events, cfg, pmts, s_pe, mode)
    t_lo, t_hi = cfg.pmts.readout_window_ns
    window_s = (t_hi - t_lo) * 1e-9
    offsets, pmt, t, q, npe = _readout(
        rng.new_state(s_ro), n_events, pe.offsets, pe.pmt, pe.time_ns, pmts.tts_sigma_ns, pmts.time_offset_ns, pmts.spe_sigma,
        pmts.dark_rate_hz * window_s, float(t_lo), float(t_hi), float(cfg.pmts.threshold_pe))
    return Hits(offsets, pmt, t, q, npe, pe if keep_pe else None)


# ----------------------------------------------------------------------------------- expectations
def expected_pe_per_MeV(cfg: DetectorConfig, pmts: PMTArray, x_mm: np.ndarray,
                        indirect: bool = True) -> np.ndarray:
    """float64[n, n_pmt]: expected scintillation p.e. per MeV of visible energy emitted at ``x_mm``.

    The production mode's direct + scattered/re-emitted expectation (what energy reconstruction divides by).
    """
    lm = light_model(cfg, pmts)
    ly = cfg.scintillator.light_yield_per_MeV
    x_mm = np.atleast_2d(np.asarray(x_mm, float))
    out = np.empty((x_mm.shape[0], pmts.n))
    d, ind = lm.direct, lm.indirect
    gain = ly * pmts.area_mm2 * pmts.qe
    for s in range(0, x_mm.shape[0], 256):
        x = x_mm[s:s + 256]
        v = pmts.pos_mm[None] - x[:, None]
        dist = np.sqrt((v * v).sum(-1))
        u = v / dist[..., None]
        cos = np.clip((v * pmts.direction[None]).sum(-1) / dist, 0.0, None)
        b = (x[:, None] * u).sum(-1)
        c = (x * x).sum(-1)[:, None] - lm.r_s**2
        ds = np.where(c < 0, np.minimum(-b + np.sqrt(np.clip(b * b - c, 0, None)), dist), 0.0)
        tr = d.transmission_at(ds, dist - ds)
        mu = gain * cos / (4 * np.pi * dist**2) * tr
        if indirect:
            r = np.linalg.norm(x, axis=1)
            ca = np.where(r[:, None] > 1e-6, (x @ pmts.pos_mm.T) / (np.maximum(r, 1e-6)[:, None] * lm.r_pmt),
                          pmts.pos_mm[None, :, 2] / lm.r_pmt)
            mu = mu + gain * ind.density_at(r[:, None] + 0 * ca, ca)
        out[s:s + 256] = mu
    return out


def _centre_paths(cfg: DetectorConfig) -> tuple[float, float]:
    r_s = media.scint_radius_mm(cfg)
    return r_s, cfg.geometry.pmt_radius_mm - r_s


def direct_travel_times_ns(cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """(travel time per wavelength bin, detected-direct-light weight per bin) from the centre to the tubes."""
    from . import tables

    d = tables.direct_table(cfg)
    ds, do = _centre_paths(cfg)
    i_s = min(int(ds / d.step_s_mm + 0.5), d.cdf.shape[0] - 1)
    i_o = min(int(do / d.step_o_mm + 0.5), d.cdf.shape[1] - 1)
    w = np.diff(d.cdf[i_s, i_o], prepend=0.0)
    return ds * d.slow_s + do * d.slow_o, w


def effective_tof_speed(cfg: DetectorConfig) -> float:
    """R_pmt / mean travel time of direct light from the centre (mm/ns): the speed reconstruction uses."""
    t, w = direct_travel_times_ns(cfg)
    return float(cfg.geometry.pmt_radius_mm / (np.sum(t * w) / np.sum(w)))


def transport_delay_pdf(cfg: DetectorConfig, t_grid_ns: np.ndarray, v_tof_mm_per_ns: float) -> np.ndarray:
    """Distribution of arrival - emission - R_pmt / v_tof of detected scintillation light from the centre.

    Direct light (dispersion) plus scattered / re-emitted light (from the light table at r = 0), each with
    its share of the detected p.e.; normalised to unit integral on ``t_grid_ns`` (uniform grid).
    """
    from . import tables

    step = float(t_grid_ns[1] - t_grid_ns[0])
    t_dir, w_dir = direct_travel_times_ns(cfg)
    r = cfg.geometry.pmt_radius_mm
    pdf = np.zeros_like(t_grid_ns, dtype=float)
    idx = np.clip(np.round((t_dir - r / v_tof_mm_per_ns - t_grid_ns[0]) / step).astype(int), 0, pdf.size - 1)
    d = tables.direct_table(cfg)
    g0 = float(d.geo[0, 0]) * 4 * np.pi * r**2  # direct detected fraction per emitted photon (response-weighted)
    np.add.at(pdf, idx, w_dir / w_dir.sum() * g0)
    ind = tables.indirect_table(cfg)
    dens0 = float(ind.density[0].mean()) * 4 * np.pi * r**2
    hist = np.diff(ind.cdf[0].mean(0), prepend=0.0)
    t_ind = ind.t0_ns + (np.arange(hist.size) + 0.5) * ind.dt_ns + r * ind.s_ref - r / v_tof_mm_per_ns
    pdf += np.interp(t_grid_ns, t_ind, hist / ind.dt_ns, left=0.0, right=0.0) * step * dens0
    return pdf / (pdf.sum() * step)
