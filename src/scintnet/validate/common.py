"""Helpers shared by validation and benchmarks: in-memory simulation, robust widths."""

from __future__ import annotations

import numpy as np

from ..sim.run import concat_chunks, simulate_events  # noqa: F401  (their home is the sim stage)


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
