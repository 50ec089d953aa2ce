"""The figure of the accelerator-toy benchmark: mode collapse of the plain GAN and its cure in latent space."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot, save
from .gan import AccelBenchResult


def pca_basis(x: np.ndarray, n: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, the first ``n`` principal axes as rows, their explained-variance fractions) of the rows of ``x``."""
    mean = x.mean(axis=0)
    _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:n], (sv[:n] ** 2) / np.sum(sv ** 2)


def plot_bench(result: AccelBenchResult, path: str | Path, max_points: int = 1500) -> str:
    """Three scatter panels in the plane of the real settings' first two principal components (standardized
    settings; real, plain GAN, latent GAN, mode centres marked) and the mode-occupancy bars; writes ``path``."""
    plt = pyplot()
    mean, axes, frac = pca_basis(result.real_settings_std)
    s = result.summary
    panels = [("real operating history (held out)", result.real_settings_std, "0.35", None),
              ("plain GAN", result.plain_settings_std, "tab:orange", s["plain_gan"]),
              ("VAE + latent-space GAN", result.latent_settings_std, "tab:blue", s["latent_gan"])]
    fig, ax = plt.subplots(1, 4, figsize=(15, 3.9), gridspec_kw={"width_ratios": [1, 1, 1, 1.25]})
    c = (result.centres_std - mean) @ axes.T
    real_p = (result.real_settings_std - mean) @ axes.T
    lim_lo, lim_hi = real_p.min(axis=0), real_p.max(axis=0)
    pad = 0.15 * (lim_hi - lim_lo)
    for a, (title, x, colour, res) in zip(ax[:3], panels):
        p = (x[:max_points] - mean) @ axes.T
        if res is not None:  # the real sample in the background, for comparison
            a.scatter(real_p[:max_points, 0], real_p[:max_points, 1], s=3, c="0.85", lw=0, label="real")
        a.scatter(p[:, 0], p[:, 1], s=3, c=colour, lw=0, alpha=0.7, label="generated" if res else "real")
        # rings, not crosses: a mode's real samples sit inside its ring and stay visible
        a.scatter(c[:, 0], c[:, 1], marker="o", s=110, facecolors="none", edgecolors="k", lw=1, label="mode centres")
        for k, (u, v) in enumerate(c):
            a.annotate(str(k), (u, v), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if res is not None:
            title += (f"\nmodes recovered {res['modes_recovered_fraction']:.2f}, "
                      f"classifier AUC {res['classifier_auc']:.3f}")
        a.set_title(title)
        a.set_xlim(lim_lo[0] - pad[0], lim_hi[0] + pad[0])
        a.set_ylim(lim_lo[1] - pad[1], lim_hi[1] + pad[1])
        a.set_xlabel(f"PC 1 of standardized settings ({100 * frac[0]:.0f} % var.)")
        a.set_ylabel(f"PC 2 ({100 * frac[1]:.0f} % var.)")
        leg = a.legend(loc="best")
        for h in leg.legend_handles[:-1]:  # the 3-point samples, enlarged in the legend only
            h.set_sizes([25])
    n_modes = result.centres_std.shape[0]
    idx = np.arange(n_modes + 1)
    occ = [("real", np.asarray(result.real_occupancy), "0.35"),
           ("plain GAN", np.r_[s["plain_gan"]["mode_occupancy"], s["plain_gan"]["off_mode_fraction"]], "tab:orange"),
           ("latent GAN", np.r_[s["latent_gan"]["mode_occupancy"], s["latent_gan"]["off_mode_fraction"]],
            "tab:blue")]
    w = 0.27
    for j, (label, v, colour) in enumerate(occ):
        ax[3].bar(idx + (j - 1) * w, v, width=w, color=colour, label=label)
    ax[3].step(np.r_[idx[:-1] - 0.5, n_modes - 0.5], np.r_[result.weights, result.weights[-1]], where="post",
               c="k", lw=1, ls="--", label="expected share")
    ax[3].set_xticks(idx, [str(k) for k in range(n_modes)] + ["off"])
    ax[3].set_xlabel("operating mode (nearest centre)")
    ax[3].set_ylabel("fraction of samples")
    ax[3].set_title("mode occupancy")
    ax[3].set_ylim(0, 1.3 * max(max(v.max() for _, v, _ in occ), result.weights.max()))
    ax[3].legend(loc="upper center", ncol=2)
    fig.suptitle(f"GAN simulators of a toy linac (Cheetah, {result.centres_std.shape[1]} magnet settings, "
                 f"{n_modes} operating modes, seed {s['seed']})", y=1.0)
    return save(fig, path, bbox_inches="tight")
