"""Per-tube response fitted by maximum likelihood: the hit process of every tube, parameters fitted jointly.

For tube ``i`` in event ``e`` the photoelectrons are a Poisson process in the time residual ``r`` with
intensity ``mu_ie f_i(r) + d_i``: ``mu_ie = q_i eps_i lam_ie`` (``lam`` the nominal optical model's
expectation, ``q_i`` the tube's QE relative to nominal, ``eps_i`` the single-p.e. threshold efficiency
``Phi((1 - thr) / s_i)``), ``f_i = g * N(delta_i, sigma_i)`` the single-p.e. arrival-time density (``g``
the template sample's zero-TTS shape, convolved by FFT with the tube's offset and transit-time spread) and
``d_i`` the dark rate per ns.  The readout keeps the first p.e., so a hit at ``r`` has the first-arrival
density ``I(r) exp(-C(r))`` (``C`` the integrated intensity since the window opened) and a tube without a
hit contributes ``exp(-C(end))``.  The hit's charge is a truncated Gaussian mixture over the p.e. number
(``N(n, n s_i^2)``, Poisson weights, the threshold as truncation).  All five parameters of all tubes are
fitted by L-BFGS with exact gradients (torch), in blocks that each use only the hits that carry them:
occupancy (QE, dark rate) from the histogrammed expectations, charge (single-p.e. width) from faint tubes,
timing (offset, TTS) from the prompt first hits; the blocks are independent per tube, so all tubes are
fitted together in one vectorised likelihood each.

Nothing here is a binned moment: the first-hit bias of bright tubes, dark hits inside the light and the
threshold are in the model, and the TTS is separated from the scintillator's emission profile by the
template instead of by a window.  What the model still lacks (charge clipping below zero, pile-up of the
light after the window) is removed by fitting the nominal simulation the same way and correcting for the
difference from its known parameters (``closure``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .samples import PRE_LIGHT_RES_NS, HitTable, PMTParams, lam_bin

GRID_LO_NS = -32.0  # the template grid: all light, from before the earliest photon ...
BIN_NS = 0.25
N_BINS = 2048  # ... to 480 ns, past the readout window's end in any event's residual frame
TEMPLATE_LAM = 0.05  # template hits expecting less light than this are single p.e. (first-hit bias < 3 %)


def template_shape(template: HitTable) -> np.ndarray:
    """float64[N_BINS]: the single-p.e. arrival-time density (per ns) of the zero-TTS template sample.

    Faint hits only (no first-hit bias), the dark level (flat, measured before the light) subtracted.
    """
    sel = template.lam < TEMPLATE_LAM
    r = template.t_res_ns[sel].astype(np.float64)
    edges = GRID_LO_NS + BIN_NS * np.arange(N_BINS + 1)
    h, _ = np.histogram(r, edges)
    pre = (r < PRE_LIGHT_RES_NS) & (r >= GRID_LO_NS)
    flat = pre.sum() / ((PRE_LIGHT_RES_NS - GRID_LO_NS) / BIN_NS)
    g = np.clip(h - flat, 0, None)
    g[: int((PRE_LIGHT_RES_NS - GRID_LO_NS) / BIN_NS)] = 0.0
    return g / (g.sum() * BIN_NS)


@dataclass
class FitResult:
    params: PMTParams
    nll_per_hit: dict[str, float]
    evaluations: int
    wall_s: float


def _lbfgs(params: list[torch.nn.Parameter], loss_fn, max_iter: int) -> tuple[float, int]:
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=1e-8, tolerance_change=1e-11,
                            history_size=20, line_search_fn="strong_wolfe")
    n = [0]

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        n[0] += 1
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(loss_fn()), n[0]


def _p(x) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor(np.asarray(x, float), dtype=torch.float64))  # a copy: LBFGS steps in place


def threshold_efficiency(s: torch.Tensor, threshold_pe: float) -> torch.Tensor:
    """P(one p.e. passes the threshold) for single-p.e. widths ``s``: Phi((1 - thr) / s)."""
    return 0.5 * torch.erfc(-(1.0 - threshold_pe) / (s * math.sqrt(2.0)))


def fit_occupancy(t: HitTable, q0: np.ndarray, d0_per_ns: np.ndarray, eps: np.ndarray,
                  max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Relative QE ``q`` and dark rate per ns ``d`` of every tube from who was hit when.

    Per (event, tube) three outcomes -- the first hit before the light (dark), after it, none -- with
    probabilities ``1 - exp(-a)``, ``exp(-a) (1 - exp(-m))``, ``exp(-a - m)``; ``a = eps d T_pre`` and
    ``m = eps (q lam + d T_after)``, evaluated at the mean ``lam`` of each histogram bin (bins ~20 % wide).
    The threshold thins each p.e. independently here (exact for single p.e., the dominant case; the
    closure fit takes off what it leaves for bright tubes).
    """
    n, nb = t.lam_events.shape
    pre = t.t_res_ns < PRE_LIGHT_RES_NS
    lb = lam_bin(t.lam) + nb * t.pmt
    n_pre = torch.as_tensor(np.bincount(lb[pre], minlength=n * nb).reshape(n, nb), dtype=torch.float64)
    n_aft = torch.as_tensor(np.bincount(lb[~pre], minlength=n * nb).reshape(n, nb), dtype=torch.float64)
    n_ev = torch.as_tensor(t.lam_events)
    lam_mean = torch.as_tensor(t.lam_events_sum / np.maximum(t.lam_events, 1))
    n_none = (n_ev - n_pre - n_aft).clamp_min(0)
    w0, w1 = t.window_ns
    t_pre = torch.as_tensor(t.pre_open_ns / t.n_events)[:, None]
    t_aft = (w1 - w0) - t_pre
    e = torch.as_tensor(eps)[:, None]
    log_q, log_d = _p(np.log(np.clip(q0, 1e-3, None))), _p(np.log(np.clip(d0_per_ns, 1e-10, None)))

    def loss():
        q, d = log_q.exp()[:, None], log_d.exp()[:, None]
        a = e * d * t_pre
        m = e * (q * lam_mean + d * t_aft)
        ll = n_pre * torch.log(-torch.expm1(-a)) + n_aft * (-a + torch.log(-torch.expm1(-m))) - n_none * (a + m)
        return -ll.sum() / 1e6

    nll, k = _lbfgs([log_q, log_d], loss, max_iter)
    with torch.no_grad():
        return log_q.exp().numpy(), log_d.exp().numpy(), nll * 1e6 / max(t.n_hits, 1), k


