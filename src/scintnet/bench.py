"""Throughput benchmarks (``scintnet bench sim``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .detector.config import DetectorConfig


def bench_sim(cfg: DetectorConfig, preset: str, source: str = "Xe136_0vbb", n_events: int = 4000,
              seed: int = 1, chunk_size: int = 1000, workers_list: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """Events/s and photoelectrons/s of the full chain (generation, transport, optics)."""
    from .sim.run import SimConfig, simulate_chunk
    from .sim.run import simulate_events

    n_chunks = 1 + (n_events + chunk_size - 1) // chunk_size
    sim = SimConfig.for_detector(cfg, source, n_chunks * chunk_size, seed, preset=preset, vertex="xels",
                                 chunk_size=chunk_size, store_deposits=False)
    simulate_chunk(sim, 0)  # warm up: Numba compilation / cache load, lookup tables
    t = time.perf_counter()
    npe = 0
    n_done = 0
    while n_done < n_events:
        c = simulate_chunk(sim, 1 + n_done // chunk_size)
        npe += int(c.npe.sum())
        n_done += c.n_events
    dt = time.perf_counter() - t
    out: dict[str, Any] = {
        "preset": preset, "source": source, "n_events": n_done,
        "events_per_s_per_core": n_done / dt, "photoelectrons_per_s_per_core": npe / dt,
        "mean_pe_per_event": npe / n_done,
    }
    scaling = {}
    for w in workers_list:
        if w <= 1:
            continue
        t = time.perf_counter()
        simulate_events(cfg, preset, source, n_events * w, seed + 7, workers=w, chunk_size=chunk_size)
        scaling[str(w)] = n_events * w / (time.perf_counter() - t)
    if scaling:
        out["events_per_s_by_workers"] = {"1": out["events_per_s_per_core"], **scaling}
    out.update(bench_reference_optics(cfg, seed=seed))
    return out


def bench_reference_optics(cfg: DetectorConfig, n_events: int = 100, seed: int = 1) -> dict[str, Any]:
    """Photons tracked per second by the reference mode (0nbb in the XeLS; Numba warm-up excluded)."""
    from .detector.pmts import build_pmt_array
    from .optics.response import simulate_hits
    from .physics.sources import get_source
    from .physics.transport import transport
    from .physics.vertex import parse_vertex, sample_vertices

    pmts = build_pmt_array(cfg)
    rng = np.random.default_rng(seed)
    prims = get_source("Xe136_0vbb").sample(n_events, rng)
    vtx = sample_vertices(parse_vertex("xels", cfg.geometry), n_events, rng)
    deps = transport(prims, vtx, cfg.geometry, cfg.scintillator, seed)
    simulate_hits(deps.select(deps.event < 2), 2, cfg, pmts, seed, mode="reference")
    t = time.perf_counter()
    simulate_hits(deps, n_events, cfg, pmts, seed, mode="reference")
    dt = time.perf_counter() - t
    n_photons = float(cfg.scintillator.light_yield_per_MeV * deps.evis_MeV.sum())  # scintillation photons tracked
    return {"reference_photons_per_s": n_photons / dt, "reference_events_per_s": n_events / dt,
            "reference_photons_per_event": n_photons / n_events}


def stage_profile(cfg: DetectorConfig, source: str = "Xe136_0vbb", n: int = 2000, seed: int = 3) -> dict[str, float]:
    """Seconds per stage for ``n`` events (generation, transport, optics)."""
    from .detector.pmts import build_pmt_array
    from .optics.response import simulate_hits
    from .physics.sources import get_source
    from .physics.transport import transport
    from .physics.vertex import parse_vertex, sample_vertices

    pmts = build_pmt_array(cfg)
    rng = np.random.default_rng(seed)
    src = get_source(source)
    out = {}
    for rep in range(2):  # first pass compiles
        t0 = time.perf_counter()
        p = src.sample(n, rng)
        v = sample_vertices(parse_vertex("xels", cfg.geometry), n, rng)
        t1 = time.perf_counter()
        d = transport(p, v, cfg.geometry, cfg.scintillator, seed)
        t2 = time.perf_counter()
        simulate_hits(d, n, cfg, pmts, seed)
        t3 = time.perf_counter()
        out = {"generate_s": t1 - t0, "transport_s": t2 - t1, "optics_s": t3 - t2, "n_events": n}
    return out


def bench_io(path: str, repeats: int = 3) -> dict[str, Any]:
    """Cost of the hardened event-file format and reader on an existing event file ``path``.

    Rewrites the file's events into a temporary file with and without the integrity features (HDF5 1.10
    checksummed metadata + Fletcher-32 per chunk), reads both back in full, and times the forked
    metadata probe of :class:`scintnet.io.store.EventFile` (best of ``repeats`` each).
    """
    import tempfile
    from pathlib import Path
    from unittest import mock

    import h5py

    from .io import store

    with store.EventFile(path) as f:
        chunk = f.read(0, None, truth_detail=True)
        run, det, preset = f.run, f.detector_json, str(f.h5.attrs["preset"])
        pos, typ = f.pmt_positions_mm(), f.pmt_types()
    res: dict[str, Any] = {"file": str(path), "n_events": chunk.n_events, "n_hits": int(chunk.hit_offsets[-1])}
    plain_comp = {k: v for k, v in store._COMP.items() if k != "fletcher32"}
    with tempfile.TemporaryDirectory() as tmp:
        for label, comp, libver in (("checksummed", store._COMP, store.LIBVER), ("plain", plain_comp, None)):
            out = Path(tmp) / f"{label}.h5"
            best_w = best_r = float("inf")
            for _ in range(repeats):
                out.unlink(missing_ok=True)
                with mock.patch.object(store, "_COMP", comp), \
                        mock.patch.object(store, "create_h5", lambda p, lv=libver: h5py.File(p, "w", libver=lv)):
                    t = time.perf_counter()
                    store.write_events(out, [chunk], run, det, preset, pos, typ)
                    best_w = min(best_w, time.perf_counter() - t)
                store._probed.clear()
                t = time.perf_counter()
                with store.EventFile(out) as g:
                    g.read(0, None, truth_detail=True)
                best_r = min(best_r, time.perf_counter() - t)
            res[label] = {"write_s": best_w, "read_s": best_r, "bytes": out.stat().st_size}
        probe = []
        for _ in range(max(repeats, 5)):
            store._probed.clear()
            t = time.perf_counter()
            store.probe_hdf5(Path(tmp) / "checksummed.h5")
            probe.append(time.perf_counter() - t)
    res["probe_s"] = min(probe)
    res["write_overhead"] = res["checksummed"]["write_s"] / res["plain"]["write_s"] - 1
    res["read_overhead"] = res["checksummed"]["read_s"] / res["plain"]["read_s"] - 1
    return res
