"""Markdown comparison table of trained and evaluated runs (issue 7's "jet-tagging table").

For each run: parameters, FLOPs per event (torch ``FlopCounterMode``, batch 2), training time and
epochs, median training events/s over epochs (from ``metrics.csv``: measured in the real training),
test AUC and rejection at 90 % signal acceptance with the event-bootstrap spread (``RUN/eval``), the
energy-matched rejection, and the differences to a reference run with the paired-bootstrap spread
(same test events).  ``scintnet study compare-table``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..evaluate.compare import paired_comparison
from ..io.rundir import read_evaluation, read_metrics, read_run_json
from .table_klz800 import Paired, StudyError


@dataclass
class ModelRow:
    """One run's row of the comparison table (rejections at 90 % signal acceptance, fractions)."""

    run: str
    model: str
    preset: str
    params: int
    flops_per_event: float
    train_seconds: float | None
    epochs: int | None
    best_epoch: int | None
    train_events_per_s: float  # median over epochs
    infer_events_per_s: float | None  # from `scintnet bench models --json`, if given
    auc: float
    rejection_at_90: float
    rejection_sd: float  # event bootstrap
    rejection_energy_matched: float
    vs_ref: Paired | None = None  # paired difference of the rejection to the reference (None: the reference)
    matched_vs_ref: Paired | None = None  # the same at fixed energy


def inference_rates(bench_json: str | Path) -> dict[tuple[str, str], float]:
    """(model, preset) -> inference events/s from a ``scintnet bench models --json`` output."""
    try:
        bench = json.loads(Path(bench_json).read_text())
    except (OSError, ValueError) as exc:
        raise StudyError(f"{bench_json}: not a `bench models --json` output ({exc})") from None
    items = bench["models"] if isinstance(bench, dict) else bench
    return {(b["model"], b["preset"]): b["infer_events_per_s"] for b in items if "infer_events_per_s" in b}


def model_row(run: str | Path, ref: str | Path, infer: dict[tuple[str, str], float] | None = None,
              n_boot: int = 500) -> ModelRow:
    """The table row of ``run`` (trained, evaluated into RUN/eval on the same test files as ``ref``)."""
    from ..models.bench import flops_per_event
    from ..models.registry import build_model

    run = Path(run)
    meta = read_run_json(run)
    ev = read_evaluation(run / "eval")
    rc = meta["run_config"]
    eps = [float(x["train_events_per_s"]) for x in read_metrics(run)]
    flops = flops_per_event(build_model(rc["model"], rc["preset"]), batch=2)  # threads: configure_runtime
    c = paired_comparison(run, ref, n_boot=n_boot, energy_matched=True)
    row = ModelRow(str(run), rc["model"], rc["preset"], int(meta["params"]), flops, meta.get("train_seconds"),
                   meta.get("epochs_done"), meta.get("best_epoch"), float(np.median(eps)),
                   (infer or {}).get((rc["model"], rc["preset"])), ev["auc"], ev["rejection_at_90"],
                   ev["rejection_at_90_bootstrap_std"], c["rejection_a"])
    if run.resolve() != Path(ref).resolve():
        row.matched_vs_ref = Paired(c["rejection_diff"], c["rejection_diff_paired_std"])
        c = paired_comparison(run, ref, n_boot=n_boot)
        row.vs_ref = Paired(c["rejection_diff"], c["rejection_diff_paired_std"])
    return row


def compare_table(runs: list[str | Path], ref: str | Path, bench_json: str | Path | None = None,
                  n_boot: int = 500) -> list[ModelRow]:
    infer = inference_rates(bench_json) if bench_json else None
    return [model_row(r, ref, infer, n_boot) for r in runs]


def rows_json(rows: list[ModelRow]) -> list[dict]:
    return [asdict(r) for r in rows]


def markdown(rows: list[ModelRow], ref: str | Path) -> str:
    lines = [f"| model:preset | params | FLOPs / event | training (epochs, best) | train ev/s | inference ev/s | "
             f"test AUC | rejection at 90 % | vs {Path(ref).name} (paired) | energy-matched rejection (vs ref) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for x in rows:
        d = f"{100 * x.vs_ref.diff:+.1f} ± {100 * x.vs_ref.sd:.1f} %" if x.vs_ref else "reference"
        m = f"{100 * x.rejection_energy_matched:.1f} %" + (
            f" ({100 * x.matched_vs_ref.diff:+.1f} ± {100 * x.matched_vs_ref.sd:.1f})" if x.matched_vs_ref else "")
        ts = "—" if x.train_seconds is None else f"{x.train_seconds:.0f} s"
        inf = "—" if x.infer_events_per_s is None else f"{x.infer_events_per_s:.0f}"
        lines.append(f"| {x.model}:{x.preset} | {x.params:,} | {x.flops_per_event:.3g} | {ts} ({x.epochs}, "
                     f"{x.best_epoch}) | {x.train_events_per_s:.0f} | {inf} | {x.auc:.3f} | "
                     f"{100 * x.rejection_at_90:.1f} ± {100 * x.rejection_sd:.1f} % | {d} | {m} |")
    return "\n".join(lines)
