"""Talk-ready figures of the readout-reduction benchmark (labels, units, the seed's values for reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import pyplot, save
from .reference import SEED_003_DEGRADATION

plt = pyplot()

COLORS = {"full": "black", "random": "tab:green", "occupancy": "tab:orange", "qr": "tab:purple",
          "greedy": "tab:blue", "learned": "tab:red", "geometric": "tab:brown"}


def _finish(fig, ax, path: Path) -> Path:
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save(fig, path)
    return path


def plot_sigma_vs_energy(res: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    red = res["ecal_setup"]["bench"]["reduction"]
    for m, row in res["ecal"].items():
        e = np.array([float(k) for k in row["sigma_over_e"]])
        s = 100 * np.array(list(row["sigma_over_e"].values()))
        ds = 100 * np.array(list(row["sigma_over_e_err"].values()))
        fit = row.get("fit", {})
        lab = m if m == "full" else f"{m} ({100 * red:.0f} % fewer channels)"
        if "stochastic" in fit:
            lab += f": {100 * fit['stochastic']:.1f} %/$\\sqrt{{E}}$ $\\oplus$ {100 * fit['constant']:.1f} %"
            ee = np.geomspace(e.min(), e.max(), 100)
            ax.plot(ee, 100 * np.sqrt(fit["stochastic"] ** 2 / ee + fit["constant"] ** 2), color=COLORS.get(m), lw=0.8)
        ax.errorbar(e, s, ds, fmt="o", ms=4, color=COLORS.get(m), label=lab)
    ax.set_xscale("log")
    ax.set_xlabel("electron energy E [GeV]")
    ax.set_ylabel(r"$\sigma_E/E$ [%] (RMS of $E_{reco}/E$)")
    ax.set_title("Si-W ECAL toy (30 layers, 4 mm pixels): calibration by regression")
    return _finish(fig, ax, path)


def plot_degradation(res: dict[str, Any], path: Path) -> Path:
    rows = {m: r for m, r in res["ecal"].items() if m != "full" and "degradation" in r}
    if not rows:
        return path
    energies = list(next(iter(rows.values()))["degradation"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    w = 0.8 / len(rows)
    full = res["ecal"]["full"]
    for i, (m, r) in enumerate(rows.items()):
        x = np.arange(len(energies)) + (i - (len(rows) - 1) / 2) * w
        d = 100 * np.array([r["degradation"][e] for e in energies])
        # error of the ratio from both bootstrap errors
        de = 100 * np.array([np.hypot(r["sigma_over_e_err"][e] / r["sigma_over_e"][e],
                                      full["sigma_over_e_err"][e] / full["sigma_over_e"][e])
                             * (1 + r["degradation"][e]) for e in energies])
        ax.bar(x, d, w, yerr=de, color=COLORS.get(m), label=m, capsize=2)
    for j, e in enumerate(energies):
        for name, mk in (("optimised", "*"), ("random", "P")):
            if e in SEED_003_DEGRADATION[name]:
                ax.plot(j, 100 * SEED_003_DEGRADATION[name][e], mk, color="k", ms=10,
                        label=f"seed 003 Table 1: {name}" if j == 1 else None)
    red = res["ecal_setup"]["bench"]["reduction"]
    ax.axhline(100 * (1 / np.sqrt(1 - red) - 1), ls=":", color="gray",
               label=r"Poisson sampling only: $1/\sqrt{1-r}-1$")
    ax.set_xticks(np.arange(len(energies)), [f"{e} GeV" for e in energies])
    ax.set_ylabel(r"$\sigma_E$ degradation vs full readout [%]")
    ax.set_title(f"{100 * red:.0f} % data reduction: relative loss of resolution")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, axis="y")
    save(fig, path)
    return path


def plot_masks(res: dict[str, Any], masks: dict[str, np.ndarray], path: Path) -> Path:
    ecal = res["ecal_setup"]["ecal"]
    n_l = int(ecal["n_thin_layers"] + ecal["n_thick_layers"])
    side = int(ecal["pixels_per_side"])
    sel = {m: v for m, v in masks.items() if m != "full"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for m, v in sel.items():
        axes[0].plot(np.arange(1, n_l + 1), v.reshape(n_l, -1).mean(1), "-o", ms=3, color=COLORS.get(m), label=m)
    axes[0].axvline(ecal["n_thin_layers"] + 0.5, color="gray", ls=":")
    axes[0].set_xlabel("layer (1 = front; dotted: thin | thick absorbers)")
    axes[0].set_ylabel("fraction of the layer's pixels read out")
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    best = "learned" if "learned" in sel else next(iter(sel), None)
    if best is not None:
        img = sel[best].reshape(n_l, side, side).mean(0)
        w = ecal["pixel_mm"] * side / 2
        im = axes[1].imshow(img, origin="lower", extent=(-w, w, -w, w), vmin=0, vmax=1, cmap="viridis")
        fig.colorbar(im, ax=axes[1], label="fraction of layers read out")
        axes[1].set_xlabel("x [mm]")
        axes[1].set_ylabel("y [mm]")
        axes[1].set_title(f"{best} pattern, averaged over layers")
    save(fig, path)
    return path


def plot_curve(res: dict[str, Any], path: Path, energy: str = "5.0") -> Path:
    curve = res.get("ecal_curve") or {}
    if not curve:
        return path
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    full = res["ecal"].get("full")
    for m, pts in curve.items():
        r = np.array([float(k) for k in pts])
        s = 100 * np.array([p["sigma_over_e"][energy] for p in pts.values()])
        ds = 100 * np.array([p["sigma_over_e_err"][energy] for p in pts.values()])
        ax.errorbar(100 * r, s, ds, fmt="-o", ms=3, color=COLORS.get(m), label=m)
    if full is not None:
        s0 = full["sigma_over_e"][energy]
        rr = np.linspace(0, 0.85, 50)
        ax.plot(100 * rr, 100 * s0 / np.sqrt(1 - rr), ":", color="gray", label=r"full $\times 1/\sqrt{1-r}$")
        ax.axhline(100 * s0, color="k", lw=0.8, label="full readout")
    ax.set_xlabel("data reduction r [% of channels not read out]")
    ax.set_ylabel(rf"$\sigma_E/E$ at {energy} GeV [%]")
    ax.set_title("Resolution vs readout budget")
    return _finish(fig, ax, path)


def plot_pmt(res: dict[str, Any], path: Path) -> Path:
    rows = res.get("pmt") or {}
    if not rows:
        return path
    names = list(rows)
    figs = (("vertex_res_cm", "vertex resolution [cm]", 1), ("energy_res", r"$\sigma_E/E$ at Q [%]", 100),
            ("rejection_at_90", r"$^{10}$C rejection at 90 % 0$\nu\beta\beta$ acceptance [%]", 100))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, (k, lab, f) in zip(axes, figs):
        ax.bar(range(len(names)), [f * rows[m][k] for m in names], color=[COLORS.get(m, "gray") for m in names])
        ax.set_xticks(range(len(names)), names, rotation=40, fontsize=8)
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3, axis="y")
    red = res["pmt_setup"]["reduction"]
    fig.suptitle(f"PMT readout at {100 * red:.0f} % fewer tubes ({res['pmt_setup']['preset']}, XGBoost floor)")
    save(fig, path)
    return path


def plot_all(res: dict[str, Any], masks: dict[str, np.ndarray], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [plot_sigma_vs_energy(res, out_dir / "ecal_sigma_vs_energy.png"),
             plot_degradation(res, out_dir / "ecal_degradation.png"),
             plot_masks(res, masks, out_dir / "ecal_masks.png")]
    if res.get("ecal_curve"):
        paths.append(plot_curve(res, out_dir / "ecal_curve.png"))
    if res.get("pmt"):
        paths.append(plot_pmt(res, out_dir / "pmt_readout.png"))
    return [p for p in paths if p.exists()]
