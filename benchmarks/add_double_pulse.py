"""Add the double-pulse variable (``scintnet.reco.pileup``) to runs evaluated before it existed.

``scintnet evaluate`` now stores ``second_pulse_fraction`` per event in scores.h5.  The variable
depends only on the events (hits, reconstructed vertex and start time), not on the model, so for
older evaluations it can be computed from the same test files and written beside the scores —
no re-scoring.  Pass the ``--data`` files exactly as they were given to ``scintnet evaluate``
(same order): events are matched group by group in that order and checked against the stored
reconstructed energies, so a different file list or selection is an error, never a silent mismatch.

Usage:
    python benchmarks/add_double_pulse.py --data out/data/test_klz800_B8_solar_xels.h5 ... \
        out/b12/deepsphere_s6/eval out/b9/kamnet_cpu/eval
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np

from scintnet.evaluate.evaluate import source_label
from scintnet.features.dataset import Selection, load_event_set
from scintnet.reco.pileup import DoublePulse, event_set_second_pulse

_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _fraction(path: str, sel: Selection) -> tuple[np.ndarray, np.ndarray]:
    key = (path, sel)
    if key not in _cache:
        ev = load_event_set([path], selection=sel, seed=0, log=None)
        _cache[key] = (event_set_second_pulse(ev, DoublePulse()), np.asarray(ev.energy_MeV, np.float32))
    return _cache[key]


def add_to(eval_dir: Path, data: list[str], force: bool = False) -> str:
    s = json.loads((eval_dir / "evaluation.json").read_text())["selection"]
    sel = Selection(e_min_MeV=s["e_min_MeV"], e_max_MeV=s["e_max_MeV"], r_max_mm=s["r_max_mm"])
    groups: dict[str, list[str]] = {}
    for p in data:
        groups.setdefault(source_label(p).replace("/", "_"), []).append(p)
    path = eval_dir / "scores.h5"
    with h5py.File(path, "r") as f:
        if set(f) != set(groups):
            raise SystemExit(f"{path}: groups {sorted(f)} but the --data files give {sorted(groups)}")
        if not force and all("second_pulse_fraction" in f[g] for g in f):
            return f"{path}: already has second_pulse_fraction"
        energies = {g: f[g]["energy_MeV"][:] for g in f}
    frac = {}
    for g, files in groups.items():
        parts = [_fraction(p, sel) for p in files]
        fr, en = np.concatenate([x[0] for x in parts]), np.concatenate([x[1] for x in parts])
        if en.shape != energies[g].shape or not np.array_equal(en, energies[g]):
            raise SystemExit(f"{path}: group {g}: the events of {files} with {sel} are not the scored events")
        frac[g] = fr.astype(np.float32)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(path.read_bytes())
    with h5py.File(tmp, "a") as f:
        for g, v in frac.items():
            if "second_pulse_fraction" in f[g]:
                del f[g]["second_pulse_fraction"]
            f[g]["second_pulse_fraction"] = v
    tmp.replace(path)
    return f"{path}: added second_pulse_fraction to {len(frac)} groups"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("evals", nargs="+", type=Path, help="evaluation folders (RUN/eval, RUN/eval_film)")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--force", action="store_true", help="recompute even where present")
    a = ap.parse_args()
    for d in a.evals:
        print(add_to(d, a.data, a.force), flush=True)


if __name__ == "__main__":
    main()
