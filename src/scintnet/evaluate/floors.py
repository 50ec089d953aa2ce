"""Floors: simple classifiers on the networks' own information, trained on the same training events.

A network that does not beat these is under-trained (or the simulation holds no more information):

* ``linear``: a Fisher linear discriminant, w = (S_0 + S_1 + lambda I)^-1 (mu_1 - mu_0) on standardised
  features (Fisher 1936; lambda a small ridge for the nearly collinear bins) -- closed form, no tuning;
* ``xgboost``: gradient-boosted trees (xgboost, 200 trees of depth 4, learning rate 0.1, early stopping
  on a 20 % validation split of the training events).

Inputs (``features=``):

* ``"time"``: the 28-bin charge-weighted proper-time spectrum of the fast tubes, normalised to unit sum
  (the LSTM's input; paper eq. 1-2 binning);
* ``"moments"``: per time slice the charge fraction, the dipole |sum q u| / sum q and the quadrupole
  anisotropy (largest eigenvalue of sum q u u^T / sum q minus 1/3) of the hit directions u seen from the
  vertex -- rotation-invariant summaries of the KamNet map;
* ``"time+moments"`` (default): both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from ..features.dataset import EventSet, TimeSpectrum
from ..features.maps import PAPER_MAP, _t0, pmt_cells

FEATURES = ("time", "moments", "time+moments")


@nb.njit(cache=True)
def _moments(idx, offsets, pmt, time_ns, charge_pe, vertex_mm, pmt_pos, cell, inv_v, t_fit, g_lo, g_hi, t_min, dt,
             n_t, out):
    """out[b, k, :] = (sum q, sum q u (3), sum q u u^T (6: xx yy zz xy xz yz)) of time slice k."""
    for b in range(idx.shape[0]):
        e = idx[b]
        vx, vy, vz = vertex_mm[e, 0], vertex_mm[e, 1], vertex_mm[e, 2]
        t0 = _t0(offsets, pmt, time_ns, charge_pe, e, vx, vy, vz, pmt_pos, cell, inv_v, t_fit[e], g_lo, g_hi)
        for h in range(offsets[e], offsets[e + 1]):
            p = pmt[h]
            if cell[p] < 0:
                continue
            dx = pmt_pos[p, 0] - vx
            dy = pmt_pos[p, 1] - vy
            dz = pmt_pos[p, 2] - vz
            d = np.sqrt(dx * dx + dy * dy + dz * dz)
            tau = time_ns[h] - d * inv_v - t0
            k = int(np.floor((tau - t_min) / dt))
            if k < 0 or k >= n_t:
                continue
            q = charge_pe[h]
            ux, uy, uz = dx / d, dy / d, dz / d
            o = out[b, k]
            o[0] += q
            o[1] += q * ux
            o[2] += q * uy
            o[3] += q * uz
            o[4] += q * ux * ux
            o[5] += q * uy * uy
            o[6] += q * uz * uz
            o[7] += q * ux * uy
            o[8] += q * ux * uz
            o[9] += q * uy * uz


def floor_features(events: EventSet, features: str = "time+moments") -> np.ndarray:
    """float64[n_events, n_features] for the floors (see module docstring)."""
    if features not in FEATURES:
        raise ValueError(f"floor features must be one of {', '.join(FEATURES)}, not {features!r}")
    idx = np.arange(len(events), dtype=np.int64)
    parts = []
    if "time" in features:
        parts.append(TimeSpectrum(normalize=True)(events, idx)["x"].numpy().astype(float))
    if "moments" in features:
        s = PAPER_MAP
        cell = pmt_cells(events.pmt_pos_mm, s, events.pmt_mask(None))
        raw = np.zeros((idx.size, s.n_t, 10))
        _moments(idx, *events._kernel_args(cell, s), s.t_min_ns, s.dt_ns, s.n_t, raw)
        q = raw[..., 0]
        qs = np.maximum(q, 1e-12)
        dip = np.linalg.norm(raw[..., 1:4], axis=-1) / qs
        m = np.zeros(raw.shape[:2] + (3, 3))
        m[..., 0, 0], m[..., 1, 1], m[..., 2, 2] = raw[..., 4], raw[..., 5], raw[..., 6]
        m[..., 0, 1] = m[..., 1, 0] = raw[..., 7]
        m[..., 0, 2] = m[..., 2, 0] = raw[..., 8]
        m[..., 1, 2] = m[..., 2, 1] = raw[..., 9]
        quad = np.linalg.eigvalsh(m / qs[..., None, None])[..., -1] - 1.0 / 3.0
        empty = q <= 0
        dip[empty], quad[empty] = 0.0, 0.0
        parts += [q / np.maximum(q.sum(1, keepdims=True), 1e-12), dip, quad]
    return np.concatenate(parts, axis=1)


@dataclass
class Classifiers:
    """The floors' two classifiers on any feature matrix (standardisation, Fisher direction, booster)."""

    mean: np.ndarray
    scale: np.ndarray
    w_linear: np.ndarray
    booster: Any  # xgboost.Booster or None

    def scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        out = {"linear": z @ self.w_linear}
        if self.booster is not None:
            import xgboost as xgb

            out["xgboost"] = self.booster.predict(xgb.DMatrix(z))
        return out


