"""The readout-reduction benchmark: every selection method at one data budget, on the ECAL and the PMTs.

``sigma_over_e`` of the ECAL is the RMS of E_hat/E of electrons at fixed energies, with bootstrap errors;
``degradation`` is sigma/sigma_full - 1, the figure seed 003's Table 1 makes comparable across definitions
(its "energy-calibration precision" is not sigma/E: it grows with energy).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .ecal import EcalConfig, simulate_showers
from .reference import SEED_003_DEGRADATION, SEED_003_TABLE1
from .regress import RegressorConfig, fit_calibration, fit_stochastic_constant, resolution
from .select import METHODS, n_keep, select

@dataclass(frozen=True)
class EcalBenchConfig:
    reduction: float = 0.34
    energies_GeV: tuple[float, ...] = (1.0, 2.5, 5.0, 10.0, 20.0)
    train_showers: int = 20000
    test_showers: int = 2000  # per energy
    train_e_range_GeV: tuple[float, float] = (0.5, 30.0)  # log-uniform, wider than the test energies
    methods: tuple[str, ...] = ("full",) + METHODS
    random_draws: int = 3
    epochs: int = 30
    seed: int = 1
    curve_reductions: tuple[float, ...] = ()  # e.g. (0.1, 0.2, ..., 0.8): the degradation curve
    curve_methods: tuple[str, ...] = ("random", "occupancy", "greedy", "learned")

    def __post_init__(self) -> None:
        if not 0 <= self.reduction < 1 or any(not 0 <= r < 1 for r in self.curve_reductions):
            raise ValueError("reductions must be in [0, 1)")
        if self.train_showers < 100 or self.test_showers < 20 or self.epochs < 1 or self.random_draws < 1:
            raise ValueError("need >= 100 training showers, >= 20 test showers per energy, >= 1 epoch and draw")
        bad = [m for m in self.methods + self.curve_methods if m not in ("full",) + METHODS]
        if bad:
            raise ValueError(f"unknown method(s) {bad}: choose from full, {', '.join(METHODS)}")
        lo, hi = self.train_e_range_GeV
        if not (0.05 <= lo < hi) or any(not lo <= e <= hi for e in self.energies_GeV):
            raise ValueError("test energies must lie inside the training range (>= 0.05 GeV)")


def _key(e: float) -> str:
    return f"{float(e):.1f}"


def ecal_data(ecal: EcalConfig, cfg: EcalBenchConfig) -> tuple[dict, dict]:
    """Training showers (log-uniform energies) and test showers at each fixed energy."""
    rng = np.random.default_rng(cfg.seed)
    lo, hi = cfg.train_e_range_GeV
    train = simulate_showers(ecal, np.exp(rng.uniform(np.log(lo), np.log(hi), cfg.train_showers)), seed=cfg.seed)
    test = {_key(e): simulate_showers(ecal, np.full(cfg.test_showers, e), seed=cfg.seed * 1000 + 1 + j)
            for j, e in enumerate(cfg.energies_GeV)}
    return train, test


def _score(mask, train, test, cfg: EcalBenchConfig, seed: int) -> dict[str, dict[str, float]]:
    x = train["signal_mip"].reshape(len(train["energy_GeV"]), -1)
    cal = fit_calibration(x, train["energy_GeV"], mask, seed, RegressorConfig(epochs=cfg.epochs))
    rows = {e: resolution(cal.predict_GeV(t["signal_mip"]), t["energy_GeV"], seed=seed) for e, t in test.items()}
    return {f: {e: r[f] for e, r in rows.items()} for f in ("sigma_over_e", "sigma_over_e_err", "bias", "bias_err")}


def _method(m: str, reduction: float, train, test, cfg: EcalBenchConfig, n_ch: int) -> dict[str, Any]:
    x = train["signal_mip"].reshape(len(train["energy_GeV"]), -1)
    k = n_ch if m == "full" else n_keep(n_ch, reduction)
    draws = cfg.random_draws if m == "random" else 1
    t = time.perf_counter()
    results, masks = [], []
    for d in range(draws):
        mask = np.ones(n_ch, bool) if m == "full" else select(m, x, train["energy_GeV"], k, cfg.seed + d,
                                                              RegressorConfig(epochs=cfg.epochs))
        masks.append(mask)
        results.append(_score(mask, train, test, cfg, cfg.seed))
    row: dict[str, Any] = {"kept": int(k), "seconds": time.perf_counter() - t}
    for f in ("sigma_over_e", "bias"):
        row[f] = {e: float(np.mean([r[f][e] for r in results])) for e in test}
        # error: the bootstrap error and, for random patterns, the spread between draws
        row[f + "_err"] = {e: float(np.sqrt(np.mean([r[f + "_err"][e] ** 2 for r in results])
                                            + (np.var([r[f][e] for r in results], ddof=1) if draws > 1 else 0.0)))
                           for e in test}
    if draws > 1:
        row["draws"] = [r["sigma_over_e"] for r in results]
    row["mask"] = masks[0]
    return row


def ecal_bench(ecal: EcalConfig = EcalConfig(), cfg: EcalBenchConfig = EcalBenchConfig(),
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """sigma/E and bias at each energy for every method at ``cfg.reduction`` (and the optional curve)."""
    step = log or (lambda m: None)
    t = time.perf_counter()
    train, test = ecal_data(ecal, cfg)
    step(f"ecal: simulated {cfg.train_showers} + {len(test)} x {cfg.test_showers} showers "
         f"({ecal.n_channels} channels) in {time.perf_counter() - t:.0f} s")
    n_ch = ecal.n_channels
    methods: dict[str, Any] = {}
    for m in cfg.methods:
        methods[m] = _method(m, cfg.reduction, train, test, cfg, n_ch)
        step(f"ecal {m:9s}: sigma/E " + ", ".join(f"{100 * methods[m]['sigma_over_e'][e]:.2f} % at {e} GeV"
                                                  for e in test) + f" ({methods[m]['seconds']:.0f} s)")
    if "full" in methods:
        ref = methods["full"]["sigma_over_e"]
        for m, row in methods.items():
            row["degradation"] = {e: row["sigma_over_e"][e] / ref[e] - 1 for e in test}
    energies = np.array([float(e) for e in test])
    for m, row in methods.items():
        try:
            row["fit"] = fit_stochastic_constant(energies, np.array(list(row["sigma_over_e"].values())),
                                                 np.array(list(row["sigma_over_e_err"].values())))
        except (RuntimeError, ValueError) as exc:  # too few energies or no convergence: report, do not fail
            row["fit"] = {"error": str(exc)}
    curve: dict[str, Any] = {}
    for r in cfg.curve_reductions:
        for m in cfg.curve_methods:
            row = _method(m, r, train, test, cfg, n_ch)
            curve.setdefault(m, {})[f"{r:.2f}"] = {"sigma_over_e": row["sigma_over_e"],
                                                   "sigma_over_e_err": row["sigma_over_e_err"]}
            step(f"ecal curve {m:9s} at {100 * r:.0f} % reduction: " + ", ".join(
                f"{100 * row['sigma_over_e'][e]:.2f} %" for e in test))
    masks = {m: row.pop("mask") for m, row in methods.items()}
    return {"setup": {"ecal": dataclasses.asdict(ecal), "bench": dataclasses.asdict(cfg), "channels": n_ch,
                      "total_x0": ecal.total_x0(), "seed_003_table1": SEED_003_TABLE1,
                      "seed_003_degradation": SEED_003_DEGRADATION},
            "methods": methods, "curve": curve, "masks": masks}


def sparse_bench(ecal: EcalConfig = EcalConfig(), ecal_cfg: EcalBenchConfig = EcalBenchConfig(), pmt_cfg=None,
                 log: Callable[[str], None] | None = None, xgboost: bool = True) -> dict[str, Any]:
    """Both benchmarks; ``pmt_cfg=None`` skips the PMT one.  Output keys: ``ecal``, ``pmt`` (issue 23)."""
    from .. import __version__

    t = time.perf_counter()
    e = ecal_bench(ecal, ecal_cfg, log)
    out: dict[str, Any] = {"version": __version__, "ecal": e["methods"], "ecal_setup": e["setup"],
                           "ecal_curve": e["curve"], "_masks": e["masks"]}
    if pmt_cfg is not None:
        from .pmt import pmt_bench

        p = pmt_bench(pmt_cfg, log, xgboost)
        out["pmt"] = p["methods"]
        out["pmt_setup"] = {k: v for k, v in p.items() if k != "methods"}
    out["seconds"] = time.perf_counter() - t
    return out


def write_results(res: dict[str, Any], out_dir, overwrite: bool = False) -> list:
    """``bench.json`` (figures), ``masks.json`` (kept channel indices per method) and the plots in ``out_dir``."""
    import json
    from pathlib import Path

    from ..train.harness import atomic_write_bytes
    from .plots import plot_all

    out = Path(out_dir)
    if (out / "bench.json").exists() and not overwrite:
        raise FileExistsError(f"{out / 'bench.json'} exists (pass --overwrite to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    masks = res.get("_masks", {})
    figures = {k: v for k, v in res.items() if k != "_masks"}
    atomic_write_bytes(out / "bench.json", json.dumps(figures, indent=2).encode())
    atomic_write_bytes(out / "masks.json", json.dumps(
        {m: np.flatnonzero(v).tolist() for m, v in masks.items()}).encode())
    return [out / "bench.json", out / "masks.json"] + plot_all(figures, masks, out)
