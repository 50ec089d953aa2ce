"""A small, fast random-number generator for the optics kernels: xoshiro256+ (Blackman & Vigna 2018).

Why not ``np.random`` inside Numba: on these machines one ``np.random.random()`` call costs ~17 ns and
``np.random.normal`` ~65 ns, which made random numbers the largest cost per photoelectron; a
``numpy.random.Generator`` passed into Numba (0.68) costs 8.5 ns per uniform (8.3 ns per normal), while
xoshiro256+ with its state in a 4-word array costs ~2 ns per uniform, and the kernels draw ~5 uniforms per
photoelectron against ~1 normal.  Seeding goes through splitmix64 as its
authors recommend, so any 64-bit seed gives a well-mixed state.  Streams are reproducible for a seed.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)
_INV53 = 1.0 / 9007199254740992.0


@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << k) | (x >> (np.uint64(64) - k))


def new_state(seed: int) -> np.ndarray:
    """uint64[4] state from ``seed`` via splitmix64."""
    z = int(seed) & 0xFFFFFFFFFFFFFFFF
    out = []
    for _ in range(4):
        z = (z + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        x = z
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        out.append(x ^ (x >> 31))
    return np.array(out, dtype=np.uint64)


@nb.njit(cache=True, inline="always")
def uniform(s):
    """Uniform double in [0, 1)."""
    result = s[0] + s[3]
    t = s[1] << _U17
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], _U45)
    return (result >> _U11) * _INV53


@nb.njit(cache=True, inline="always")
def exponential(s, scale):
    return -scale * math.log(1.0 - uniform(s))


@nb.njit(cache=True, inline="always")
def poisson(s, lam):
    """Poisson variate: multiplication method below 30, else the PTRS transformed rejection (Hormann 1993)."""
    if lam <= 0.0:
        return 0
    if lam < 30.0:
        el = math.exp(-lam)
        k = 0
        p = uniform(s)
        while p > el:
            k += 1
            p *= uniform(s)
        return k
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = uniform(s) - 0.5
        v = uniform(s)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)) <= (
                -lam + k * loglam - math.lgamma(k + 1.0)):
            return int(k)


@nb.njit(cache=True, inline="always")
def normal_pair(s):
    """Two independent standard normals from one accepted polar pair."""
    while True:
        u = 2.0 * uniform(s) - 1.0
        v = 2.0 * uniform(s) - 1.0
        q = u * u + v * v
        if 0.0 < q < 1.0:
            f = math.sqrt(-2.0 * math.log(q) / q)
            return u * f, v * f


@nb.njit(cache=True, inline="always")
def normal(s):
    """One standard normal (the first of a polar pair)."""
    return normal_pair(s)[0]
