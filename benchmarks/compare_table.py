"""Markdown comparison table of trained and evaluated runs (issue 7's "jet-tagging table").

For each run: parameters, FLOPs per event (torch FlopCounterMode, batch 2), training time and epochs,
median training events/s over epochs (from metrics.csv, i.e. measured in the real training), test
AUC and rejection at 90 % signal acceptance with the event-bootstrap spread (RUN/eval), and the
difference to a reference run with the paired-bootstrap spread (same test events).

Usage:
    python benchmarks/compare_table.py --ref runs/fast_kamnet runs/fast_kamnet runs/fast_cnn out/b7/rotinv_30 ...
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--ref", required=True, help="reference run for the paired differences")
    ap.add_argument("--bench", help="`scintnet bench models --json` output: adds inference events/s per model")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    infer = {}
    if a.bench:
        bench = json.loads(Path(a.bench).read_text())
        for b in bench["models"] if isinstance(bench, dict) else bench:
            if "infer_events_per_s" in b:
                infer[(b["model"], b["preset"])] = b["infer_events_per_s"]

    import torch

    from scintnet.evaluate.compare import paired_comparison
    from scintnet.models.bench import flops_per_event
    from scintnet.models.registry import build_model

    torch.set_num_threads(1)
    rows = []
    for r in a.runs:
        r = Path(r)
        meta = json.loads((r / "run.json").read_text())
        ev = json.loads((r / "eval" / "evaluation.json").read_text())
        rc = meta["run_config"]
        with open(r / "metrics.csv") as f:
            eps = [float(x["train_events_per_s"]) for x in csv.DictReader(f)]
        model = build_model(rc["model"], rc["preset"])
        row = {"run": str(r), "model": rc["model"], "preset": rc["preset"], "params": meta["params"],
               "flops_per_event": flops_per_event(model, batch=2), "train_seconds": meta.get("train_seconds"),
               "epochs": meta.get("epochs_done"), "best_epoch": meta.get("best_epoch"),
               "train_events_per_s": float(np.median(eps)), "auc": ev["auc"], "rejection_at_90": ev["rejection_at_90"],
               "rejection_sd": ev["rejection_at_90_bootstrap_std"],
               "infer_events_per_s": infer.get((rc["model"], rc["preset"]))}
        # the same at the signal's energy spectrum: what the score adds beyond energy
        c = paired_comparison(r, a.ref, n_boot=500, energy_matched=True)
        row["rejection_energy_matched"] = c["rejection_a"]
        if Path(r).resolve() != Path(a.ref).resolve():
            row["matched_diff_vs_ref"] = c["rejection_diff"]
            row["matched_diff_vs_ref_paired_sd"] = c["rejection_diff_paired_std"]
            c = paired_comparison(r, a.ref, n_boot=500)
            row["diff_vs_ref"] = c["rejection_diff"]
            row["diff_vs_ref_paired_sd"] = c["rejection_diff_paired_std"]
        rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"| model:preset | params | FLOPs / event | training (epochs, best) | train ev/s | inference ev/s | test AUC | rejection at 90 % | vs {Path(a.ref).name} (paired) | energy-matched rejection (vs ref) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        d = (f"{100 * x['diff_vs_ref']:+.1f} ± {100 * x['diff_vs_ref_paired_sd']:.1f} %" if "diff_vs_ref" in x
             else "reference")
        m = f"{100 * x['rejection_energy_matched']:.1f} %" + (
            f" ({100 * x['matched_diff_vs_ref']:+.1f} ± {100 * x['matched_diff_vs_ref_paired_sd']:.1f})"
            if "matched_diff_vs_ref" in x else "")
        print(f"| {x['model']}:{x['preset']} | {x['params']:,} | {x['flops_per_event']:.3g} | "
              f"{x['train_seconds']:.0f} s ({x['epochs']}, {x['best_epoch']}) | {x['train_events_per_s']:.0f} | "
              f"{x['infer_events_per_s'] or float('nan'):.0f} | {x['auc']:.3f} | {100 * x['rejection_at_90']:.1f} ± {100 * x['rejection_sd']:.1f} % | {d} | {m} |")


if __name__ == "__main__":
    main()