def _subsample(mask: np.ndarray, n_max: int | None, seed: int) -> np.ndarray:
    idx = np.flatnonzero(mask)
    if n_max is not None and idx.size > n_max:
        idx = np.sort(np.random.default_rng(seed).choice(idx, n_max, replace=False))
    return idx


CHARGE_LAM_MAX = 1.0  # charge fit: hits of tubes expecting at most this (1-3 p.e.: the width shows)
CHARGE_N_PE = 6
TIME_RANGE_NS = (PRE_LIGHT_RES_NS, 60.0)  # time fit: first hits in this residual range (the prompt shape)


def fit_charge(t: HitTable, q: np.ndarray, d_per_ns: np.ndarray, s0: np.ndarray, threshold_pe: float,
               n_max: int | None = None, max_iter: int = 100, seed: int = 0) -> tuple[np.ndarray, float, int]:
    """Single-p.e. width ``s`` of every tube: hit charges as Poisson mixtures of N(n, n s^2), Q >= thr."""
    idx = _subsample(t.lam < CHARGE_LAM_MAX, n_max, seed)
    pmt = torch.as_tensor(t.pmt[idx], dtype=torch.long)
    w0, w1 = t.window_ns
    m = torch.as_tensor(np.clip(q[t.pmt[idx]] * t.lam[idx] + d_per_ns[t.pmt[idx]] * (w1 - w0), 1e-6, None))
    qv = torch.as_tensor(t.q_pe[idx], dtype=torch.float64)
    n_pe = torch.arange(1, CHARGE_N_PE + 1, dtype=torch.float64)
    logw = n_pe[None] * m.log()[:, None] - torch.lgamma(n_pe + 1)[None]
    log_s = _p(np.log(np.clip(s0, 0.02, None)))

    def loss():
        sq = log_s.exp()[pmt][:, None] * n_pe.sqrt()[None]
        z = (qv[:, None] - n_pe[None]) / sq
        log_pdf = torch.logsumexp(logw - 0.5 * z * z - sq.log(), 1)
        acc = 0.5 * torch.erfc(-(n_pe[None] - threshold_pe) / (sq * math.sqrt(2.0)))
        return -(log_pdf - torch.logsumexp(logw + acc.clamp_min(1e-300).log(), 1)).sum() / 1e6

    nll, k = _lbfgs([log_s], loss, max_iter)
    with torch.no_grad():
        return log_s.exp().numpy(), nll * 1e6 / max(idx.size, 1), k


