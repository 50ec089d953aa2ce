"""Light tables of the production mode, derived from the optical model.

* :func:`direct_table` (analytic, from :mod:`scintnet.optics.media`): spectrum-averaged transmission of
  unscattered light over (path in LS, path in oil), weighted by the photocathode response, and the
  wavelength distribution of what arrives (for the dispersion of the arrival time).
* :func:`indirect_table` (Monte Carlo, reference-mode tracker): light that was Rayleigh-scattered or
  absorbed and re-emitted before reaching the PMT sphere, per unit photocathode area and per emitted
  photon, in bins of (source radius, cos of the angle between source and arrival directions), with its
  time-residual distribution.  Built on first use (~10-30 s) and cached in
  ``$SCINTNET_CACHE_DIR/optics`` with its provenance (config hash, photons, seed, version).
* :func:`cherenkov_tables`: cumulative Frank-Tamm yield of a slowing electron per region, n(lambda).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numba as nb
import numpy as np

from .. import __version__
from .. import default_cache_dir
from ..detector.config import DetectorConfig, config_from_json
from . import media, rng, tracking

TABLE_VERSION = 1
N_PHOTONS_PER_RADIUS = 3_000_000
TABLE_SEED = 20261201
R_STEP_MM = 500.0
N_COS = 24
T0_NS, DT_NS, N_T = -10.0, 0.5, 640


# ----------------------------------------------------------------------------------- direct light
@dataclass(frozen=True)
class DirectTable:
    step_s_mm: float
    step_o_mm: float
    transmission: np.ndarray  # [n_s, n_o]
    cdf: np.ndarray  # [n_s, n_o, n_wl] cumulative wavelength distribution of the detected direct light
    slow_s: np.ndarray  # [n_wl] ns/mm in LS
    slow_o: np.ndarray  # [n_wl] ns/mm in oil
    # flux factor G(r, cos a) = cos(eta) T(d_LS, d_oil) / (4 pi d^2) [1/mm^2] for a source at radius r and a
    # tube facing the centre at angle a from the source direction; mu_j = N_gamma A_j QE_j G
    geo_r_step_mm: float
    geo_n_cos: int
    geo: np.ndarray  # [n_r, n_cos] on r = i * geo_r_step_mm, cos = -1 + 2 k / (n_cos - 1)
    # inverse CDF of the arriving wavelength (continuous bin index) at levels i / (n_q - 1), float32: one
    # uniform and two adjacent reads per p.e. (a binary search in ``cdf`` missed the cache at every step)
    wl_quantiles: np.ndarray | None = None  # [N_QS, N_QO, N_Q_WL] on steps q_step_s_mm, q_step_o_mm
    q_step_s_mm: float = 0.0
    q_step_o_mm: float = 0.0

    def transmission_at(self, ds_mm, do_mm) -> np.ndarray:
        return _transmission(self.transmission, self.step_s_mm, self.step_o_mm, ds_mm, do_mm)


def _optics_key(cfg: DetectorConfig) -> dict:
    s = cfg.scintillator
    return {
        "regions": [(r.outer_radius_mm, r.material) for r in cfg.geometry.regions],
        "pmt_radius_mm": cfg.geometry.pmt_radius_mm,
        "attenuation_length_mm": s.attenuation_length_mm, "rayleigh_length_mm": s.rayleigh_length_mm,
        "reemission_probability": s.reemission_probability, "reemission_time_ns": s.reemission_time_ns,
        "table_version": TABLE_VERSION,
    }


def _key_json(cfg: DetectorConfig) -> str:
    return json.dumps(_optics_key(cfg), sort_keys=True)


def direct_table(cfg: DetectorConfig) -> DirectTable:
    return _direct_cached(cfg.to_json())


@lru_cache(maxsize=8)
def _direct_cached(cfg_json: str) -> DirectTable:
    cfg = config_from_json(cfg_json)
    opt = media.optical_tables(cfg)
    r_pmt = cfg.geometry.pmt_radius_mm
    r_s = media.scint_radius_mm(cfg)
    max_s = r_pmt + r_s
    max_o = 2.0 * math.sqrt(max(r_pmt**2 - r_s**2, 0.0)) + 1.0
    n_s, n_o = 96, 48
    ds = np.linspace(0.0, max_s, n_s)
    do = np.linspace(0.0, max_o, n_o)
    if "LS" in opt.medium:
        slow_s, mu_s = opt.medium_arrays("LS")
    else:
        slow_s, mu_s = opt.slowness_ns_per_mm[0], opt.mu_total[0]
    if "oil" in opt.medium:
        slow_o, mu_o = opt.medium_arrays("oil")
    else:
        slow_o, mu_o = slow_s, mu_s
    w = opt.emission * opt.response  # [wl]
    att = np.exp(-ds[:, None, None] * mu_s[None, None] - do[None, :, None] * mu_o[None, None])
    dens = w[None, None] * att
    tr = dens.sum(-1)
    cdf = np.cumsum(dens, -1)
    cdf /= np.maximum(cdf[..., -1:], 1e-300)
    # flux factor on a fine (r, cos a) grid: tubes on the sphere facing the centre (detector.pmts)
    n_gr, n_gc = 66, 513  # 10 cm x 0.004 in cos: bilinear error < 0.1 %, 135 kB in float32 (cache-resident)
    rr = np.linspace(0.0, max(r_s, 1.0), n_gr)[:, None]
    ca = np.linspace(-1.0, 1.0, n_gc)[None, :]
    d2 = r_pmt**2 + rr**2 - 2 * r_pmt * rr * ca
    d = np.sqrt(d2)
    cos_eta = (r_pmt - rr * ca) / d
    b = (rr * r_pmt * ca - rr**2) / d
    c = rr**2 - r_s**2
    path_s = np.where(c < 0, np.minimum(-b + np.sqrt(np.clip(b * b - c, 0, None)), d), 0.0)
    geo = np.clip(cos_eta, 0, None) / (4 * np.pi * d2) * _transmission(tr, float(ds[1]), float(do[1]), path_s, d - path_s)
    geo = geo.astype(np.float32)
    # wavelength quantiles on a coarse (d_LS, d_oil) grid: the arriving spectrum changes slowly with the
    # path, and a table that fits the cache is what makes the per-p.e. draw cheap (a 2 MB one cost ~0.4 us)
    qs, qo = np.linspace(0.0, max_s, N_QS), np.linspace(0.0, max_o, N_QO)
    catt = np.exp(-qs[:, None, None] * mu_s[None, None] - qo[None, :, None] * mu_o[None, None])
    ccdf = np.cumsum(w[None, None] * catt, -1)
    wq = quantiles_from_cdf(ccdf, np.arange(ccdf.shape[-1] + 1, dtype=float), N_Q_WL)
    return DirectTable(float(ds[1]), float(do[1]), tr, cdf, slow_s.copy(), slow_o.copy(),
                       float(rr[1, 0]), n_gc, geo, wq, float(qs[1]), float(qo[1]))


N_Q_WL, N_Q_T = 64, 256
N_QS, N_QO = 32, 12


def quantiles_from_cdf(cdf: np.ndarray, edges: np.ndarray, n_q: int) -> np.ndarray:
    """float32[..., n_q] inverse of piecewise-linear CDFs given at the right edges of bins ``edges``.

    ``cdf[..., k]`` is the probability below ``edges[k + 1]``; levels are i / (n_q - 1).
    """
    levels = np.linspace(0.0, 1.0, n_q)
    flat = cdf.reshape(-1, cdf.shape[-1])
    out = np.empty((flat.shape[0], n_q), np.float32)
    for i, c in enumerate(flat):
        c = np.concatenate([[0.0], c / max(c[-1], 1e-300)])
        keep = np.concatenate([[True], np.diff(c) > 0])  # drop empty bins (flat CDF) so xp increases
        out[i] = np.interp(levels, c[keep], edges[keep])
        if not np.isfinite(out[i]).all() or c[-1] <= 0:
            out[i] = edges[0]
    return out.reshape(cdf.shape[:-1] + (n_q,))


def _transmission(t, step_s, step_o, ds_mm, do_mm):
    ds_mm, do_mm = np.asarray(ds_mm, float), np.asarray(do_mm, float)
    bad = ~(np.isfinite(ds_mm) & np.isfinite(do_mm))  # e.g. a failed vertex fit: NaN out, not an IndexError
    fx = np.clip(np.where(bad, 0.0, ds_mm) / step_s, 0, t.shape[0] - 1.000001)
    fy = np.clip(np.where(bad, 0.0, do_mm) / step_o, 0, t.shape[1] - 1.000001)
    i, j = fx.astype(int), fy.astype(int)
    ax, ay = fx - i, fy - j
    out = ((1 - ax) * (1 - ay) * t[i, j] + ax * (1 - ay) * t[i + 1, j] + (1 - ax) * ay * t[i, j + 1]
           + ax * ay * t[i + 1, j + 1])
    return np.where(bad, np.nan, out)


# ----------------------------------------------------------------------------------- indirect light
@dataclass(frozen=True)
class IndirectTable:
    r_step_mm: float
    n_cos: int
    t0_ns: float
    dt_ns: float
    s_ref: float  # ns/mm: the residual is t - t_emit - |x_pmt - x_src| * s_ref
    density: np.ndarray  # [n_r, n_cos] detected (response-weighted) indirect photons per emitted photon per mm^2
    cdf: np.ndarray  # [n_r, n_cos, n_t] cumulative residual distribution
    direct_density: np.ndarray  # [n_r, n_cos] the same for unscattered light (validation of the direct table)
    fractions: np.ndarray  # [n_r, 3] detected fractions at the sphere: direct, scattered-only, re-emitted
    provenance: str
    t_quantiles: np.ndarray | None = None  # [n_r, n_cos, N_Q_T] inverse CDF of the residual (ns), float32

    def density_at(self, r_mm, cos_a) -> np.ndarray:
        d = self.density
        r_mm, cos_a = np.broadcast_arrays(np.asarray(r_mm, float), np.asarray(cos_a, float))
        bad = ~(np.isfinite(r_mm) & np.isfinite(cos_a))
        r_mm, cos_a = np.where(bad, 0.0, r_mm), np.where(bad, 0.0, cos_a)
        fr = np.clip(r_mm / self.r_step_mm, 0, d.shape[0] - 1.000001)
        fa = np.clip((cos_a + 1.0) * 0.5 * self.n_cos - 0.5, 0, self.n_cos - 1.000001)
        i, j = fr.astype(int), fa.astype(int)
        ar, aa = fr - i, fa - j
        out = (1 - ar) * ((1 - aa) * d[i, j] + aa * d[i, j + 1]) + ar * ((1 - aa) * d[i + 1, j] + aa * d[i + 1, j + 1])
        return np.where(bad, np.nan, out)


@nb.njit(cache=True)
def _indirect_kernel(st, r_src, n_photons, r_outer, r_pmt, slow, mu_re, mu_ab, mu_ray, re_p, re_tau, em_cdf,
                     resp, n_cos, t0, dt, n_t, s_ref):
    hist = np.zeros((n_cos, n_t))
    direct = np.zeros(n_cos)
    frac = np.zeros(3)
    for _ in range(n_photons):
        ux, uy, uz = tracking._iso(st)
        k = tracking.sample_bin(st, em_cdf)
        alive, x, y, z, t, k2, fl = tracking.propagate(st, 0.0, 0.0, r_src, ux, uy, uz, 0.0, k, 0, r_outer, r_pmt, slow,
                                                       mu_re, mu_ab, mu_ray, re_p, re_tau, em_cdf)
        if not alive:
            continue
        w = resp[k2]
        r = math.sqrt(x * x + y * y + z * z)
        if r_src > 0.0:
            ca = z / r
        else:
            ca = 2.0 * rng.uniform(st) - 1.0  # isotropic: spread over the bins
        ia = min(n_cos - 1, max(0, int((ca + 1.0) * 0.5 * n_cos)))
        if fl == 0:
            direct[ia] += w
            frac[0] += w
            continue
        if fl & tracking.FLAG_REEMITTED:
            frac[2] += w
        else:
            frac[1] += w
        d = math.sqrt(x * x + y * y + (z - r_src) * (z - r_src))
        tau = t - d * s_ref
        b = int((tau - t0) / dt)
        if b < 0:
            b = 0
        if b < n_t:
            hist[ia, b] += w
    return hist, direct, frac


def table_path(cfg: DetectorConfig, cache_dir: Path | None = None) -> Path:
    h = hashlib.sha256(_key_json(cfg).encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "optics" / f"indirect_{h}_v{TABLE_VERSION}.npz"


def build_indirect_table(cfg: DetectorConfig, n_photons: int = N_PHOTONS_PER_RADIUS, seed: int = TABLE_SEED,
                         log=None) -> IndirectTable:
    """Track ``n_photons`` isotropic photons from each source radius to a black, fully sensitive sphere."""
    opt = media.optical_tables(cfg)
    r_pmt = cfg.geometry.pmt_radius_mm
    r_s = media.scint_radius_mm(cfg) or cfg.geometry.regions[0].outer_radius_mm
    n_r = int(math.ceil(r_s / R_STEP_MM)) + 1
    r_step = r_s / (n_r - 1)
    s_ref = float(media.group_index("LS", 400.0) / media.C_MM_PER_NS)
    dens = np.zeros((n_r, N_COS))
    ddens = np.zeros((n_r, N_COS))
    cdf = np.zeros((n_r, N_COS, N_T))
    fracs = np.zeros((n_r, 3))
    band = 2.0 * np.pi * r_pmt**2 * (2.0 / N_COS)  # sphere area of one cos bin
    t_start = time.time()
    for i in range(n_r):
        r = min(i * r_step, r_s - 1.0)
        hist, direct, frac = _indirect_kernel(
            rng.new_state(seed + 7919 * i), r, int(n_photons), opt.r_outer_mm, r_pmt, opt.slowness_ns_per_mm,
            opt.mu_reemit, opt.mu_absorb, opt.mu_rayleigh, opt.reemit_prob, opt.reemit_tau_ns, opt.emission_cdf,
            opt.response, N_COS, T0_NS, DT_NS, N_T, s_ref)
        if r == 0.0:  # isotropic source: average the bins (exact symmetry)
            hist[:] = hist.mean(0)
            direct[:] = direct.mean()
        dens[i] = hist.sum(1) / (n_photons * band)
        ddens[i] = direct / (n_photons * band)
        c = np.cumsum(hist, 1)
        cdf[i] = c / np.maximum(c[:, -1:], 1e-300)
        fracs[i] = frac / n_photons
        if log:
            log(f"optics table: radius {r / 10:.0f} cm done ({time.time() - t_start:.0f} s)")
    prov = json.dumps({"optics_key": _optics_key(cfg), "n_photons_per_radius": int(n_photons), "seed": int(seed),
                       "scintnet_version": __version__, "built": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "build_s": round(time.time() - t_start, 1)}, sort_keys=True)
    # the cdf is stored as float32: round it here too, so that a freshly built table and one read back
    # from the cache give bit-identical simulations (results must not depend on who built the table)
    cdf = cdf.astype(np.float32).astype(np.float64)
    return IndirectTable(float(r_step), N_COS, T0_NS, DT_NS, s_ref, dens, cdf, ddens, fracs, prov)


def _save(tab: IndirectTable, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    np.savez_compressed(tmp, r_step_mm=tab.r_step_mm, n_cos=tab.n_cos, t0_ns=tab.t0_ns, dt_ns=tab.dt_ns,
                        s_ref=tab.s_ref, density=tab.density, cdf=tab.cdf.astype(np.float32),
                        direct_density=tab.direct_density, fractions=tab.fractions,
                        provenance=np.array(tab.provenance))
    os.replace(tmp, path)


def _load(path: Path, cfg: DetectorConfig) -> IndirectTable | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            prov = str(z["provenance"])
            if json.loads(prov).get("optics_key") != json.loads(_key_json(cfg)):
                return None
            return IndirectTable(float(z["r_step_mm"]), int(z["n_cos"]), float(z["t0_ns"]), float(z["dt_ns"]),
                                 float(z["s_ref"]), z["density"], z["cdf"].astype(np.float64), z["direct_density"],
                                 z["fractions"], prov)
    except (OSError, KeyError, ValueError):
        return None


_MEM: dict = {}


def indirect_table(cfg: DetectorConfig, cache_dir: Path | None = None, log=None) -> IndirectTable:
    """The cached table for ``cfg`` (built, saved atomically and reused when missing or stale)."""
    key = _key_json(cfg)
    if key in _MEM:
        return _MEM[key]
    path = table_path(cfg, cache_dir)
    tab = _load(path, cfg) if path.exists() else None
    if tab is None:
        if log is None:
            import sys

            def log(msg):
                print(msg, file=sys.stderr, flush=True)
        log(f"building the optical light table for {cfg.name} -> {path}")
        tab = build_indirect_table(cfg, log=log)
        _save(tab, path)
        tab = _load(path, cfg) or tab  # what every later process reads
    edges = tab.t0_ns + tab.dt_ns * np.arange(tab.cdf.shape[-1] + 1)
    tab = dataclasses.replace(tab, t_quantiles=quantiles_from_cdf(tab.cdf, edges, N_Q_T))
    _MEM[key] = tab
    return tab


# ----------------------------------------------------------------------------------- Cherenkov
@dataclass(frozen=True)
class CherenkovTables:
    t_grid: np.ndarray  # MeV
    cum: np.ndarray  # [n_reg, n_t] photons emitted slowing from T to rest
    n: np.ndarray  # [n_reg, n_wl] refractive index
    wl_weight: np.ndarray  # cumulative 1/lambda^2 weights on WL_NM (for sampling)


def cherenkov_tables(cfg: DetectorConfig) -> CherenkovTables:
    return _cherenkov_cached(tuple((r.material, r.outer_radius_mm) for r in cfg.geometry.regions))


@lru_cache(maxsize=8)
def _cherenkov_cached(regions: tuple) -> CherenkovTables:
    from ..physics.electron import electron_total_stopping

    t = np.geomspace(0.05, 20.0, 400)
    cum = np.zeros((len(regions), t.size))
    nn = np.zeros((len(regions), media.WL_NM.size))
    for i, (mat, _) in enumerate(regions):
        med = media.optical_medium(mat)
        cum[i] = media.cherenkov_yield_table(med, lambda T, m=mat: electron_total_stopping(m, T), t)
        nn[i] = media.refractive_index(med, media.WL_NM)
    w = 1.0 / media.WL_NM**2
    return CherenkovTables(t, cum, nn, np.cumsum(w / w.sum()))
