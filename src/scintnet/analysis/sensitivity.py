"""Counting-experiment sensitivity gains from a classifier (KamNet paper §V.C–D, §VI, eq. 5–8).

In a background-dominated counting experiment T½ sensitivity ∝ S/√B, so a cut keeping a
fraction TPR of the signal and FPR of the background multiplies it by ``TPR/√FPR`` (eq. 5).
Scores are "signal-like when high": an event is kept when ``score >= threshold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

# KamNet paper eq. 6: from preliminary KLZ-800 fits, 58.2 % of the ROI background is long-lived
# Xe spallation (rejectable) and 41.8 % 2νββ-like (irreducible, FPR = TPR).
FRACTION_LONG_LIVED = 0.582
# long-lived Xe-spallation products simulated by scintnet (KamNet paper Table I, "LL")
LONG_LIVED_SOURCES = ("Xe137", "I130", "I132", "I124", "I122", "Sb118", "Nb90")


def _check_rate(name: str, x: float | np.ndarray, allow_zero: bool = False) -> np.ndarray:
    a = np.asarray(x, float)
    bad = (a < 0) | (a > 1) | (~np.isfinite(a)) | ((a == 0) if not allow_zero else False)
    if np.any(bad):
        raise ValueError(f"{name} must lie in {'[0' if allow_zero else '(0'}, 1], got {x}")
    return a


def sensitivity_factor(tpr: float | np.ndarray, fpr: float | np.ndarray) -> np.ndarray | float:
    """Eq. 5: S = TPR/√FPR (TPR 0.9, FPR 0.7 ⇒ 1.076)."""
    t = _check_rate("tpr", tpr, allow_zero=True)
    f = _check_rate("fpr", fpr)
    s = t / np.sqrt(f)
    return float(s) if s.ndim == 0 else s


def mixed_sensitivity_factor(tpr: float | np.ndarray, fpr_ll: float | np.ndarray,
                             fpr_2nu: float | np.ndarray | None = None,
                             frac_ll: float = FRACTION_LONG_LIVED) -> np.ndarray | float:
    """Eq. 6: S = TPR / √(FPR_LL·f_LL + FPR_2ν·(1 − f_LL)).

    ``fpr_2nu`` defaults to ``tpr``: 2νββ-like backgrounds look like the signal to the classifier.
    """
    if not 0 <= frac_ll <= 1:
        raise ValueError(f"frac_ll must be in [0, 1], got {frac_ll}")
    t = _check_rate("tpr", tpr, allow_zero=True)
    fl = _check_rate("fpr_ll", fpr_ll, allow_zero=True)
    f2 = t if fpr_2nu is None else _check_rate("fpr_2nu", fpr_2nu, allow_zero=True)
    denom = fl * frac_ll + f2 * (1 - frac_ll)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(denom > 0, t / np.sqrt(np.where(denom > 0, denom, 1.0)), np.nan)
    return float(s) if s.ndim == 0 else s


def exposure_gain(exposure_ratio: float, background_ratio: float = 1.0, efficiency_ratio: float = 1.0,
                  resolution_ratio: float = 1.0) -> float:
    """Eq. 7: T½ sensitivity ratio √(ε M / (B δE)) between two configurations."""
    for n, v in (("exposure_ratio", exposure_ratio), ("background_ratio", background_ratio),
                 ("efficiency_ratio", efficiency_ratio), ("resolution_ratio", resolution_ratio)):
        if not v > 0:
            raise ValueError(f"{n} must be > 0, got {v}")
    return math.sqrt(exposure_ratio * efficiency_ratio / (background_ratio * resolution_ratio))


def excited_state_efficiency(efficiencies: np.ndarray, branching: np.ndarray) -> float:
    """Eq. 8: ε_ES = Σ r_i ε_i / Σ r_i over the excited-state decays."""
    e = _check_rate("efficiencies", efficiencies, allow_zero=True)
    r = np.asarray(branching, float)
    if e.shape != r.shape or np.any(r < 0) or r.sum() <= 0:
        raise ValueError("branching ratios must be >= 0, not all zero, one per efficiency")
    return float((r * e).sum() / r.sum())


def sn_gain(signal_before: float, noise_before: float, signal_after: float, noise_after: float) -> float:
    """Ratio of signal-to-noise after / before a cut (paper §VI: 0.1187/0.0691 ⇒ 1.72)."""
    if min(signal_before, noise_before, noise_after) <= 0 or signal_after < 0:
        raise ValueError("signal and noise must be > 0")
    return (signal_after / noise_after) / (signal_before / noise_before)


# --- threshold scans ---------------------------------------------------------------------
def efficiency_curve(scores: np.ndarray, thresholds: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Fraction (weighted) of events with ``score >= threshold`` for every threshold."""
    s = np.asarray(scores, float)
    if s.size == 0:
        raise ValueError("empty score array")
    w = np.ones_like(s) if weights is None else np.asarray(weights, float)
    order = np.argsort(s)
    cw = np.concatenate([[0.0], np.cumsum(w[order])])
    idx = np.searchsorted(s[order], thresholds, side="left")
    return (cw[-1] - cw[idx]) / cw[-1]


