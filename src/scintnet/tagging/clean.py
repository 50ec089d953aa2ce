"""Data cleaning with the topology score (KamNet paper sec. V.B): flag periods of high beta+-gamma rate.

Convection in the mini-balloon pulls 214Bi off the film into the fiducial volume; these are multi-vertex
(beta+-gamma) events a KamNet-like classifier separates from single-site decays.  The method here:

1. select stream events in the fiducial volume and the energy window (``[clean]`` of the tagging preset:
   R < 157 cm and 2.0-3.0 MeV reconstructed, the KamNet paper's 0nbb selection), detected, not within
   ``muon_veto_s`` after a muon (the 2.2 MeV spallation-neutron captures);
2. give each a topology score (:mod:`.topology`: the paper's working points, or a ``scores.h5``);
3. split the live time into periods of ``period_days``; in each, fit the binned score distribution
   (``n_score_bins`` of equal single-site population) by an extended Poisson likelihood with two
   templates from the topology model, single-site and beta+-gamma (``bg_class``), yields >= 0;
4. test each period's beta+-gamma yield against the stream-wide rate: q = 2 (NLL(b = r L) - NLL(b free)),
   the single-site yield profiled (``single_site_rate = "free"``) or fixed to the stream-wide rate
   (``"global"``); one-sided (q = 0 when the fitted yield is below r L); flagged when q > z^2 with
   z the normal quantile of ``false_flag_probability`` (asymptotic: a period without excess is flagged with
   that probability).  The stream-wide rates are fitted on the summed counts of the unflagged periods,
   iterated until the flagged set no longer changes (a convection period does not raise the reference).

Truth (from the stream's ``/convection`` periods): a period is a *convection period* when injected
convection covers more than half of it, *clean* when none of it, *mixed* otherwise (mixed periods are in
neither ratio; their flags are reported).  Live time = wall time (the 2 ms muon veto removes 0.04 %).
Assumption, stated: the data's scores are drawn from the same tables as the templates (a closure test of
the method; real data add MC/data differences of the score).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..io.stream import EVENT_TYPES, Stream
from .config import CleanConfig, TagConfig
from .topology import SINGLE_SITE, TopologyModel, event_classes, paper_topology_model, stream_topology_scores

DAY_S = 86400.0


def select_window(stream: Stream, cc: CleanConfig) -> np.ndarray:
    """Events of the cleaning selection: detected, in the fiducial volume and energy window, muon-vetoed."""
    ev = stream.events
    r = np.linalg.norm(ev["pos_mm"], axis=1) if "pos_mm" in ev else np.zeros(ev["t_s"].size)
    det = ev["detected"] == 1 if "detected" in ev else np.ones(ev["t_s"].size, bool)
    lo, hi = cc.energy_MeV
    sel = det & (r < cc.fiducial_radius_mm) & (ev["E_MeV"] > lo) & (ev["E_MeV"] < hi)
    mt = np.sort(np.asarray(stream.muons.get("t_s", np.zeros(0)), float))
    if mt.size and cc.muon_veto_s > 0:
        i = np.searchsorted(mt, ev["t_s"], side="right") - 1
        since = np.where(i >= 0, ev["t_s"] - mt[np.maximum(i, 0)], np.inf)
        sel &= since > cc.muon_veto_s
    return sel


def _nll(s: float, b: float, n: np.ndarray, ps: np.ndarray, pb: np.ndarray) -> float:
    mu = np.maximum(s * ps + b * pb, 1e-300)
    return float(s + b - np.sum(n * np.log(mu)))


def _fit(n: np.ndarray, ps: np.ndarray, pb: np.ndarray, s: float | None = None,
         b: float | None = None) -> tuple[float, float, float]:
    """Extended binned ML fit of the yields (None: free, >= 0); returns (s, b, NLL)."""
    from scipy.optimize import minimize, minimize_scalar

    N = float(n.sum())
    if s is not None and b is not None:
        return s, b, _nll(s, b, n, ps, pb)
    if N == 0:
        s = 0.0 if s is None else s
        b = 0.0 if b is None else b
        return s, b, _nll(s, b, n, ps, pb)
    hi = 3 * N + 10
    if s is None and b is None:
        def f(x):
            mu = np.maximum(x[0] * ps + x[1] * pb, 1e-300)
            w = n / mu
            return x[0] + x[1] - np.sum(n * np.log(mu)), np.array([1 - np.sum(w * ps), 1 - np.sum(w * pb)])

        best = None
        for x0 in ([0.5 * N, 0.5 * N], [0.9 * N, 0.1 * N], [0.1 * N, 0.9 * N]):
            r = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=[(0, hi), (0, hi)])
            if best is None or r.fun < best.fun:
                best = r
        return float(best.x[0]), float(best.x[1]), float(best.fun)
    if s is None:
        r = minimize_scalar(lambda x: _nll(x, b, n, ps, pb), bounds=(0, hi), method="bounded",
                            options={"xatol": 1e-6 * max(N, 1)})
        cand = [(float(r.x), _nll(float(r.x), b, n, ps, pb)), (0.0, _nll(0.0, b, n, ps, pb))]
        x, v = min(cand, key=lambda t: t[1])
        return x, float(b), v
    r = minimize_scalar(lambda x: _nll(s, x, n, ps, pb), bounds=(0, hi), method="bounded",
                        options={"xatol": 1e-6 * max(N, 1)})
    cand = [(float(r.x), _nll(s, float(r.x), n, ps, pb)), (0.0, _nll(s, 0.0, n, ps, pb))]
    x, v = min(cand, key=lambda t: t[1])
    return float(s), x, v


def _b_error(s: float, b: float, n: np.ndarray, ps: np.ndarray, pb: np.ndarray, fix_s: bool) -> float:
    """1 sigma of the beta+-gamma yield from the Fisher information at the fit (s profiled unless fixed)."""
    mu = np.maximum(s * ps + b * pb, 1e-12)
    w = n / mu**2
    h = np.array([[np.sum(w * ps * ps), np.sum(w * ps * pb)], [np.sum(w * ps * pb), np.sum(w * pb * pb)]])
    if fix_s:
        return float(1 / np.sqrt(h[1, 1])) if h[1, 1] > 0 else float("nan")
    det = np.linalg.det(h)
    return float(np.sqrt(h[0, 0] / det)) if det > 0 else float("nan")


def _overlap_s(lo: np.ndarray, hi: np.ndarray, periods: np.ndarray) -> np.ndarray:
    out = np.zeros(lo.size)
    for a, b in periods:
        out += np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)
    return out


def _frac(num: int, den: int) -> tuple[float | None, float | None]:
    if den == 0:
        return None, None
    p = num / den
    return p, float(np.sqrt(max(p * (1 - p), 1.0 / den) / den))  # binomial (floored at 1/den for p = 0 or 1)


def run_cleaning(stream: Stream, cfg: TagConfig | CleanConfig, model: TopologyModel | None = None,
                 period_days: float | None = None, plots: Path | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Flag the periods of high beta+-gamma rate in ``stream`` and score the flags against its convection truth."""
    t_start = time.perf_counter()
    log = log or (lambda m: None)
    cc = cfg.clean if isinstance(cfg, TagConfig) else cfg
    P = float(period_days if period_days is not None else cc.period_days)
    if not P > 0:
        raise ValueError(f"period length must be > 0 days, got {P}")
    if stream.convection_s is None:
        raise ValueError("this stream has no convection truth (/convection): simulate one with "
                         "`scintnet stream --set convection.enabled=true ...` to measure the cleaning")
    model = model or paper_topology_model()
    for c in (SINGLE_SITE, cc.bg_class):
        model._table(c)  # one-line error when the model lacks a template class
    T = stream.days * DAY_S
    n_per = int(np.ceil(stream.days / P - 1e-9))
    if n_per < 2:
        raise ValueError(f"a {stream.days:g}-day stream is a single {P:g}-day period: use shorter periods "
                         "(--period-days) or a longer stream")
    edges_t = np.minimum(np.arange(n_per + 1) * P * DAY_S, T)
    live = np.diff(edges_t)

    log("selecting and scoring")
    sel = select_window(stream, cc)
    rows = np.flatnonzero(sel)
    cls = event_classes(stream)
    scored = rows[np.array([c is not None for c in cls[rows]], bool)] if rows.size else rows
    if scored.size < cc.min_events:
        raise ValueError(f"only {scored.size} scored events in the cleaning selection ({cc.energy_MeV[0]:g}-"
                         f"{cc.energy_MeV[1]:g} MeV, R < {cc.fiducial_radius_mm:g} mm) of this {stream.days:g}-day "
                         f"stream; need >= {cc.min_events}: use a longer stream")
    score = stream_topology_scores(stream, model, cc.seed)[scored]
    t = stream.events["t_s"][scored]
    per = np.clip(np.searchsorted(edges_t, t, side="right") - 1, 0, n_per - 1)

    # templates on bins of equal single-site population
    inner = model.quantile(SINGLE_SITE, np.linspace(0, 1, cc.n_score_bins + 1)[1:-1])
    if np.any(np.diff(inner) <= 0):
        raise ValueError("the single-site score quantiles are not distinct: use fewer score bins")
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    ps, pb = model.bin_probabilities(SINGLE_SITE, edges), model.bin_probabilities(cc.bg_class, edges)
    b_idx = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, cc.n_score_bins - 1)
    counts = np.zeros((n_per, cc.n_score_bins))
    np.add.at(counts, (per, b_idx), 1)

    log(f"fitting {n_per} periods")
    fix_s = cc.single_site_rate == "global"
    from scipy.stats import norm

    q_thr = float(norm.isf(cc.false_flag_probability) ** 2)
    flagged = np.zeros(n_per, bool)
    for it in range(10):
        keep = ~flagged
        gs, gb, _ = _fit(counts[keep].sum(0), ps, pb)
        rs, rb = gs / live[keep].sum(), gb / live[keep].sum()  # per second
        fit_s, fit_b, fit_err, q = (np.zeros(n_per) for _ in range(4))
        for k in range(n_per):
            n = counts[k]
            s_fix = rs * live[k] if fix_s else None
            s1, b1, nll1 = _fit(n, ps, pb, s=s_fix)
            _, _, nll0 = _fit(n, ps, pb, s=s_fix, b=rb * live[k])
            fit_s[k], fit_b[k] = s1, b1
            fit_err[k] = _b_error(s1, b1, n, ps, pb, fix_s)
            q[k] = max(2 * (nll0 - nll1), 0.0) if b1 > rb * live[k] else 0.0
        new = q > q_thr
        if np.array_equal(new, flagged):
            break
        flagged = new
    n_iter = it + 1

    # truth
    ov = _overlap_s(edges_t[:-1], edges_t[1:], stream.convection_s)
    conv_frac = ov / np.maximum(live, 1e-9)
    conv, clean = conv_frac > 0.5, conv_frac == 0
    mixed = ~conv & ~clean
    ev = stream.events
    ev_flagged = flagged[per]
    typ = ev["type"][scored]

    def removed(m: np.ndarray) -> tuple[float | None, float | None, int]:
        f, e = _frac(int((m & ev_flagged).sum()), int(m.sum()))
        return f, e, int(m.sum())

    eff, eff_err = _frac(int((flagged & conv).sum()), int(conv.sum()))
    ffr, ffr_err = _frac(int((flagged & clean).sum()), int(clean.sum()))
    bi, bi_err, n_bi = removed(typ == EVENT_TYPES["bi214"])
    sig, sig_err, n_sig = removed(typ == EVENT_TYPES["xe136_2vbb"])
    bkg, bkg_err, n_bkg = removed(np.array([c != SINGLE_SITE for c in cls[scored]], bool))
    inj = ev["convection"][scored] == 1 if "convection" in ev else np.zeros(scored.size, bool)
    bic, bic_err, n_bic = removed(inj)
    inv = {v: k for k, v in EVENT_TYPES.items()}
    tv, tc = np.unique(typ, return_counts=True)
    # the truth the stream-wide fit should find: the selected events per day outside convection
    out_conv = ~np.any((t[:, None] >= stream.convection_s[:, 0]) & (t[:, None] < stream.convection_s[:, 1]), axis=1) \
        if stream.convection_s.size else np.ones(t.size, bool)
    clean_live = T - float((stream.convection_s[:, 1] - stream.convection_s[:, 0]).sum()) if stream.convection_s.size else T
    single = np.array([c == SINGLE_SITE for c in cls[scored]], bool)
    res: dict[str, Any] = {
        "flag_efficiency": eff, "flag_efficiency_err": eff_err,
        "false_flag_rate": ffr, "false_flag_rate_err": ffr_err,
        "exposure_removed": float(live[flagged].sum() / live.sum()),
        "bi214_removed": bi, "bi214_removed_err": bi_err,
        "convection_bi214_removed": bic, "convection_bi214_removed_err": bic_err,
        "background_removed": bkg, "background_removed_err": bkg_err,
        "signal_removed": sig, "signal_removed_err": sig_err,
        "n_periods": n_per, "n_convection_periods": int(conv.sum()), "n_clean_periods": int(clean.sum()),
        "n_mixed_periods": int(mixed.sum()), "n_flagged": int(flagged.sum()),
        "n_mixed_flagged": int((flagged & mixed).sum()),
        "period_days": P, "days": stream.days,
        "injected_convection_days": float((stream.convection_s[:, 1] - stream.convection_s[:, 0]).sum() / DAY_S)
        if stream.convection_s.size else 0.0,
        "n_injected_periods": int(stream.convection_s.shape[0]),
        "selection": {"energy_MeV": list(cc.energy_MeV), "fiducial_radius_mm": cc.fiducial_radius_mm,
                      "muon_veto_s": cc.muon_veto_s, "n_events": int(scored.size),
                      "n_bi214": n_bi, "n_bi214_injected": n_bic, "n_xe136_2vbb": n_sig, "n_background": n_bkg,
                      "by_type": {inv.get(int(a), str(a)): int(b) for a, b in zip(tv, tc)}},
        "stream_rates_per_day": {
            "single_site_fit": rs * DAY_S, "beta_gamma_fit": rb * DAY_S,
            "single_site_true_outside_convection": float((single & out_conv).sum() / clean_live * DAY_S)
            if clean_live > 0 else None,
            "background_true_outside_convection": float((~single & out_conv).sum() / clean_live * DAY_S)
            if clean_live > 0 else None},
        "test": {"false_flag_probability": cc.false_flag_probability, "q_threshold": q_thr,
                 "single_site_rate": cc.single_site_rate, "n_score_bins": cc.n_score_bins,
                 "bg_class": cc.bg_class, "iterations": n_iter},
        "model": model.source,
        "periods": {"start_days": (edges_t[:-1] / DAY_S).tolist(), "live_days": (live / DAY_S).tolist(),
                    "n_events": counts.sum(1).astype(int).tolist(),
                    "beta_gamma_per_day": (fit_b / live * DAY_S).tolist(),
                    "beta_gamma_err_per_day": [None if not np.isfinite(x) else float(x)
                                               for x in fit_err / live * DAY_S],
                    "single_site_per_day": (fit_s / live * DAY_S).tolist(),
                    "q": q.tolist(), "flagged": flagged.tolist(), "convection_fraction": conv_frac.tolist()},
    }
    if plots is not None:
        res["plots"] = [plot_cleaning(res, stream.convection_s, Path(plots))]
    res["seconds"] = time.perf_counter() - t_start
    return res


