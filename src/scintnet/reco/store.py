"""``scintnet reco``: add a ``/reco`` group to an event file (chunked, resumable, atomic).

``/reco`` layout (one row per event of the file)::

    vertex_mm float32[n,3], energy_MeV float32[n], energy_raw_MeV float32[n], t0_ns float32[n],
    valid bool[n], flags uint8[n] (see scintnet.reco.pipeline.BAD_FLAGS)
    attrs: complete, n_done, reco_version, calibration (JSON), input (JSON stamp)

The output is built in a hidden partial file next to ``out`` (a copy of the input plus
``/reco``), flushed after every chunk; a killed job resumes from ``n_done`` when re-run with
the same input and calibration, and the partial file is renamed onto ``out`` at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from ..io.outputs import check_output, output_lock
from ..io.store import EventFile, EventFileError
from .pipeline import Reconstructor, summary_line

RECO_VERSION = 1
_FIELDS = (("vertex_mm", np.float32, (3,)), ("energy_MeV", np.float32, ()), ("energy_raw_MeV", np.float32, ()),
           ("t0_ns", np.float32, ()), ("valid", np.bool_, ()), ("flags", np.uint8, ()))


def _input_stamp(path: Path, n_events: int, rec: Reconstructor) -> str:
    st = path.stat()
    cal = None if rec.calibration is None else rec.calibration.to_json()
    return json.dumps({"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "n_events": n_events, "reco_version": RECO_VERSION, "calibration": cal}, sort_keys=True)


def _open_partial(partial: Path, src: Path, stamp: str, n: int) -> h5py.File:
    """Reopen a matching partial file, or start a fresh one from a copy of the input."""
    if partial.exists():
        try:
            h5 = h5py.File(partial, "r+")
            if "reco" in h5 and h5["reco"].attrs.get("input") == stamp:
                return h5
            h5.close()
        except OSError:
            pass  # unreadable (killed mid-write): start over
        partial.unlink()
    tmp = partial.with_name(partial.name + ".copy")
    shutil.copyfile(src, tmp)
    os.replace(tmp, partial)
    h5 = h5py.File(partial, "r+")
    if "reco" in h5:
        del h5["reco"]  # an input that already had /reco is re-reconstructed
    g = h5.create_group("reco")
    for name, dt, shape in _FIELDS:
        g.create_dataset(name, shape=(n, *shape), dtype=dt, chunks=(max(1, min(n, 65536)), *shape),
                         compression="gzip", compression_opts=1, fletcher32=True)  # checksummed, as io.store
    g.attrs.update({"complete": False, "n_done": 0, "reco_version": RECO_VERSION, "input": stamp})
    return h5


def reco_file(src: str | Path, out: str | Path, rec: Reconstructor, chunk_events: int = 5000,
              log: Callable[[str], None] | None = None, progress: Callable[[int], None] | None = None,
              overwrite: bool = False) -> dict[str, Any]:
    """Reconstruct every event of ``src`` into ``out`` (= ``src`` + ``/reco``); returns a summary.

    ``out`` may be ``src`` (the file gains its ``/reco`` group); any other existing file needs ``overwrite``.
    """
    src, out = Path(src), Path(out)
    same = out.exists() and src.exists() and out.resolve() == src.resolve()
    check_output(out, overwrite=overwrite or same)
    with output_lock(out):
        return _reco_file(src, out, rec, chunk_events, log, progress)


def _reco_file(src: Path, out: Path, rec: Reconstructor, chunk_events: int, log: Callable[[str], None] | None,
               progress: Callable[[int], None] | None) -> dict[str, Any]:
    with EventFile(src) as f:
        n = f.n_events
        pos = f.pmt_positions_mm()
        if pos.shape != rec.pmts.pos_mm.shape or not np.allclose(pos, rec.pmts.pos_mm, atol=0.1):
            raise EventFileError(f"{src}: PMT layout differs from the detector configuration in the file")
    stamp = _input_stamp(src, n, rec)
    partial = out.with_name(f".{out.name}.reco-partial")
    h5 = _open_partial(partial, src, stamp, n)
    flags_all = np.zeros(n, np.uint8)
    try:
        g = h5["reco"]
        start = int(g.attrs["n_done"])
        resumed = start
        if start:
            flags_all[:start] = g["flags"][:start]
            if progress:
                progress(start)
        with EventFile(src) as f:
            for s in range(start, n, chunk_events):
                ch = f.read(s, s + chunk_events, truth_detail=False, check_values=False)  # reco flags bad events
                r = rec(ch)
                e = s + ch.n_events
                for name, dt, _ in _FIELDS:
                    g[name][s:e] = np.asarray(r[name]).astype(dt)
                flags_all[s:e] = r["flags"]
                g.attrs["n_done"] = e
                h5.flush()
                if progress:
                    progress(ch.n_events)
        g.attrs["complete"] = True
        if rec.calibration is not None:
            g.attrs["calibration"] = rec.calibration.to_json()
    finally:
        h5.close()
    os.replace(partial, out)
    line = summary_line(n, flags_all)
    if log:
        log(f"{src} -> {out}: {line}")
    return {"in": str(src), "out": str(out), "n_events": n, "n_valid": int((flags_all == 0).sum()),
            "resumed_events": resumed, "summary": line}
