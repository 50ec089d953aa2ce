"""Evaluation plots: ROC, score spectra, attention over time bins (paper Fig. 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .metrics import roc_curve  # noqa: E402


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return str(path)


def evaluation_plots(scores: dict[str, dict[str, Any]], res: dict[str, Any], out: Path) -> list[str]:
    sig_name = res["signal_source"]
    sig = scores[sig_name]["score"]
    files = []
    title = f"{res['model']} ({res['preset']}), {res['params']} parameters"
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, d in scores.items():
        if name == sig_name:
            continue
        tpr, fpr, _ = roc_curve(sig, d["score"])
        r = res["per_source"][name]
        ax.plot(tpr, 1 - fpr, label=f"{name}: AUC {r['auc']:.3f}, rej@90 {100 * r['rejection_at_90']:.1f}%")
    ax.axvline(0.9, color="gray", ls=":")
    ax.set_xlabel(f"{sig_name} acceptance")
    ax.set_ylabel("background rejection")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    files.append(_save(fig, out / "roc.png"))

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    bins = np.linspace(0, 1, 41)
    for name, d in scores.items():
        ax.hist(d["score"], bins=bins, histtype="step", density=True, lw=2 if name == sig_name else 1, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("network score")
    ax.set_ylabel("normalised events / bin")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    files.append(_save(fig, out / "score_spectra.png"))

    if scores[sig_name].get("att") is not None:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for name, d in scores.items():
            if d.get("att") is None:
                continue
            a = d["att"]
            ax.errorbar(np.arange(a.shape[1]), a.mean(0), yerr=a.std(0) / np.sqrt(len(a)), marker="o", ms=3,
                        label=name, lw=2 if name == sig_name else 1)
        ax.set_xlabel("proper-time bin")
        ax.set_ylabel("mean attention score S(t)")
        ax.set_title("KamNet attention (paper Fig. 6): " + title, fontsize=8)
        ax.legend(fontsize=7)
        files.append(_save(fig, out / "attention.png"))
    return files
