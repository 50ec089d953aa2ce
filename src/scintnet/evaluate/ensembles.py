"""Training-to-training comparison of two models: is a difference larger than the model spread?

``scintnet compare`` (paired event bootstrap) measures only the test-sample fluctuation of *one*
training of each model.  Two trainings of the same network on the same data differ by more than
that (KamNet-cpu's 10C rejection spans 42-53 % over six trainings), so a claim "model A rejects
more than model B" needs several trainings of each — bootstrap models (``scintnet train
--bootstrap K``) or independent runs — and a comparison of the two sets of per-model figures.
This module does that comparison: difference of the means with its standard error, Welch's
t-test (unequal variances, small samples), and the distribution-free figures a sceptic asks
for: the smallest pairwise difference, the fraction of pairs in which A is better, and the
Mann–Whitney rank-sum p value (KamNet's per-training figures are far from Gaussian — a few
trainings land high, most low — which Welch's test assumes away).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from ..io.rundir import EVALUATION
from scipy import stats


def model_spread_difference(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> dict[str, Any]:
    """Compare per-training figures of model A (``a``) and model B (``b``), e.g. rejections.

    Returns means, sample standard deviations (ddof = 1), ``diff`` = mean(a) − mean(b),
    ``diff_err`` = sqrt(sd_a²/n_a + sd_b²/n_b), Welch's ``t``, Welch–Satterthwaite ``dof`` and the
    two-sided ``p_value`` (null: equal means), ``min_pairwise_diff`` = min(a) − max(b) and
    ``fraction_pairs_a_better`` over all n_a·n_b pairings and ``mannwhitney_p``, the two-sided
    rank-sum p value (exact for small samples without ties; it equals the probability under the null
    of a ``fraction_pairs_a_better`` at least this far from 1/2).  The t-test needs ≥ 2 trainings on
    each side; otherwise those entries are None with the reason in ``t_test_unavailable``.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("each model needs at least one training")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("per-training figures must be finite")
    out: dict[str, Any] = {
        "n_a": int(a.size), "n_b": int(b.size),
        "mean_a": float(a.mean()), "mean_b": float(b.mean()),
        "sd_a": float(a.std(ddof=1)) if a.size > 1 else None,
        "sd_b": float(b.std(ddof=1)) if b.size > 1 else None,
        "diff": float(a.mean() - b.mean()),
        "min_pairwise_diff": float(a.min() - b.max()),
        "fraction_pairs_a_better": float((a[:, None] > b[None, :]).mean()),
        "per_training_a": a.tolist(), "per_training_b": b.tolist(),
        "mannwhitney_p": float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue),
    }
    if a.size < 2 or b.size < 2:
        out.update(diff_err=None, t=None, dof=None, p_value=None,
                   t_test_unavailable="need at least two trainings of each model for the model spread")
        return out
    err = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    out["diff_err"] = err
    if err == 0.0:  # identical trainings on both sides: no spread to test against
        out.update(t=None, dof=None, p_value=None, t_test_unavailable="zero spread in both models")
        return out
    w = stats.ttest_ind(a, b, equal_var=False)  # Welch: t, Welch-Satterthwaite dof, two-sided p
    out.update(t=float(w.statistic), dof=float(w.df), p_value=float(w.pvalue))
    return out


def _evaluation(path: Path, eval_name: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / eval_name / EVALUATION
    if not p.exists():
        raise FileNotFoundError(f"{p} not found (run `scintnet evaluate` first)")
    return json.loads(p.read_text())


def per_training_rejections(paths: list[str | Path], source: str, energy_matched: bool = False,
                            eval_name: str = "eval", vertex_matched: bool = False,
                            double_pulse_cut: bool = False) -> tuple[list[float], list[str]]:
    """The rejection at 90 % acceptance of ``source`` for every training behind ``paths``.

    A path is a run directory (its ``eval_name/evaluation.json`` is read) or an evaluation.json;
    a bootstrap run (``--bootstrap K``) contributes its K models, a single run one value.
    ``vertex_matched`` reads the energy- and vertex-matched figure instead; ``double_pulse_cut`` the
    figure behind the double-pulse cut (``*_double_pulse_cut``, :mod:`scintnet.reco.pileup`).
    Returns the values and a label per training.  Raises if a figure is missing — silently
    dropping a training would bias the comparison.
    """
    from .results import Figure

    fig = Figure.of(energy_matched, vertex_matched, double_pulse_cut)
    key = fig.key
    why = fig.unavailable_key or "energy_matching_unavailable"
    vals: list[float] = []
    labels: list[str] = []
    for path in paths:
        ev = _evaluation(Path(path), eval_name)
        per = ev.get("per_source", {})
        if source not in per:
            raise KeyError(f"{path}: no background {source!r} (has {sorted(per)})")
        src = per[source]
        many = src.get(fig.per_model_key)
        if many is None and ev.get("n_models", 1) > 1:
            raise ValueError(f"{path}: {ev['n_models']} models but no per-model {key} "
                             f"(re-run `scintnet evaluate` with this version)")
        if many is not None:
            vals += [float(v) for v in many]
            labels += [f"{path}#{i}" for i in range(len(many))]
        else:
            if src.get(key) is None:
                raise ValueError(f"{path}: {key} unavailable for {source}: "
                                 f"{src.get(why, 'missing (re-run `scintnet evaluate` with this version)')}")
            vals.append(float(src[key]))
            labels.append(str(path))
    return vals, labels
