"""Plots of the simulation validation (PNG, one figure per file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..features.maps import proper_times
from ..physics import materials
from ..plotting import pyplot, save
from ..reco.energy import ExpectedCharge, visible_energy
from ..reco.vertex import centroid_scale, centroid_vertex
from .common import simulate_events

plt = pyplot()

SPECTRUM_SOURCES = [("Xe136_0vbb", "xels"), ("Xe136_2vbb", "xels"), ("Bi214", "xels"), ("Bi214", "film"),
                    ("C10", "xels"), ("Tl208", "xels")]


def sim_validation_plots(cfg, preset: str, pmts, ch, rec, tau, summary: dict[str, Any], out_dir: Path,
                         seed: int, workers: int, n_per_source: int = 1000) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    model = ExpectedCharge(cfg, pmts)
    scale = centroid_scale(model, pmts.pos_mm)
    v = cfg.scintillator.group_velocity_mm_per_ns

    # 1. reconstructed visible-energy spectra per source (centroid vertex for speed)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bins = np.linspace(0, 5.0, 101)
    taus = {}
    for k, (src, vtx) in enumerate(SPECTRUM_SOURCES):
        c = simulate_events(cfg, preset, src, n_per_source, seed + 100 + k, vertex=vtx, workers=workers)
        pos = centroid_vertex(c, pmts.pos_mm, scale)
        e = visible_energy(c.total_charge(), pos, model)
        ax.hist(e, bins=bins, histtype="step", density=True, label=f"{src} ({vtx})")
        if src in ("Xe136_0vbb", "C10") and vtx == "xels":
            taus[src] = proper_times(c, pmts.pos_mm, pos, v)
    ax.set_xlabel("reconstructed visible energy [MeV]")
    ax.set_ylabel("normalised events / bin")
    ax.set_title(f"{preset}: energy spectra ({n_per_source} events per source)")
    ax.legend(fontsize=8)
    files.append(save(fig, out_dir / "energy_spectra.png", dpi=120))

    # 2. proper hit-time profile: 0nbb vs 10C (o-Ps delay shows up in the tail)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    tb = np.arange(-20, 60.1, 1.5)
    for src, t in taus.items():
        ax.hist(t, bins=tb, histtype="step", density=True, label=src)
    ax.set_yscale("log")
    ax.set_xlabel("proper hit time tau [ns] (eq. 1, centroid vertex)")
    ax.set_ylabel("hits / bin (normalised)")
    ax.set_title(f"{preset}: hit-time profile")
    ax.legend()
    files.append(save(fig, out_dir / "hit_time_profile.png", dpi=120))

    # 3. radial distribution: true vs reconstructed (R/R_balloon)^3
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rb = 1570.0
    r_true = np.linalg.norm(ch.vertex_mm, axis=1) / rb
    r_rec = np.linalg.norm(rec["vertex_mm"], axis=1) / rb
    b = np.linspace(0, 1.3, 53)
    ax.hist(r_true**3, bins=b, histtype="step", label="true")
    ax.hist(r_rec**3, bins=b, histtype="step", label="reconstructed (time fit)")
    ax.set_xlabel("(R / 157 cm)^3")
    ax.set_ylabel("events / bin")
    ax.set_title(f"{preset}: 0nbb vertex radial distribution")
    ax.legend()
    files.append(save(fig, out_dir / "radial_distribution.png", dpi=120))

    # 4. vertex residuals
    fig, ax = plt.subplots(figsize=(7, 4.5))
    d = (rec["vertex_mm"] - ch.vertex_mm) / 10.0
    for k, name in enumerate("xyz"):
        ax.hist(d[:, k], bins=np.linspace(-50, 50, 101), histtype="step", label=name)
    ax.set_xlabel("reconstructed - true vertex [cm]")
    ax.set_title(f"{preset}: vertex residuals, sigma = {summary['vertex_resolution_cm_at_q']:.1f} cm "
                 f"(ref {summary['vertex_resolution_cm_at_q_ref']:.1f})")
    ax.legend()
    files.append(save(fig, out_dir / "vertex_residuals.png", dpi=120))

    # 5. gamma attenuation length in LS vs reference points
    fig, ax = plt.subplots(figsize=(7, 4.5))
    e = np.logspace(-1, 1, 200)
    ax.plot(e, materials.attenuation_length_mm("LS", e) / 10.0, label="scintnet table (EPDL97)")
    ref = summary["attenuation_length_cm_ref"]
    ax.plot([float(k) for k in ref], list(ref.values()), "o", label="reference (numbers.md)")
    mc = summary["attenuation_length_cm_mc"]
    ax.plot([float(k) for k in mc], list(mc.values()), "x", ms=9, label="transport Monte Carlo")
    ax.set_xscale("log")
    ax.set_xlabel("gamma energy [MeV]")
    ax.set_ylabel("attenuation length in LS [cm]")
    ax.legend()
    files.append(save(fig, out_dir / "gamma_attenuation.png", dpi=120))
    return files


def optics_mode_plot(residuals: dict, ks: dict, fractions: dict, out_dir: Path) -> str:
    """Hit-time residuals of the production and reference optics modes (0nbb, centre and R = 150 cm)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(residuals), figsize=(11, 4.2), sharey=True)
    bins = np.arange(-10.0, 80.0, 0.5)
    for ax, (key, res) in zip(np.atleast_1d(axes), residuals.items()):
        for mode, style in (("reference", dict(color="k", lw=1.6)), ("production", dict(color="C1", lw=1.2, ls="--"))):
            ax.hist(res[mode], bins=bins, histtype="step", density=True, label=f"{mode} mode", **style)
        ax.set_yscale("log")
        ax.set_xlabel("first-hit time residual t - d / v_tof [ns]")
        ax.set_title(f"0νββ at {'the centre' if key == 'center' else 'R = 150 cm'}: KS = {ks[key]:.4f} (target < 0.02)")
    np.atleast_1d(axes)[0].set_ylabel("hits per ns (normalised)")
    np.atleast_1d(axes)[0].legend(title=", ".join(f"{k} {100 * v:.1f} %" for k, v in fractions.items()),
                                  title_fontsize=7, fontsize=8)
    return save(fig, out_dir / "optics_modes.png", dpi=120)
