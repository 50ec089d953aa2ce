"""Likelihood spallation tag (article 000 sec. 4.2).

Each (candidate, muon) pair has (I) the number of detected neutrons near the candidate,
(II) the distance to the nearest one and (III) the time since the muon.  PDFs for true
parent pairs (spallation) and for pairs of 136Xe decays with unrelated muons (accidental)
are histogrammed on a training half; the candidate's score is the largest log likelihood
ratio over its pairs.  A candidate with no pair gets ``-inf`` (never tagged).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

import numpy as np

from .pairs import Candidates, Pairs

N_EDGES = np.array([0.5, 1.5, 2.5, 3.5, 5.5, 8.5, 1e9])
D_EDGES_MM = np.linspace(0.0, 1600.0, 9)
LOGT_EDGES = np.linspace(-4.0, 6.0, 21)  # log10(dT / s); a 2-day window ends at 5.24


@dataclass
class LikelihoodTag:
    """Histogram PDFs of the three pair features (independent n×d and dT factors)."""

    log_ratio_nd: np.ndarray  # [len(N_EDGES)-1, len(D_EDGES_MM)-1]
    log_ratio_t: np.ndarray  # [len(LOGT_EDGES)-1]
    max_distance_mm: float

    def pair_log_lr(self, pairs: Pairs) -> np.ndarray:
        i = np.clip(np.digitize(pairs.n_near, N_EDGES) - 1, 0, self.log_ratio_nd.shape[0] - 1)
        j = np.clip(np.digitize(pairs.d_min_mm, D_EDGES_MM) - 1, 0, self.log_ratio_nd.shape[1] - 1)
        k = np.clip(np.digitize(np.log10(np.maximum(pairs.dt_s, 1e-6)), LOGT_EDGES) - 1, 0, self.log_ratio_t.size - 1)
        return self.log_ratio_nd[i, j] + self.log_ratio_t[k]

    def score(self, pairs: Pairs) -> np.ndarray:
        """Per-candidate max log likelihood ratio (``-inf`` without pairs)."""
        nc = pairs.offsets.size - 1
        s = np.full(nc, -np.inf)
        if pairs.muon.size:
            np.maximum.at(s, pairs.candidate_of_pair(), self.pair_log_lr(pairs))
        return s


def _hist_pdf(values: tuple[np.ndarray, ...], edges: tuple[np.ndarray, ...], uniform: float = 0.01) -> np.ndarray:
    h, _ = np.histogramdd(np.stack(values, 1), bins=edges)
    # mix in 1 % of a flat PDF: bins empty in both classes get ratio 1 instead of favouring the smaller class
    return (1 - uniform) * h / max(h.sum(), 1.0) + uniform / h.size


def fit_likelihood(cands: Candidates, pairs: Pairs, train: np.ndarray, max_distance_mm: float) -> LikelihoodTag:
    """Build the PDFs from training candidates (boolean mask over candidates).

    Spallation pairs: spallation candidates paired with their true parent muon.
    Accidental pairs: all pairs of non-spallation (136Xe) candidates.
    """
    cand = pairs.candidate_of_pair()
    tr = train[cand]
    sig = tr & cands.is_spallation[cand] & (pairs.muon == cands.parent_muon[cand])
    bkg = tr & ~cands.is_spallation[cand]
    if sig.sum() < 5 or bkg.sum() < 5:
        raise ValueError(f"too few training pairs for the likelihood (spallation {int(sig.sum())}, "
                         f"accidental {int(bkg.sum())}); use a longer or spallation-enriched stream")
    lt = np.log10(np.maximum(pairs.dt_s, 1e-6))
    nd_s = _hist_pdf((pairs.n_near[sig].astype(float), pairs.d_min_mm[sig]), (N_EDGES, D_EDGES_MM))
    nd_b = _hist_pdf((pairs.n_near[bkg].astype(float), pairs.d_min_mm[bkg]), (N_EDGES, D_EDGES_MM))
    t_s = _hist_pdf((lt[sig],), (LOGT_EDGES,))
    t_b = _hist_pdf((lt[bkg],), (LOGT_EDGES,))
    return LikelihoodTag(np.log(nd_s / nd_b), np.log(t_s / t_b), max_distance_mm)


def efficiency_curve(score: np.ndarray, is_spall: np.ndarray, n_points: int = 200) -> dict[str, np.ndarray]:
    """Tagged fraction of spallation vs fraction of 136Xe decays (exposure) tagged, over thresholds."""
    finite = score[np.isfinite(score)]
    if finite.size == 0:
        thr = np.array([np.inf])
    else:
        thr = np.unique(np.quantile(finite, np.linspace(0, 1, n_points)))
    s, b = score[is_spall], score[~is_spall]
    eff = np.array([(s > t).mean() if s.size else np.nan for t in thr])
    loss = np.array([(b > t).mean() if b.size else np.nan for t in thr])
    return {"threshold": thr, "spallation_tagged": eff, "exposure_lost": loss}


def working_point(curve: dict[str, np.ndarray], exposure_loss: float) -> dict[str, float]:
    """The threshold whose exposure loss is closest to (not above, if possible) ``exposure_loss``."""
    loss = curve["exposure_lost"]
    ok = np.flatnonzero(loss <= exposure_loss)
    i = ok[np.argmax(loss[ok])] if ok.size else int(np.argmin(np.abs(loss - exposure_loss)))
    return {"threshold": float(curve["threshold"][i]), "spallation_tagged": float(curve["spallation_tagged"][i]),
            "exposure_lost": float(loss[i])}


def binomial_error(p: float, n: int) -> float:
    return float(np.sqrt(max(p * (1 - p), 0.0) / max(n, 1)))


def tag_figures(curve: dict[str, np.ndarray], target: float, n_spallation: int) -> dict[str, Any]:
    """:func:`working_point` at ``target`` with the binomial error of the tagged fraction on ``n_spallation``
    test candidates (both ``None`` without any: the tagged fraction is undefined)."""
    w: dict[str, Any] = working_point(curve, target)
    if n_spallation == 0:
        return w | {"spallation_tagged": None, "spallation_tagged_err": None}
    return w | {"spallation_tagged_err": binomial_error(w["spallation_tagged"], n_spallation)}

