"""``scintnet validate-muons``: the stream's muon and neutron figures next to their references.

From a stream file (``scintnet stream``), muon model v2 (:mod:`scintnet.sim.stream.muons`):

* mean muon energy at the detector — KamLAND 260 ± 8 GeV (PRC 81, 025807);
* neutron yield per muon and g/cm² of LS track, of all captures in the LS (truth) and of the detected
  ones — KamLAND (2.8 ± 0.3)e-4 n/(μ g/cm²), which is corrected for efficiency and the buffer;
* the power α of the neutron yield vs muon energy, fitted on the stream's muons binned in energy —
  0.75 ± 0.02 from the global fit of underground sites (JNE, arXiv:2108.04010);
* showering fraction (light beyond minimum ionisation above ``showering_dq_MeV``), neutron
  multiplicity vs that light (ΔQ), the lateral distance of capture vertices from the track in ΔQ
  classes, the capture-vertex resolution (reconstructed − true, per axis) — reference
  13.7 cm/√(2.2246) = 9.2 cm (talk 001), and the share of neutrons lost to the post-muon dead time.

No published KamLAND figure of the lateral distribution or of the multiplicity vs shower energy could
be read here (offline); their values are reported for comparison when one is at hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io.stream import EVENT_TYPES, Stream
from ..plotting import pyplot, save
from ..sim.stream import muons as muphys

REF_MEAN_ENERGY_GEV = (260.0, 8.0)  # KamLAND, PRC 81, 025807 (2010)
REF_NEUTRON_YIELD = (2.8e-4, 0.3e-4)  # n / (mu g/cm2), same paper
REF_ENERGY_POWER = (0.75, 0.02)  # JNE, arXiv:2108.04010 (global fit of the yield vs <E_mu>)
DQ_CLASSES_MEV = (0.0, 300.0, 3000.0, 30000.0, np.inf)  # ΔQ classes: <0.3, 0.3-3, 3-30, >30 GeV


def _track_distance_mm(p: np.ndarray, entry: np.ndarray, d: np.ndarray) -> np.ndarray:
    v = p - entry
    return np.linalg.norm(v - (v * d).sum(1)[:, None] * d, axis=1)


def muon_figures(stream: Stream, plot_dir: str | Path | None = None) -> dict[str, Any]:
    """Figures of the muons and their neutrons in ``stream`` (see the module docstring)."""
    mu, ev, cfg = stream.muons, stream.events, stream.config
    if "energy_GeV" not in mu:
        raise ValueError("this stream was written with the v1 muon model (no muon energies); regenerate it")
    m = cfg.muons
    n_mu = mu["t_s"].size
    if n_mu < 1000:
        raise ValueError(f"only {n_mu} muons in the stream; validate-muons needs >= 1000 (a few hours of stream)")
    E = mu["energy_GeV"].astype(np.float64)
    X = mu["length_mm"].astype(np.float64) / 10.0 * muphys.LS_DENSITY_G_CM3
    dq = mu["dq_MeV"].astype(np.float64)
    nsel = np.isin(ev["type"], [EVENT_TYPES["neutron"], EVENT_TYPES["ncap_xe136"]]) & (ev["muon"] >= 0)
    nid = np.flatnonzero(nsel)
    owner = ev["muon"][nid]
    det = ev["detected"][nid] == 1
    n_all = np.bincount(owner, minlength=n_mu)
    n_det = np.bincount(owner[det], minlength=n_mu)
    # only cosmic muons (parents injected with isotopes are biased to showers): those with no isotope child
    iso = np.isin(ev["type"], [EVENT_TYPES["spall_xe"], EVENT_TYPES["spall_c10"]]) & (ev["muon"] >= 0)
    cosmic = np.ones(n_mu, bool)
    cosmic[ev["muon"][iso]] = False
    # yield vs energy: log-spaced bins, slope of log(mean yield) vs log(mean E) over 30 GeV - 3 TeV
    edges = np.geomspace(30.0, 3000.0, 9)
    Eb, Yb, Yerr = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        s = cosmic & (E >= lo) & (E < hi)
        if s.sum() < 200 or n_all[s].sum() < 20:
            continue
        Eb.append(float(E[s].mean()))
        Yb.append(float(n_all[s].sum() / X[s].sum()))
        # neutrons come in bursts (one shower, many captures): the error is over muons, not captures
        Yerr.append(float(np.sqrt((n_all[s] ** 2).sum()) / X[s].sum()))
    if len(Eb) >= 3:
        w = (np.asarray(Yb) / np.asarray(Yerr)) ** 2  # weights 1/var of log Y
        alpha, _ = np.polyfit(np.log(Eb), np.log(Yb), 1, w=np.sqrt(w))
    else:
        alpha = float("nan")
    # lateral distance (reconstructed capture vertex to the true track) per ΔQ class
    lat = _track_distance_mm(ev["pos_mm"][nid].astype(np.float64), mu["entry_mm"][owner].astype(np.float64),
                             mu["dir"][owner].astype(np.float64))
    classes = []
    for lo, hi in zip(DQ_CLASSES_MEV[:-1], DQ_CLASSES_MEV[1:], strict=True):
        sm = cosmic & (dq >= lo) & (dq < hi)
        sn = det & sm[owner]
        q = np.percentile(lat[sn], [50, 68, 90]) if sn.sum() >= 10 else [float("nan")] * 3
        classes.append({"dq_GeV": [lo / 1e3, hi / 1e3], "muon_fraction": float(sm.mean()),
                        "mean_detected_neutrons": float(n_det[sm].mean()) if sm.any() else float("nan"),
                        "fraction_with_neutron": float((n_det[sm] > 0).mean()) if sm.any() else float("nan"),
                        "lateral_median_mm": float(q[0]), "lateral_68_mm": float(q[1]), "lateral_90_mm": float(q[2]),
                        "n_neutrons": int(sn.sum())})
    d = (ev["pos_mm"][nid] - ev["true_pos_mm"][nid]).astype(np.float64)
    res_mm = float(np.std(d[det])) if det.sum() > 10 else float("nan")
    dt = ev["t_s"][nid] - mu["t_s"][owner]
    dead = muphys.dead_time_s(cfg.neutrons, mu["showering"][owner])
    shw = mu["showering"][owner] == 1
    figs: dict[str, Any] = {
        "n_muons": int(n_mu), "days": stream.days,
        "mean_energy_GeV": float(E[cosmic].mean()), "mean_energy_model_GeV": muphys.mean_energy_GeV(m),
        "reference_mean_energy_GeV": list(REF_MEAN_ENERGY_GEV),
        "neutron_yield_per_g_cm2_all": float(n_all[cosmic].sum() / X[cosmic].sum()),
        "neutron_yield_per_g_cm2_detected": float(n_det[cosmic].sum() / X[cosmic].sum()),
        "reference_neutron_yield_per_g_cm2": list(REF_NEUTRON_YIELD),
        "neutron_energy_power": float(alpha), "reference_neutron_energy_power": list(REF_ENERGY_POWER),
        "yield_vs_energy": {"E_GeV": Eb, "yield_per_g_cm2": Yb, "err": Yerr},
        "showering_fraction": float(mu["showering"][cosmic].mean()),
        "showering_dq_MeV": m.showering_dq_MeV,
        "fraction_with_detected_neutron": float((n_det[cosmic] > 0).mean()),
        "neutron_share_from_showering_muons": float(n_all[cosmic & (mu["showering"] == 1)].sum() / max(n_all[cosmic].sum(), 1)),
        "dq_classes": classes,
        "capture_vertex_resolution_mm": res_mm,
        "reference_capture_vertex_resolution_mm": cfg.response.vertex_resolution_mm / np.sqrt(cfg.neutrons.capture_gamma_MeV),
        "dead_time_loss_showering": float((dt[shw] <= dead[shw]).mean()) if shw.any() else float("nan"),
        "dead_time_loss_nonshowering": float((dt[~shw] <= dead[~shw]).mean()) if (~shw).any() else float("nan"),
        "deadtime_free": cfg.neutrons.deadtime_free,
        "detected_fraction_showering": float(det[shw].mean()) if shw.any() else float("nan"),
        "detected_fraction_nonshowering": float(det[~shw].mean()) if (~shw).any() else float("nan"),
    }
    if plot_dir is not None:
        figs["plots"] = muon_plots(stream, figs, E[cosmic], lat, det, owner, dq, cosmic, Path(plot_dir))
    return figs


def muon_plots(stream: Stream, figs: dict[str, Any], E_cosmic: np.ndarray, lat: np.ndarray, det: np.ndarray,
               owner: np.ndarray, dq: np.ndarray, cosmic: np.ndarray, out_dir: Path) -> list[str]:
    plt = pyplot()
    m = stream.config.muons
    fig, ax = plt.subplots(2, 2, figsize=(11, 8.5))
    # (a) energy spectrum with the model density
    a = ax[0, 0]
    bins = np.geomspace(1, 1e4, 50)
    a.hist(E_cosmic, bins=bins, histtype="step", lw=1.5, label="stream muons")
    x = np.sqrt(bins[1:] * bins[:-1])
    eps = muphys.effective_epsilon_GeV(m)
    dens = (m.spectrum_index - 1) / eps * (1 + x / eps) ** (-m.spectrum_index)
    a.plot(x, dens * np.diff(bins) * E_cosmic.size, "k--", lw=1, label="PDG underground spectrum")
    a.axvline(REF_MEAN_ENERGY_GEV[0], color="C3", ls=":", label=f"KamLAND mean {REF_MEAN_ENERGY_GEV[0]:.0f} GeV")
    a.axvline(figs["mean_energy_GeV"], color="C0", ls=":", label=f"stream mean {figs['mean_energy_GeV']:.0f} GeV")
    a.set(xscale="log", yscale="log", xlabel="muon energy at KamLAND [GeV]", ylabel="muons / bin",
          title="(a) muon energy")
    a.legend(fontsize=8)
    # (b) neutron yield vs energy with the E^0.75 law
    a = ax[0, 1]
    yv = figs["yield_vs_energy"]
    if yv["E_GeV"]:
        a.errorbar(yv["E_GeV"], yv["yield_per_g_cm2"], yerr=yv["err"], fmt="o", label="stream (all captures)")
        e = np.asarray(yv["E_GeV"])
        y0 = np.asarray(yv["yield_per_g_cm2"])
        ref = y0[len(y0) // 2] * (e / e[len(e) // 2]) ** REF_ENERGY_POWER[0]
        a.plot(e, ref, "k--", lw=1, label=r"$\propto E^{0.75}$ (JNE global fit)")
    a.errorbar([REF_MEAN_ENERGY_GEV[0]], [REF_NEUTRON_YIELD[0]], xerr=[REF_MEAN_ENERGY_GEV[1]],
               yerr=[REF_NEUTRON_YIELD[1]], fmt="s", color="C3", label="KamLAND (2.8 ± 0.3)e-4")
    a.set(xscale="log", yscale="log", xlabel="muon energy [GeV]", ylabel=r"neutrons / ($\mu$ g cm$^{-2}$)",
          title=f"(b) neutron yield, fitted power {figs['neutron_energy_power']:.2f}")
    a.legend(fontsize=8)
    # (c) lateral distance by ΔQ class
    a = ax[1, 0]
    lb = np.linspace(0, 3000, 61)
    for c, (lo, hi) in enumerate(zip(DQ_CLASSES_MEV[:-1], DQ_CLASSES_MEV[1:], strict=True)):
        s = det & cosmic[owner] & (dq[owner] >= lo) & (dq[owner] < hi)
        if s.sum() < 10:
            continue
        lab = f"ΔQ {lo / 1e3:g}–{hi / 1e3:g} GeV" if np.isfinite(hi) else f"ΔQ > {lo / 1e3:g} GeV"
        a.hist(lat[s], bins=lb, histtype="step", density=True, lw=1.3, color=f"C{c}", label=lab)
    a.set(yscale="log", xlabel="capture vertex to muon track [mm]", ylabel="density [1/mm]",
          title="(c) lateral distance of detected neutrons")
    a.legend(fontsize=8)
    # (d) an example reconstructed light profile of a showering muon
    a = ax[1, 1]
    mu = stream.muons
    po = mu["profile_offsets"]
    cand = np.flatnonzero(cosmic & (mu["showering"] == 1) & (np.diff(po) > 0))
    if cand.size:
        k = int(cand[np.argmax(dq[cand] < 3e4)]) if (dq[cand] < 3e4).any() else int(cand[0])
        w = stream.config.response.muon_profile_bin_mm
        prof = mu["profile_MeV"][po[k]:po[k + 1]]
        s = (np.arange(prof.size) + 0.5) * w
        a.step(s / 1e3, prof / w, where="mid", label="reconstructed light profile")
        so = mu["shower_offsets"]
        for j in range(so[k], so[k + 1]):
            a.axvline(mu["shower_s_mm"][j] / 1e3, color="C3", ls=":", lw=1)
        a.axhline(m.dedx_MeV_per_mm, color="k", ls="--", lw=1, label="minimum ionising")
        a.set(yscale="log", xlabel="distance along the track [m]", ylabel="light [MeV/mm]",
              title=f"(d) showering muon, ΔQ = {dq[k] / 1e3:.1f} GeV (true showers dotted)")
        a.legend(fontsize=8)
    fig.suptitle(f"Muon model v2 on a {stream.days:g}-day stream ({figs['n_muons']} muons)")
    return [save(fig, out_dir / "muons.png")]