@dataclass
class Floors:
    """The classifiers on the floors' features of events."""

    features: str
    classifiers: Classifiers

    def scores(self, events: EventSet) -> dict[str, np.ndarray]:
        return self.classifiers.scores(floor_features(events, self.features))


def fisher_direction(x0: np.ndarray, x1: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Fisher's discriminant direction (S_0 + S_1 + ridge * tr/n * I)^-1 (mu_1 - mu_0)."""
    s = np.cov(x0, rowvar=False) + np.cov(x1, rowvar=False)
    s = np.atleast_2d(s)
    s += ridge * np.trace(s) / s.shape[0] * np.eye(s.shape[0])
    return np.linalg.solve(s, x1.mean(0) - x0.mean(0))


def fit_classifiers(x0: np.ndarray, x1: np.ndarray, seed: int = 0, xgboost: bool = True,
                    threads: int = 1) -> Classifiers:
    """Fit the linear and XGBoost classifiers on features of background ``x0`` and signal ``x1``."""
    x0, x1 = np.asarray(x0, np.float64), np.asarray(x1, np.float64)
    if len(x1) < 20 or len(x0) < 20:
        raise ValueError(f"floors need >= 20 training events per class, got {len(x1)} signal / {len(x0)} background")
    x = np.concatenate([x0, x1])
    mean, scale = x.mean(0), x.std(0)
    scale[scale <= 0] = 1.0
    z0, z1 = (x0 - mean) / scale, (x1 - mean) / scale
    w = fisher_direction(z0, z1)
    booster = None
    if xgboost:
        try:
            import xgboost as xgb
        except ImportError:  # an environment without the package (a bare GPU image): the linear floor only
            return Classifiers(mean, scale, w, None)

        z = np.concatenate([z0, z1])
        y = np.concatenate([np.zeros(len(z0)), np.ones(len(z1))])
        rng = np.random.default_rng(seed)
        val = rng.random(len(y)) < 0.2
        # class weights: equal total weight per class
        wt = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
        dtr = xgb.DMatrix(z[~val], label=y[~val], weight=wt[~val])
        dva = xgb.DMatrix(z[val], label=y[val], weight=wt[val])
        params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "subsample": 0.8,
                  "eval_metric": "auc", "seed": int(seed), "nthread": int(threads)}
        booster = xgb.train(params, dtr, num_boost_round=200, evals=[(dva, "val")], early_stopping_rounds=20,
                            verbose_eval=False)
    return Classifiers(mean, scale, w, booster)


def train_floors(signal: EventSet, background: EventSet, features: str = "time+moments", seed: int = 0,
                 xgboost: bool = True, threads: int = 1) -> Floors:
    """Fit the linear and XGBoost floors on training events (signal label 1, background label 0)."""
    return Floors(features, fit_classifiers(floor_features(background, features), floor_features(signal, features),
                                            seed, xgboost, threads))


def floor_figures(floors: Floors, signal: EventSet, background: EventSet) -> dict[str, dict[str, float | None]]:
    """Rejection at 90 % signal acceptance of each floor, plain and energy-matched (the network's metrics)."""
    from .metrics import energy_matching_weights, rejection_at_acceptance, weighted_rejection_at_acceptance
    from .results import ENERGY, PLAIN

    ss, sb = floors.scores(signal), floors.scores(background)
    out: dict[str, dict[str, float | None]] = {}
    for name in ss:
        row: dict[str, float | None] = {PLAIN.key: rejection_at_acceptance(ss[name], sb[name])}
        try:
            w = energy_matching_weights(np.asarray(signal.energy_MeV), np.asarray(background.energy_MeV))
            row[ENERGY.key] = weighted_rejection_at_acceptance(ss[name], sb[name], w)
        except ValueError:
            row[ENERGY.key] = None
        out[name] = row
    return out


def floor_study(train_signal: list[str], train_background: list[str], test_signal: list[str],
                test_background: list[str], features: str = "time+moments", e_range_MeV: tuple[float, float] = (2.0, 3.0),
                r_max_mm: float = 1570.0, max_events: int | None = 20000, seed: int = 0,
                xgboost: bool = True) -> dict[str, Any]:
    """Train the floors on one pair of event files and report them on another (the paper's selection)."""
    from ..features.dataset import Selection, load_event_set

    sel = Selection(e_min_MeV=e_range_MeV[0], e_max_MeV=e_range_MeV[1], r_max_mm=r_max_mm)
    load = lambda f, lab, s: load_event_set(f, label=lab, selection=sel, max_events=max_events, seed=s)  # noqa: E731
    s_tr, b_tr = load(train_signal, 1, seed + 1), load(train_background, 0, seed + 2)
    s_te, b_te = load(test_signal, 1, seed + 3), load(test_background, 0, seed + 4)
    fl = train_floors(s_tr, b_tr, features, seed, xgboost)
    return {"features": features, "selection": {"e_min_MeV": sel.e_min_MeV, "e_max_MeV": sel.e_max_MeV,
                                                "r_max_mm": sel.r_max_mm},
            "n_train": {"signal": len(s_tr), "background": len(b_tr)},
            "n_test": {"signal": len(s_te), "background": len(b_te)},
            "floors": floor_figures(fl, s_te, b_te)}
