"""Which PMTs to read out: vertex, energy and background rejection of a reduced KamLAND readout.

A readout pattern is a boolean mask over the tubes.  The tubes not read out are removed from the events
(their hits dropped) *and* from the reconstruction's light model (quantum efficiency and dark rate set to
0), so the energy scale stays right: a reconstruction that is not told would see only the kept tubes'
share of the light (about 0.66 of it at a 34 % reduction) and put the 0nbb peak near 1.6 MeV.  The
energy calibration of the full detector is kept: per tube nothing changes.

Figures per pattern, on 0nbb (signal) and 10C (background) events in the balloon:
``vertex_res_cm`` (per-axis Gaussian core, 0nbb), ``energy_res`` (sigma/E of the 0nbb peak), and
``rejection_at_90`` of the XGBoost floor on the time+moments features (``evaluate.floors``) retrained on
the masked events, at 90 % 0nbb acceptance in the 2-3 MeV window.  The selection methods of
``sparse.select`` run on the per-tube charges with the deposited energy as target; ``geometric`` adds
farthest-point sampling on the sphere (uniform coverage).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..metrics import bootstrap_metric, gaussian_core, rejection_at_acceptance

PMT_METHODS = ("full", "random", "geometric", "occupancy", "qr", "greedy", "learned")


@dataclass(frozen=True)
class PmtBenchConfig:
    preset: str = "klz400-fast"
    train_events: int = 4000  # per class
    test_events: int = 2000  # per class
    reduction: float = 0.34
    methods: tuple[str, ...] = PMT_METHODS
    seed: int = 1
    e_range_MeV: tuple[float, float] = (2.0, 3.0)
    r_max_mm: float = 1570.0  # the balloon (klz400-fast)
    epochs: int = 20  # learned selector


def charge_matrix(chunk, n_pmt: int) -> np.ndarray:
    """float32[n_events, n_pmt]: charge (p.e.) of each tube per event."""
    ev = np.repeat(np.arange(chunk.n_events), chunk.nhit())
    flat = np.bincount(ev * n_pmt + chunk.hit_pmt.astype(np.int64), weights=chunk.hit_charge_pe,
                       minlength=chunk.n_events * n_pmt)
    return flat.astype(np.float32).reshape(chunk.n_events, n_pmt)


def select_geometric(pos_mm: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Farthest-point sampling of ``k`` tubes on the sphere: the most uniform coverage for the budget."""
    d = pos_mm / np.linalg.norm(pos_mm, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(d)))]
    best = 1.0 - d @ d[chosen[0]]  # 1 - cos(angle) to the nearest chosen tube
    for _ in range(k - 1):
        j = int(np.argmax(best))
        chosen.append(j)
        best = np.minimum(best, 1.0 - d @ d[j])
    m = np.zeros(len(d), bool)
    m[chosen] = True
    return m


def masked_reconstructor(full, keep: np.ndarray):
    """A reconstructor for the tubes of ``keep`` only (same calibration, masked light model)."""
    from ..reco.pipeline import Reconstructor

    pm = full.pmts
    masked = dataclasses.replace(pm, qe=np.where(keep, pm.qe, 0.0), dark_rate_hz=np.where(keep, pm.dark_rate_hz, 0.0))
    return Reconstructor(full.cfg, masked, full.calibration)


