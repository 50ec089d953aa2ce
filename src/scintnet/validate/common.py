"""Helpers shared by validation and benchmarks: in-memory simulation, robust widths."""

from __future__ import annotations

import numpy as np

from ..detector.config import DetectorConfig
from ..executor import get_executor
from ..io.events import EventChunk
from ..sim.run import SimConfig, simulate_chunk


def concat_chunks(chunks: list[EventChunk]) -> EventChunk:
    """Join chunks (hits and per-event truth only)."""
    offs = [np.zeros(1, np.int64)]
    base = 0
    for c in chunks:
        offs.append(c.hit_offsets[1:] + base)
        base += int(c.hit_offsets[-1])
    cat = lambda a: np.concatenate([getattr(c, a) for c in chunks])  # noqa: E731
    return EventChunk(
        hit_offsets=np.concatenate(offs), hit_pmt=cat("hit_pmt"), hit_time_ns=cat("hit_time_ns"),
        hit_charge_pe=cat("hit_charge_pe"), vertex_mm=cat("vertex_mm"), edep_MeV=cat("edep_MeV"),
        evis_MeV=cat("evis_MeV"), npe=cat("npe"), label=cat("label"),
    )


def _task(args: tuple[SimConfig, int]) -> EventChunk:
    sim, i = args
    return simulate_chunk(sim, i)


def simulate_events(cfg: DetectorConfig, preset: str, source: str, n: int, seed: int, vertex: str = "xels",
                    energy_MeV: float | None = None, workers: int = 1, chunk_size: int = 1000) -> EventChunk:
    """Simulate ``n`` events in memory (for validation; use ``scintnet simulate`` for files)."""
    sim = SimConfig(cfg.to_json(), preset, source, n, seed, vertex, energy_MeV, chunk_size, store_deposits=False)
    results = dict(get_executor(workers).map_unordered(_task, [(sim, i) for i in range(sim.n_chunks)]))
    return concat_chunks([results[(sim, i)] for i in range(sim.n_chunks)])


def gaussian_core(x: np.ndarray, n_sigma: float = 3.0, iters: int = 10) -> tuple[float, float]:
    """Mean and sigma of the Gaussian core (iterative n-sigma clipping)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    m, s = np.median(x), 1.4826 * np.median(np.abs(x - np.median(x)))
    for _ in range(iters):
        sel = np.abs(x - m) < n_sigma * s
        m2, s2 = x[sel].mean(), x[sel].std()
        # correct the clipped-Gaussian std for the truncation at n_sigma
        from scipy.stats import truncnorm

        s2 /= truncnorm(-n_sigma, n_sigma).std()
        if abs(m2 - m) < 1e-6 * max(abs(m), 1) and abs(s2 - s) < 1e-6 * max(s, 1e-12):
            break
        m, s = m2, s2
    return float(m), float(s)
