"""Issue 7 on `klz800`: per-training rejection of every model, as a talk plot.

Reads the ``--json`` output of ``benchmarks/compare_klz800.py`` and draws, for each model:preset,
one marker per independent training —
  left: the ²¹⁴Bi-film rejection at fixed energy (energy-matched) and at fixed energy *and* position
        (vertex-matched), joined per training, so a figure that came from the film's radius shows as
        a drop;
  right: the energy-matched rejection of every background group and spallation isotope.

Usage:
    python benchmarks/plot_klz800_trainings.py out/b12/cmp_final.json --out docs/img/klz800/trainings.png \
        [--exclude out/b8/] [--models kamnet:cpu kamnet:large deepsphere:cpu]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

COLOURS = {"kamnet:cpu": "tab:blue", "kamnet:large": "tab:cyan", "deepsphere:cpu": "tab:red",
           "rotinv:cpu": "tab:green", "rotinv:cpu_vtx": "tab:olive"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--exclude", action="append", default=[], help="leave runs whose path contains this out")
    ap.add_argument("--models", nargs="*", help="model:preset labels to draw (default: all)")
    a = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = [x for x in json.loads(a.json.read_text()) if not any(e in x["run"] for e in a.exclude)]
    by: dict[str, list[dict]] = {}
    for x in rows:
        lab = f"{x['model']}:{x['preset']}"
        if a.models is None or lab in a.models:
            by.setdefault(lab, []).append(x)
    groups = [g for g in rows[0]["groups"] if g != "long-lived spallation"] + list(rows[0].get("isotopes", {}))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 3]})
    for k, (lab, xs) in enumerate(by.items()):
        c = COLOURS.get(lab, f"C{k}")
        for j, x in enumerate(xs):
            g = x["groups"]["²¹⁴Bi film"]
            dx = 0.06 * (j - (len(xs) - 1) / 2)
            ax1.plot([0 + dx, 1 + dx], [100 * g["energy_matched"], 100 * g["vertex_matched"]], "-o", color=c,
                     ms=4, alpha=0.8, label=f"{lab} ({len(xs)})" if j == 0 else None)
        width = 0.8 / len(by)
        for i, name in enumerate(groups):
            src = next((x["groups"] for x in xs if name in x["groups"]), None)
            key = "groups" if src is not None else "isotopes"
            v = np.array([100 * x[key][name]["energy_matched"] for x in xs if name in x.get(key, {})])
            if v.size == 0:
                continue
            xpos = i + (k - (len(by) - 1) / 2) * width
            ax2.scatter(np.full(v.size, xpos), v, color=c, s=12, alpha=0.7)
            ax2.errorbar(xpos, v.mean(), yerr=v.std(ddof=1) if v.size > 1 else 0, fmt="_", color=c, ms=14, capsize=3)
    ax1.set_xticks([0, 1], ["energy-matched", "energy + vertex\nmatched"])
    ax1.set_xlim(-0.4, 1.4)
    ax1.set_ylabel("²¹⁴Bi film rejection at 90 % 0νββ acceptance [%]")
    ax1.set_title("film: per training")
    ax1.axhline(10, color="grey", ls=":", lw=1)
    ax1.legend(fontsize=8)
    ax2.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax2.set_ylabel("energy-matched rejection [%]")
    ax2.set_yscale("log")
    ax2.set_yticks([5, 10, 20, 40, 80], ["5", "10", "20", "40", "80"])
    ax2.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax2.axhline(10, color="grey", ls=":", lw=1)
    ax2.set_title("every training (dots), mean ± training sd (bars); dotted: chance")
    dp = rows[0].get("double_pulse_loss")
    if dp:  # figures made with compare_klz800.py --double-pulse-loss: say so on the plot
        fig.suptitle(f"behind the double-pulse cut ({100 * dp:.0f} % 0νββ loss; acceptance over all 0νββ events)",
                     fontsize=10)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(f".{a.out.stem}.tmp{a.out.suffix}")
    fig.savefig(tmp, dpi=130)
    tmp.replace(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
