"""Evaluation of a set of bootstrap-trained models (the paper's uncertainty method):
each model is evaluated on the same data; the spread of the metrics over models is quoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..train.harness import atomic_write_bytes
from .evaluate import evaluate_run


def evaluate_bootstrap(parent: Path, runs: list[Path], data: list[str], out: Path | None = None,
                       r_max_mm: float | None = None) -> dict[str, Any]:
    out = Path(out) if out else parent / "eval"
    results = [evaluate_run(r, data, out / r.name, r_max_mm=r_max_mm, plots=(i == 0)) for i, r in enumerate(runs)]
    res: dict[str, Any] = {k: results[0][k] for k in ("model", "preset", "params", "signal_source", "n_signal", "selection")}
    res["run"] = str(parent)
    res["n_models"] = len(results)
    for key in ("auc", "rejection_at_90"):
        vals = [r[key] for r in results if key in r]
        if vals:
            res[key] = float(np.mean(vals))
            res[f"{key}_models_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    per = {}
    for name in results[0]["per_source"]:
        rows = [r["per_source"][name] for r in results]
        rej = np.array([x["rejection_at_90"] for x in rows])
        au = np.array([x["auc"] for x in rows])
        per[name] = {"n_events": rows[0]["n_events"], "auc": float(au.mean()), "auc_models_std": float(au.std(ddof=1)) if au.size > 1 else 0.0,
                     "rejection_at_90": float(rej.mean()),
                     "rejection_at_90_bootstrap_std": float(rej.std(ddof=1)) if rej.size > 1 else 0.0,
                     "rejection_at_90_per_model": rej.tolist()}
        # energy-matched rejection per model (see evaluate_run); null where any model could not form it
        em = [x.get("rejection_at_90_energy_matched") for x in rows]
        if all(v is not None for v in em):
            em_a = np.array(em, dtype=float)
            per[name].update(rejection_at_90_energy_matched=float(em_a.mean()),
                             rejection_at_90_energy_matched_models_std=float(em_a.std(ddof=1)) if em_a.size > 1 else 0.0,
                             rejection_at_90_energy_matched_per_model=em_a.tolist())
        else:
            per[name]["rejection_at_90_energy_matched"] = None
            per[name]["energy_matching_unavailable"] = next(
                (x.get("energy_matching_unavailable") for x in rows if x.get("energy_matching_unavailable")),
                "energy matching unavailable for some models")
    res["per_source"] = per
    res["plots"] = results[0].get("plots", [])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "evaluation.json", json.dumps(res, indent=2).encode())
    return res
