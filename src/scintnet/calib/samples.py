"""The calibration benchmark's samples and the per-hit table every method works on.

"Data" are events of a detector whose tubes deviate from their type values by a seeded, hidden
:class:`~scintnet.detector.config.PMTVariation` (the truth the methods must recover); "simulation" is the
nominal detector.  Both are runs written like any other (``sim.run.run_simulation``: seeded, chunked,
resumable) from the backgrounds a detector has in quantity.  A third, "template" sample is the nominal
detector with zero transit-time spread: the arrival-time shape of single photoelectrons that the response
fit (``calib.response``) convolves with each tube's own offset and spread.

Every sample is reconstructed with the *nominal* detector (what the experimenter believes), and its hits
become a :class:`HitTable`: per hit the tube, the time residual ``t - t0 - |x_pmt - x| / v_g``, the charge
and ``lam``, the p.e. the nominal optical model expects on that tube in that event.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..detector.config import DetectorConfig, PMTVariation
from ..detector.pmts import PMTArray, build_pmt_array
from ..io.events import EventChunk
from ..io.store import EventFile
from ..reco.pipeline import Reconstructor
from ..sim.run import SimConfig, run_simulation


@dataclass(frozen=True)
class MixEntry:
    """One background of the calibration sample: its share of the events and where it happens."""

    source: str
    vertex: str
    fraction: float
    energy_MeV: float | None = None


# The backgrounds a running detector has in quantity (issue 21): 2nbb in the XeLS, 214Bi on the balloon
# film, 210Po-like alphas (5.304 MeV, NNDC), 10C and the 2.223 MeV neutron-capture gamma in the central LS.
# Shares are a tuning of the benchmark (real rates differ by orders of magnitude; the methods use every
# hit alike, so only the total light and its spread over the volume matter).
DEFAULT_MIX: tuple[MixEntry, ...] = (
    MixEntry("Xe136_2vbb", "xels", 0.40),
    MixEntry("Bi214", "film", 0.15),
    MixEntry("alpha", "sphere:4000", 0.15, 5.304),
    MixEntry("C10", "sphere:4000", 0.10),
    MixEntry("gamma", "sphere:4000", 0.20, 2.223),
)

SAMPLE_KINDS = ("data", "sim", "template")


def with_variation(cfg: DetectorConfig, variation: PMTVariation | None) -> DetectorConfig:
    """``cfg`` with its tubes varied by ``variation`` (``None``: nominal tubes)."""
    return dataclasses.replace(cfg, pmts=dataclasses.replace(cfg.pmts, variation=variation))


def template_detector(cfg: DetectorConfig) -> DetectorConfig:
    """The nominal detector with zero transit-time spread (the single-p.e. arrival-time template)."""
    types = tuple(dataclasses.replace(t, tts_sigma_ns=0.0) for t in cfg.pmts.types)
    return dataclasses.replace(cfg, pmts=dataclasses.replace(cfg.pmts, types=types, variation=None))


def split_counts(n: int, mix: tuple[MixEntry, ...]) -> list[int]:
    """Events per background for ``n`` events in all (largest remainders: they add up to ``n``)."""
    f = np.array([m.fraction for m in mix], float)
    if not (f > 0).all():
        raise ValueError("every background of the mix needs a fraction > 0")
    raw = n * f / f.sum()
    k = np.floor(raw).astype(int)
    k[np.argsort(raw - k)[::-1][: n - k.sum()]] += 1
    return [int(x) for x in k]


def simulate_sample(cfg: DetectorConfig, n_events: int, seed: int, out_dir: str | Path,
                    mix: tuple[MixEntry, ...] = DEFAULT_MIX, workers: int = 1,
                    log: Callable[[str], None] | None = None) -> list[Path]:
    """Simulate ``n_events`` of ``mix`` with detector ``cfg`` into ``out_dir/<source>.h5`` (one run each).

    Files already there with the same run (config, seed, size) are reused, so an interrupted benchmark
    resumes; a file of a different run is an error, never overwritten.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (m, n) in enumerate(zip(mix, split_counts(n_events, mix))):
        sim = SimConfig.for_detector(cfg, m.source, n, seed * 100 + k, vertex=m.vertex, energy_MeV=m.energy_MeV,
                                     store_deposits=False, chunk_size=5000)
        path = out_dir / f"{m.source}.h5"
        if path.exists():
            with EventFile(path) as f:
                same = f.run == {**sim.run_dict(), "scintnet_version": f.run.get("scintnet_version")} and \
                    f.detector_json == sim.detector_json
            if not same:
                raise FileExistsError(f"{path} holds another run; remove it or choose another --out")
        else:
            if log:
                log(f"simulating {n} {m.source} events ({cfg.name}{', varied tubes' if cfg.pmts.variation else ''})"
                    f" -> {path}")
            run_simulation(sim, path, workers=workers)
        paths.append(path)
    return paths