@dataclass
class ThresholdScan:
    """S(threshold) for a score cut; ``best_*`` at the optimum, ``*_at_tpr`` at the reference TPR."""

    thresholds: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    factor: np.ndarray
    best_threshold: float
    best_factor: float
    best_tpr: float
    best_fpr: float
    ref_tpr: float
    threshold_at_tpr: float
    fpr_at_tpr: float
    factor_at_tpr: float
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not isinstance(v, np.ndarray)}


def threshold_scan(signal_scores: np.ndarray, background_scores: np.ndarray, *, mixed: bool = False,
                   frac_ll: float = FRACTION_LONG_LIVED, ref_tpr: float = 0.9, min_fpr_events: int = 10,
                   thresholds: np.ndarray | None = None) -> ThresholdScan:
    """Scan S = TPR/√FPR (or eq. 6 when ``mixed``) over every distinct score threshold.

    Thresholds leaving fewer than ``min_fpr_events`` background events are not eligible for
    the optimum (the ratio is dominated by statistical fluctuations there).
    """
    sig = np.asarray(signal_scores, float)
    bkg = np.asarray(background_scores, float)
    if sig.size == 0 or bkg.size == 0:
        raise ValueError("signal and background scores must be non-empty")
    if thresholds is None:
        thresholds = np.unique(np.concatenate([sig, bkg]))
    thr = np.asarray(thresholds, float)
    tpr = efficiency_curve(sig, thr)
    fpr = efficiency_curve(bkg, thr)
    with np.errstate(divide="ignore", invalid="ignore"):
        if mixed:
            fac = mixed_sensitivity_factor(tpr, fpr, frac_ll=frac_ll)
        else:
            fac = np.where(fpr > 0, tpr / np.sqrt(np.where(fpr > 0, fpr, 1.0)), np.nan)
    ok = (fpr * bkg.size >= min_fpr_events) & np.isfinite(fac)
    if not ok.any():
        raise ValueError("no threshold keeps enough background events for a stable ratio")
    ib = int(np.nanargmax(np.where(ok, fac, -np.inf)))
    # reference point: the highest threshold keeping at least ref_tpr of the signal
    keep = np.nonzero(tpr >= ref_tpr)[0]
    ir = int(keep[-1]) if keep.size else 0
    return ThresholdScan(thr, tpr, fpr, np.asarray(fac), float(thr[ib]), float(fac[ib]), float(tpr[ib]),
                         float(fpr[ib]), ref_tpr, float(thr[ir]), float(fpr[ir]), float(fac[ir]))


