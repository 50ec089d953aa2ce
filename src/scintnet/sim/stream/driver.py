"""Stream run driver: chunked, resumable, worker-count independent generation and the time-sorted merge.

Generation is chunked in time: chunk ``i`` holds every family whose origin lies in
``[i, i+1) * chunk_days`` (see :func:`~scintnet.sim.stream.physics.generate_chunk`), so the file does not
depend on the number of workers.  Chunks are written atomically to ``<out>.chunks/`` (resumable) and
merged, time-sorted, into ``<out>``.  All file I/O goes through :mod:`scintnet.io.stream`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...executor import get_executor
from ...io.stream import (
    EVENT_TYPES,
    MUON_RAGGED,
    ragged_group,
    read_chunk,
    read_chunk_meta,
    write_chunk,
    write_stream,
)
from .config import DAY_S, StreamConfig, StreamConfigError, stream_config_from_dict
from .physics import convection_periods_s, generate_chunk


@dataclass(frozen=True)
class StreamRun:
    config_json: str
    days: float
    seed: int

    @property
    def cfg(self) -> StreamConfig:
        return stream_config_from_dict(json.loads(self.config_json))

    @property
    def n_chunks(self) -> int:
        return max(1, int(np.ceil(self.days / self.cfg.chunk_days - 1e-9)))

    def bounds_s(self, i: int) -> tuple[float, float]:
        c = self.cfg.chunk_days * DAY_S
        return i * c, min((i + 1) * c, self.days * DAY_S)

    def meta(self) -> dict[str, Any]:
        return {"days": self.days, "seed": self.seed, "config": json.loads(self.config_json), "version": 2}



def _chunk_task(args: tuple[StreamRun, int, str]) -> int:
    run, i, workdir = args
    t0, t1 = run.bounds_s(i)
    res = generate_chunk(run.cfg, run.seed, i, t0, t1)
    write_chunk(Path(workdir) / f"chunk_{i:06d}.h5", res["events"], res["muons"], run.meta() | {"chunk": i})
    return int(res["events"]["t_s"].size)


def _chunk_ok(path: Path, run: StreamRun, i: int) -> bool:
    meta = read_chunk_meta(path)
    return meta is not None and meta == json.loads(json.dumps(run.meta() | {"chunk": i}, sort_keys=True))


def run_stream(cfg: StreamConfig, days: float, seed: int, out: str | Path, workers: int = 1,
               progress: Callable[[int], None] | None = None, keep_chunks: bool = False) -> dict[str, Any]:
    """Generate ``days`` of stream into ``out`` (resumable; same result for any ``workers``)."""
    if not days > 0:
        raise StreamConfigError(f"--days must be positive, got {days}")
    if cfg.v1_muon_model:
        raise StreamConfigError("the config uses the v1 muon model (muons.showering_fraction, neutrons.lateral_scale_mm, ...), "
                                "which is no longer generated: start from the klz800 preset")
    out = Path(out)
    run = StreamRun(cfg.to_json(), float(days), int(seed))
    workdir = out.with_name(out.name + ".chunks")
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = workdir / "run.json"
    if stamp.exists() and json.loads(stamp.read_text()) != json.loads(json.dumps(run.meta(), sort_keys=True)):
        raise StreamConfigError(f"{workdir} holds chunks of a different stream (other seed/config/days); remove it")
    stamp.write_text(json.dumps(run.meta(), sort_keys=True))
    todo, resumed = [], 0
    for i in range(run.n_chunks):
        p = workdir / f"chunk_{i:06d}.h5"
        if p.exists() and _chunk_ok(p, run, i):
            resumed += 1
            if progress:
                progress(1)
        else:
            todo.append((run, i, str(workdir)))
    for _ in get_executor(workers).map_unordered(_chunk_task, todo):
        if progress:
            progress(1)
    summary = merge_chunks(run, workdir, out)
    if not keep_chunks:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary | {"resumed_chunks": resumed, "n_chunks": run.n_chunks}


def merge_chunks(run: StreamRun, workdir: Path, out: Path) -> dict[str, Any]:
    """Concatenate chunk files, assign global ids, time-sort and remap truth links."""
    ev: dict[str, list[np.ndarray]] = {}
    mu: dict[str, list[np.ndarray]] = {}
    ev_base = mu_base = 0
    rag_base = dict.fromkeys(MUON_RAGGED, 0)
    for i in range(run.n_chunks):
        e, m = read_chunk(workdir / f"chunk_{i:06d}.h5")
        e["muon"] = np.where(e["muon"] >= 0, e["muon"] + mu_base, -1)
        e["parent"] = np.where(e["parent"] >= 0, e["parent"] + ev_base, -1)
        for g in MUON_RAGGED:
            o = m[f"{g}_offsets"]
            m[f"{g}_offsets"] = (o + rag_base[g])[(0 if i == 0 else 1):]
            rag_base[g] += int(o[-1]) if o.size else 0
        for k, v in e.items():
            ev.setdefault(k, []).append(v)
        for k, v in m.items():
            mu.setdefault(k, []).append(v)
        ev_base += e["t_s"].size
        mu_base += m["t_s"].size
    E = {k: np.concatenate(v) for k, v in ev.items()}
    M = {k: np.concatenate(v) for k, v in mu.items()}
    t_end = run.days * DAY_S
    # time-sort muons (their ragged lists move with them)
    mo = np.argsort(M["t_s"], kind="stable")
    mu_row = np.empty_like(mo)
    mu_row[mo] = np.arange(mo.size)
    for g in MUON_RAGGED:
        so = M.pop(f"{g}_offsets")
        counts = np.diff(so)
        new_off = np.concatenate([[0], np.cumsum(counts[mo])]).astype(np.int64)
        c = counts[mo]
        idx = np.repeat(so[:-1][mo], c) + np.arange(int(new_off[-1])) - np.repeat(new_off[:-1], c)
        for k in [k for k in M if ragged_group(k) == g]:
            M[k] = M[k][idx]
        M[f"{g}_offsets"] = new_off
    for k in list(M):
        if ragged_group(k) is None:
            M[k] = M[k][mo]
    # events: drop the ones decaying after the end of the stream, time-sort, remap links
    keep = np.flatnonzero(E["t_s"] < t_end)
    order = keep[np.argsort(E["t_s"][keep], kind="stable")]
    row = np.full(E["t_s"].size, -1, np.int64)
    row[order] = np.arange(order.size)
    for k in list(E):
        E[k] = E[k][order]
    E["parent"] = np.where(E["parent"] >= 0, row[np.maximum(E["parent"], 0)], -1)
    E["muon"] = np.where(E["muon"] >= 0, mu_row[np.maximum(E["muon"], 0)], -1)
    cast = {"t_s": np.float64, "E_MeV": np.float32, "pos_mm": np.float32, "true_E_MeV": np.float32,
            "true_pos_mm": np.float32}
    for k, dt in cast.items():
        E[k] = E[k].astype(dt)
    for k in ("entry_mm", "dir", "length_mm", "impact_mm", "edep_MeV", "reco_entry_mm", "reco_dir",
              "energy_GeV", "dq_MeV", "shower_s_mm", "shower_E_MeV", "profile_MeV"):
        M[k] = M[k].astype(np.float32)
    cfg = run.cfg
    conv = convection_periods_s(cfg, run.seed, t_end) if cfg.convection.enabled else None
    write_stream(out, E, M, days=run.days, seed=run.seed, config_json=run.config_json, convection_s=conv)
    counts = {k: int((E["type"] == v).sum()) for k, v in EVENT_TYPES.items()}
    res = {"out": str(out), "days": run.days, "n_events": int(E["t_s"].size), "n_muons": int(M["t_s"].size),
           "counts": counts}
    if conv is not None:
        res["convection"] = {"n_periods": int(conv.shape[0]), "days": float((conv[:, 1] - conv[:, 0]).sum() / DAY_S),
                             "injected_events": int(E["convection"].sum())}
    return res

