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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from .. import __version__
from ..errors import ScintnetError
from .events import EventChunk
from .outputs import atomic_path  # the one atomic-write primitive (sim, io.stream, io.jets take it from here)

FORMAT = "scintnet-events"
SCHEMA_VERSION = 1
# Every chunk carries a Fletcher-32 checksum and the file format is HDF5 1.10 (checksummed object headers and
# superblock): a damaged file is an error on read, never silently different numbers (a byte-mutation fuzz
# accepted damaged metadata and data without them).  Cost (`scintnet bench io`, 3,000 klz800 events, 1.5 M
# hits): writing 0.302 s vs 0.290 s (+4 %, against ~10 s to simulate them), reading unchanged, size -0.3 %.
_COMP = dict(compression="gzip", compression_opts=1, shuffle=True, fletcher32=True)
LIBVER = ("v110", "latest")


def create_h5(path: str | Path) -> h5py.File:
    """A new HDF5 file for writing in the checksummed format (use on a temporary path, see ``atomic_path``)."""
    return h5py.File(path, "w", libver=LIBVER)

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


class EventFileError(ScintnetError):
    """A file that cannot be used as a scintnet event file (message is one clear line)."""


# --------------------------------------------------------------------------- writing


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


_TEXT_ATTRS = ("format", "scintnet_version", "created_utc", "run", "detector", "preset")


def _text_digest(attrs: Any) -> str:
    import hashlib

    h = hashlib.sha256()
    for k in _TEXT_ATTRS:
        v = attrs.get(k, "")
        h.update(k.encode() + b"\0" + (v if isinstance(v, bytes) else str(v).encode()) + b"\0")
    return h.hexdigest()


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
    # text attributes live in HDF5's global heap, which has no checksum (a fuzz changed one byte of the stored
    # detector unnoticed): their SHA-256 goes into a fixed-length attribute in the checksummed object header
    h5.attrs["text_sha256"] = np.bytes_(_text_digest(h5.attrs))
    g = h5.create_group("pmts")
    g.create_dataset("pos_mm", data=np.asarray(pmt_pos_mm, np.float32), chunks=True, fletcher32=True)
    g.create_dataset("type_index", data=np.asarray(pmt_type, np.int16), chunks=True, fletcher32=True)


def write_events(path: str | Path, chunks: list[EventChunk] | Iterator[EventChunk], run: dict[str, Any],
                 detector_json: str, preset: str, pmt_pos_mm: np.ndarray, pmt_type: np.ndarray) -> int:
    """Write chunks to ``path`` atomically; returns the number of events written."""
    with atomic_path(path) as tmp:
        with create_h5(tmp) as h5:
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


# Opening a corrupt file can make libhdf5 loop forever inside its metadata cache (a byte-mutation fuzz
# found one such file); no timeout can interrupt a C call in this process, so the first open of each file is
# done in a forked child that walks the file's metadata under a time limit.  Cost: 21 ms per file
# (`scintnet bench io`), once per (path, size, mtime) per process.
PROBE_TIMEOUT_S = 20.0
_probed: dict[tuple[str, int, int], str | None] = {}


def _walk_metadata(path: str) -> None:
    with h5py.File(path, "r") as h5:
        dict(h5.attrs)
        h5.visititems(lambda name, obj: (dict(obj.attrs), getattr(obj, "shape", None), None)[-1])
        for g in ("hits", "truth/deposits", "truth/primaries"):
            if f"{g}/offsets" in h5:
                h5[f"{g}/offsets"][-1:]


