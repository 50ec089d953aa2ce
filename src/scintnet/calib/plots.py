"""Plots of the calibration benchmark: recovered vs injected per tube, residual maps on the sphere."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot, save
from .samples import PMTParams
from .scores import live_tubes

LABELS = {"qe": ("QE", 1.0), "time_offset_ns": ("time offset [ns]", 1.0), "tts_sigma_ns": ("TTS σ [ns]", 1.0),
          "spe_sigma": ("single-p.e. width σ_q [p.e.]", 1.0), "dark_rate_hz": ("dark rate [kHz]", 1e-3)}
COLORS = {"nominal": "0.6", "moments": "tab:orange", "response": "tab:blue", "gan": "tab:green"}


def plot_recovered(params: dict[str, PMTParams], truth: PMTParams, nominal: PMTParams, path: str | Path,
                   scores: dict[str, dict] | None = None) -> str:
    """Recovered against injected value per live tube, one panel per parameter, one colour per method."""
    plt = pyplot()
    live = live_tubes(truth, nominal)
    fig, axes = plt.subplots(1, 5, figsize=(19, 4.2))
    for ax, (name, (label, scale)) in zip(axes, LABELS.items()):
        b = np.asarray(getattr(truth, name))[live] * scale
        for method, p in params.items():
            if method == "nominal":
                continue
            a = np.asarray(getattr(p, name))[live] * scale
            if name == "time_offset_ns":
                a, b0 = a - a.mean(), b - b.mean()
            else:
                b0 = b
            key = {"qe": "qe", "time_offset_ns": "time_offset", "tts_sigma_ns": "tts", "spe_sigma": "spe",
                   "dark_rate_hz": "dark_rate"}[name] + "_rms_over_spread"
            sc = (scores or {}).get(method, {}).get(key)
            ax.scatter(b0, a, s=2, alpha=0.35, color=COLORS.get(method), rasterized=True,
                       label=f"{method}" + (f" (RMS/spread {sc:.2f})" if sc is not None else ""))
        lo, hi = np.percentile(b0, [0, 100])
        ax.plot([lo, hi], [lo, hi], color="k", lw=1, label="recovered = injected")
        ax.set_xlabel(f"injected {label}")
        ax.set_ylabel(f"recovered {label}")
        if name == "dark_rate_hz":
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.legend(fontsize=7, markerscale=4, loc="upper left")
    fig.suptitle("Per-tube calibration from background data: recovered vs injected (live tubes; "
                 "offsets about their average)")
    return save(fig, path)


def plot_residual_map(params: PMTParams, truth: PMTParams, nominal: PMTParams, pos_mm: np.ndarray,
                      path: str | Path, method: str) -> str:
    """QE and time-offset residuals (recovered - injected, in units of the injected spread) on the sphere."""
    plt = pyplot()
    x, y, z = (pos_mm / np.linalg.norm(pos_mm, axis=1, keepdims=True)).T
    lon, lat = np.arctan2(y, x), np.arcsin(np.clip(z, -1, 1))
    live = live_tubes(truth, nominal)
    fig = plt.figure(figsize=(13, 4.2))
    for k, (name, label) in enumerate((("qe", "QE"), ("time_offset_ns", "time offset"))):
        a, b, c = (np.asarray(getattr(p, name), float) for p in (params, truth, nominal))
        if name == "time_offset_ns":
            a, b = a - a[live].mean(), b - b[live].mean()
        spread = np.sqrt(np.mean((b - c)[live] ** 2))
        ax = fig.add_subplot(1, 2, k + 1, projection="mollweide")
        sc = ax.scatter(lon[live], lat[live], c=((a - b) / spread)[live], s=9, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.scatter(lon[~live], lat[~live], marker="x", s=16, color="k", label="dead / hot tube")
        ax.set_title(f"{method}: {label} residual / injected spread")
        ax.grid(True, alpha=0.3)
        ax.set_xticklabels([])
        fig.colorbar(sc, ax=ax, orientation="horizontal", fraction=0.05, pad=0.05,
                     label="(recovered − injected) / RMS(injected − nominal)")
        ax.legend(loc="lower right", fontsize=7)
    return save(fig, path)
