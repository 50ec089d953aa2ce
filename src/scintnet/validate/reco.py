"""``scintnet validate-reco``: reconstruction figures next to the published KamLAND-Zen ones.

* vertex resolution (per-axis Gaussian core) and bias vs energy (electron guns, 0.5–5 MeV)
  and vs radius (2.5 MeV), 0nbb at Q — reference 13.7 cm/sqrt(E) (talk shared/seeds/001);
* energy resolution and linearity vs energy, 0nbb at Q — reference 6.7 %/sqrt(E);
* mean occupied cells of the 28x38x38 map of the fast tubes for 0nbb — reference ~350
  (KamNet paper sec. VI).
All events are independent of the calibration events (different seeds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..detector.config import DetectorConfig
from ..features.maps import PAPER_MAP, occupied_cells, proper_times, select_pmts
from ..physics.double_beta import Q_XE136_MEV
from ..reco.calibrate import reconstructor_for
from .common import gaussian_core, simulate_events

REF_ENERGY_RES_SQRT = 0.067  # sigma_E/E * sqrt(E/MeV), talk 001
REF_VERTEX_RES_SQRT_CM = 13.7  # cm * sqrt(E/MeV), talk 001
REF_OCCUPIED_CELLS = 350.0  # KamNet paper sec. VI
ENERGIES_MEV = (0.5, 1.0, 2.0, 3.0, 5.0)
RADII_MM = (0.0, 800.0, 1200.0, 1500.0, 1800.0)


def _vertex_stats(rec: dict, true_mm: np.ndarray) -> tuple[float, float, float]:
    """(per-axis core resolution, mean per-axis bias, radial bias) in cm."""
    ok = rec["valid"]
    d = rec["vertex_mm"][ok] - true_mm[ok]
    res = [gaussian_core(d[:, k]) for k in range(3)]
    dr = np.linalg.norm(rec["vertex_mm"][ok], axis=1) - np.linalg.norm(true_mm[ok], axis=1)
    return (float(np.mean([s for _, s in res]) / 10), float(np.mean([m for m, _ in res]) / 10),
            float(gaussian_core(dr)[0] / 10))


def validate_reco(cfg: DetectorConfig, n_events: int = 1000, seed: int = 1, workers: int = 1,
                  plot_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    step = log or (lambda m: None)
    rec = reconstructor_for(cfg, workers=workers, log=step)
    pm = rec.pmts
    step("0nbb events in R < 157 cm")
    ch = simulate_events(cfg, cfg.name, "Xe136_0vbb", n_events, seed, vertex="sphere:1570", workers=workers)
    r = rec(ch)
    ok = r["valid"]
    e_m, e_s = gaussian_core(r["energy_MeV"][ok])
    vres, vbias, rbias = _vertex_stats(r, ch.vertex_mm)
    fast = pm.tts_sigma_ns == pm.tts_sigma_ns.min()
    chf = select_pmts(ch, fast)
    vtx = np.nan_to_num(r["vertex_mm"])
    cells = occupied_cells(chf, proper_times(chf, pm.pos_mm, vtx, rec.v), pm.pos_mm, PAPER_MAP)[ok]
    out: dict[str, Any] = {
        "preset": cfg.name, "n_events": int(n_events), "valid_fraction_0vbb": float(ok.mean()),
        "vertex_resolution_cm_at_q": vres, "vertex_resolution_cm_at_q_ref": REF_VERTEX_RES_SQRT_CM / np.sqrt(Q_XE136_MEV),
        "vertex_bias_cm_at_q": vbias, "vertex_radial_bias_cm_at_q": rbias,
        "energy_resolution_at_q": e_s / e_m, "energy_resolution_at_q_ref": REF_ENERGY_RES_SQRT / np.sqrt(Q_XE136_MEV),
        "energy_peak_0vbb_MeV": e_m,
        "mean_occupied_cells_0vbb": float(cells.mean()), "mean_occupied_cells_0vbb_ref": REF_OCCUPIED_CELLS,
    }
    step("electron guns 0.5-5 MeV")
    by_e: dict[str, dict[str, float]] = {}
    for i, E in enumerate(ENERGIES_MEV):
        c = simulate_events(cfg, cfg.name, "electron", max(n_events // 2, 100), seed + 10 + i, vertex="sphere:1570",
                            energy_MeV=E, workers=workers)
        rr = rec(c)
        m, s = gaussian_core(rr["energy_MeV"][rr["valid"]])
        vr, vb, rb = _vertex_stats(rr, c.vertex_mm)
        by_e[f"{E:g}"] = {"energy_mean_MeV": m, "linearity": m / E, "energy_resolution": s / m,
                          "vertex_resolution_cm": vr, "vertex_bias_cm": vb, "radial_bias_cm": rb}
    E = np.array(ENERGIES_MEV)
    out["vs_energy"] = by_e
    # one-parameter fits a/sqrt(E) (least squares in the relative sense)
    vr = np.array([by_e[f"{x:g}"]["vertex_resolution_cm"] for x in E])
    er = np.array([by_e[f"{x:g}"]["energy_resolution"] for x in E])
    out["vertex_resolution_cm_sqrtE"] = float(np.mean(vr * np.sqrt(E)))
    out["energy_resolution_percent_sqrtE"] = float(100 * np.mean(er * np.sqrt(E)))
    out["linearity_max_deviation"] = float(max(abs(by_e[k]["linearity"] - 1) for k in by_e))
    step("2.5 MeV electrons vs radius")
    c = simulate_events(cfg, cfg.name, "electron", 2 * n_events, seed + 50, vertex="sphere:1900", energy_MeV=2.5,
                        workers=workers)
    rr = rec(c)
    rt = np.linalg.norm(c.vertex_mm, axis=1)
    by_r = {}
    for a, b in zip(RADII_MM[:-1], RADII_MM[1:]):
        s = (rt >= a) & (rt < b)
        sub = {k: v[s] for k, v in rr.items()}
        vr_, vb_, rb_ = _vertex_stats(sub, c.vertex_mm[s])
        m, sg = gaussian_core(sub["energy_MeV"][sub["valid"]])
        by_r[f"{a:g}-{b:g}"] = {"n": int(s.sum()), "vertex_resolution_cm": vr_, "radial_bias_cm": rb_,
                                "energy_scale": m / 2.5, "energy_resolution": sg / m}
    out["vs_radius_mm"] = by_r
    if plot_dir is not None:
        step("plots")
        out["plots"] = _plots(out, Path(plot_dir))
    return out


def _plots(res: dict[str, Any], d: Path) -> list[str]:
    from ..plotting import pyplot, save

    plt = pyplot()

    d.mkdir(parents=True, exist_ok=True)
    files = []
    E = np.array([float(k) for k in res["vs_energy"]])
    ve = res["vs_energy"]
    ee = np.linspace(0.4, 5.5, 100)
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    ax[0].plot(E, [ve[k]["vertex_resolution_cm"] for k in ve], "o", label="scintnet (e- guns)")
    ax[0].plot(ee, REF_VERTEX_RES_SQRT_CM / np.sqrt(ee), label="KamLAND-Zen 13.7 cm/sqrt(E)")
    ax[0].set(xlabel="energy [MeV]", ylabel="vertex resolution per axis [cm]")
    ax[1].plot(E, [100 * ve[k]["energy_resolution"] for k in ve], "o", label="scintnet")
    ax[1].plot(ee, 100 * REF_ENERGY_RES_SQRT / np.sqrt(ee), label="KamLAND-Zen 6.7 %/sqrt(E)")
    ax[1].set(xlabel="energy [MeV]", ylabel="sigma_E / E [%]")
    ax[2].plot(E, [ve[k]["linearity"] for k in ve], "o")
    ax[2].axhline(1.0, color="k", lw=0.5)
    ax[2].set(xlabel="electron energy [MeV]", ylabel="reconstructed / true")
    for a in ax[:2]:
        a.legend()
    files.append(save(fig, d / "reco_vs_energy.png", dpi=110))
    vr = res["vs_radius_mm"]
    mid = [np.mean([float(x) for x in k.split("-")]) / 10 for k in vr]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(mid, [vr[k]["vertex_resolution_cm"] for k in vr], "o-", label="resolution")
    ax[0].plot(mid, [vr[k]["radial_bias_cm"] for k in vr], "s-", label="radial bias")
    ax[0].set(xlabel="true radius [cm]", ylabel="[cm]", title="2.5 MeV electrons")
    ax[0].legend()
    ax[1].plot(mid, [vr[k]["energy_scale"] for k in vr], "o-")
    ax[1].set(xlabel="true radius [cm]", ylabel="reconstructed / true energy")
    files.append(save(fig, d / "reco_vs_radius.png", dpi=110))
    return files