def probe_hdf5(path: str | Path, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Open ``path`` and walk its metadata in a forked child; raise :class:`EventFileError` if that fails or hangs."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _probed:
        if _probed[key] is not None:
            raise EventFileError(_probed[key])
        return
    msg = None
    if hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:  # child: no Python cleanup, only the exit code
            code = 1
            try:
                _walk_metadata(str(p))
                code = 0
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        t0 = time.monotonic()
        reaped = False
        try:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    reaped = True
                    code = os.waitstatus_to_exitcode(status)
                    if code != 0:
                        msg = f"{path}: cannot read the HDF5 file's structure (corrupt or truncated)"
                    break
                if time.monotonic() - t0 > timeout_s:
                    msg = f"{path}: reading the HDF5 file's structure did not finish in {timeout_s:g} s (corrupt file)"
                    break
                time.sleep(0.002)
        finally:
            if not reaped:  # a hang, or an interrupt while waiting: the child must not outlive us
                os.kill(pid, 9)
                os.waitpid(pid, 0)
    _probed[key] = msg
    if msg is not None:
        raise EventFileError(msg)


def _dataset(h5: h5py.File, name: str, kind: str, ndim: int, path: str) -> h5py.Dataset:
    """The dataset ``name`` with a dtype of ``kind`` ("i": integer, "f": float) and ``ndim`` dimensions."""
    obj = h5.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise EventFileError(f"{path}: missing dataset {name!r} (not a complete scintnet event file)")
    if obj.dtype.kind not in (("i", "u") if kind == "i" else ("f",)) or obj.ndim != ndim:
        raise EventFileError(f"{path}: dataset {name!r} has dtype {obj.dtype} and {obj.ndim} dimensions")
    return obj


def _offsets(h5: h5py.File, group: str, n: int, path: str) -> np.ndarray:
    offs = _dataset(h5, f"{group}/offsets", "i", 1, path)
    if offs.shape[0] != n + 1:
        raise EventFileError(f"{path}: {group}/offsets has {offs.shape[0]} entries for {n} events")
    o = offs[:]
    if o[0] != 0 or (o.size > 1 and np.any(np.diff(o) < 0)):
        raise EventFileError(f"{path}: {group}/offsets do not start at 0 and increase (corrupt file)")
    return o


def _json_attr(a: Any, key: str, path: str) -> Any:
    try:
        v = a[key]
        return json.loads(v if isinstance(v, str) else v.decode())
    except KeyError:
        raise EventFileError(f"{path}: missing metadata attribute {key!r}") from None
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise EventFileError(f"{path}: metadata attribute {key!r} is not valid JSON ({_one_line(exc)})") from None


class EventFile:
    """Read-only access to a scintnet event file; validates on open, streams in chunks.

    Validation on open: the HDF5 structure (in a forked, time-limited probe), the format and schema
    attributes, every group and dataset with its dtype and rank, consistent lengths, offsets that start at 0
    and never decrease, parseable run and detector metadata, and PMT positions that match the detector.
    Hit values (PMT index in range, finite times and charges) are checked on each :meth:`read`.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        p = Path(path)
        if not p.exists():
            raise EventFileError(f"{path}: no such file")
        if p.is_dir():
            raise EventFileError(f"{path}: is a folder, not an event file")
        try:
            if not h5py.is_hdf5(p):
                raise EventFileError(f"{path}: not an HDF5 file (scintnet event files are HDF5)")
        except OSError as exc:
            raise EventFileError(f"{path}: cannot read ({_one_line(exc)})") from None
        probe_hdf5(p)
        try:
            self.h5 = h5py.File(p, "r")
        except OSError as exc:
            raise EventFileError(f"{path}: cannot open HDF5 file (truncated or corrupt?): {_one_line(exc)}") from None
        try:
            self._validate()
        except EventFileError:
            self.h5.close()
            raise
        except (KeyError, OSError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as exc:
            self.h5.close()
            raise EventFileError(f"{path}: corrupt or truncated event file ({_one_line(exc)})") from None

    def _validate(self) -> None:
        a, h5, path = self.h5.attrs, self.h5, self.path
        if a.get("format") != FORMAT:
            raise EventFileError(f"{path}: HDF5 file is not a scintnet event file (no format={FORMAT!r})")
        v = a.get("schema_version", -1)
        if not isinstance(v, (int, np.integer)) or int(v) != SCHEMA_VERSION:
            raise EventFileError(f"{path}: schema version {v}, this scintnet reads version {SCHEMA_VERSION}")
        if not bool(a.get("complete", False)):
            raise EventFileError(f"{path}: incomplete event file (the writing job did not finish)")
        n = a.get("n_events")
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise EventFileError(f"{path}: bad n_events attribute {n!r}")
        n = int(n)
        for k in ("scintnet_version", "created_utc", "preset"):
            if not isinstance(a.get(k), (str, bytes)):
                raise EventFileError(f"{path}: missing or non-text metadata attribute {k!r}")
        want = a.get("text_sha256")  # absent in files of older versions
        if want is not None and (want.decode() if isinstance(want, bytes) else str(want)) != _text_digest(a):
            raise EventFileError(f"{path}: the metadata (run, detector) does not match its checksum (damaged file)")
        run = _json_attr(a, "run", path)
        if not isinstance(run, dict):
            raise EventFileError(f"{path}: metadata 'run' is not a JSON object")
        det = _json_attr(a, "detector", path)
        from ..config import ConfigError
        from ..detector.config import config_from_dict

        try:
            cfg = config_from_dict(det)
        except ConfigError as exc:
            raise EventFileError(f"{path}: stored detector config is invalid: {exc}") from None
        pos = _dataset(h5, "pmts/pos_mm", "f", 2, path)
        typ = _dataset(h5, "pmts/type_index", "i", 1, path)
        if pos.shape != (cfg.n_pmts, 3) or typ.shape != (cfg.n_pmts,):
            raise EventFileError(f"{path}: pmts/ holds {pos.shape[0]} PMTs, the stored detector {cfg.n_pmts}")
        offs = _offsets(h5, "hits", n, path)
        n_hits = int(offs[-1])
        for _, name, _, dtype, shape in _PER_HIT:
            ds = _dataset(h5, f"hits/{name}", np.dtype(dtype).kind, 1, path)
            if ds.shape[0] != n_hits:
                raise EventFileError(f"{path}: hits/{name} length does not match offsets (truncated?)")
        for group, name, _, dtype, shape in _PER_EVENT:
            ds = _dataset(h5, f"{group}/{name}", np.dtype(dtype).kind, 1 + len(shape), path)
            if ds.shape != (n, *shape):
                raise EventFileError(f"{path}: {group}/{name} has shape {ds.shape}, expected {(n, *shape)}")
        for group, _, fields in _RAGGED[1:]:
            o = _offsets(h5, group, n, path)
            for _, name, _, dtype, shape in fields:
                ds = _dataset(h5, f"{group}/{name}", np.dtype(dtype).kind, 1 + len(shape), path)
                if ds.shape[0] != int(o[-1]) or ds.shape[1:] != shape:
                    raise EventFileError(f"{path}: {group}/{name} does not match its offsets (truncated?)")
        self.n_events = n
        self.n_hits = n_hits
        self.n_pmts = cfg.n_pmts
        self._run = run

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> "EventFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def run(self) -> dict[str, Any]:
        return dict(self._run)

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

    def read(self, start: int = 0, stop: int | None = None, truth_detail: bool = True,
             check_values: bool = True) -> EventChunk:
        """Events ``start:stop`` as an EventChunk (offsets rebased to 0).

        ``check_values``: a PMT index outside the layout or a non-finite number is an EventFileError; a
        reader that skips and counts such events itself (``features.dataset``) passes False.
        """
        stop = self.n_events if stop is None else min(stop, self.n_events)
        if not 0 <= start <= stop:
            raise IndexError(f"bad event range {start}:{stop}")
        try:
            return self._read(start, stop, truth_detail, check_values)
        except (OSError, ValueError, IndexError) as exc:  # a damaged chunk: checksum or decompression failure
            raise EventFileError(f"{self.path}: cannot read events {start}:{stop} (damaged file: "
                                 f"{_one_line(exc)})") from None

    def _read(self, start: int, stop: int, truth_detail: bool, check_values: bool) -> EventChunk:
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
        if check_values:
            self._check_values(kw, start, stop)
        return EventChunk(**kw)

    def _check_values(self, kw: dict[str, Any], start: int, stop: int) -> None:
        """Hit and truth values of a block: PMT indices in range, finite numbers (costs one pass of the block)."""
        where = f"{self.path}: events {start}:{stop}"
        pmt = kw["hit_pmt"]
        if pmt.size and (int(pmt.min()) < 0 or int(pmt.max()) >= self.n_pmts):
            raise EventFileError(f"{where}: hit PMT index outside 0..{self.n_pmts - 1} (corrupt file)")
        for k in ("hit_time_ns", "hit_charge_pe", "vertex_mm", "evis_MeV", "edep_MeV"):
            if not np.isfinite(kw[k]).all():
                raise EventFileError(f"{where}: non-finite values in {k} (corrupt file)")

    def iter_chunks(self, chunk_events: int = 10000, truth_detail: bool = False) -> Iterator[EventChunk]:
        """Stream the file in blocks of ``chunk_events`` events (constant memory)."""
        for s in range(0, self.n_events, chunk_events):
            yield self.read(s, s + chunk_events, truth_detail=truth_detail)


def open_events(path: str | Path) -> EventFile:
    return EventFile(path)


def describe(path: str | Path) -> dict[str, Any]:
    """What ``scintnet info`` shows of an event file: the :class:`FileInfo` fields (``path``, ``n_events``,
    ``n_hits``, ``complete``, ``schema_version``, ``scintnet_version``, ``created_utc``, ``preset``, ``run``)
    and ``mean_nhit`` (hits per event), ``n_signal`` (events with label 1) and ``n_pmts``.

    The file is validated as by :class:`EventFile`; any failure, a damaged hit or label block included, is an
    :class:`EventFileError`.
    """
    with EventFile(path) as f:
        d = f.info().to_dict()
        try:
            nh = np.diff(f.h5["hits/offsets"][:])
            lab = f.h5["truth/label"][:]
        except (OSError, ValueError, IndexError, KeyError) as exc:  # a damaged chunk: checksum or decompression
            raise EventFileError(f"{f.path}: cannot read the hit offsets and labels (damaged file: "
                                 f"{_one_line(exc)})") from None
        d["mean_nhit"] = float(nh.mean()) if nh.size else 0.0
        d["n_signal"] = int((lab == 1).sum())
        d["n_pmts"] = int(f.n_pmts)  # the validated length of pmts/pos_mm
    return d
