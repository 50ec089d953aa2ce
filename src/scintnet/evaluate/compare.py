"""Paired comparison of two evaluated runs on the *same* test events.

Two models scored on the same files (``scintnet evaluate``) have per-event scores in the same
order.  Resampling the events once and scoring both models on that resample (a paired
bootstrap) gives the spread of the *difference* of their rejections, which is much smaller
than the two independent spreads combined, because the test-sample fluctuation is common.
This measures the test-statistics part; training-to-training variation needs bootstrap models
(``scintnet train --bootstrap K``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import (auc, bootstrap_metric, energy_matching_weights, rejection_at_acceptance,
                      vertex_matching_weights, weighted_rejection_at_acceptance)


def load_field(path: str | Path, key: str = "score", double_pulse_loss: float | None = None
               ) -> tuple[dict[str, np.ndarray], str]:
    """One dataset (``score``, ``energy_MeV``, ...) per source group of a scores.h5 (or of the evaluation a
    run folder recorded), and the signal group's name.

    ``double_pulse_loss``: with ``key="score"``, apply the double-pulse cut that loses this fraction
    of the signal (:mod:`scintnet.reco.pileup`): failing events get score −1, so every metric on the
    result is the combined "cut and score" figure."""

    from ..reco.pileup import apply_cut, cut_for_signal_loss

    from ..io.rundir import scores_file

    from ..io.scores import ScoresFileError, read_scores

    p = scores_file(path)  # a run folder finds its (recorded) evaluation
    sc = read_scores(p, fields=(key, "second_pulse_fraction") if double_pulse_loss and key == "score" else (key,))
    sig = sc.signal
    out = {k: np.asarray(v, float) for k, v in sc.field(key).items()}
    if key != "score" or not double_pulse_loss:
        return out, sig
    try:
        frac = {k: np.asarray(v, float) for k, v in sc.field("second_pulse_fraction").items()}
    except ScoresFileError as exc:
        raise ValueError(f"{p}: {exc} (evaluate with this version, or `scintnet study migrate-scores` for "
                         "older runs)") from None
    cut = cut_for_signal_loss(frac[sig], double_pulse_loss)
    return {k: apply_cut(v, frac[k], cut) for k, v in out.items()}, sig


def paired_comparison(run_a: str | Path, run_b: str | Path, background: str | list[str] | None = None,
                      n_boot: int = 1000, seed: int = 0, acceptance: float = 0.9, energy_matched: bool = False,
                      vertex_matched: bool = False, double_pulse_loss: float | None = None) -> dict:
    """Rejection at ``acceptance`` and AUC of A and B, their difference A − B with paired-bootstrap spread.

    ``background``: one group, a list of groups pooled together, or None for every non-signal group.
    ``energy_matched``: weight the background to the signal's energy spectrum
    (:func:`~scintnet.evaluate.metrics.energy_matching_weights`) — the rejection at fixed energy.
    ``vertex_matched``: as ``energy_matched`` and, in addition, the signal weighted to the background's
    radial distribution (:func:`~scintnet.evaluate.metrics.vertex_matching_weights`).
    ``double_pulse_loss``: both runs behind the same double-pulse cut (that signal loss; see :func:`load_field`)."""
    a, sig_a = load_field(run_a, double_pulse_loss=double_pulse_loss)
    b, sig_b = load_field(run_b, double_pulse_loss=double_pulse_loss)
    if sig_a != sig_b:
        raise ValueError(f"different signal sources: {sig_a} vs {sig_b}")
    if background is None:
        bkgs = [k for k in a if k != sig_a]
    else:
        bkgs = [background] if isinstance(background, str) else list(background)
    for k in [sig_a, *bkgs]:
        if k not in b or k not in a:
            raise ValueError(f"group {k!r} missing in one of the score files")
        if a[k].size != b[k].size:
            raise ValueError(f"group {k!r}: {a[k].size} vs {b[k].size} events — not the same test events")
    sa, sb = a[sig_a], b[sig_a]
    ba = np.concatenate([a[k] for k in bkgs])
    bb = np.concatenate([b[k] for k in bkgs])
    ws = None
    if energy_matched or vertex_matched:
        e, _ = load_field(run_a, "energy_MeV")
        w = energy_matching_weights(e[sig_a], np.concatenate([e[k] for k in bkgs]))
        if vertex_matched:
            r, _ = load_field(run_a, "radius_mm")
            ws = vertex_matching_weights(r[sig_a], np.concatenate([r[k] for k in bkgs]))
        rej = lambda s, bg, i, j: weighted_rejection_at_acceptance(  # noqa: E731
            s, bg, w[j], acceptance, weights_signal=None if ws is None else ws[i])
    else:
        rej = lambda s, bg, i, j: rejection_at_acceptance(s, bg, acceptance)  # noqa: E731
    rng = np.random.default_rng(seed)
    d_rej, d_auc = [], []
    for _ in range(n_boot):
        i = rng.integers(0, sa.size, sa.size)
        j = rng.integers(0, ba.size, ba.size)
        d_rej.append(rej(sa[i], ba[j], i, j) - rej(sb[i], bb[j], i, j))
        d_auc.append(auc(sa[i], ba[j]) - auc(sb[i], bb[j]))
    d_rej, d_auc = np.asarray(d_rej), np.asarray(d_auc)
    full_s, full_b = np.arange(sa.size), np.arange(ba.size)
    ra, rb = rej(sa, ba, full_s, full_b), rej(sb, bb, full_s, full_b)
    return {"a": str(run_a), "b": str(run_b), "signal": sig_a, "backgrounds": bkgs, "n_signal": int(sa.size),
            "n_background": int(ba.size), "energy_matched": energy_matched or vertex_matched,
            "vertex_matched": vertex_matched, "double_pulse_loss": double_pulse_loss, "rejection_a": ra, "rejection_b": rb, "rejection_diff": ra - rb,
            "rejection_diff_paired_std": float(d_rej.std()), "fraction_a_better": float(np.mean(d_rej > 0)),
            "auc_a": auc(sa, ba), "auc_b": auc(sb, bb), "auc_diff_paired_std": float(d_auc.std()), "n_boot": n_boot,
            "floors_a": _floors_of(run_a, bkgs), "floors_b": _floors_of(run_b, bkgs)}


@dataclass(frozen=True)
class GroupRejection:
    """Rejection at the signal acceptance of one background group (or several pooled), with its
    event-bootstrap spread and the number of background events."""

    rejection: float
    sd: float
    n_events: int


def score_groups(path: str | Path) -> list[str]:
    """The source groups of a scores file (or of a run's recorded evaluation)."""
    return list(load_field(path)[0])


def group_rejection(path: str | Path, groups: list[str], n_boot: int = 300, seed: int = 0, acceptance: float = 0.9,
                    double_pulse_loss: float | None = None) -> GroupRejection:
    """Rejection of the pooled ``groups`` (those present) at ``acceptance`` of the signal, event-bootstrap sd."""
    sc, sig = load_field(path, double_pulse_loss=double_pulse_loss)
    present = [g for g in groups if g in sc]
    if not present:
        raise ValueError(f"{path}: none of the groups {groups} was evaluated (groups: {', '.join(sc)})")
    s, b = sc[sig], np.concatenate([sc[g] for g in present])
    fn = lambda x, y: rejection_at_acceptance(x, y, acceptance)  # noqa: E731
    _, sd = bootstrap_metric(s, b, fn, n_boot=n_boot, seed=seed)
    return GroupRejection(fn(s, b), sd, int(b.size))


def matched_rejection(path: str | Path, groups: list[str], vertex: bool = False, acceptance: float = 0.9,
                      double_pulse_loss: float | None = None) -> float:
    """Rejection of the pooled ``groups`` at fixed energy: the background weighted to the signal's
    reconstructed-energy spectrum; ``vertex=True``: also the signal weighted to the background's radii."""
    sc, sig = load_field(path, double_pulse_loss=double_pulse_loss)
    en, _ = load_field(path, "energy_MeV")
    b = np.concatenate([sc[g] for g in groups])
    w = energy_matching_weights(en[sig], np.concatenate([en[g] for g in groups]))
    ws = None
    if vertex:
        r, _ = load_field(path, "radius_mm")
        ws = vertex_matching_weights(r[sig], np.concatenate([r[g] for g in groups]))
    return weighted_rejection_at_acceptance(sc[sig], b, w, acceptance, weights_signal=ws)


def _floors_of(run: str | Path, backgrounds: list[str]) -> dict | None:
    """The floors an evaluation stored beside its scores (evaluation.json), for one background; else None."""
    import json

    from ..io.rundir import EVALUATION, RunDirError, find_evaluation

    try:
        p = find_evaluation(run) / EVALUATION
    except RunDirError:
        return None
    try:
        ev = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if len(backgrounds) == 1:
        return (ev.get("per_source", {}).get(backgrounds[0]) or {}).get("floors")
    return ev.get("floors")
