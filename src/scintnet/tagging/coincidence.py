"""Boosted-decision-tree prompt–delayed coincidence tagger (XGBoost; talk 001).

Features (E_p, E_d, R_p, R_d, dR, dT) and the positron/gamma PID score of both events (the talk's plan:
"add more input parameters including PID score from NN").

Pairs come from the coincidence search on the stream itself, as an analysis makes them:

* **on-time pairs**: every detected, muon-vetoed-clean delayed candidate (energy in ``delayed_MeV``) with
  every earlier prompt candidate (E > ``min_prompt_MeV``) within ``max_dt_s`` and ``max_dr_mm``.  A pair is a
  true coincidence when the stream's truth links the delayed event to that prompt (IBD); every other
  on-time pair is a real accidental.
* **off-time pairs** (the off-time-window method): the same search with the prompt ``offtime_start_s`` to
  ``offtime_start_s + offtime_windows * max_dt_s`` before the delayed event, dT folded back into
  ``[0, max_dt_s)``.  They are accidentals with the singles' real energy and position distributions (and
  their correlations: external gammas at the edge, 2νββ in the XeLS, IBD events paired with a wrong
  partner); each stands for ``1 / offtime_windows`` of an on-time accidental, so the off-time count
  predicts the on-time accidental count (checked in the report).

The PID score of a stream event is drawn per particle class from a logit-normal parametrisation of a
positron-vs-gamma classifier with ROC AUC ``pid_auc`` (:func:`pid_scores`); the default is the AUC that
``scintnet tag-pid`` measured with the EdgeConv network on the PMT-level klz800 simulation (docs/tagging.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.stream import EVENT_TYPES, Stream
from .config import CoincidenceConfig

FEATURES = ("E_p_MeV", "E_d_MeV", "R_p_mm", "R_d_mm", "dR_mm", "dT_us", "pid_p", "pid_d")
BASE_FEATURES = FEATURES[:6]  # the talk's six separation parameters (accuracy 96 %)
DR_DT_FEATURES = ("dR_mm", "dT_us")  # the correlation alone: what any coincidence cut uses

# PID classes of stream event types (a positron-vs-gamma classifier; score high = positron-like).
# Stated choices: beta+gamma cascades (Bi, Xe-spallation products) and capture gammas are gamma-like (multi-
# site); pure beta- events (2nbb, 137Xe) are single-site and sit half-way between the classes (assumption:
# the network never saw them); alphas (Po) get no score (NaN: XGBoost treats it as missing).
PID_CLASS: dict[str, str] = {
    "ibd_prompt": "positron", "spall_c10": "positron",
    "single": "gamma", "neutron": "gamma", "ncap_xe136": "gamma", "ibd_delayed": "gamma",
    "bi214": "gamma", "bi212": "gamma", "spall_xe": "gamma",
    "xe136_2vbb": "electron", "xe136_0vbb": "electron", "xe137": "electron",
}
_PID_STREAM = 0x706964  # "pid": the PID draws' own seed stream


@dataclass
class PairSet:
    """Prompt–delayed pairs: features, truth and the weight each pair carries in the on-time selection."""

    X: np.ndarray  # [n, len(features)]
    y: np.ndarray  # 1 true coincidence, 0 accidental
    weight: np.ndarray | None = None  # 1 (on-time pair) or 1 / offtime_windows (off-time accidental)
    on_time: np.ndarray | None = None  # bool: found in the on-time window
    features: tuple[str, ...] = FEATURES

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.weight is None:
            self.weight = np.ones(n)
        if self.on_time is None:
            self.on_time = np.ones(n, bool)

    def subset(self, m: np.ndarray) -> "PairSet":
        return PairSet(self.X[m], self.y[m], self.weight[m], self.on_time[m], self.features)

    def columns(self, names: tuple[str, ...]) -> "PairSet":
        idx = [self.features.index(k) for k in names]
        return PairSet(self.X[:, idx], self.y, self.weight, self.on_time, tuple(names))


def pid_scores(stream: Stream, auc: float, seed: int) -> np.ndarray:
    """Positron/gamma PID score of every stream event (sigmoid of a Gaussian logit; NaN: no class).

    gamma ~ N(0, 1), positron ~ N(d, 1) with d = sqrt(2) Phi^-1(auc), so that the positron-vs-gamma ROC AUC
    is ``auc``; electron ~ N(d / 2, 1).  Each event's score depends only on the seed and its row."""
    from scipy.special import expit
    from scipy.stats import norm

    if not 0.5 <= auc < 1.0:
        raise ValueError(f"pid_auc must be in [0.5, 1), got {auc}")
    d = np.sqrt(2.0) * norm.ppf(auc)
    mean = {"positron": d, "gamma": 0.0, "electron": d / 2}
    inv = {v: k for k, v in EVENT_TYPES.items()}
    lut = np.full(max(EVENT_TYPES.values()) + 1, np.nan)
    for code, name in inv.items():
        if name in PID_CLASS:
            lut[code] = mean[PID_CLASS[name]]
    mu = lut[stream.events["type"].astype(int)]
    z = np.random.default_rng(np.random.SeedSequence([int(seed), _PID_STREAM])).normal(size=mu.size)
    return expit(mu + z)


