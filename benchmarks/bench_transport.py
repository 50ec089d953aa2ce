"""Transport throughput on one core (numba compile time excluded).

(a) 0vbb-like events: two electrons sharing 2.458 MeV at one vertex in the XeLS;
(b) 2.614 MeV gammas from vertices in the XeLS.  Run: ``python benchmarks/bench_transport.py``.
"""

from __future__ import annotations

import time

import numpy as np

from scintnet.detector.config import load_config
from scintnet.physics.particles import ELECTRON, GAMMA, Primaries
from scintnet.physics.transport import transport


def _vertices(n: int, r_max: float, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1)[:, None]
    return v * (r_max * rng.random(n) ** (1 / 3))[:, None]


def bench(n: int = 20_000, repeat: int = 3) -> dict[str, float]:
    cfg = load_config("klz800")
    g, sc = cfg.geometry, cfg.scintillator
    rng = np.random.default_rng(1)
    vert = _vertices(n, g.balloon_radius_mm, rng)
    f = rng.random(n)
    bb = Primaries(np.repeat(np.arange(n), 2), np.full(2 * n, ELECTRON, np.int8),
                   np.column_stack([2.458 * f, 2.458 * (1 - f)]).ravel(), np.zeros(2 * n))
    gam = Primaries(np.arange(n), np.full(n, GAMMA, np.int8), np.full(n, 2.614), np.zeros(n))
    out = {}
    for name, prim in (("0vbb-like (2 e-, 2.458 MeV)", bb), ("2.614 MeV gamma", gam)):
        transport(prim.select(np.arange(10)), vert, g, sc, 0)  # compile / load cache
        best = np.inf
        for k in range(repeat):
            t0 = time.perf_counter()
            dep = transport(prim, vert, g, sc, k)
            best = min(best, time.perf_counter() - t0)
        out[name] = n / best
        print(f"{name:30s}: {n / best:12,.0f} events/s  ({len(dep) / n:.1f} deposits/event)")
    return out


if __name__ == "__main__":
    bench()
