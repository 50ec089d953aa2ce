"""Reference mode: optical photons tracked one by one (Numba).

A photon carries position, direction, time and a wavelength bin of :data:`scintnet.optics.media.WL_NM`.
Between interactions it flies straight at c / n_g(lambda) of the region it is in; at each step the
distance to the next interaction (exponential in the total extinction of the region at its wavelength)
is compared with the distance to the next spherical boundary.  Interactions:

* Rayleigh scattering: new direction from 1 + cos^2(theta);
* absorption by the fluor (scintillating regions): re-emitted with probability ``reemit_prob``,
  isotropically, after an exponential delay ``reemit_tau_ns``, with a new wavelength from the emission
  spectrum; otherwise lost;
* other absorption: lost.

A photon reaching the PMT sphere is detected by the gray-disk photocathode it lands on (the sphere cap
within the disk radius of a tube centre) with probability QE_tube x response(lambda); the rest of the
sphere is black.  Balloons are not optical surfaces (module docstring of :mod:`scintnet.optics.media`).

Each detected photon gets flags: bit 0 scattered, bit 1 re-emitted, bit 2 Cherenkov (set by the caller).

Why our own kernel rather than Geant4/Chroma: neither installs from the package registries here, and the
geometry (concentric spheres, gray disks) makes the whole tracker ~150 lines that run at 10^7 photons/s.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..physics.transport import _rotate  # noqa: F401  (one rotation for gammas, electrons, photons)
from . import rng

FLAG_SCATTERED, FLAG_REEMITTED, FLAG_CHERENKOV = 1, 2, 4
LOST, DETECTED_SPHERE = -1, -2


@nb.njit(cache=True, inline="always")
def _iso(st):
    cz = 2.0 * rng.uniform(st) - 1.0
    ph = 2.0 * math.pi * rng.uniform(st)
    sz = math.sqrt(max(0.0, 1.0 - cz * cz))
    return sz * math.cos(ph), sz * math.sin(ph), cz


@nb.njit(cache=True, inline="always")
def _sample_rayleigh_cos(st):
    # p(c) ~ 1 + c^2 on [-1, 1]: rejection with envelope 2 (efficiency 2/3)
    while True:
        c = 2.0 * rng.uniform(st) - 1.0
        if 2.0 * rng.uniform(st) < 1.0 + c * c:
            return c


@nb.njit(cache=True, inline="always")
def bisect(cdf, u):
    """First index with cdf[index] >= u (cdf non-decreasing)."""
    lo, hi = 0, cdf.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] < u:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, inline="always")
def sample_bin(st, cdf):
    return bisect(cdf, rng.uniform(st) * cdf[cdf.size - 1])


@nb.njit(cache=True, inline="always")
def detect(st, x, y, z, k, pos, r2_disk, qe, resp, g_off, g_idx, n_z, n_phi):
    """The tube whose photocathode detects a photon arriving at (x, y, z) with wavelength bin k, or -1."""
    j = find_pmt(x, y, z, pos, r2_disk, g_off, g_idx, n_z, n_phi)
    if j >= 0 and rng.uniform(st) < qe[j] * resp[k]:
        return j
    return -1


@nb.njit(cache=True, inline="always")
def _region(r2, r_outer):
    n = r_outer.size
    for i in range(n):
        if r2 < r_outer[i] * r_outer[i]:
            return i
    return n


@nb.njit(cache=True)
def propagate(st, x, y, z, ux, uy, uz, t, k, flags, r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray,
              reemit_prob, reemit_tau, em_cdf):
    """Track one photon to the PMT sphere.  Returns (alive, x, y, z, t, k, flags) at the sphere."""
    nreg = r_outer.size
    r_last = r_outer[nreg - 1]
    for _ in range(10000):
        r2 = x * x + y * y + z * z
        reg = _region(r2, r_outer)
        if reg >= nreg:
            reg = nreg - 1  # on the outer boundary within rounding
        mt = mu_re[reg, k] + mu_ab[reg, k] + mu_ray[reg, k]
        s_int = -math.log(1.0 - rng.uniform(st)) / mt
        b = x * ux + y * uy + z * uz
        ro = r_outer[reg]
        s_b = -b + math.sqrt(max(0.0, b * b - (r2 - ro * ro)))
        outward = True
        if reg > 0 and b < 0.0:
            ri = r_outer[reg - 1]
            disc = b * b - (r2 - ri * ri)
            if disc > 0.0:
                s_in = -b - math.sqrt(disc)
                if s_in < s_b:
                    s_b = s_in
                    outward = False
        if s_int < s_b:
            x += s_int * ux
            y += s_int * uy
            z += s_int * uz
            t += s_int * slow[reg, k]
            u = rng.uniform(st) * mt
            if u < mu_ray[reg, k]:
                c = _sample_rayleigh_cos(st)
                ux, uy, uz = _rotate(ux, uy, uz, c, 2.0 * math.pi * rng.uniform(st))
                flags |= FLAG_SCATTERED
            elif u < mu_ray[reg, k] + mu_re[reg, k]:
                if rng.uniform(st) < reemit_prob:
                    ux, uy, uz = _iso(st)
                    t += -reemit_tau * math.log(1.0 - rng.uniform(st))
                    k = sample_bin(st, em_cdf)
                    flags |= FLAG_REEMITTED
                else:
                    return False, x, y, z, t, k, flags
            else:
                return False, x, y, z, t, k, flags
        else:
            # step a hair past the boundary so that the next region lookup is unambiguous
            s = s_b + (1e-6 if outward else 1e-6)
            x += s * ux
            y += s * uy
            z += s * uz
            t += s_b * slow[reg, k]
            if outward and reg == nreg - 1:
                if r_pmt > r_last:  # straight gap to the photocathodes in the last medium
                    b = x * ux + y * uy + z * uz
                    r2 = x * x + y * y + z * z
                    s2 = -b + math.sqrt(max(0.0, b * b - (r2 - r_pmt * r_pmt)))
                    x += s2 * ux
                    y += s2 * uy
                    z += s2 * uz
                    t += s2 * slow[reg, k]
                return True, x, y, z, t, k, flags
    return False, x, y, z, t, k, flags


# ------------------------------------------------------------------------------ PMT lookup grid
def build_pmt_grid(pos_mm: np.ndarray, radius_mm: np.ndarray, r_pmt: float, n_z: int = 60, n_phi: int = 120):
    """Cells of (cos theta, phi) on the PMT sphere listing the tubes whose disk may cover them (CSR).

    A tube is listed in a cell when its centre is within (disk angular radius + the cell's largest
    centre-to-corner angle) of the cell centre, so no disk point is missed.
    """
    d = pos_mm / np.linalg.norm(pos_mm, axis=1, keepdims=True)
    ang = np.asarray(radius_mm, float) / r_pmt * 1.01 + 1e-4  # angular radius of each disk (chord ~ arc)
    ze = np.linspace(-1.0, 1.0, n_z + 1)
    pe = np.linspace(0.0, 2.0 * np.pi, n_phi + 1)

    def unit(z, p):
        sz = np.sqrt(np.clip(1 - z * z, 0, None))
        return np.stack([sz * np.cos(p), sz * np.sin(p), z], -1)

    offsets = [0]
    idx = []
    for iz in range(n_z):
        zc = 0.5 * (ze[iz] + ze[iz + 1])
        for ip in range(n_phi):
            pc = 0.5 * (pe[ip] + pe[ip + 1])
            c = unit(np.array(zc), np.array(pc))
            zs = np.array([ze[iz], ze[iz], ze[iz + 1], ze[iz + 1], ze[iz], ze[iz + 1], zc, zc])
            ps = np.array([pe[ip], pe[ip + 1], pe[ip], pe[ip + 1], pc, pc, pe[ip], pe[ip + 1]])
            half = np.max(np.arccos(np.clip(unit(zs, ps) @ c, -1, 1)))
            near = np.nonzero(np.arccos(np.clip(d @ c, -1, 1)) <= ang + half)[0]
            idx.append(near.astype(np.int32))
            offsets.append(offsets[-1] + near.size)
    return np.array(offsets, np.int64), np.concatenate(idx), n_z, n_phi


@nb.njit(cache=True, inline="always")
def find_pmt(x, y, z, pos, r2_disk, g_off, g_idx, n_z, n_phi):
    r = math.sqrt(x * x + y * y + z * z)
    cz = z / r
    iz = min(n_z - 1, max(0, int((cz + 1.0) * 0.5 * n_z)))
    ph = math.atan2(y, x)
    if ph < 0:
        ph += 2.0 * math.pi
    ip = min(n_phi - 1, int(ph / (2.0 * math.pi) * n_phi))
    c = iz * n_phi + ip
    for m in range(g_off[c], g_off[c + 1]):
        j = g_idx[m]
        dx = x - pos[j, 0]
        dy = y - pos[j, 1]
        dz = z - pos[j, 2]
        if dx * dx + dy * dy + dz * dz < r2_disk[j]:
            return j
    return -1
