"""``scintnet report``: a folder a physicist can open — plots, JSON and a short markdown summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..train.harness import atomic_write_bytes


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def write_report(run_dir: str | Path, eval_dir: str | Path, out: str | Path,
                 validation_json: str | Path | None = None) -> dict[str, Any]:
    run_dir, eval_dir, out = Path(run_dir), Path(eval_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = json.loads((run_dir / "run.json").read_text())
    ev = json.loads((eval_dir / "evaluation.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rc = run["run_config"]
    lines = [f"# scintnet report: {rc['model']} ({rc['preset']})", ""]
    lines += ["## Training", "",
              f"- model: {rc['model']} preset `{rc['preset']}`, {run['params']:,} parameters",
              f"- data: signal {', '.join(rc['signal'])}; background {', '.join(rc['background'])}",
              f"- selection: {rc['e_min_MeV']}–{rc['e_max_MeV']} MeV, R < {rc['r_max_mm'] / 10:.0f} cm; Nhit matching "
              f"{'on' if rc['nhit_matching'] else 'off'}",
              f"- {run['n_train']} training / {run['n_val']} validation events; {run['epochs_done']} epochs "
              f"({run['stopped']}), {run['train_seconds']:.0f} s on {run['device']}",
              f"- best validation AUC {run.get('best_val_auc', float('nan')):.4f} at epoch {run.get('best_epoch')}", ""]
    lines += ["| epoch | train loss | val loss | val AUC | val rejection@90 | events/s |", "|---|---|---|---|---|---|"]
    for h in metrics:
        lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | {h['val_auc']:.4f} | "
                     f"{_pct(h['val_rejection_at_90'])} | {h['train_events_per_s']:.0f} |")
    lines += ["", f"## Evaluation (signal {ev['signal_source']}, {ev['n_signal']} events; independent files)", "",
              "| source | events | AUC | rejection at 90 % signal acceptance |", "|---|---|---|---|"]
    for name, r in ev["per_source"].items():
        lines.append(f"| {name} | {r['n_events']} | {r['auc']:.4f} | {_pct(r['rejection_at_90'])} ± "
                     f"{_pct(r.get('rejection_at_90_bootstrap_std', 0.0))} |")
    plots = []
    for p in ev.get("plots", []):
        dst = out / Path(p).name
        if Path(p).resolve() != dst.resolve():
            shutil.copy(p, dst)
        plots.append(dst.name)
    lines += [""] + [f"![{p}]({p})" for p in plots]
    summary: dict[str, Any] = {"run": run, "evaluation": ev}
    if validation_json and Path(validation_json).exists():
        v = json.loads(Path(validation_json).read_text())
        summary["validate_sim"] = v
        lines += ["", f"## Simulation validation ({v['preset']})", "", "| figure | scintnet | reference |", "|---|---|---|",
                  f"| sigma_E/E at Q | {_pct(v['energy_resolution_at_q'])} | {_pct(v['energy_resolution_at_q_ref'])} |",
                  f"| vertex resolution at Q | {v['vertex_resolution_cm_at_q']:.2f} cm | {v['vertex_resolution_cm_at_q_ref']:.2f} cm |",
                  f"| occupied cells (0nbb) | {v['mean_occupied_cells_0vbb']:.0f} | {v['mean_occupied_cells_0vbb_ref']:.0f} |"]
        for k, val in v["attenuation_length_cm"].items():
            lines.append(f"| gamma attenuation length {k} MeV | {val:.2f} cm | {v['attenuation_length_cm_ref'][k]:.2f} cm |")
        for k, val in v["line_intensity"].items():
            lines.append(f"| {k} gammas/decay | {val:.4f} | {v['line_intensity_ref'][k]:.4f} |")
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    atomic_write_bytes(out / "README.md", ("\n".join(lines) + "\n").encode())
    return {"report": str(out / "README.md"), "plots": plots}
