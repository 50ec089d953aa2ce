"""Classifier-score axis for the binned fit (the KamNet paper's stated next step, §VII).

A run's ``scintnet evaluate`` writes ``eval/scores.h5``: one group per evaluated source
(``Xe136_0vbb``, ``Bi214``, ``Bi214_film``, ``C10``, ...) with the per-event score.  This module
turns those into per-component score pdfs on common score bins, which ``build_model(...,
score_pdfs=...)`` multiplies onto the (dataset × volume × energy) templates.

Assumption (documented, as in any factorised template): the score distribution of a
component does not depend on energy or radius inside the fit window; the classifier was
evaluated in its own selection (e.g. 2–3 MeV, R < 157 cm), which is where the score matters.

Component → score group: ``score_map[name]`` if given, else the group named like the component,
else the component's source(s) (a multi-source component averages its sources' pdfs with equal
weights, as its spectrum template does), else ``score_map["*"]`` if given (a default group for
components the classifier was not evaluated on).  A component with none of these is an error
naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .likelihood import LikelihoodError


def read_score_groups(paths: Iterable[str | Path]) -> tuple[dict[str, np.ndarray], str | None]:
    """Scores per group from one or more ``scores.h5`` (later files override earlier groups)."""

    groups: dict[str, np.ndarray] = {}
    signal: str | None = None
    for p in paths:
        from ..io.rundir import RunDirError, scores_file

        try:
            p = scores_file(p)  # a run folder finds its (recorded) evaluation
        except RunDirError as exc:
            raise LikelihoodError(str(exc)) from None
        from ..io.scores import ScoresFileError, read_scores

        try:
            sc = read_scores(p, fields=("score",), require_signal=False)
        except ScoresFileError as exc:
            raise LikelihoodError(str(exc)) from None
        signal = sc.signal or signal
        groups.update({name: np.asarray(d["score"], float) for name, d in sc.groups.items()})
    if not groups:
        raise LikelihoodError("no score groups found in the given scores files")
    return groups, signal


def score_edges(signal_scores: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin edges with equal signal population (quantiles of the signal score), open at both ends."""
    if n_bins < 1:
        raise LikelihoodError("the score axis needs at least one bin")
    if signal_scores.size < 10 * n_bins:
        raise LikelihoodError(f"only {signal_scores.size} signal scores for {n_bins} score bins")
    q = np.quantile(signal_scores, np.linspace(0, 1, n_bins + 1)[1:-1])
    if np.any(np.diff(q) <= 0):
        raise LikelihoodError("signal score quantiles are not distinct: use fewer score bins")
    return np.concatenate([[-np.inf], q, [np.inf]])


def score_pdfs(components: Sequence, groups: Mapping[str, np.ndarray], edges: np.ndarray,
               score_map: Mapping[str, str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Per-component probability of each score bin, and which groups each came from.

    ``components``: the analysis config's enabled ``ComponentSpec`` list (name, source).
    """
    score_map = dict(score_map or {})
    default = score_map.pop("*", None)
    if default is not None and default not in groups:
        raise LikelihoodError(f"score_map: default group {default!r} is not in the scores files "
                              f"(have {', '.join(sorted(groups))})")
    unknown = set(score_map) - {c.name for c in components}
    if unknown:
        raise LikelihoodError(f"score_map names unknown components: {sorted(unknown)}")
    pdfs: dict[str, np.ndarray] = {}
    used: dict[str, list[str]] = {}
    missing = []
    for c in components:
        if c.name in score_map:
            names = [score_map[c.name]]
            if names[0] not in groups:
                raise LikelihoodError(f"score_map: group {names[0]!r} for {c.name!r} is not in the scores files "
                                      f"(have {', '.join(sorted(groups))})")
        elif c.name in groups:
            names = [c.name]
        elif all(s in groups for s in c.source):
            names = list(c.source)
        elif default is not None:
            names = [default]
        else:
            missing.append(c.name)
            continue
        h = np.mean([np.histogram(groups[n], edges)[0] / groups[n].size for n in names], axis=0)
        pdfs[c.name] = h
        used[c.name] = names
    if missing:
        raise LikelihoodError(
            f"no classifier scores for {', '.join(missing)}: evaluate the run on those sources or map them "
            f"to an evaluated group with score_map (e.g. --score-map {missing[0]}=GROUP); "
            f"evaluated groups: {', '.join(sorted(groups))}")
    return pdfs, used