@dataclass
class HitTable:
    """Hits of reconstructed events, in the nominal detector's frame (see the module docstring).

    Per hit: ``pmt`` int32, ``t_res_ns`` float32, ``q_pe`` float32, ``lam`` float32 (expected p.e. of the
    nominal model), ``event`` int32 (index into the per-event arrays), ``t_lo_res_ns`` float32 (the readout
    window's start in the hit's residual frame).  Per tube: ``lam_sum`` float64 (expected p.e. summed
    over all events) and ``pre_open_ns`` float64 (readout time before ``PRE_LIGHT_RES_NS`` summed over all
    events: the exposure of the off-time dark count), and the expected light of every (event, tube) pair
    histogrammed in ``LAM_EDGES``: ``lam_events`` (pairs per bin) and ``lam_events_sum`` (their summed
    expectation), float64[n_pmt, n_bins] -- the occupancy's sufficient statistics, tubes without a hit
    included.  Per event: ``energy_MeV`` (raw reconstructed), ``r_mm``.
    """

    pmt: np.ndarray
    t_res_ns: np.ndarray
    q_pe: np.ndarray
    lam: np.ndarray
    event: np.ndarray
    t_lo_res_ns: np.ndarray
    lam_sum: np.ndarray
    pre_open_ns: np.ndarray
    lam_events: np.ndarray
    lam_events_sum: np.ndarray
    energy_MeV: np.ndarray
    r_mm: np.ndarray
    window_ns: tuple[float, float]
    n_pmt: int

    @property
    def n_events(self) -> int:
        return int(self.energy_MeV.size)

    @property
    def n_hits(self) -> int:
        return int(self.pmt.size)


# residuals below this are before any light of the event (the earliest direct photon is at 0 ns; the
# reconstruction's t0 and vertex errors are below 2 ns): hits there are dark hits
PRE_LIGHT_RES_NS = -15.0

# log-spaced bins of the expected p.e. of a tube in an event (below: a faint tube; above: always hit)
LAM_EDGES = np.concatenate([[0.0], np.geomspace(1e-3, 30.0, 56), [np.inf]])


def lam_bin(lam: np.ndarray) -> np.ndarray:
    """Index into ``LAM_EDGES`` bins of expectations ``lam``."""
    return np.clip(np.searchsorted(LAM_EDGES, lam, side="right") - 1, 0, LAM_EDGES.size - 2)


# events outside this raw-energy range are not used (below: too few hits for a vertex; the alphas'
# quenched light sits at ~0.5 MeV, the gammas and 10C reach ~3.5 MeV)
ENERGY_RANGE_MEV = (0.3, 6.0)


