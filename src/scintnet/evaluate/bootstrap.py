"""Evaluation of a set of bootstrap-trained models (the paper's uncertainty method):
each model is evaluated on the same data; the spread of the metrics over models is quoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..train.harness import atomic_write_bytes
from .evaluate import evaluate_run
from .results import FIGURES, SourceResult
from ..io.rundir import EVALUATION


def _mean_sd(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarise_models(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One background source over several models (``evaluate_run``'s per-source entries):
    mean and model-to-model standard deviation of AUC and of every rejection figure
    (:data:`~scintnet.evaluate.results.FIGURES`).  A matched figure is null, with the reason, if any
    model could not form it."""
    res = [SourceResult.from_dict(x) for x in rows]
    (a_m, a_sd) = _mean_sd(np.array([r.auc for r in res], dtype=float))
    out: dict[str, Any] = {"n_events": res[0].n_events, "auc": a_m, "auc_models_std": a_sd}
    for fig in FIGURES:
        vals = [r.get(fig) for r in res]
        present = [fig in r.rejection for r in res]
        if not fig.double_pulse_cut and fig.matching == "none":
            v = np.array(vals, dtype=float)
            m, sd = _mean_sd(v)
            out.update({fig.key: m, fig.models_std_key: sd, fig.per_model_key: v.tolist()})
        elif all(v is not None for v in vals) and all(present):
            v = np.array(vals, dtype=float)
            m, sd = _mean_sd(v)
            out.update({fig.key: m, fig.models_std_key: sd, fig.per_model_key: v.tolist()})
        elif not fig.double_pulse_cut:  # a matched figure some model could not form: null and why
            out[fig.key] = None
            out[fig.unavailable_key] = next((r.unavailable[fig.matching] for r in res if fig.matching in r.unavailable),
                                            f"{fig.matching} matching unavailable for some models")
    if res[0].vertex_matched_signal_n_eff is not None:
        out["vertex_matched_signal_n_eff"] = res[0].vertex_matched_signal_n_eff
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
    atomic_write_bytes(out / EVALUATION, json.dumps(res, indent=2).encode())
    from ..io.rundir import record_evaluation

    record_evaluation(parent, out)
    return res
