"""Scores of a calibration against the injected truth, and of its simulation against the data.

Parameter scores are RMS(recovered - injected) / RMS(injected - nominal) over the live tubes (dead and hot
tubes are scored apart: found or not): 0 is perfect, 1 is no better than assuming the nominal values.
Time offsets are compared about their tube average (a delay common to all tubes is the event time's and
cannot be measured).  Sample scores compare the data with events simulated with the recovered parameters
(independent seeds): dark hits per event, the prompt time spread and the single-p.e. charge spread
(generated / data, target 1), and the AUC of a classifier trained to tell data hits from generated ones
(target 0.5; the split and the error respect events).
"""

from __future__ import annotations

import math

import numpy as np

from ..metrics import auc
from .moments import PROMPT_NS, SINGLE_PE_LAM
from .samples import PRE_LIGHT_RES_NS, HitTable, PMTParams

SCORED = {"qe": "qe_rms_over_spread", "time_offset_ns": "time_offset_rms_over_spread",
          "tts_sigma_ns": "tts_rms_over_spread", "spe_sigma": "spe_rms_over_spread",
          "dark_rate_hz": "dark_rate_rms_over_spread"}


def live_tubes(truth: PMTParams, nominal: PMTParams, hot_factor: float = 10.0) -> np.ndarray:
    """Tubes that are neither dead (QE 0) nor hot (dark rate above ``hot_factor`` times nominal)."""
    return (truth.qe > 0) & (truth.dark_rate_hz <= hot_factor * np.maximum(nominal.dark_rate_hz, 1e-30))


def parameter_scores(rec: PMTParams, truth: PMTParams, nominal: PMTParams) -> dict[str, float | None]:
    live = live_tubes(truth, nominal)
    out = {}
    for name, key in SCORED.items():
        a, b, c = (np.asarray(getattr(p, name), float)[live] for p in (rec, truth, nominal))
        if name == "time_offset_ns":
            a, b, c = a - a.mean(), b - b.mean(), c - c.mean()
        spread = math.sqrt(float(np.mean((b - c) ** 2)))
        out[key] = math.sqrt(float(np.mean((a - b) ** 2))) / spread if spread > 0 else None  # nothing injected
    dead = truth.qe == 0
    hot = (truth.dark_rate_hz > 10 * nominal.dark_rate_hz)
    out["dead_found"] = int(((rec.qe < 0.2 * nominal.qe) & dead).sum())
    out["dead_false"] = int(((rec.qe < 0.2 * nominal.qe) & ~dead).sum())
    out["hot_found"] = int(((rec.dark_rate_hz > 5 * nominal.dark_rate_hz) & hot).sum())
    out["hot_false"] = int(((rec.dark_rate_hz > 5 * nominal.dark_rate_hz) & ~hot).sum())
    return out


def dark_hits_per_event(t: HitTable) -> float:
    """Dark hits per event over the whole window, from the hits before the light and their exposure."""
    pre = t.t_res_ns < PRE_LIGHT_RES_NS
    w0, w1 = t.window_ns
    rate = np.bincount(t.pmt[pre], minlength=t.n_pmt) / np.maximum(t.pre_open_ns, 1e-30)  # per ns per tube
    return float(rate.sum() * (w1 - w0))


def _faint(t: HitTable) -> np.ndarray:
    return t.lam < SINGLE_PE_LAM


def sigma_t_ns(t: HitTable) -> float:
    """Robust spread (half the 16-84 % range) of faint tubes' prompt residuals: TTS and offsets together."""
    sel = _faint(t) & (t.t_res_ns >= PROMPT_NS[0]) & (t.t_res_ns < PROMPT_NS[1])
    q16, q84 = np.percentile(t.t_res_ns[sel], [16, 84])
    return float(0.5 * (q84 - q16))


def sigma_q_pe(t: HitTable) -> float:
    """Charge spread of faint tubes' hits (mostly single p.e.)."""
    return float(np.std(t.q_pe[_faint(t)]))


def classifier_auc(data: HitTable, gen: HitTable, n_max: int = 200_000, seed: int = 0,
                   n_boot: int = 30) -> tuple[float, float]:
    """AUC of gradient-boosted trees telling data hits from generated hits, and its error.

    Features per hit: the tube (categorical: per-tube QE, offsets and widths are what differs), residual,
    charge and expected light.  Each sample's events are split at random into a training and a test half
    (hits of one event share its reconstruction errors, so they stay on one side); the error is the spread
    of the AUC over bootstrap resamples of the test events.
    """
    import xgboost as xgb

    rng = np.random.default_rng(seed)

    def split(t: HitTable) -> tuple[np.ndarray, np.ndarray]:
        test_event = rng.random(t.n_events) < 0.5
        x = np.stack([t.pmt, t.t_res_ns, t.q_pe, t.lam], 1).astype(np.float32)
        out = []
        for side in (False, True):
            i = np.flatnonzero(test_event[t.event] == side)
            i = rng.choice(i, min(n_max // 2, i.size), replace=False)
            out.append((x[i], t.event[i]))
        return out

    (a_tr, _), (a_te, ev_a) = split(data)
    (b_tr, _), (b_te, ev_b) = split(gen)
    kw = dict(feature_types=["c", "q", "q", "q"], enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "tree_method": "hist",
                         "max_cat_to_onehot": 1, "nthread": 1, "seed": seed},
                        xgb.DMatrix(np.r_[a_tr, b_tr], label=np.r_[np.ones(len(a_tr)), np.zeros(len(b_tr))], **kw),
                        num_boost_round=200)
    pa, pb = booster.predict(xgb.DMatrix(a_te, **kw)), booster.predict(xgb.DMatrix(b_te, **kw))
    value = float(auc(pa, pb))

    def resample(p: np.ndarray, ev: np.ndarray) -> np.ndarray:
        u, inv = np.unique(ev, return_inverse=True)
        counts = rng.poisson(1.0, u.size)  # Poisson bootstrap of whole events
        return np.repeat(p, counts[inv])

    boots = [auc(resample(pa, ev_a), resample(pb, ev_b)) for _ in range(n_boot)]
    return value, float(np.std(boots))


def sample_scores(data: HitTable, gen: HitTable, seed: int = 0) -> dict[str, float | None]:
    value, err = classifier_auc(data, gen, seed=seed)
    dark = dark_hits_per_event(data)
    return {"dark_hits_ratio": dark_hits_per_event(gen) / dark if dark > 0 else None,
            "sigma_t_ratio": sigma_t_ns(gen) / sigma_t_ns(data), "sigma_q_ratio": sigma_q_pe(gen) / sigma_q_pe(data),
            "classifier_auc": value, "classifier_auc_err": err}