def _vetoed(stream: Stream, t: np.ndarray, veto_s: float) -> np.ndarray:
    mt = stream.muons["t_s"]
    i = np.searchsorted(mt, t, side="right") - 1
    return (i >= 0) & (t - mt[np.maximum(i, 0)] < veto_s)


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, index) of every index in the ranges [lo[i], hi[i])."""
    n = np.maximum(hi - lo, 0)
    own = np.repeat(np.arange(lo.size), n)
    start = np.cumsum(n) - n
    return own, lo[own] + (np.arange(int(n.sum())) - start[own])


def build_pairs(stream: Stream, cfg: CoincidenceConfig) -> PairSet:
    """On-time and off-time prompt–delayed pairs of the stream's coincidence search (see the module doc)."""
    ev = stream.events
    t, E, pos = ev["t_s"], ev["E_MeV"], ev["pos_mm"]
    ok = (ev["detected"] == 1) & ~_vetoed(stream, t, cfg.muon_veto_s)
    lo_e, hi_e = cfg.delayed_MeV
    P = np.flatnonzero(ok & (E > cfg.min_prompt_MeV))
    P = P[np.argsort(t[P], kind="stable")]
    D = np.flatnonzero(ok & (E > lo_e) & (E < hi_e))
    tp, td = t[P], t[D]
    w = cfg.max_dt_s
    k0 = max(int(np.ceil(cfg.offtime_start_s / w)), 1)
    K = cfg.offtime_windows
    parts = []
    for on, a, b in ((True, td - w, td), (False, td - (k0 + K) * w, td - k0 * w)):
        # prompt strictly before the delayed event, a < t_p < b (on-time) or a < t_p <= b (off-time)
        lo = np.searchsorted(tp, a, side="right")
        hi = np.searchsorted(tp, b, side="left" if on else "right")
        di, pj = _expand(lo, hi)
        d, p = D[di], P[pj]
        keep = (d != p) & (np.linalg.norm(pos[d] - pos[p], axis=1) < cfg.max_dr_mm)
        d, p = d[keep], p[keep]
        dt = t[d] - t[p]
        if not on:
            dt = dt - np.floor(dt / w) * w  # fold into [0, w): accidentals are uniform in dT
        parts.append((d, p, dt, on))
    pid = pid_scores(stream, cfg.pid_auc, cfg.seed)
    X, y, wt, on_t = [], [], [], []
    for d, p, dt, on in parts:
        X.append(np.stack([E[p], E[d], np.linalg.norm(pos[p], axis=1), np.linalg.norm(pos[d], axis=1),
                           np.linalg.norm(pos[p] - pos[d], axis=1), dt * 1e6, pid[p], pid[d]], 1))
        y.append((ev["parent"][d] == p) if on else np.zeros(d.size, bool))
        wt.append(np.full(d.size, 1.0 if on else 1.0 / K))
        on_t.append(np.full(d.size, on))
    return PairSet(np.concatenate(X).astype(np.float32), np.concatenate(y).astype(np.int8),
                   np.concatenate(wt), np.concatenate(on_t))


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    n1, n0 = max(int((y == 1).sum()), 1), max(int((y == 0).sum()), 1)
    return np.where(y == 1, 0.5 / n1, 0.5 / n0) * len(y)


def train_bdt(train: PairSet, seed: int, n_estimators: int = 200):
    """Fit an XGBoost classifier (histogram method, 2 threads) with the two classes weighted equally."""
    import xgboost as xgb  # native API: no scikit-learn dependency

    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "subsample": 0.8,
              "tree_method": "hist", "nthread": 2, "seed": seed, "eval_metric": "logloss"}
    dm = xgb.DMatrix(train.X, label=train.y, weight=_balanced_weights(train.y), feature_names=list(train.features))
    return xgb.train(params, dm, n_estimators)


def evaluate_bdt(clf, test: PairSet) -> dict[str, object]:
    """Balanced accuracy at 0.5, and efficiency vs purity on the stream's own class mix.

    ``accuracy`` weights true and accidental pairs equally (the accuracy of a test set with as many of each).
    ``purity`` is the selection's expected purity in the on-time window: true pairs over true pairs plus
    accidentals, the accidentals estimated from the off-time pairs (weight 1 / offtime_windows) -- the
    real on-time accidentals are too few to measure it.  ``purity_balanced``: the same with equal classes."""
    import xgboost as xgb

    s = clf.predict(xgb.DMatrix(test.X, feature_names=list(test.features)))
    t1, t0 = test.y == 1, test.y == 0
    acc = 0.5 * (float(np.mean(s[t1] > 0.5)) + float(np.mean(s[t0] <= 0.5))) if t1.any() and t0.any() else float("nan")
    off = t0 & ~test.on_time
    thr = np.linspace(0.0, 1.0, 101)[:-1]
    eff, pur, purb = [], [], []
    n_off = max(int(off.sum()), 1)
    for th in thr:
        sel = s > th
        n_t = float(np.sum(sel & t1))
        a = float(np.sum(test.weight[sel & off]))
        eff.append(n_t / max(int(t1.sum()), 1))
        pur.append(n_t / (n_t + a) if n_t + a > 0 else 1.0)
        e0 = float(np.sum(sel & off)) / n_off
        purb.append(eff[-1] / (eff[-1] + e0) if eff[-1] + e0 > 0 else 1.0)
    return {"accuracy": acc, "threshold": thr, "efficiency": np.array(eff), "purity": np.array(pur),
            "purity_balanced": np.array(purb), "n_true": int(t1.sum()), "n_accidental": int(t0.sum()),
            "n_offtime": int(off.sum()), "n_ontime_accidental": int((t0 & test.on_time).sum()),
            "ontime_accidentals_expected": float(np.sum(test.weight[off]))}
