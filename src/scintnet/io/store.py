"""HDF5 event store (h5py).

One file per run::

    /               attrs: format="scintnet-events", schema_version, scintnet_version,
                           created_utc, n_events, complete, run (JSON: source, vertex, seed,
                           chunk_size, ...), detector (JSON detector config), preset
    /pmts/          pos_mm float32[n_pmt,3], type_index int16[n_pmt]
    /hits/          offsets int64[n+1], pmt int16, time_ns float32, charge_pe float32
    /truth/         vertex_mm float32[n,3], edep_MeV, evis_MeV float32[n], npe int32[n], label int8[n]
    /truth/deposits offsets int64[n+1], pos_mm float32[m,3], t_ns, edep_MeV, evis_MeV float32, ptype int8
    /truth/primaries offsets int64[n+1], ptype int8, energy_MeV float32, t_ns float32

Ragged data are stored flat with per-event offsets, chunked and gzip-compressed; dense
images are never stored.  Files are written under a temporary name and renamed when
complete, so a reader never sees a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from .. import __version__
from .events import EventChunk

FORMAT = "scintnet-events"
SCHEMA_VERSION = 1
_COMP = dict(compression="gzip", compression_opts=1, shuffle=True)

# (group, name, field in EventChunk, dtype, trailing shape)
_PER_HIT = [("hits", "pmt", "hit_pmt", np.int16, ()), ("hits", "time_ns", "hit_time_ns", np.float32, ()),
            ("hits", "charge_pe", "hit_charge_pe", np.float32, ())]
_PER_EVENT = [("truth", "vertex_mm", "vertex_mm", np.float32, (3,)), ("truth", "edep_MeV", "edep_MeV", np.float32, ()),
              ("truth", "evis_MeV", "evis_MeV", np.float32, ()), ("truth", "npe", "npe", np.int32, ()),
              ("truth", "label", "label", np.int8, ())]
_PER_DEP = [("truth/deposits", "pos_mm", "dep_pos_mm", np.float32, (3,)),
            ("truth/deposits", "t_ns", "dep_t_ns", np.float32, ()),
            ("truth/deposits", "edep_MeV", "dep_edep_MeV", np.float32, ()),
            ("truth/deposits", "evis_MeV", "dep_evis_MeV", np.float32, ()),
            ("truth/deposits", "ptype", "dep_ptype", np.int8, ())]
_PER_PRIM = [("truth/primaries", "ptype", "prim_ptype", np.int8, ()),
             ("truth/primaries", "energy_MeV", "prim_energy_MeV", np.float32, ()),
             ("truth/primaries", "t_ns", "prim_t_ns", np.float32, ())]
_RAGGED = [("hits", "hit_offsets", _PER_HIT), ("truth/deposits", "dep_offsets", _PER_DEP),
           ("truth/primaries", "prim_offsets", _PER_PRIM)]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class EventFileError(Exception):
    """A file that cannot be used as a scintnet event file (message is one clear line)."""


# --------------------------------------------------------------------------- writing


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename onto ``path`` only on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class EventWriter:
    """Append-only writer of event chunks into an open HDF5 file."""

    def __init__(self, h5: h5py.File, chunk_hint: int = 1000):
        self.h5 = h5
        self.n_events = 0
        self._counts = {"hit_offsets": 0, "dep_offsets": 0, "prim_offsets": 0}
        ev_chunk = max(1, min(chunk_hint, 65536))
        for group, name, _, dtype, shape in _PER_EVENT:
            h5.require_group(group).create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                                                   chunks=(ev_chunk, *shape), **_COMP)
        for group, off_name, fields in _RAGGED:
            g = h5.require_group(group)
            g.create_dataset("offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(ev_chunk,), **_COMP)
            for _, name, _, dtype, shape in fields:
                g.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                                 chunks=(max(1024, ev_chunk * 64), *shape), **_COMP)

    @staticmethod
    def _append(ds: h5py.Dataset, data: np.ndarray) -> None:
        n0 = ds.shape[0]
        ds.resize(n0 + data.shape[0], axis=0)
        ds[n0:] = data

    def write(self, chunk: EventChunk) -> None:
        for group, name, attr, dtype, _ in _PER_EVENT:
            self._append(self.h5[group][name], np.asarray(getattr(chunk, attr), dtype))
        for group, off_name, fields in _RAGGED:
            offs = np.asarray(getattr(chunk, off_name), np.int64)
            if offs.size != chunk.n_events + 1:
                raise ValueError(f"{off_name} has {offs.size} entries for {chunk.n_events} events")
            self._append(self.h5[group]["offsets"], offs[1:] - offs[0] + self._counts[off_name])
            self._counts[off_name] += int(offs[-1] - offs[0])
            for _, name, attr, dtype, _ in fields:
                self._append(self.h5[group][name], np.asarray(getattr(chunk, attr), dtype)[offs[0]:offs[-1]])
        self.n_events += chunk.n_events
        self.h5.attrs["n_events"] = self.n_events


def write_header(h5: h5py.File, run: dict[str, Any], detector_json: str, preset: str,
                 pmt_pos_mm: np.ndarray, pmt_type: np.ndarray) -> None:
    h5.attrs["format"] = FORMAT
    h5.attrs["schema_version"] = SCHEMA_VERSION
    h5.attrs["scintnet_version"] = __version__
    h5.attrs["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    h5.attrs["run"] = json.dumps(run, sort_keys=True)
    h5.attrs["detector"] = detector_json
    h5.attrs["preset"] = preset
    h5.attrs["n_events"] = 0
    h5.attrs["complete"] = False
    g = h5.create_group("pmts")
    g.create_dataset("pos_mm", data=np.asarray(pmt_pos_mm, np.float32))
    g.create_dataset("type_index", data=np.asarray(pmt_type, np.int16))


def write_events(path: str | Path, chunks: list[EventChunk] | Iterator[EventChunk], run: dict[str, Any],
                 detector_json: str, preset: str, pmt_pos_mm: np.ndarray, pmt_type: np.ndarray) -> int:
    """Write chunks to ``path`` atomically; returns the number of events written."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            write_header(h5, run, detector_json, preset, pmt_pos_mm, pmt_type)
            w = EventWriter(h5)
            for c in chunks:
                w.write(c)
            h5.attrs["complete"] = True
            n = w.n_events
    return n


