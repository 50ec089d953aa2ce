"""HDF5 jet files (the one owner of this format).

One file per sample::

    /               attrs: format="scintnet-jets", schema_version, scintnet_version, created_utc,
                           n_jets, complete, config (JSON generator config), seed
    /jets/          pt_GeV, eta, phi, mass_GeV float32[n], label int8[n] (1 = top, 0 = QCD),
                    n_constituents int16[n]
    /constituents/  offsets int64[n+1], pt_GeV, eta, phi, e_GeV float32[m], charge int8[m], pid int32[m]

Constituents are stored flat (pT-ordered within a jet) with per-jet offsets; :func:`to_padded` builds the
dense ``[n, n_max, ...]`` arrays networks take.  Files are written under a temporary name and renamed
when complete.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import ScintnetError
from .store import _one_line, atomic_path

FORMAT = "scintnet-jets"
SCHEMA_VERSION = 1
_COMP = dict(compression="gzip", compression_opts=1, shuffle=True)
JET_FIELDS = (("pt_GeV", np.float32), ("eta", np.float32), ("phi", np.float32), ("mass_GeV", np.float32),
              ("label", np.int8))
CONST_FIELDS = (("pt_GeV", np.float32), ("eta", np.float32), ("phi", np.float32), ("e_GeV", np.float32),
                ("charge", np.int8), ("pid", np.int32))


class JetFileError(ScintnetError):
    """A file that cannot be used as a scintnet jet file (one clear line)."""


@dataclass
class JetSample:
    """Jets with their constituents (flat, ``offsets[i]:offsets[i+1]`` belong to jet ``i``)."""

    jets: dict[str, np.ndarray]
    offsets: np.ndarray
    constituents: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def take(self, idx: np.ndarray) -> "JetSample":
        idx = np.asarray(idx, np.int64)
        counts = np.diff(self.offsets)[idx]
        starts = self.offsets[idx]
        flat = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return JetSample({k: v[idx] for k, v in self.jets.items()}, np.concatenate([[0], np.cumsum(counts)]),
                         {k: v[flat] for k, v in self.constituents.items()})

    @staticmethod
    def concat(samples: list["JetSample"]) -> "JetSample":
        from .events import concat_offsets

        return JetSample({k: np.concatenate([s.jets[k] for s in samples]) for k in samples[0].jets},
                         concat_offsets([s.offsets for s in samples]),
                         {k: np.concatenate([s.constituents[k] for s in samples]) for k in samples[0].constituents})


def to_padded(sample: JetSample, n_max: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Dense ``{field: [n, n_max]}`` of the ``n_max`` leading constituents and the mask ``[n, n_max]``."""
    n = len(sample)
    counts = np.minimum(np.diff(sample.offsets), n_max)
    mask = np.arange(n_max)[None, :] < counts[:, None]
    rows, cols = np.nonzero(mask)
    src = sample.offsets[rows] + cols
    out = {}
    for k, v in sample.constituents.items():
        a = np.zeros((n, n_max), v.dtype)
        a[rows, cols] = v[src]
        out[k] = a
    return out, mask


def write_jets(path: str | Path, sample: JetSample, config: dict[str, Any], seed: int) -> None:
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        a = h5.attrs
        a["format"], a["schema_version"], a["scintnet_version"] = FORMAT, SCHEMA_VERSION, __version__
        a["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        a["config"], a["seed"], a["n_jets"] = json.dumps(config), int(seed), len(sample)
        g = h5.create_group("jets")
        for k, dt in JET_FIELDS:
            g.create_dataset(k, data=np.asarray(sample.jets[k], dt), **_COMP)
        g.create_dataset("n_constituents", data=np.diff(sample.offsets).astype(np.int16), **_COMP)
        c = h5.create_group("constituents")
        c.create_dataset("offsets", data=sample.offsets.astype(np.int64), **_COMP)
        for k, dt in CONST_FIELDS:
            c.create_dataset(k, data=np.asarray(sample.constituents[k], dt), **_COMP)
        a["complete"] = True


def read_jets(path: str | Path) -> tuple[JetSample, dict[str, Any]]:
    """The sample and the file's attributes (config decoded); validated, one-line :class:`JetFileError`."""
    p = Path(path)
    if not p.is_file():
        raise JetFileError(f"{path}: no such file")
    if not h5py.is_hdf5(p):
        raise JetFileError(f"{path}: not an HDF5 file (scintnet jet files are HDF5)")
    try:
        with h5py.File(p, "r") as h5:
            a = h5.attrs
            if a.get("format") != FORMAT:
                raise JetFileError(f"{path}: not a scintnet jet file (no format={FORMAT!r})")
            if int(a.get("schema_version", -1)) != SCHEMA_VERSION or not bool(a.get("complete", False)):
                raise JetFileError(f"{path}: wrong schema version or incomplete jet file")
            n = int(a["n_jets"])
            jets = {k: h5["jets"][k][()] for k, _ in JET_FIELDS}
            offsets = h5["constituents/offsets"][()]
            const = {k: h5["constituents"][k][()] for k, _ in CONST_FIELDS}
            meta = {"config": json.loads(a["config"]), "seed": int(a["seed"]), "n_jets": n,
                    "scintnet_version": str(a["scintnet_version"])}
    except JetFileError:
        raise
    except (KeyError, OSError, ValueError) as exc:
        raise JetFileError(f"{path}: corrupt or truncated jet file ({_one_line(exc)})") from None
    if any(len(v) != n for v in jets.values()) or offsets.shape != (n + 1,) or offsets[0] != 0 \
            or np.any(np.diff(offsets) < 0) or any(len(v) != offsets[-1] for v in const.values()):
        raise JetFileError(f"{path}: inconsistent jet file (lengths or offsets do not match)")
    for k in ("pt_GeV", "eta", "phi", "mass_GeV"):
        if not np.all(np.isfinite(jets[k])):
            raise JetFileError(f"{path}: non-finite jets/{k}")
    return JetSample(jets, offsets, const), meta
