"""Evaluation of a set of bootstrap-trained models (the paper's uncertainty method):
each model is evaluated on the same data; the spread of the metrics over models is quoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..train.harness import atomic_write_bytes
from .evaluate import evaluate_run


def _mean_sd(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarise_models(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One background source over several models (``evaluate_run``'s per-source entries):
    mean and model-to-model standard deviation of AUC, rejection and energy- / vertex-matched
    rejection.  A matched figure is null, with the reason, if any model could not form it."""
    rej = np.array([x["rejection_at_90"] for x in rows], dtype=float)
    au = np.array([x["auc"] for x in rows], dtype=float)
    (a_m, a_sd), (r_m, r_sd) = _mean_sd(au), _mean_sd(rej)
    out: dict[str, Any] = {"n_events": rows[0]["n_events"], "auc": a_m, "auc_models_std": a_sd,
                           "rejection_at_90": r_m, "rejection_at_90_bootstrap_std": r_sd,
                           "rejection_at_90_per_model": rej.tolist()}
    for kind in ("energy", "vertex"):
        key = f"rejection_at_90_{kind}_matched"
        em = [x.get(key) for x in rows]
        if all(v is not None for v in em):
            em_a = np.array(em, dtype=float)
            e_m, e_sd = _mean_sd(em_a)
            out.update({key: e_m, f"{key}_models_std": e_sd, f"{key}_per_model": em_a.tolist()})
        else:
            out[key] = None
            out[f"{kind}_matching_unavailable"] = next(
                (x[f"{kind}_matching_unavailable"] for x in rows if x.get(f"{kind}_matching_unavailable")),
                f"{kind} matching unavailable for some models")
    for key in ("rejection_at_90_double_pulse_cut", "rejection_at_90_energy_matched_double_pulse_cut",
                "rejection_at_90_vertex_matched_double_pulse_cut"):
        vals = [x.get(key) for x in rows]
        if vals and all(v is not None for v in vals):
            m, sd = _mean_sd(np.array(vals, dtype=float))
            out.update({key: m, f"{key}_models_std": sd, f"{key}_per_model": [float(v) for v in vals]})
    if "vertex_matched_signal_n_eff" in rows[0]:
        out["vertex_matched_signal_n_eff"] = rows[0]["vertex_matched_signal_n_eff"]
    return out


def evaluate_bootstrap(parent: Path, runs: list[Path], data: list[str], out: Path | None = None,
                       r_max_mm: float | None = None, double_pulse_loss: float | None = 0.01,
                       force: bool = False) -> dict[str, Any]:
    out = Path(out) if out else parent / "eval"
    results = [evaluate_run(r, data, out / r.name, r_max_mm=r_max_mm, plots=(i == 0), double_pulse_loss=double_pulse_loss,
                            force=force) for i, r in enumerate(runs)]
    res: dict[str, Any] = {k: results[0][k] for k in ("model", "preset", "params", "signal_source", "n_signal", "selection")}
    res["run"] = str(parent)
    res["n_models"] = len(results)
    for key in ("auc", "rejection_at_90"):
        vals = [r[key] for r in results if key in r]
        if vals:
            res[key] = float(np.mean(vals))
            res[f"{key}_models_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    per = {name: summarise_models([r["per_source"][name] for r in results]) for name in results[0]["per_source"]}
    res["per_source"] = per
    if "double_pulse" in results[0]:
        res["double_pulse"] = results[0]["double_pulse"]
    res["plots"] = results[0].get("plots", [])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "evaluation.json", json.dumps(res, indent=2).encode())
    from ..io.rundir import record_evaluation

    record_evaluation(parent, out)
    return res