# --- fiducial-volume expansion (paper §V.D, Fig. 7) ---------------------------------------
def _fit_exp_density(r_mm: np.ndarray, lo: float, hi: float, nbins: int) -> tuple[float, float]:
    """Poisson fit of ln ρ(r) = a + b·r (ρ per mm³) to radii in shells between lo and hi."""
    edges = np.linspace(lo, hi, nbins + 1)
    n, _ = np.histogram(r_mm, edges)
    vol = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    rc = 0.5 * (edges[1:] + edges[:-1])
    if n.sum() < 5:
        raise ValueError(f"only {n.sum()} film events in the fit range {lo:.0f}-{hi:.0f} mm")
    x = (rc - rc.mean()) / 1000.0  # metres, centred: well-conditioned

    def nll(p):
        mu = vol * np.exp(p[0] + p[1] * x)
        return float(np.sum(mu - n * np.log(mu)))

    a0 = math.log(max(n.sum(), 1) / vol.sum())
    res = minimize(nll, [a0, 5.0], method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    a, b = res.x
    return a - b * rc.mean() / 1000.0, b / 1000.0  # per-mm slope, intercept at r = 0


def fiducial_expansion(r_before_mm: np.ndarray, r_after_mm: np.ndarray, r0_mm: float = 1570.0,
                       fit_range_mm: tuple[float, float] = (1200.0, 1850.0), nbins: int = 26) -> dict:
    """Radius where the film-background density after the cut equals the density before at ``r0``.

    Both samples are the *same* film events (``r_after`` the survivors), so densities are
    directly comparable.  Each profile is fitted with an exponential in r (the film
    background falls off inward as the vertex-resolution tail of a thin shell).
    Returns the new radius, the volume (exposure) gain and the eq. 7 sensitivity gain.
    """
    rb = np.asarray(r_before_mm, float)
    ra = np.asarray(r_after_mm, float)
    if ra.size > rb.size:
        raise ValueError("r_after must be a subset of r_before (survivors of the cut)")
    ab, bb = _fit_exp_density(rb, *fit_range_mm, nbins)
    aa, ba = _fit_exp_density(ra, *fit_range_mm, nbins)
    if ba <= 0:
        raise ValueError("film density after the cut does not rise towards the balloon: no expansion defined")
    r1 = (ab + bb * r0_mm - aa) / ba
    gain_v = (r1 / r0_mm) ** 3
    return {"r0_mm": r0_mm, "r_new_mm": float(r1), "volume_gain": float(gain_v - 1.0),
            "sensitivity_gain": exposure_gain(gain_v) - 1.0,
            "slope_before_per_mm": bb, "slope_after_per_mm": ba,
            "film_survival": ra.size / max(rb.size, 1)}


# --- evaluated model (runs/NAME/eval/scores.h5) ------------------------------------------
def read_scores(path: str | Path) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
    """Read ``scores.h5`` (:mod:`scintnet.io.scores`): (signal source, {source: {score, label, energy_MeV,
    radius_mm[, second_pulse_fraction]}})."""
    from ..io.scores import read_scores as _read

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no scores file at {p} (evaluate the model first)")
    s = _read(p, fields=("score", "label", "energy_MeV", "radius_mm", "second_pulse_fraction"))
    return s.signal, s.groups


def sensitivity_from_scores(path: str | Path, ref_tpr: float = 0.9, frac_ll: float = FRACTION_LONG_LIVED,
                            r0_mm: float = 1570.0, fiducial_radius_mm: float | None = None,
                            double_pulse_loss: float | None = None) -> dict:
    """All counting-experiment figures of an evaluated model (per background, mixed eq. 6, FV eq. 7).

    ``fiducial_radius_mm`` restricts the XeLS comparisons to r < R (film events are never cut).
    ``double_pulse_loss``: the double-pulse cut (:mod:`scintnet.reco.pileup`) that loses this fraction
    of the signal comes first; the signal efficiency then counts the events it removes.
    """
    sig_name, data = read_scores(path)
    dp = None
    if double_pulse_loss:
        from ..reco.pileup import apply_cut, cut_for_signal_loss

        missing = [n for n, d in data.items() if "second_pulse_fraction" not in d]
        if missing:
            raise ValueError(f"{path}: no second_pulse_fraction for {missing} (re-run `scintnet evaluate`)")
        cut = cut_for_signal_loss(data[sig_name]["second_pulse_fraction"], double_pulse_loss)
        data = {n: dict(d, score=apply_cut(d["score"], d["second_pulse_fraction"], cut)) for n, d in data.items()}
        dp = {"signal_loss": double_pulse_loss, "cut_fraction": cut}
    sig = data[sig_name]
    s_scores = sig["score"]
    if fiducial_radius_mm is not None and "radius_mm" in sig:
        s_scores = s_scores[sig["radius_mm"] < fiducial_radius_mm]
    res: dict = {"signal_source": sig_name, "n_signal": int(s_scores.size), "ref_tpr": ref_tpr, "backgrounds": {}}
    if dp is not None:
        res["double_pulse"] = dp
    thr_ref = float(np.quantile(s_scores, 1 - ref_tpr, method="lower"))
    ll: list[np.ndarray] = []
    for name, d in data.items():
        if name == sig_name:
            continue
        sc = d["score"]
        film = "film" in name.lower()
        if fiducial_radius_mm is not None and not film and "radius_mm" in d:
            sc = sc[d["radius_mm"] < fiducial_radius_mm]
        if sc.size == 0:
            continue
        scan = threshold_scan(s_scores, sc, ref_tpr=ref_tpr, min_fpr_events=min(10, sc.size))
        res["backgrounds"][name] = {"n": int(sc.size), "rejection_at_ref_tpr": 1 - scan.fpr_at_tpr,
                                    "sensitivity_factor_at_ref_tpr": scan.factor_at_tpr,
                                    "best_threshold": scan.best_threshold, "best_factor": scan.best_factor,
                                    "best_tpr": scan.best_tpr}
        if name in LONG_LIVED_SOURCES:
            # equal weight per product: the paper pools them without rate weights (assumption)
            ll.append(sc)
        if film and "radius_mm" in d:
            keep = d["score"] >= thr_ref
            try:
                res["fiducial"] = fiducial_expansion(d["radius_mm"], d["radius_mm"][keep], r0_mm=r0_mm)
                res["fiducial"]["source"] = name
            except ValueError as exc:
                res["fiducial"] = {"error": str(exc), "source": name}
    if ll:
        pooled_w = np.concatenate([np.full(a.size, 1.0 / a.size) for a in ll])
        pooled = np.concatenate(ll)
        thr = np.unique(np.concatenate([s_scores, pooled]))
        tpr = efficiency_curve(s_scores, thr)
        fpr = efficiency_curve(pooled, thr, pooled_w)
        fac = mixed_sensitivity_factor(tpr, fpr, frac_ll=frac_ll)
        ok = fpr * pooled.size >= 10
        ib = int(np.nanargmax(np.where(ok, fac, -np.inf)))
        ir = int(np.nonzero(tpr >= ref_tpr)[0][-1])
        res["mixed"] = {"frac_long_lived": frac_ll, "sources": [n for n in LONG_LIVED_SOURCES if n in data],
                        "fpr_ll_at_ref_tpr": float(fpr[ir]), "sensitivity_factor_at_ref_tpr": float(fac[ir]),
                        "best_threshold": float(thr[ib]), "best_factor": float(fac[ib]), "best_tpr": float(tpr[ib])}
    if "mixed" in res and "fiducial" in res and "sensitivity_gain" in res["fiducial"]:
        res["combined_gain"] = res["mixed"]["sensitivity_factor_at_ref_tpr"] * (1 + res["fiducial"]["sensitivity_gain"]) - 1
    return res