def fit_timing(t: HitTable, g: np.ndarray, q_eff: np.ndarray, d_eff_per_ns: np.ndarray, offset0: np.ndarray,
               sigma0: np.ndarray, n_max: int | None = None, max_iter: int = 100,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Offset and transit-time spread of every tube from its first hits in ``TIME_RANGE_NS``.

    The first-arrival density of the tube's Poisson process ``mu f_i(r) + d`` (``f_i = g * N(offset,
    sigma)``), conditioned on the first hit falling in the range.
    """
    r_a, r_b = TIME_RANGE_NS
    idx = _subsample((t.t_res_ns >= r_a) & (t.t_res_ns < r_b), n_max, seed)
    pmt_np = t.pmt[idx]
    pmt = torch.as_tensor(pmt_np, dtype=torch.long)
    r = torch.as_tensor(t.t_res_ns[idx], dtype=torch.float64)
    mu = torch.as_tensor(q_eff[pmt_np] * t.lam[idx])
    dd = torch.as_tensor(d_eff_per_ns[pmt_np])
    G = torch.fft.rfft(torch.as_tensor(np.concatenate([g, np.zeros(N_BINS)])))
    omega = 2 * math.pi * torch.fft.rfftfreq(2 * N_BINS, d=BIN_NS).to(torch.float64)
    x = (r - GRID_LO_NS) / BIN_NS
    b = x.floor().long()
    frac = x - b
    ba, bb = int((r_a - GRID_LO_NS) / BIN_NS), int((r_b - GRID_LO_NS) / BIN_NS)
    offset, log_sigma = _p(offset0), _p(np.log(np.clip(sigma0, 0.05, None)))
    used = np.unique(pmt_np)

    def loss():
        sig = log_sigma.exp()
        phase = torch.exp(torch.complex(-0.5 * (omega[None] * sig[:, None]) ** 2, -omega[None] * offset[:, None]))
        f = torch.fft.irfft(G[None] * phase, n=2 * N_BINS)[:, :N_BINS].clamp_min(0.0)
        F = torch.cumsum(f, 1) * BIN_NS  # F[:, k]: integral to the end of bin k
        fi = f[pmt, b]
        Fi = F[pmt, b] - (1.0 - frac) * fi * BIN_NS - F[pmt, ba - 1]
        Fb = F[pmt, bb - 1] - F[pmt, ba - 1]
        c = mu * Fi + dd * (r - r_a)
        cb = mu * Fb + dd * (r_b - r_a)
        ll = torch.log(mu * fi + dd + 1e-30) - c - torch.log(-torch.expm1(-cb))
        return -ll.sum() / 1e6

    nll, k = _lbfgs([offset, log_sigma], loss, max_iter)
    with torch.no_grad():
        off, sig = offset.detach().numpy().copy(), log_sigma.exp().numpy()
    keep = np.zeros(off.size, bool)
    keep[used] = True
    return np.where(keep, off, offset0), np.where(keep, sig, sigma0), nll * 1e6 / max(idx.size, 1), k


def fit_response(table: HitTable, g: np.ndarray, init: PMTParams, nominal: PMTParams, threshold_pe: float,
                 max_iter: int = 100, log=None, n_max: int | None = None) -> FitResult:
    """Maximum-likelihood per-tube parameters of ``table``: occupancy (QE, dark rate), charge (single-p.e.
    width, which sets the threshold efficiency), occupancy again with it, then timing (offset, TTS).

    ``n_max``: at most this many hits in the charge and the timing blocks (a random subset; ``None``: all --
    the per-tube errors scale as 1/sqrt(hits), the closure fit on the simulation only needs averages)."""
    t0 = time.perf_counter()
    say = log or (lambda m: None)
    q = init.qe / np.maximum(nominal.qe, 1e-12)
    d = init.dark_rate_hz * 1e-9
    s = np.asarray(init.spe_sigma, float)
    nll, evals = {}, 0
    for step in ("occupancy", "charge", "occupancy"):
        eps = threshold_efficiency(torch.as_tensor(s), threshold_pe).numpy()
        if step == "occupancy":
            q, d, nll[step], k = fit_occupancy(table, q, d, eps, max_iter)
        else:
            # the readout thresholds the summed charge: the p.e. number is Poisson in the unthinned mean
            s, nll[step], k = fit_charge(table, q, d, s, threshold_pe, n_max=n_max, max_iter=max_iter)
        evals += k
        say(f"response fit: {step} done ({k} evaluations, {time.perf_counter() - t0:.0f} s)")
    eps = threshold_efficiency(torch.as_tensor(s), threshold_pe).numpy()
    off, sig, nll["timing"], k = fit_timing(table, g, q * eps, d * eps, np.asarray(init.time_offset_ns, float),
                                            np.asarray(init.tts_sigma_ns, float), n_max=n_max, max_iter=max_iter)
    evals += k
    say(f"response fit: timing done ({k} evaluations, {time.perf_counter() - t0:.0f} s)")
    params = PMTParams(qe=nominal.qe * q, time_offset_ns=off, tts_sigma_ns=sig, spe_sigma=s, dark_rate_hz=d * 1e9)
    return FitResult(params, nll, evals, time.perf_counter() - t0)


def _median_ratio(a: np.ndarray, b: np.ndarray) -> float:
    ok = b > 0
    return float(np.median(a[ok] / b[ok]))


def closure_corrected(fit_data: PMTParams, fit_sim: PMTParams, nominal: PMTParams) -> PMTParams:
    """Data fit corrected by the nominal simulation's fit for what the model misses.

    The correction is the sim fit's average deviation from its known, common parameters (a ratio for QE
    and dark rate, a shift for the offset, quadrature for the widths): one number per parameter, so the
    simulation's statistical noise per tube is not added to the data's.  The average offset is the time
    reference (a common delay of all tubes is the event time's): it is set to the nominal one.
    """
    dq = _median_ratio(fit_sim.qe, nominal.qe)
    dd = _median_ratio(fit_sim.dark_rate_hz, nominal.dark_rate_hz)
    dt2 = float(np.mean(fit_sim.tts_sigma_ns**2 - nominal.tts_sigma_ns**2))
    ds2 = float(np.mean(fit_sim.spe_sigma**2 - nominal.spe_sigma**2))
    off = fit_data.time_offset_ns - np.mean(fit_data.time_offset_ns) + np.mean(nominal.time_offset_ns)
    return PMTParams(qe=fit_data.qe / dq, time_offset_ns=off,
                     tts_sigma_ns=np.sqrt(np.clip(fit_data.tts_sigma_ns**2 - dt2, 0.01, None)),
                     spe_sigma=np.sqrt(np.clip(fit_data.spe_sigma**2 - ds2, 1e-4, None)),
                     dark_rate_hz=fit_data.dark_rate_hz / dd)
