"""Chunked, resumable, reproducible simulation runs.

A run is split into chunks of ``chunk_size`` events.  Chunk ``i`` draws every random
number from ``SeedSequence([seed, i])``, so the file content depends only on (config,
source, vertex, seed, chunk size) — never on the number of workers.  Each finished chunk
is written atomically to ``<out>.chunks/chunk_XXXXXX.h5``; a killed run restarted with
the same arguments skips the chunks already there, then all chunks are merged (streamed,
one chunk in memory at a time) into ``<out>`` under a temporary name and renamed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..detector.config import DetectorConfig, config_from_json
from ..detector.pmts import PMTArray, build_pmt_array
from ..executor import get_executor
from ..io.events import EventChunk, concat_offsets, ragged_offsets
from ..io.outputs import check_output, clean_stale_in, output_lock
from ..io.store import EventFile, EventFileError, EventWriter, atomic_path, create_h5, write_events, write_header
from ..optics.response import simulate_hits
from ..physics.sources import get_source
from ..physics.vertex import parse_vertex, sample_vertices


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Everything that determines a run's content (keyword-only: nine fields in a row are easy to swap).

    Build it from a detector with :meth:`for_detector`; ``detector_json`` is the frozen detector
    (``DetectorConfig.to_json``) so that a worker rebuilds exactly the same geometry.
    """

    detector_json: str
    preset: str
    source: str
    n_events: int
    seed: int
    vertex: str = "xels"
    energy_MeV: float | None = None
    chunk_size: int = 2000
    store_deposits: bool = True
    optics: str = "production"  # or "reference": every optical photon tracked (scintnet.optics.response)

    @classmethod
    def for_detector(cls, cfg: DetectorConfig, source: str, n_events: int, seed: int, *,
                     preset: str | None = None, **kw: Any) -> "SimConfig":
        """``SimConfig`` for detector ``cfg`` (``preset`` defaults to ``cfg.name``); ``kw``: the other fields."""
        return cls(detector_json=cfg.to_json(), preset=cfg.name if preset is None else preset, source=source,
                   n_events=n_events, seed=seed, **kw)

    def run_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("detector_json")
        if d["optics"] == "production":
            d.pop("optics")  # the default: run records (and resumable chunks) of older versions stay equal
        return d

    @property
    def n_chunks(self) -> int:
        return (self.n_events + self.chunk_size - 1) // self.chunk_size

    def chunk_events(self, i: int) -> int:
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} outside 0..{self.n_chunks - 1}")
        return min(self.chunk_size, self.n_events - i * self.chunk_size)


@lru_cache(maxsize=4)
def _detector(detector_json: str) -> tuple[DetectorConfig, PMTArray]:
    cfg = config_from_json(detector_json)
    return cfg, build_pmt_array(cfg)


def _seeds(seed: int, chunk: int) -> tuple[np.random.Generator, int, int]:
    ss = np.random.SeedSequence([int(seed), int(chunk)])
    s_gen, s_tr, s_opt = ss.spawn(3)
    return (np.random.default_rng(s_gen), int(s_tr.generate_state(1)[0]), int(s_opt.generate_state(1)[0]))


def simulate_chunk(sim: SimConfig, chunk: int, pmts: PMTArray | None = None) -> EventChunk:
    """Simulate chunk ``chunk`` of a run (pure function of its arguments).

    ``pmts``: per-tube parameters to use instead of the detector's (a calibrated simulation: the layout
    must be the detector's); never used for files, whose content must follow from their stored config.
    """
    from ..physics.transport import transport

    cfg, layout = _detector(sim.detector_json)
    if pmts is None:
        pmts = layout
    elif pmts.n != layout.n or not np.array_equal(pmts.pos_mm, layout.pos_mm):
        raise ValueError("the per-tube parameters given do not belong to this detector's layout")
    n = sim.chunk_events(chunk)
    rng, seed_tr, seed_opt = _seeds(sim.seed, chunk)
    source = get_source(sim.source, sim.energy_MeV)
    prims = source.sample(n, rng)
    vtx = sample_vertices(parse_vertex(sim.vertex, cfg.geometry), n, rng)
    deps = transport(prims, vtx, cfg.geometry, cfg.scintillator, seed_tr)
    hits = simulate_hits(deps, n, cfg, pmts, seed_opt, mode=sim.optics)
    edep = np.bincount(deps.event, weights=deps.edep_MeV, minlength=n)
    evis = np.bincount(deps.event, weights=deps.evis_MeV, minlength=n)
    c = EventChunk(
        hit_offsets=hits.offsets, hit_pmt=hits.pmt.astype(np.int16), hit_time_ns=hits.time_ns,
        hit_charge_pe=hits.charge_pe, vertex_mm=vtx.astype(np.float32), edep_MeV=edep.astype(np.float32),
        evis_MeV=evis.astype(np.float32), npe=hits.npe, label=np.full(n, source.label, np.int8),
        prim_offsets=ragged_offsets(prims.event, n), prim_ptype=prims.ptype,
        prim_energy_MeV=prims.energy_MeV.astype(np.float32), prim_t_ns=prims.t_ns.astype(np.float32),
    )
    if not sim.store_deposits:
        c.dep_offsets = np.zeros(n + 1, np.int64)  # empty deposit table, valid offsets
    else:
        c.dep_offsets = ragged_offsets(deps.event, n)
        c.dep_pos_mm = deps.pos_mm.astype(np.float32)
        c.dep_t_ns = deps.t_ns.astype(np.float32)
        c.dep_edep_MeV = deps.edep_MeV.astype(np.float32)
        c.dep_evis_MeV = deps.evis_MeV.astype(np.float32)
        c.dep_ptype = deps.ptype
    return c


