"""Figures: Δχ² curve, fitted spectrum with stacked backgrounds (article Fig. 9) and ⟨mββ⟩ vs the
lightest neutrino mass with the NO/IO bands and one limit line per NME (article Fig. 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot, save
from . import conversions as cv


def plot_delta_chi2(grid: np.ndarray, dchi2: np.ndarray, path: Path, threshold: float = 2.706,
                    fc_crit: np.ndarray | None = None, fc_grid: np.ndarray | None = None, xlabel: str = "0νββ decays") -> Path:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(grid, dchi2, "k-", label="profile Δχ²")
    ax.axhline(threshold, color="C3", ls="--", label=f"Wilks 90 % ({threshold:.2f})")
    if fc_crit is not None:
        ax.plot(fc_grid, fc_crit, "C0o-", ms=3, label="FC critical Δχ² (toys)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Δχ²")
    ax.legend(frameon=False)
    return Path(save(fig, path, dpi=120, tight=False, bbox_inches="tight"))


def plot_spectrum(lik, params: np.ndarray, energy_edges: np.ndarray, path: Path, dataset: int = 0,
                  volume_bins: slice | None = None, title: str = "") -> Path:
    """Data and stacked fitted components summed over the chosen volume bins of one dataset."""
    plt = pyplot()

    cc = lik.component_counts(params)  # (k, d, v, e[, s])
    data = lik.n.reshape(lik.shape)
    sel = volume_bins or slice(None)
    comp = cc[:, dataset][:, sel].sum(axis=1)  # (k, e[, s])
    d = data[dataset][sel].sum(axis=0)
    if comp.ndim == 3:  # classifier-score axis: project it out
        comp, d = comp.sum(axis=2), d.sum(axis=1)
    fig, ax = plt.subplots(figsize=(6, 4))
    centers = 0.5 * (energy_edges[1:] + energy_edges[:-1])
    order = np.argsort(-comp.sum(axis=1))
    bottom = np.zeros_like(centers)
    for k in order:
        ax.bar(centers, comp[k], width=np.diff(energy_edges), bottom=bottom, label=lik.rate_names[k], alpha=0.7,
               align="center")
        bottom = bottom + comp[k]
    ax.errorbar(centers, d, yerr=np.sqrt(d), fmt="k.", label="data")
    ax.set_yscale("log")
    ax.set_ylim(0.1, max(d.max(), bottom.max()) * 3)
    ax.set_xlabel("visible energy [MeV]")
    ax.set_ylabel("events / bin")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, frameon=False)
    return Path(save(fig, path, dpi=120, tight=False, bbox_inches="tight"))


def plot_mbb(halflife_yr: float, path: Path, nmes: dict[str, cv.NME] | None = None) -> Path:
    """⟨mββ⟩ vs the lightest mass: NO/IO bands and the limit line for every NME."""
    plt = pyplot()

    m0 = np.logspace(-4, 0, 300)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for order, col in (("NO", "C3"), ("IO", "C0")):
        lo, hi = cv.mbb_band(m0, order)
        ax.fill_between(m0, np.maximum(lo, 1e-4), hi, color=col, alpha=0.35, label=order)
    for i, (k, n) in enumerate((nmes or cv.NME_TABLE).items()):
        ax.axhline(cv.mbb_from_halflife(halflife_yr, n.value) * 1e-3, color=f"C{i + 2}", ls="--", lw=1,
                   label=f"{k} (M={n.value})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel("lightest neutrino mass [eV]")
    ax.set_ylabel("⟨mββ⟩ [eV]")
    ax.set_title(f"T½ > {halflife_yr:.2g} yr (90 % C.L.)")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return Path(save(fig, path, dpi=120, tight=False, bbox_inches="tight"))
