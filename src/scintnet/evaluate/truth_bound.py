"""What the simulated *energy deposits* can tell apart: a truth-level reference above the floors (issue 19).

The floors (``evaluate.floors``) and the networks see the PMT hits.  Here the same classifiers (Fisher
linear, XGBoost; same settings as the floors) see the Monte-Carlo truth of each event instead -- where and
when its visible energy was deposited -- on the same selected events (reconstructed energy and radius
cuts).  Not a strict bound (the hits also carry Cherenkov directions, which deposits do not), but the
topology the paper's networks are meant to read: if a classifier on perfect deposit truth separates ¹⁰C
from 0νββ only to X % at fixed energy, a network on photon hits smeared by scintillation time, TTS and
~10⁴ photons cannot be expected far above X.

Features per event (visible-energy weighted over deposits, energy itself left out: the comparison is at
fixed energy, as the floors'):

* spatial spread: RMS distance of deposits from their centroid and the square roots of the three
  eigenvalues of their covariance (mm);
* sites: number of deposit clusters (``evaluate.sites``: 30 mm linkage, >= 10 % of the light), and the
  visible-energy fraction more than 50 / 150 / 500 mm from the centroid;
* time: RMS deposit time and the visible-energy fractions deposited > 1, 3, 10, 30 ns after the first
  deposit (the ortho-positronium delay of ¹⁰C's annihilation photons, the 718 keV de-excitation);
* quenching: visible over deposited energy (gammas make more, lower-energy electrons).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FEATURE_NAMES = ("rms_mm", "extent1_mm", "extent2_mm", "extent3_mm", "n_sites", "frac_gt50mm", "frac_gt150mm",
                 "frac_gt500mm", "t_rms_ns", "frac_after1ns", "frac_after3ns", "frac_after10ns", "frac_after30ns",
                 "evis_over_edep")

GROUPS = {"space": FEATURE_NAMES[:8], "time": FEATURE_NAMES[8:13]}


def truth_features(chunk) -> np.ndarray:
    """float64[n_events, len(FEATURE_NAMES)] from the per-deposit truth of an EventChunk."""
    from .sites import site_count

    # a file simulated with --no-deposits has offsets but no deposits
    if chunk.dep_offsets.size != chunk.n_events + 1 or (chunk.n_events and chunk.dep_offsets[-1] == 0):
        raise ValueError("the events have no per-deposit truth (simulate without --no-deposits)")
    off = chunk.dep_offsets
    pos = chunk.dep_pos_mm.astype(np.float64)
    t = chunk.dep_t_ns.astype(np.float64)
    w = chunk.dep_evis_MeV.astype(np.float64)
    edep = chunk.dep_edep_MeV.astype(np.float64)
    n = chunk.n_events
    out = np.zeros((n, len(FEATURE_NAMES)))
    out[:, 4] = site_count(chunk)
    for e in range(n):
        a, b = int(off[e]), int(off[e + 1])
        we = w[a:b]
        tot = we.sum()
        if b == a or tot <= 0:
            continue
        p = pos[a:b]
        c = (we[:, None] * p).sum(0) / tot
        d = p - c
        r = np.sqrt((d * d).sum(1))
        out[e, 0] = np.sqrt((we * r * r).sum() / tot)
        cov = (we[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) / tot
        out[e, 1:4] = np.sqrt(np.clip(np.linalg.eigvalsh(cov)[::-1], 0.0, None))
        out[e, 5:8] = [we[r > x].sum() / tot for x in (50.0, 150.0, 500.0)]
        te = t[a:b]
        tm = (we * te).sum() / tot
        out[e, 8] = np.sqrt(max((we * (te - tm) ** 2).sum() / tot, 0.0))
        t_first = te.min()
        out[e, 9:13] = [we[te - t_first > x].sum() / tot for x in (1.0, 3.0, 10.0, 30.0)]
        ed = edep[a:b].sum()
        out[e, 13] = tot / ed if ed > 0 else 0.0
    return out


def _selected_truth(files: list[str], label: int, selection, max_events: int | None, seed: int):
    """(features, reconstructed energy) of the events of ``files`` that pass ``selection``."""
    from ..features.dataset import load_event_set
    from ..io.store import EventFile

    ev = load_event_set(files, label=label, selection=selection, max_events=max_events, seed=seed)
    feats = np.zeros((len(ev), len(FEATURE_NAMES)))
    for k, f in enumerate(ev.files):
        rows = np.flatnonzero(ev.file_index == k)
        if rows.size == 0:
            continue
        with EventFile(f) as h:
            chunk = h.read(0, None, truth_detail=True)
        try:
            feats[rows] = truth_features(chunk.take(np.asarray(ev.event_index[rows], np.int64)))
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None
    return feats, np.asarray(ev.energy_MeV, np.float64)


def truth_bound_study(train_signal: list[str], train_background: list[str], test_signal: list[str],
                      test_background: list[str], e_range_MeV: tuple[float, float] = (2.0, 3.0),
                      r_max_mm: float = 1570.0, max_events: int | None = 20000, seed: int = 0) -> dict[str, Any]:
    """Train the linear and XGBoost classifiers on deposit truth of one pair of files, report on another.

    Returns the rejection of the background at 90 % signal acceptance, plain and at fixed energy (background
    weighted to the signal's reconstructed-energy spectrum, as every network and floor figure), per classifier,
    plus the per-class means of the features.
    """
    from ..features.dataset import Selection
    from .floors import fit_classifiers
    from .metrics import auc, energy_matching_weights, rejection_at_acceptance, weighted_rejection_at_acceptance
    from .results import ENERGY, PLAIN

    sel = Selection(e_min_MeV=e_range_MeV[0], e_max_MeV=e_range_MeV[1], r_max_mm=r_max_mm)
    x1, _ = _selected_truth(train_signal, 1, sel, max_events, seed + 1)
    x0, _ = _selected_truth(train_background, 0, sel, max_events, seed + 2)
    t1, e1 = _selected_truth(test_signal, 1, sel, max_events, seed + 3)
    t0, e0 = _selected_truth(test_background, 0, sel, max_events, seed + 4)
    w = energy_matching_weights(e1, e0)

    def figures(cols) -> dict[str, dict[str, float]]:
        clf = fit_classifiers(x0[:, cols], x1[:, cols], seed=seed)
        s1, s0 = clf.scores(t1[:, cols]), clf.scores(t0[:, cols])
        return {name: {"auc": auc(s1[name], s0[name]), PLAIN.key: rejection_at_acceptance(s1[name], s0[name]),
                       ENERGY.key: weighted_rejection_at_acceptance(s1[name], s0[name], w)}
                for name in s1}

    figs = figures(list(range(len(FEATURE_NAMES))))
    groups = {g: figures([FEATURE_NAMES.index(f) for f in fs]) for g, fs in GROUPS.items()}
    # one feature alone, either orientation (AUC >= 0.5): which handle carries the separation
    single = {f: max(a, 1.0 - a) for f, a in ((f, auc(t1[:, k], t0[:, k])) for k, f in enumerate(FEATURE_NAMES))}
    return {"features": list(FEATURE_NAMES),
            "selection": {"e_min_MeV": sel.e_min_MeV, "e_max_MeV": sel.e_max_MeV, "r_max_mm": sel.r_max_mm},
            "n_train": {"signal": len(x1), "background": len(x0)}, "n_test": {"signal": len(t1), "background": len(t0)},
            "truth": figs, "truth_groups": groups, "single_feature_auc": single,
            "feature_means": {"signal": dict(zip(FEATURE_NAMES, t1.mean(0).round(4).tolist())),
                              "background": dict(zip(FEATURE_NAMES, t0.mean(0).round(4).tolist()))}}
