"""PMT layout: a reproducible quasi-uniform placement on the photocathode sphere.

Real KamLAND PMT positions are not public, so tubes sit on a Fibonacci lattice
(near-equal area per point), randomly rotated by ``layout_seed``.  Tube types are
interleaved evenly (the 20-inch tubes are spread over the whole sphere as in KamLAND).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DetectorConfig, PMTVariation


@dataclass(frozen=True)
class PMTArray:
    """Per-tube arrays (length n_pmts), all in detector coordinates.

    pos_mm : float64[n, 3]      photocathode centre
    direction : float64[n, 3]   unit vector from the centre to the tube
    type_index : int16[n]       index into ``cfg.pmts.types``
    area_mm2 : float64[n]       effective (gray-disk) photocathode area
    qe, tts_sigma_ns, spe_sigma, dark_rate_hz : float64[n]
    time_offset_ns : float64[n]   delay added to every p.e. of the tube (0 unless ``pmts.variation``)
    """

    pos_mm: np.ndarray
    direction: np.ndarray
    type_index: np.ndarray
    area_mm2: np.ndarray
    qe: np.ndarray
    tts_sigma_ns: np.ndarray
    spe_sigma: np.ndarray
    dark_rate_hz: np.ndarray
    time_offset_ns: np.ndarray | None = None

    def __post_init__(self):
        if self.time_offset_ns is None:
            object.__setattr__(self, "time_offset_ns", np.zeros(self.pos_mm.shape[0]))

    @property
    def n(self) -> int:
        return int(self.pos_mm.shape[0])


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` near-uniform unit vectors (golden-angle spiral), float64[n, 3]."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0**0.5) * i
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random rotation matrix (QR of a Gaussian matrix with sign fix)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def build_pmt_array(cfg: DetectorConfig) -> PMTArray:
    """Place the tubes of ``cfg`` reproducibly (depends only on the config)."""
    types = cfg.pmts.types
    counts = np.array([t.count for t in types])
    n = int(counts.sum())
    rng = np.random.default_rng(cfg.pmts.layout_seed)
    dirs = fibonacci_sphere(n) @ random_rotation(rng).T
    # Even interleaving: tube k gets the type whose running quota is most behind.
    frac = counts / n
    type_index = np.empty(n, np.int16)
    assigned = np.zeros(len(types))
    for k in range(n):
        j = int(np.argmax(frac * (k + 1) - assigned))
        type_index[k] = j
        assigned[j] += 1
    R = cfg.geometry.pmt_radius_mm
    sphere_area = 4.0 * np.pi * R * R
    area = np.array([t.photocoverage * sphere_area / t.count for t in types])[type_index]
    pick = lambda attr: np.array([getattr(t, attr) for t in types], float)[type_index]  # noqa: E731
    arrays = dict(qe=pick("quantum_efficiency"), tts_sigma_ns=pick("tts_sigma_ns"), spe_sigma=pick("spe_sigma"),
                  dark_rate_hz=pick("dark_rate_hz"), time_offset_ns=np.zeros(n))
    if cfg.pmts.variation is not None:
        arrays = vary_tubes(arrays, cfg.pmts.variation)
    return PMTArray(pos_mm=dirs * R, direction=dirs, type_index=type_index, area_mm2=area, **arrays)


def dead_and_hot(v: PMTVariation, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the dead and the hot tubes of variation ``v`` on ``n`` tubes."""
    pick = np.random.default_rng([int(v.seed), 1]).permutation(n)
    return np.sort(pick[: v.n_dead]), np.sort(pick[v.n_dead: v.n_dead + v.n_hot])


def vary_tubes(arrays: dict[str, np.ndarray], v: PMTVariation) -> dict[str, np.ndarray]:
    """Per-tube arrays with the seeded deviations of ``v`` applied (its own seed: the layout is unchanged)."""
    n = arrays["qe"].size
    rng = np.random.default_rng([int(v.seed), 0])
    u = lambda h: 1.0 + rng.uniform(-h, h, n)  # noqa: E731
    out = dict(arrays)
    out["qe"] = arrays["qe"] * u(v.qe_half_width)
    out["time_offset_ns"] = arrays["time_offset_ns"] + rng.uniform(-1, 1, n) * v.time_offset_half_width_ns
    out["tts_sigma_ns"] = arrays["tts_sigma_ns"] * u(v.tts_half_width)
    out["spe_sigma"] = arrays["spe_sigma"] * u(v.spe_half_width)
    lo, hi = v.dark_rate_factor_range
    out["dark_rate_hz"] = arrays["dark_rate_hz"] * np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    dead, hot = dead_and_hot(v, n)
    out["qe"][dead] = 0.0
    out["dark_rate_hz"][dead] = 0.0
    out["dark_rate_hz"][hot] *= v.hot_dark_factor
    return out
