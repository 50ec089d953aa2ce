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
    es = np.asarray(energy_signal_MeV, float)
    eb = np.asarray(energy_background_MeV, float)
    if es.size == 0 or eb.size == 0:
        raise ValueError("energy matching needs signal and background events")
    edges = np.linspace(es.min(), es.max() + 1e-9, n_bins + 1)
    hs = np.histogram(es, edges)[0] / es.size
    hb = np.histogram(eb, edges)[0] / eb.size
    ratio = np.divide(hs, hb, out=np.zeros_like(hs, dtype=float), where=hb > 0)
    idx = np.clip(np.digitize(eb, edges) - 1, 0, n_bins - 1)
    inside = (eb >= edges[0]) & (eb < edges[-1])
    w = np.where(inside, ratio[idx], 0.0)
    if w.sum() <= 0:
        raise ValueError("signal and background energy ranges do not overlap")
    return w * (w.size / w.sum())


def weighted_rejection_at_acceptance(score_signal: np.ndarray, score_background: np.ndarray,
                                     weights_background: np.ndarray, acceptance: float = 0.9) -> float:
    """Weighted background fraction below the score that keeps ``acceptance`` of the signal."""
    thr = np.quantile(np.asarray(score_signal, float), 1.0 - acceptance)
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