def evaluate_mask(keep: np.ndarray, data: dict[str, Any], full, cfg: PmtBenchConfig, xgboost: bool = True) -> dict[str, float]:
    """Reconstruct the events with ``keep``'s tubes, retrain the floors, return the three figures."""
    from ..evaluate.floors import floor_figures, train_floors
    from ..features.dataset import event_set_from_chunk
    from ..features.maps import select_pmts

    rec = masked_reconstructor(full, keep)
    sets: dict[str, Any] = {}
    out: dict[str, float] = {"kept_pmts": int(keep.sum())}
    for key, (chunk, label) in data.items():
        ch = select_pmts(chunk, keep)
        r = rec(ch)
        rr = np.linalg.norm(np.nan_to_num(r["vertex_mm"], nan=np.inf), axis=1)
        sel = r["valid"] & (r["energy_MeV"] >= cfg.e_range_MeV[0]) & (r["energy_MeV"] < cfg.e_range_MeV[1]) \
            & (rr < cfg.r_max_mm)
        sets[key] = event_set_from_chunk(ch, r, label, key, rec.pmts, full.cfg, np.flatnonzero(sel))
        if key == "test_signal":
            ok = r["valid"]
            d = r["vertex_mm"][ok] - chunk.vertex_mm[ok]
            n_ok = max(int(ok.sum()), 1)
            out["vertex_res_cm"] = float(np.mean([gaussian_core(d[:, a])[1] for a in range(3)]) / 10)
            # error of a Gaussian width from N events, sigma / sqrt(2N) (three axes averaged: 3N)
            out["vertex_res_cm_err"] = out["vertex_res_cm"] / np.sqrt(6 * n_ok)
            m, s = gaussian_core(r["energy_MeV"][ok])
            out["energy_res"] = float(s / m)
            out["energy_res_err"] = out["energy_res"] / np.sqrt(2 * n_ok)
            out["energy_peak_MeV"] = float(m)
            out["valid_fraction"] = float(ok.mean())
    floors = train_floors(sets["train_signal"], sets["train_background"], "time+moments", seed=cfg.seed,
                          xgboost=xgboost)
    figs = floor_figures(floors, sets["test_signal"], sets["test_background"])
    main = "xgboost" if "xgboost" in figs else "linear"
    out["rejection_at_90"] = float(figs[main]["rejection_at_90"])
    ss, sb = floors.scores(sets["test_signal"])[main], floors.scores(sets["test_background"])[main]
    out["rejection_at_90_err"] = bootstrap_metric(ss, sb, rejection_at_acceptance, n_boot=200, seed=cfg.seed)[1]
    out["test_events_selected"] = [len(sets["test_signal"]), len(sets["test_background"])]
    out["rejection_at_90_floor"] = main
    out["rejection_at_90_linear"] = float(figs["linear"]["rejection_at_90"])
    return out


def pmt_bench(cfg: PmtBenchConfig = PmtBenchConfig(), log: Callable[[str], None] | None = None,
              xgboost: bool = True, cache_dir=None) -> dict[str, Any]:
    """Every method of ``cfg.methods`` at ``cfg.reduction`` on freshly simulated 0nbb / 10C events.

    ``cache_dir``: where the energy calibration is cached (default: the user cache).
    """
    from ..detector.config import load_config
    from ..reco.calibrate import reconstructor_for
    from ..sim.run import simulate_events
    from .select import n_keep, select, select_random
    from .regress import RegressorConfig

    step = log or (lambda m: None)
    det = load_config(cfg.preset)
    full = reconstructor_for(det, cache_dir=cache_dir, log=step)
    n_pmt = full.pmts.n
    k = n_keep(n_pmt, cfg.reduction)
    vertex = f"sphere:{cfg.r_max_mm:g}"
    data = {}
    t = time.perf_counter()
    for j, (key, src, n, label) in enumerate((("train_signal", "Xe136_0vbb", cfg.train_events, 1),
                                              ("train_background", "C10", cfg.train_events, 0),
                                              ("test_signal", "Xe136_0vbb", cfg.test_events, 1),
                                              ("test_background", "C10", cfg.test_events, 0))):
        data[key] = (simulate_events(det, det.name, src, n, cfg.seed * 100 + j, vertex=vertex), label)
    step(f"simulated {2 * (cfg.train_events + cfg.test_events)} events in {time.perf_counter() - t:.0f} s")
    tr = [data["train_signal"][0], data["train_background"][0]]
    x = np.concatenate([charge_matrix(c, n_pmt) for c in tr])
    y = np.concatenate([c.edep_MeV for c in tr]).astype(np.float64)
    live = y > 0.1
    x, y = x[live], y[live]
    methods: dict[str, Any] = {}
    for m in cfg.methods:
        t = time.perf_counter()
        if m == "full":
            keep = np.ones(n_pmt, bool)
        elif m == "geometric":
            keep = select_geometric(full.pmts.pos_mm, k, cfg.seed)
        elif m == "random":
            keep = select_random(x, y, k, cfg.seed)
        else:
            keep = select(m, x, y, k, cfg.seed, RegressorConfig(epochs=cfg.epochs))
        t_sel = time.perf_counter() - t
        row = evaluate_mask(keep, data, full, cfg, xgboost)
        row["select_s"] = t_sel
        row["seconds"] = time.perf_counter() - t
        methods[m] = row
        step(f"pmt {m:9s}: vertex {row['vertex_res_cm']:.1f} cm, sigma/E {100 * row['energy_res']:.2f} %, "
             f"rejection at 90 % {100 * row['rejection_at_90']:.1f} ± {100 * row['rejection_at_90_err']:.1f} % "
             f"({row['seconds']:.0f} s)")
    return {"preset": cfg.preset, "n_pmts": int(n_pmt), "kept": int(k), "reduction": cfg.reduction,
            "config": dataclasses.asdict(cfg), "methods": methods}
