"""``scintnet bench features``: throughput of building network inputs from sparse hits."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..detector.config import DetectorConfig


def _rate(fn: Callable[[np.ndarray], Any], n: int, batch: int, min_s: float = 1.0) -> float:
    """Events/s of ``fn`` over consecutive batches (repeated until ``min_s`` seconds)."""
    fn(np.arange(min(batch, n)))  # JIT / cache warm-up
    done, t = 0, time.perf_counter()
    while True:
        for s in range(0, n, batch):
            fn(np.arange(s, min(s + batch, n)))
        done += n
        dt = time.perf_counter() - t
        if dt >= min_s:
            return done / dt


def bench_features(cfg: DetectorConfig, n_events: int = 3000, batch_size: int = 64, workers: int = 2,
                   seed: int = 7) -> dict[str, Any]:
    """Maps/point clouds/spectra per second on one core (Numba runs single-threaded) and loader throughput."""

    from ..features.dataset import (CPU_MAP, PAPER_MAP, KamNetMap, PointCloud, TimeSpectrum, event_set_from_chunk,
                                    make_loaders)
    from ..reco.calibrate import reconstructor_for
    from ..sim.run import simulate_events

    from .. import configure_runtime

    configure_runtime(1)
    rec = reconstructor_for(cfg)
    es = {}
    for lab, src in ((1, "Xe136_0vbb"), (0, "C10")):
        ch = simulate_events(cfg, cfg.name, src, n_events, seed + lab, vertex="sphere:1570")
        r = rec(ch)
        es[lab] = event_set_from_chunk(ch, r, lab, src, rec.pmts, cfg)
    sig = es[1]
    n = len(sig)
    t = time.perf_counter()
    nh = sig.nhit()
    t_nhit = time.perf_counter() - t
    out: dict[str, Any] = {"preset": cfg.name, "n_events": n, "batch_size": batch_size,
                           "mean_hits_per_event": float(np.diff(sig.hit_offsets).mean()),
                           "mean_occupied_cells": float(nh.mean())}
    reps = {"kamnet_maps_per_s_per_core": KamNetMap(PAPER_MAP), "cpu_maps_per_s_per_core": KamNetMap(CPU_MAP),
            "point_clouds_per_s_per_core": PointCloud(), "time_spectra_per_s_per_core": TimeSpectrum()}
    for k, rep in reps.items():
        out[k] = _rate(lambda idx, rep=rep: rep(sig, idx), n, batch_size)
    out["nhit_events_per_s_per_core"] = n / t_nhit
    ch = simulate_events(cfg, cfg.name, "Xe136_0vbb", 1000, seed + 5, vertex="sphere:1570")
    t = time.perf_counter()
    rec(ch)
    out["reco_events_per_s_per_core"] = 1000 / (time.perf_counter() - t)
    for w in sorted({0, workers}):
        loaders = make_loaders(es[1], es[0], KamNetMap(PAPER_MAP), batch_size=batch_size, seed=1, num_workers=w,
                               nhit_matching=False)
        ld = loaders["train"]
        it = iter(ld)
        next(it)  # worker start-up is not throughput
        cnt, t = 0, time.perf_counter()
        for x, y in it:
            cnt += y.numel()
        out[f"loader_kamnet_events_per_s_workers{w}"] = cnt / (time.perf_counter() - t)
    return out
