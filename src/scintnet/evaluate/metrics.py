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
