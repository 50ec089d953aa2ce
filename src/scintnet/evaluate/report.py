"""``scintnet report``: a folder a physicist can open — plots, JSON and a short markdown summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..physics.sources import display_name
from ..train.harness import atomic_write_bytes
from .plots import PAPER_KAMNET_REJECTION_AT_90
from .results import ENERGY
from ..io.rundir import EVALUATION, RUN_JSON


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def source_name(key: str) -> str:
    """Human name of a source key (¹⁰C for C10); the key itself when it has none."""
    return display_name(key)


def _training_aids(rc: dict) -> list[str]:
    """The run's augmentation and regularisation, in words (empty for a plain run)."""
    aids = ["training batches in random rotations of the detector"] if rc.get("augment_rotations") else []
    if rc.get("ema_decay"):
        aids.append(f"weights averaged (EMA, decay {rc['ema_decay']})")
    if rc.get("grad_clip_norm"):
        aids.append(f"gradient norm clipped at {rc['grad_clip_norm']}")
    return aids


def report_warnings(run: dict[str, Any], ev: dict[str, Any]) -> list[str]:
    """What a reader must know before trusting the figures: early stops, results within the floors."""
    out = []
    planned = run.get("epochs_planned", run["run_config"].get("epochs"))
    if run.get("stopped") != "epochs":
        out.append(f"training stopped early ({run.get('stopped')}) after {run['epochs_done']} of {planned} epochs")
    for name, r in ev.get("per_source", {}).items():
        net = r.get(ENERGY.key)
        fl = {k: f.get(ENERGY.key) for k, f in (r.get("floors") or {}).items()}
        beaten = [k for k, v in fl.items() if v is not None and net is not None and net <= v]
        if beaten:
            out.append(f"{source_name(name)}: the network ({_pct(net)} at fixed energy) does not beat the "
                       f"{' and '.join(beaten)} floor ({', '.join(_pct(fl[k]) for k in beaten)}) on the same events: "
                       "it has not learned what the simulated hits hold (under-trained)")
        more = {k: f.get(ENERGY.key) for k, f in ((ev.get("floors_all_training_events_per_source") or {})
                                                   .get(name) or {}).items()}
        short = [k for k, v in more.items() if v is not None and net is not None and net <= v and k not in beaten]
        if short:
            n = ev.get("floors_all_training_events_training") or {}
            out.append(f"{source_name(name)}: the {' and '.join(short)} floor trained on all "
                       f"{n.get('n_signal', '?')} + {n.get('n_background', '?')} selected events of the training files "
                       f"(more than the network's matched training split) reaches {', '.join(_pct(more[k]) for k in short)} "
                       f"at fixed energy, above the network's {_pct(net)}: the network is short of training events")
    return out


def write_report(run_dir: str | Path, eval_dir: str | Path, out: str | Path,
                 validation_json: str | Path | None = None) -> dict[str, Any]:
    run_dir, eval_dir, out = Path(run_dir), Path(eval_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = json.loads((run_dir / RUN_JSON).read_text())
    ev = json.loads((eval_dir / EVALUATION).read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rc = run["run_config"]
    lines = [f"# scintnet report: {rc['model']} ({rc['preset']})", ""]
    warnings = report_warnings(run, ev)
    lines += [f"> **Warning:** {w}" for w in warnings] + ([""] if warnings else [])
    lines += ["## Training", "",
              f"- model: {rc['model']} preset `{rc['preset']}`, {run['params']:,} parameters",
              f"- data: signal {', '.join(rc['signal'])}; background {', '.join(rc['background'])}",
              f"- selection: {rc['e_min_MeV']}–{rc['e_max_MeV']} MeV, R < {rc['r_max_mm'] / 10:.0f} cm; "
              f"{'energy' if rc.get('match_on') == 'energy' else 'Nhit'} matching {'on' if rc['nhit_matching'] else 'off'}"
              + "".join(f"; {t}" for t in _training_aids(rc)),
              f"- {run['n_train']} training / {run['n_val']} validation events; {run['epochs_done']} of "
              f"{run.get('epochs_planned', rc['epochs'])} epochs ({run['stopped']}), {run['train_seconds']:.0f} s on "
              f"{run['device']} with {run.get('threads', rc.get('threads')) or 'all'} threads",
              f"- best validation AUC {run.get('best_val_auc', float('nan')):.4f} at epoch {run.get('best_epoch')}", ""]
    lines += ["| epoch | train loss | val loss | val AUC | val rejection@90 | events/s |", "|---|---|---|---|---|---|"]
    for h in metrics:
        lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | {h['val_auc']:.4f} | "
                     f"{_pct(h['val_rejection_at_90'])} | {h['train_events_per_s']:.0f} |")
    if (run_dir / "training_curves.png").exists():
        shutil.copy(run_dir / "training_curves.png", out / "training_curves.png")
        lines += ["", "![training curves](training_curves.png)"]
    lines += ["", f"## Evaluation (signal {source_name(ev['signal_source'])}, {ev['n_signal']} events; independent files)",
              "", "Rejection of each background at 90 % signal acceptance; *fixed E*: background weighted to the "
              "signal's reconstructed-energy spectrum (what the topology adds beyond energy).  Floors: a Fisher linear "
              "discriminant and XGBoost on the time spectrum and map moments, trained on the network's own training events "
              "and scored on the same test events; *all events*: the XGBoost floor trained on every selected event of "
              "the training files (the matching discards some).", "",
              "| source | events | AUC | rejection | rejection, fixed E | linear floor, fixed E | XGBoost floor, fixed E "
              "| XGBoost floor, all events, fixed E | KamNet paper |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in ev["per_source"].items():
        fl = r.get("floors") or {}
        fl_all = (ev.get("floors_all_training_events_per_source") or {}).get(name) or {}
        lines.append(f"| {source_name(name)} | {r['n_events']} | {r['auc']:.4f} | {_pct(r['rejection_at_90'])} ± "
                     f"{_pct(r.get('rejection_at_90_bootstrap_std', 0.0))} | {_pct(r.get('rejection_at_90_energy_matched'))} | "
                     f"{_pct((fl.get('linear') or {}).get('rejection_at_90_energy_matched'))} | "
                     f"{_pct((fl.get('xgboost') or {}).get('rejection_at_90_energy_matched'))} | "
                     f"{_pct((fl_all.get('xgboost') or {}).get('rejection_at_90_energy_matched'))} | "
                     f"{_pct(PAPER_KAMNET_REJECTION_AT_90.get(name))} |")
    plots = []
    for p in ev.get("plots", []):
        dst = out / Path(p).name
        if Path(p).resolve() != dst.resolve():
            shutil.copy(p, dst)
        plots.append(dst.name)
    lines += [""] + [f"![{p}]({p})" for p in plots]
    summary: dict[str, Any] = {"run": run, "evaluation": ev, "warnings": warnings}
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
