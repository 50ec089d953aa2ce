"""Classifier metrics of the KamNet paper: ROC, AUC, background rejection at fixed signal acceptance."""

from __future__ import annotations

import numpy as np


def roc_curve(score_signal: np.ndarray, score_background: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signal acceptance TPR, background acceptance FPR, threshold), thresholds descending.

    An event is accepted as signal when ``score >= threshold``.
    """
    s = np.asarray(score_signal, float)
    b = np.asarray(score_background, float)
    scores = np.concatenate([s, b])
    is_sig = np.concatenate([np.ones(s.size, bool), np.zeros(b.size, bool)])
    order = np.argsort(-scores, kind="stable")
    scores, is_sig = scores[order], is_sig[order]
    tp = np.cumsum(is_sig)
    fp = np.cumsum(~is_sig)
    last = np.r_[np.diff(scores) != 0, True]  # one point per distinct threshold
    tpr = np.r_[0.0, tp[last] / max(s.size, 1)]
    fpr = np.r_[0.0, fp[last] / max(b.size, 1)]
    thr = np.r_[np.inf, scores[last]]
    return tpr, fpr, thr


def auc(score_signal: np.ndarray, score_background: np.ndarray) -> float:
    """Area under the ROC = P(score_signal > score_background) (+ 1/2 ties)."""
    tpr, fpr, _ = roc_curve(score_signal, score_background)
    return float(np.trapezoid(tpr, fpr))


def rejection_at_acceptance(score_signal: np.ndarray, score_background: np.ndarray, acceptance: float = 0.9) -> float:
    """Background rejection (1 - FPR) at signal acceptance ``acceptance``, interpolated on the ROC."""
    tpr, fpr, _ = roc_curve(score_signal, score_background)
    # tpr is non-decreasing; take the interpolated FPR where tpr crosses the acceptance
    i = np.searchsorted(tpr, acceptance, side="left")
    if i == 0:
        return float(1.0 - fpr[0])
    if i >= tpr.size:
        return float(1.0 - fpr[-1])
    t0, t1, f0, f1 = tpr[i - 1], tpr[i], fpr[i - 1], fpr[i]
    f = f0 + (f1 - f0) * (acceptance - t0) / (t1 - t0) if t1 > t0 else f1
    return float(1.0 - f)


def matching_weights(target: np.ndarray, sample: np.ndarray, n_bins: int = 20,
                     quantile_bins: bool = False) -> np.ndarray:
    """Per-event weights that give ``sample`` the distribution of ``target`` in one variable.

    ``n_bins`` bins over the target's range — equal-width, or with ``quantile_bins`` equally
    populated by the target (robust to a few far outliers, fine where the target is dense);
    sample events outside get weight 0.  Normalised to mean 1 over ``sample``.  Raises if the two
    ranges do not overlap.
    """
    t = np.asarray(target, float)
    x = np.asarray(sample, float)
    if t.size == 0 or x.size == 0:
        raise ValueError("matching needs events in both samples")
    top = t.max() + 1e-9 * max(1.0, abs(t.max()))
    if quantile_bins:
        edges = np.unique(np.r_[np.quantile(t, np.linspace(0, 1, n_bins + 1))[:-1], top])
        n_bins = edges.size - 1
    else:
        edges = np.linspace(t.min(), top, n_bins + 1)
    ht = np.histogram(t, edges)[0] / t.size
    hx = np.histogram(x, edges)[0] / x.size
    ratio = np.divide(ht, hx, out=np.zeros_like(ht, dtype=float), where=hx > 0)
    idx = np.clip(np.digitize(x, edges) - 1, 0, n_bins - 1)
    inside = (x >= edges[0]) & (x < edges[-1])
    w = np.where(inside, ratio[idx], 0.0)
    if w.sum() <= 0:
        raise ValueError("the two samples' ranges do not overlap")
    return w * (w.size / w.sum())


def energy_matching_weights(energy_signal_MeV: np.ndarray, energy_background_MeV: np.ndarray,
                            n_bins: int = 20) -> np.ndarray:
    """Per-background-event weights that give the background the signal's energy spectrum.

    The 0νββ test sample is a resolution-smeared line while most backgrounds are broad in the
    same window, so any classifier whose score drifts with energy "rejects" background at the
    window edges without using topology (training is Nhit-matched; testing is not).  Weighting
    the background to the signal's spectrum (``n_bins`` equal-width bins over the signal's range;
    background outside it gets weight 0) removes that: the matched rejection is what the score
    adds at fixed energy.  Weights are normalised to mean 1 over the background sample.
    """
    try:
        return matching_weights(energy_signal_MeV, energy_background_MeV, n_bins)
    except ValueError as exc:
        raise ValueError(f"energy matching: {exc}") from None


def vertex_matching_weights(radius_signal_mm: np.ndarray, radius_background_mm: np.ndarray,
                            n_bins: int = 40) -> np.ndarray:
    """Per-*signal*-event weights that give the signal the background's radial distribution.

    The spectral fit of a real analysis is done in radial (volume) bins, so a score that
    "rejects" ²¹⁴Bi on the balloon film because film events sit at the largest radii adds nothing
    the fit does not already use — exactly as with energy.  The background (film: a thin shell)
    cannot be weighted to the signal's uniform volume distribution, so the signal is weighted to
    the background's: the rejection is then measured on signal events at the background's
    positions.  Bins in R³ (volume), each holding the same share of the background.  Both radii
    must be reconstructed ones (the signal's resolution tail beyond the balloon is what meets the
    film background's tail there).
    """
    rs = np.asarray(radius_signal_mm, float)
    rb = np.asarray(radius_background_mm, float)
    try:
        return matching_weights(rb**3, rs**3, n_bins, quantile_bins=True)
    except ValueError as exc:
        raise ValueError(f"vertex matching: {exc}") from None


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish effective number of events (Σw)² / Σw² of a weighted sample."""
    w = np.asarray(weights, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if np.any(w) else 0.0


def weighted_rejection_at_acceptance(score_signal: np.ndarray, score_background: np.ndarray,
                                     weights_background: np.ndarray, acceptance: float = 0.9,
                                     weights_signal: np.ndarray | None = None) -> float:
    """Weighted background fraction below the score that keeps ``acceptance`` of the (weighted) signal."""
    s = np.asarray(score_signal, float)
    if weights_signal is None:
        thr = np.quantile(s, 1.0 - acceptance)
    else:
        thr = np.quantile(s, 1.0 - acceptance, weights=np.asarray(weights_signal, float), method="inverted_cdf")
    w = np.asarray(weights_background, float)
    return float(np.sum(w * (np.asarray(score_background) < thr)) / np.sum(w))


def threshold_at_acceptance(score_signal: np.ndarray, acceptance: float = 0.9) -> float:
    """Score cut keeping ``acceptance`` of the signal."""
    return float(np.quantile(np.asarray(score_signal, float), 1.0 - acceptance))


def bootstrap_metric(score_signal: np.ndarray, score_background: np.ndarray, fn, n_boot: int = 200,
                     seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of ``fn(sig, bkg)`` over event bootstrap resamples."""
    rng = np.random.default_rng(seed)
    s = np.asarray(score_signal)
    b = np.asarray(score_background)
    vals = [fn(s[rng.integers(0, s.size, s.size)], b[rng.integers(0, b.size, b.size)]) for _ in range(n_boot)]
    return float(np.mean(vals)), float(np.std(vals))


def gaussian_core(x: np.ndarray, n_sigma: float = 3.0, iters: int = 10) -> tuple[float, float]:
    """Mean and sigma of the Gaussian core (iterative n-sigma clipping)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    m, s = np.median(x), 1.4826 * np.median(np.abs(x - np.median(x)))
    for _ in range(iters):
        sel = np.abs(x - m) < n_sigma * s
        m2, s2 = x[sel].mean(), x[sel].std()
        # correct the clipped-Gaussian std for the truncation at n_sigma
        s2 /= _truncnorm_std(n_sigma)
        if abs(m2 - m) < 1e-6 * max(abs(m), 1) and abs(s2 - s) < 1e-6 * max(s, 1e-12):
            break
        m, s = m2, s2
    return float(m), float(s)


def _truncnorm_std(n_sigma: float) -> float:
    from scipy.stats import truncnorm

    return float(truncnorm(-n_sigma, n_sigma).std())
