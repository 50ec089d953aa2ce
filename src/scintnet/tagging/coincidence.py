"""Boosted-decision-tree prompt–delayed coincidence tagger (XGBoost; talk 001).

Features (E_p, E_d, R_p, R_d, dR, dT).  True pairs are inverse-beta-decay prompt/delayed
pairs linked in the stream's truth; accidental pairs are uncorrelated events passing the
same selection, paired with a random dT in the window (the off-time-window method).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.stream import EVENT_TYPES, Stream
from .config import CoincidenceConfig

FEATURES = ("E_p_MeV", "E_d_MeV", "R_p_mm", "R_d_mm", "dR_mm", "dT_us")


@dataclass
class PairSet:
    X: np.ndarray  # [n, 6] in FEATURES order
    y: np.ndarray  # 1 true coincidence, 0 accidental


def _features(Ep, Ed, pp, pd, dt_s) -> np.ndarray:
    return np.stack([Ep, Ed, np.linalg.norm(pp, axis=1), np.linalg.norm(pd, axis=1),
                     np.linalg.norm(pp - pd, axis=1), dt_s * 1e6], 1).astype(np.float32)


def _vetoed(stream: Stream, t: np.ndarray, veto_s: float) -> np.ndarray:
    mt = stream.muons["t_s"]
    i = np.searchsorted(mt, t, side="right") - 1
    return (i >= 0) & (t - mt[np.maximum(i, 0)] < veto_s)


def build_pairs(stream: Stream, cfg: CoincidenceConfig, n_accidental: int | None = None) -> PairSet:
    """True IBD pairs from the stream truth and as many (or ``n_accidental``) accidental pairs."""
    ev = stream.events
    rng = np.random.default_rng(cfg.seed)
    det = (ev["detected"] == 1) & ~_vetoed(stream, ev["t_s"], cfg.muon_veto_s)
    lo, hi = cfg.delayed_MeV
    d = np.flatnonzero((ev["type"] == EVENT_TYPES["ibd_delayed"]) & det & (ev["parent"] >= 0))
    p = ev["parent"][d]
    keep = det[p] & (ev["E_MeV"][p] > cfg.min_prompt_MeV) & (ev["E_MeV"][d] > lo) & (ev["E_MeV"][d] < hi)
    dt = ev["t_s"][d] - ev["t_s"][p]
    keep &= (dt < cfg.max_dt_s) & (np.linalg.norm(ev["pos_mm"][d] - ev["pos_mm"][p], axis=1) < cfg.max_dr_mm)
    p, d = p[keep], d[keep]
    Xt = _features(ev["E_MeV"][p], ev["E_MeV"][d], ev["pos_mm"][p], ev["pos_mm"][d], ev["t_s"][d] - ev["t_s"][p])
    # accidentals: uncorrelated events (no neutrons: they follow a muon and are vetoed in the analysis)
    pool = det & ~np.isin(ev["type"], [EVENT_TYPES["neutron"], EVENT_TYPES["ncap_xe136"]])
    P = np.flatnonzero(pool & (ev["E_MeV"] > cfg.min_prompt_MeV))
    D = np.flatnonzero(pool & (ev["E_MeV"] > lo) & (ev["E_MeV"] < hi))
    want = len(p) if n_accidental is None else n_accidental
    Xa = np.zeros((0, 6), np.float32)
    for _ in range(200):
        if len(Xa) >= want or P.size == 0 or D.size == 0:
            break
        m = 20 * max(want, 100)
        a, b = rng.choice(P, m), rng.choice(D, m)
        x = _features(ev["E_MeV"][a], ev["E_MeV"][b], ev["pos_mm"][a], ev["pos_mm"][b], rng.uniform(0, cfg.max_dt_s, m))
        x = x[(x[:, 4] < cfg.max_dr_mm) & (a != b)]
        Xa = np.concatenate([Xa, x])
    Xa = Xa[:want]
    return PairSet(np.concatenate([Xt, Xa]), np.r_[np.ones(len(Xt)), np.zeros(len(Xa))].astype(np.int8))


def train_bdt(train: PairSet, seed: int, n_estimators: int = 200):
    """Fit an XGBoost classifier (histogram method, 2 threads)."""
    import xgboost as xgb  # native API: no scikit-learn dependency

    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "subsample": 0.8,
              "tree_method": "hist", "nthread": 2, "seed": seed, "eval_metric": "logloss"}
    return xgb.train(params, xgb.DMatrix(train.X, label=train.y, feature_names=list(FEATURES)), n_estimators)


def evaluate_bdt(clf, test: PairSet) -> dict[str, object]:
    """Accuracy at 0.5 and the efficiency-vs-purity curve (purity for the test set's class mix)."""
    import xgboost as xgb

    s = clf.predict(xgb.DMatrix(test.X, feature_names=list(FEATURES)))
    acc = float(np.mean((s > 0.5) == (test.y == 1)))
    thr = np.linspace(0.0, 1.0, 101)[:-1]
    eff, pur = [], []
    for t in thr:
        sel = s > t
        eff.append(float(np.mean(sel[test.y == 1])))
        pur.append(float(np.mean(test.y[sel] == 1)) if sel.any() else 1.0)
    return {"accuracy": acc, "threshold": thr, "efficiency": np.array(eff), "purity": np.array(pur),
            "n_true": int(test.y.sum()), "n_accidental": int((test.y == 0).sum())}