def plot_cleaning(res: dict[str, Any], conv_s: np.ndarray, folder: Path) -> str:
    """Per-period fitted beta+-gamma rate vs time, injected convection shaded, flagged periods marked."""
    from ..plotting import pyplot, save

    plt = pyplot()
    pr = res["periods"]
    t0 = np.asarray(pr["start_days"]) + 0.5 * np.asarray(pr["live_days"])
    y = np.asarray(pr["beta_gamma_per_day"], float)
    e = np.array([np.nan if x is None else x for x in pr["beta_gamma_err_per_day"]], float)
    fl = np.asarray(pr["flagged"], bool)
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, (a, b) in enumerate(conv_s / DAY_S):
        ax.axvspan(a, b, color="tab:orange", alpha=0.25, lw=0, label="injected convection" if i == 0 else None)
    ax.errorbar(t0, y, yerr=np.nan_to_num(e), fmt="o", ms=3, color="k", lw=0.8, label="fitted β±+γ rate")
    if fl.any():
        ax.plot(t0[fl], y[fl], "x", color="tab:red", ms=9, mew=2, label="flagged")
    ax.axhline(res["stream_rates_per_day"]["beta_gamma_fit"], color="tab:blue", ls="--", lw=1,
               label="stream-wide rate (unflagged periods)")
    ax.set_xlabel("time (days)")
    ax.set_ylabel("β±+γ events / day")
    eff = res["flag_efficiency"]
    ax.set_title(f"data cleaning: flag efficiency {'n/a' if eff is None else f'{100 * eff:.0f} %'}, false flags "
                 f"{100 * (res['false_flag_rate'] or 0):.1f} %, exposure removed {100 * res['exposure_removed']:.1f} %",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return save(fig, folder / "clean_rate_vs_time.png", dpi=110)