# --------------------------------------------------------------------------- reading


@dataclass
class FileInfo:
    path: str
    n_events: int
    n_hits: int
    complete: bool
    schema_version: int
    scintnet_version: str
    created_utc: str
    preset: str
    run: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class EventFile:
    """Read-only access to a scintnet event file; validates on open, streams in chunks."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        p = Path(path)
        if not p.exists():
            raise EventFileError(f"{path}: no such file")
        if not h5py.is_hdf5(p):
            raise EventFileError(f"{path}: not an HDF5 file (scintnet event files are HDF5)")
        try:
            self.h5 = h5py.File(p, "r")
        except OSError as exc:
            raise EventFileError(f"{path}: cannot open HDF5 file (truncated or corrupt?): {_one_line(exc)}") from None
        try:
            self._validate()
        except EventFileError:
            self.h5.close()
            raise
        except (KeyError, OSError, ValueError) as exc:
            self.h5.close()
            raise EventFileError(f"{path}: corrupt or truncated event file ({_one_line(exc)})") from None

    def _validate(self) -> None:
        a = self.h5.attrs
        if a.get("format") != FORMAT:
            raise EventFileError(f"{self.path}: HDF5 file is not a scintnet event file (no format={FORMAT!r})")
        v = int(a.get("schema_version", -1))
        if v != SCHEMA_VERSION:
            raise EventFileError(f"{self.path}: schema version {v}, this scintnet reads version {SCHEMA_VERSION}")
        if not bool(a.get("complete", False)):
            raise EventFileError(f"{self.path}: incomplete event file (the writing job did not finish)")
        n = int(a["n_events"])
        offs = self.h5["hits/offsets"]
        if offs.shape[0] != n + 1:
            raise EventFileError(f"{self.path}: hits/offsets has {offs.shape[0]} entries for {n} events")
        n_hits = int(offs[-1])
        for name in ("pmt", "time_ns", "charge_pe"):
            if self.h5["hits"][name].shape[0] != n_hits:
                raise EventFileError(f"{self.path}: hits/{name} length does not match offsets (truncated?)")
        for _, name, _, _, _ in _PER_EVENT:
            if self.h5["truth"][name].shape[0] != n:
                raise EventFileError(f"{self.path}: truth/{name} length does not match n_events")
        self.n_events = n
        self.n_hits = n_hits

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> "EventFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def run(self) -> dict[str, Any]:
        return json.loads(self.h5.attrs["run"])

    @property
    def detector_json(self) -> str:
        return str(self.h5.attrs["detector"])

    def detector_config(self):
        from ..detector.config import config_from_json

        return config_from_json(self.detector_json)

    def pmt_positions_mm(self) -> np.ndarray:
        return self.h5["pmts/pos_mm"][:].astype(np.float64)

    def pmt_types(self) -> np.ndarray:
        return self.h5["pmts/type_index"][:]

    def info(self) -> FileInfo:
        a = self.h5.attrs
        return FileInfo(self.path, self.n_events, self.n_hits, bool(a["complete"]), int(a["schema_version"]),
                        str(a["scintnet_version"]), str(a["created_utc"]), str(a["preset"]), self.run)

    def read(self, start: int = 0, stop: int | None = None, truth_detail: bool = True) -> EventChunk:
        """Events ``start:stop`` as an EventChunk (offsets rebased to 0)."""
        stop = self.n_events if stop is None else min(stop, self.n_events)
        if not 0 <= start <= stop:
            raise IndexError(f"bad event range {start}:{stop}")
        kw: dict[str, Any] = {}
        for group, name, attr, _, _ in _PER_EVENT:
            kw[attr] = self.h5[group][name][start:stop]
        for group, off_name, fields in _RAGGED:
            if not truth_detail and group != "hits":
                continue
            offs = self.h5[group]["offsets"][start:stop + 1]
            a, b = int(offs[0]), int(offs[-1])
            kw[off_name] = offs - a
            for _, name, attr, _, _ in fields:
                kw[attr] = self.h5[group][name][a:b]
        return EventChunk(**kw)

    def iter_chunks(self, chunk_events: int = 10000, truth_detail: bool = False) -> Iterator[EventChunk]:
        """Stream the file in blocks of ``chunk_events`` events (constant memory)."""
        for s in range(0, self.n_events, chunk_events):
            yield self.read(s, s + chunk_events, truth_detail=truth_detail)


def open_events(path: str | Path) -> EventFile:
    return EventFile(path)