# --------------------------------------------------------------------------- run driver


def _run_meta(sim: SimConfig) -> dict[str, Any]:
    return {**sim.run_dict(), "n_chunks": sim.n_chunks}


def _chunk_task(args: tuple[SimConfig, int, str]) -> int:
    sim, i, workdir = args
    cfg, pmts = _detector(sim.detector_json)
    chunk = simulate_chunk(sim, i)
    path = Path(workdir) / f"chunk_{i:06d}.h5"
    meta = {**_run_meta(sim), "chunk": i}
    write_events(path, [chunk], meta, sim.detector_json, sim.preset, pmts.pos_mm, pmts.type_index)
    return chunk.n_events


def _chunk_ok(path: Path, sim: SimConfig, i: int) -> bool:
    try:
        with EventFile(path) as f:
            return f.run == {**_run_meta(sim), "chunk": i} and f.n_events == sim.chunk_events(i)
    except EventFileError:
        return False


def run_simulation(sim: SimConfig, out: str | Path, workers: int = 1,
                   progress: Callable[[int], None] | None = None, keep_chunks: bool = False,
                   overwrite: bool = False) -> dict[str, Any]:
    """Simulate ``sim`` into ``out``; resumable (re-run the same call after a kill).

    ``out`` is checked before any work (:func:`scintnet.io.outputs.check_output`: an existing file needs
    ``overwrite``) and locked while the run works, so a second run on the same ``out`` is refused.
    """
    out = check_output(out, overwrite)
    with output_lock(out):
        return _run_simulation(sim, out, workers, progress, keep_chunks)


def _run_simulation(sim: SimConfig, out: Path, workers: int, progress: Callable[[int], None] | None,
                    keep_chunks: bool) -> dict[str, Any]:
    workdir = out.with_name(out.name + ".chunks")
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = workdir / "run.json"
    meta = _run_meta(sim) | {"detector": json.loads(sim.detector_json)}
    if stamp.exists() and json.loads(stamp.read_text()) != meta:
        raise ValueError(
            f"{workdir} holds chunks of a different run (other seed/config); remove it or choose another --out"
        )
    stamp.write_text(json.dumps(meta, sort_keys=True))
    clean_stale_in(workdir)  # chunk files a killed worker left half-written
    todo, resumed = [], 0
    for i in range(sim.n_chunks):
        p = workdir / f"chunk_{i:06d}.h5"
        if p.exists() and _chunk_ok(p, sim, i):
            resumed += sim.chunk_events(i)
            if progress:
                progress(sim.chunk_events(i))
        else:
            todo.append((sim, i, str(workdir)))
    ex = get_executor(workers)
    for _, n in ex.map_unordered(_chunk_task, todo):
        if progress:
            progress(n)
    _, pmts = _detector(sim.detector_json)
    n_total = 0
    with atomic_path(out) as tmp:
        with create_h5(tmp) as h5:
            write_header(h5, sim.run_dict() | {"scintnet_version": __version__}, sim.detector_json, sim.preset,
                         pmts.pos_mm, pmts.type_index)
            w = EventWriter(h5, chunk_hint=sim.chunk_size)
            for i in range(sim.n_chunks):
                with EventFile(workdir / f"chunk_{i:06d}.h5") as f:
                    w.write(f.read(0, None, truth_detail=True))
            h5.attrs["complete"] = True
            n_total = w.n_events
    if not keep_chunks:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"out": str(out), "n_events": n_total, "resumed_events": resumed, "n_chunks": sim.n_chunks}


# --------------------------------------------------------------------------- in memory


def concat_chunks(chunks: list[EventChunk]) -> EventChunk:
    """Join chunks (hits and per-event truth only)."""
    cat = lambda a: np.concatenate([getattr(c, a) for c in chunks])  # noqa: E731
    return EventChunk(
        hit_offsets=concat_offsets([c.hit_offsets for c in chunks]), hit_pmt=cat("hit_pmt"), hit_time_ns=cat("hit_time_ns"),
        hit_charge_pe=cat("hit_charge_pe"), vertex_mm=cat("vertex_mm"), edep_MeV=cat("edep_MeV"),
        evis_MeV=cat("evis_MeV"), npe=cat("npe"), label=cat("label"),
    )


def _memory_task(args: tuple[SimConfig, int, PMTArray | None]) -> EventChunk:
    sim, i, pmts = args
    return simulate_chunk(sim, i, pmts)


def simulate_events(cfg: DetectorConfig, preset: str, source: str, n: int, seed: int, vertex: str = "xels",
                    energy_MeV: float | None = None, workers: int = 1, chunk_size: int = 1000,
                    pmts: PMTArray | None = None) -> EventChunk:
    """Simulate ``n`` events in memory, chunk by chunk through the executor (the same chain and seeding as
    :func:`run_simulation`; for validation and calibration -- use ``scintnet simulate`` for files).
    ``pmts``: per-tube parameters replacing the detector's (see :func:`simulate_chunk`)."""
    sim = SimConfig.for_detector(cfg, source, n, seed, preset=preset, vertex=vertex, energy_MeV=energy_MeV,
                                 chunk_size=chunk_size, store_deposits=False)
    tasks = [(sim, i, pmts) for i in range(sim.n_chunks)]
    results = {a[1]: c for a, c in get_executor(workers).map_unordered(_memory_task, tasks)}
    return concat_chunks([results[i] for i in range(sim.n_chunks)])
