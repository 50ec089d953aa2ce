"""The combined long-lived veto (talk 001, future work): spallation tag and KamNet-family topology in one classifier.

Each Xe-spallation candidate carries two nearly independent handles: the time/space correlation with a preceding
muon and its neutrons (the likelihood tag's score) and its β+γ event topology (KamNet, paper Table I long-lived
rows: 25.4 % rejected at 90 % signal acceptance, AUC 0.64).  A small XGBoost (native API) on the two scores
learns the 2-D likelihood-ratio ordering; the figure is the spallation tagged at the same exposure lost
(136Xe candidates tagged) as the likelihood tag, against each score alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..io.stream import Stream
from .likelihood import efficiency_curve, tag_figures
from .pairs import Candidates
from .topology import TopologyModel, paper_topology_model, stream_topology_scores

# candidates without any muon pair have a likelihood score of -inf: a finite floor below every pair score
_NO_PAIR_SCORE = -20.0


def veto_features(spallation_score: np.ndarray, topology_score: np.ndarray) -> np.ndarray:
    """(n, 2) float32: the spallation log-likelihood ratio (floored) and 1 - the topology score (the KamNet
    family scores signal-likeness: single-site high), so that both grow with background-likeness."""
    s = np.where(np.isfinite(spallation_score), spallation_score, _NO_PAIR_SCORE)
    return np.c_[np.maximum(s, _NO_PAIR_SCORE), 1.0 - topology_score].astype(np.float32)


def train_veto(X: np.ndarray, y: np.ndarray, seed: int, n_estimators: int = 150):
    """XGBoost on the two scores; monotone increasing in both (a higher score is never less background-like),
    which keeps the sparse corners of the plane from being over-fitted."""
    import xgboost as xgb

    if not np.isfinite(X).all():
        raise ValueError("combined veto: non-finite feature (a stream event without a topology class?)")
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "subsample": 0.8, "tree_method": "hist",
              "nthread": 2, "seed": seed, "monotone_constraints": "(1,1)",
              "scale_pos_weight": float((y == 0).sum() / max((y == 1).sum(), 1))}
    return xgb.train(params, xgb.DMatrix(X, label=y), n_estimators)


def topology_scores(stream: Stream, cands: Candidates, model: TopologyModel | None, seed: int) -> np.ndarray:
    return stream_topology_scores(stream, model or paper_topology_model(), seed)[cands.row]


def combined_veto(tr_stream: Stream, tr_cands: Candidates, tr_score: np.ndarray, train: np.ndarray,
                  stream: Stream, cands: Candidates, score: np.ndarray, test: np.ndarray, exposure_loss: float,
                  seed: int, model: TopologyModel | None = None) -> dict[str, Any]:
    """Figures of the combined veto at ``exposure_loss``, with the spallation and topology scores alone.

    ``tr_score`` / ``score``: per-candidate spallation scores of the training and data candidates.  The
    topology scores are drawn per event from ``model`` (default: the paper's Table I working points).
    """
    import xgboost as xgb

    t_te = topology_scores(stream, cands, model, seed)
    # one draw per stream: with the data stream split in halves, train and test rows share it
    t_tr = t_te if tr_stream is stream else topology_scores(tr_stream, tr_cands, model, seed + 1)
    Xtr = veto_features(tr_score[train], t_tr[train])
    clf = train_veto(Xtr, tr_cands.is_spallation[train].astype(np.int8), seed)
    Xte = veto_features(score[test], t_te[test])
    y = cands.is_spallation[test]
    n_sp = int(y.sum())
    out: dict[str, Any] = {"topology_model": "KamNet paper Table I working points" if model is None else "given",
                           "n_spallation_test": n_sp}
    for name, s in (("combined", clf.predict(xgb.DMatrix(Xte))), ("spallation_only", Xte[:, 0]),
                    ("topology_only", Xte[:, 1])):
        w = tag_figures(efficiency_curve(s.astype(np.float64), y, n_points=2000), exposure_loss, n_sp)
        if name == "combined":
            out |= w
        else:
            out[name] = w
    return out
