"""Fit and toy timings for the KamLAND-Zen-like model (2 datasets × 20 volumes × 50 energies)."""

from __future__ import annotations

import os
import time

import numpy as np

from .limits import feldman_cousins, one_blas_thread, wilks_upper_limit
from .model import build_model, load_analysis_config


@one_blas_thread
def bench_fit(n_fits: int = 50, fc_points: int = 50, fc_toys: int = 1000, workers: int = 2, seed: int = 1,
              preset: str = "klz800-like", method: str = "newton") -> dict:
    """Time single fits (toy data) and a full Feldman–Cousins band on the preset model.

    ``method`` picks the minimiser ("newton", the default, or "minuit") for the fits and toys."""
    t0 = time.perf_counter()
    cfg = load_analysis_config(preset)
    lik, info = build_model(cfg, data=f"toy:{seed}")
    lik.minimizer = method
    t_build = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    times, cpu, nvalid, nfcn = [], [], 0, []
    nom = lik.nominal()
    for _ in range(n_fits):
        d, aux = lik.sample(nom, rng)
        lik.set_data(d, aux)
        t, c = time.perf_counter(), time.process_time()
        r = lik.fit(method=method)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        nvalid += r.valid
        nfcn.append(r.nfcn)
    lik.set_data(*lik.sample(nom, np.random.default_rng(seed + 1)))
    res = {"model_shape": list(lik.shape), "n_parameters": len(lik.names), "n_bins": int(lik.n.size),
           "build_s": t_build, "fit_ms": 1e3 * float(np.median(times)), "fit_ms_mean": 1e3 * float(np.mean(times)),
           # CPU time of the fitting process: the figure that does not depend on other jobs sharing the cores
           "fit_cpu_ms": 1e3 * float(np.median(cpu)),
           "load_average_1min": os.getloadavg()[0],
           "fit_valid_fraction": nvalid / n_fits, "minimizer": method,
           "newton_fallbacks": lik.n_newton_fallbacks, "fit_nfcn_median": float(np.median(nfcn)),
           "workers": workers, "cpu_count": os.cpu_count()}
    if fc_points > 0 and fc_toys > 0:
        # the band spans twice the Wilks limit of the benchmark data, so the FC limit lies inside it
        ul = wilks_upper_limit(lik)["upper_limit"]
        res["wilks_upper_limit"] = ul
        t = time.perf_counter()
        fc = feldman_cousins(lik, np.linspace(0.0, max(2.0 * ul, 10.0), fc_points), n_toys=fc_toys, seed=seed,
                             workers=workers)
        res["fc_band_s"] = time.perf_counter() - t
        res["fc_points"] = fc_points
        res["fc_toys"] = fc_toys
        res["fc_upper_limit"] = fc.upper_limit
        res["fc_failed_toys"] = int(fc.n_failed.sum())
    return res
