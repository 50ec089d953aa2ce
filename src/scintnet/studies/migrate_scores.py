"""Add the double-pulse variable (:mod:`scintnet.reco.pileup`) to evaluations made before it existed.

``scintnet evaluate`` stores ``second_pulse_fraction`` per event in scores.h5.  The variable depends
only on the events (hits, reconstructed vertex and start time), not on the model, so for older
evaluations it is computed from the same test files and written beside the scores — no re-scoring.
Pass the ``--data`` files exactly as they were given to ``scintnet evaluate`` (same order): events are
matched group by group in that order and checked against the stored reconstructed energies, so a
different file list or selection is an error, never a silent mismatch.  The file is rewritten through
:func:`scintnet.io.scores.add_fields` (atomically, in the current checksummed format).
``scintnet study migrate-scores``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.rundir import SCORES, read_evaluation
from ..io.scores import add_fields, group_name, read_scores
from .table_klz800 import StudyError


def add_double_pulse(eval_dir: str | Path, data: list[str | Path], force: bool = False,
                     _cache: dict | None = None) -> str:
    """Compute and store ``second_pulse_fraction`` in ``eval_dir/scores.h5``; returns what was done.

    ``_cache``: {(file, selection): (fraction, energy)} shared between calls on the same test files."""
    from ..evaluate.evaluate import source_label
    from ..features.dataset import Selection, load_event_set
    from ..reco.pileup import DoublePulse, event_set_second_pulse

    eval_dir = Path(eval_dir)
    s = read_evaluation(eval_dir)["selection"]
    sel = Selection(e_min_MeV=s["e_min_MeV"], e_max_MeV=s["e_max_MeV"], r_max_mm=s["r_max_mm"])
    groups: dict[str, list[str]] = {}
    for p in map(str, data):
        groups.setdefault(group_name(source_label(p)), []).append(p)
    path = eval_dir / SCORES
    sc = read_scores(path, fields=("score", "energy_MeV", "second_pulse_fraction"))
    if set(sc.groups) != set(groups):
        raise StudyError(f"{path}: groups {sorted(sc.groups)} but the --data files give {sorted(groups)}")
    if not force and all("second_pulse_fraction" in g for g in sc.groups.values()):
        return f"{path}: already has second_pulse_fraction"
    cache = {} if _cache is None else _cache
    frac = {}
    for g, files in groups.items():
        parts = []
        for p in files:
            if (p, sel) not in cache:
                ev = load_event_set([p], selection=sel, seed=0, log=None)
                cache[(p, sel)] = (event_set_second_pulse(ev, DoublePulse()), np.asarray(ev.energy_MeV, np.float32))
            parts.append(cache[(p, sel)])
        fr, en = np.concatenate([x[0] for x in parts]), np.concatenate([x[1] for x in parts])
        stored = sc.groups[g].get("energy_MeV")
        if stored is None or en.shape != stored.shape or not np.array_equal(en, stored):
            raise StudyError(f"{path}: group {g}: the events of {files} with {sel} are not the scored events")
        frac[g] = {"second_pulse_fraction": fr.astype(np.float32)}
    add_fields(path, frac)
    return f"{path}: added second_pulse_fraction to {len(frac)} groups"
