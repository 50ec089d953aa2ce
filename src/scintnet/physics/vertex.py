"""Vertex distributions: where in the detector a source's decays happen.

Spec strings (CLI ``--vertex``):
``xels`` uniform inside the Xe-loaded balloon, ``film`` on the balloon film,
``ls`` uniform in the outer LS (balloon < r < LS radius), ``sphere:R`` uniform for
r < R mm, ``shell:R1:R2`` uniform for R1 < r < R2 mm, ``point:x,y,z`` (mm) fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..detector.config import ConfigError, Geometry


@dataclass(frozen=True)
class VertexSpec:
    kind: str  # "shell" or "point" after resolution
    r_min_mm: float = 0.0
    r_max_mm: float = 0.0
    point_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    name: str = ""


def parse_vertex(spec: str, geometry: Geometry) -> VertexSpec:
    """Resolve a vertex spec string against a geometry (clear error on bad input)."""
    s = spec.strip().lower()
    rb = geometry.balloon_radius_mm
    scint = [r for r in geometry.regions if r.scintillating]
    r_ls = max(r.outer_radius_mm for r in scint) if scint else geometry.regions[-1].outer_radius_mm
    r_max = geometry.regions[-1].outer_radius_mm
    spec_out: VertexSpec | None = None
    try:
        if s == "xels":
            return VertexSpec("shell", 0.0, rb, name=s)
        if s == "film":
            return VertexSpec("shell", rb, rb, name=s)
        if s == "ls":
            return VertexSpec("shell", rb, r_ls, name=s)
        if s == "center":
            return VertexSpec("point", name=s)
        if s.startswith("sphere:"):
            r = float(s.split(":", 1)[1])
            if not 0 < r < math.inf:
                raise ValueError
            spec_out, r_out = VertexSpec("shell", 0.0, r, name=s), r
        elif s.startswith("shell:"):
            _, a, b = s.split(":")
            r0, r1 = float(a), float(b)
            if not 0 <= r0 <= r1 < math.inf:
                raise ValueError
            spec_out, r_out = VertexSpec("shell", r0, r1, name=s), r1
        elif s.startswith("point:"):
            x, y, z = (float(v) for v in s.split(":", 1)[1].split(","))
            if not all(math.isfinite(v) for v in (x, y, z)):
                raise ValueError
            spec_out, r_out = VertexSpec("point", point_mm=(x, y, z), name=s), math.sqrt(x * x + y * y + z * z)
    except ValueError:
        pass  # malformed numbers: same error as an unknown kind, below
    if spec_out is not None:
        if r_out > r_max:
            raise ConfigError(f"vertex {spec!r} reaches r = {r_out:g} mm, outside the detector (its outermost "
                              f"region ends at r = {r_max:g} mm)")
        return spec_out
    raise ConfigError(
        f"bad vertex spec {spec!r}; use xels, film, ls, center, sphere:R, shell:R1:R2 or point:x,y,z (mm)"
    )


def isotropic(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` isotropic unit vectors, float64[n, 3]."""
    z = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)


def sample_vertices(spec: VertexSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """Vertices float64[n, 3] in mm."""
    if spec.kind == "point":
        return np.tile(np.asarray(spec.point_mm, float), (n, 1))
    u = rng.random(n)
    # uniform in volume between r_min and r_max: r^3 uniform
    r = np.cbrt(spec.r_min_mm**3 + u * (spec.r_max_mm**3 - spec.r_min_mm**3))
    return isotropic(n, rng) * r[:, None]