def hit_table(chunks: Iterable[EventChunk], cfg: DetectorConfig, rec: Reconstructor | None = None,
              energy_range_MeV: tuple[float, float] = ENERGY_RANGE_MEV, batch: int = 2000) -> HitTable:
    """Reconstruct ``chunks`` with the nominal detector ``cfg`` and build their :class:`HitTable`."""
    cfg = cfg.nominal()
    if rec is None:
        rec = Reconstructor(cfg, build_pmt_array(cfg), None)
    pmts: PMTArray = rec.pmts
    v = cfg.scintillator.group_velocity_mm_per_ns
    t_lo, t_hi = cfg.pmts.readout_window_ns
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("pmt", "t", "q", "lam", "ev", "tlo", "e", "r")}
    lam_sum = np.zeros(pmts.n)
    pre_open = np.zeros(pmts.n)
    lam_ev = np.zeros((pmts.n, LAM_EDGES.size - 1))
    lam_ev_sum = np.zeros_like(lam_ev)
    n_ev = 0
    for chunk in chunks:
        for a in range(0, chunk.n_events, batch):
            c = chunk.take(np.arange(a, min(a + batch, chunk.n_events)))
            r = rec(c)
            ok = r["valid"] & (r["energy_raw_MeV"] > energy_range_MeV[0]) & (r["energy_raw_MeV"] < energy_range_MeV[1])
            if not ok.any():
                continue
            idx = np.flatnonzero(ok)
            x, t0, e = r["vertex_mm"][idx], r["t0_ns"][idx], r["energy_raw_MeV"][idx]
            lam = rec.model(x) * e[:, None]  # [k, n_pmt] expected p.e.
            lam_sum += lam.sum(0)
            lb = lam_bin(lam) + (LAM_EDGES.size - 1) * np.arange(pmts.n)[None, :]
            lam_ev += np.bincount(lb.ravel(), minlength=lam_ev.size).reshape(lam_ev.shape)
            lam_ev_sum += np.bincount(lb.ravel(), weights=lam.ravel(), minlength=lam_ev.size).reshape(lam_ev.shape)
            tof_all = np.linalg.norm(pmts.pos_mm[None, :, :] - x[:, None, :], axis=2) / v  # [k, n_pmt]
            pre_open += np.clip(PRE_LIGHT_RES_NS - (t_lo - t0[:, None] - tof_all), 0, None).sum(0)
            c = c.take(idx)  # the selected events and their hits
            ev_local = np.repeat(np.arange(idx.size), c.nhit())
            pmt = c.hit_pmt.astype(np.int32)
            tof = np.linalg.norm(pmts.pos_mm[pmt] - x[ev_local], axis=1) / v
            parts["pmt"].append(pmt)
            parts["t"].append((c.hit_time_ns - t0[ev_local] - tof).astype(np.float32))
            parts["q"].append(c.hit_charge_pe.astype(np.float32))
            parts["lam"].append(lam[ev_local, pmt].astype(np.float32))
            parts["ev"].append((ev_local + n_ev).astype(np.int32))
            parts["tlo"].append((t_lo - t0[ev_local] - tof).astype(np.float32))
            parts["e"].append(e)
            parts["r"].append(np.linalg.norm(x, axis=1))
            n_ev += idx.size
    if n_ev == 0:
        raise ValueError("no reconstructed event in the energy range: nothing to calibrate on")
    cat = {k: np.concatenate(v_) for k, v_ in parts.items()}
    return HitTable(cat["pmt"], cat["t"], cat["q"], cat["lam"], cat["ev"], cat["tlo"], lam_sum, pre_open, lam_ev, lam_ev_sum,
                    cat["e"], cat["r"],
                    (float(t_lo), float(t_hi)), pmts.n)


def read_table(paths: Iterable[str | Path], cfg: DetectorConfig, rec: Reconstructor | None = None) -> HitTable:
    """The :class:`HitTable` of event files ``paths`` (reconstructed with the nominal ``cfg``)."""
    def chunks():
        for p in paths:
            with EventFile(p) as f:
                yield from f.iter_chunks(10000)
    return hit_table(chunks(), cfg, rec)


def nominal_params(cfg: DetectorConfig) -> "PMTParams":
    return PMTParams.of(build_pmt_array(cfg.nominal()))


@dataclass
class PMTParams:
    """Per-tube response parameters (float64[n] each): what a calibration recovers."""

    qe: np.ndarray
    time_offset_ns: np.ndarray
    tts_sigma_ns: np.ndarray
    spe_sigma: np.ndarray
    dark_rate_hz: np.ndarray

    NAMES = ("qe", "time_offset_ns", "tts_sigma_ns", "spe_sigma", "dark_rate_hz")

    @classmethod
    def of(cls, pmts: PMTArray) -> "PMTParams":
        return cls(*(np.array(getattr(pmts, k), float) for k in cls.NAMES))

    def apply_to(self, pmts: PMTArray) -> PMTArray:
        """``pmts`` (the layout) with these per-tube parameters."""
        arrays = {k: np.asarray(getattr(self, k), float) for k in self.NAMES}
        for k in ("qe", "tts_sigma_ns", "spe_sigma", "dark_rate_hz"):  # physical ranges (offsets are signed)
            arrays[k] = np.clip(arrays[k], 0, None)
        return dataclasses.replace(pmts, **arrays)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: [float(x) for x in getattr(self, k)] for k in self.NAMES}
