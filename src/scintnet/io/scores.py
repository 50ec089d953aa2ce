"""``scores.h5``: the per-event classifier scores an evaluation writes (one owner: this module).

Layout::

    /            attrs: signal_source (the group holding the signal events)
    /GROUP/      one group per evaluated source (``Bi214_film`` for ``Bi214@film``):
                 score float32[n] (sigmoid output), label int8[n], energy_MeV float32[n] (reconstructed),
                 radius_mm float32[n], optional second_pulse_fraction float32[n] (reco.pileup),
                 optional attention float32[n, n_t] (KamNet S(t))

Files of every earlier version load (the optional datasets may be missing); new files are checksummed
(Fletcher-32 per dataset, as the event store) and written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import ScintnetError

OPTIONAL = ("second_pulse_fraction", "attention")
PER_EVENT = ("score", "label", "energy_MeV", "radius_mm") + OPTIONAL
_DTYPES = {"score": np.float32, "label": np.int8, "energy_MeV": np.float32, "radius_mm": np.float32,
           "second_pulse_fraction": np.float32, "attention": np.float32}


class ScoresFileError(ScintnetError, ValueError):
    """A scores file that cannot be used (the message names it and what is wrong)."""


@dataclass
class Scores:
    """The content of a scores file: the signal group's name and {group: {dataset: array}}."""

    signal: str
    groups: dict[str, dict[str, np.ndarray]]

    def field(self, name: str) -> dict[str, np.ndarray]:
        """One dataset of every group (a ScoresFileError names the groups that lack it)."""
        missing = [g for g, d in self.groups.items() if name not in d]
        if missing:
            raise ScoresFileError(f"no {name!r} for the groups {missing}")
        return {g: d[name] for g, d in self.groups.items()}


def group_name(source: str) -> str:
    """The group of a source label (``Bi214@film`` → ``Bi214_film``: no '/' in HDF5 names)."""
    return source.replace("/", "_")


def write_scores(path: str | Path, groups: dict[str, dict[str, np.ndarray]], signal: str) -> Path:
    """Write ``groups`` ({source: {dataset: array}} with the names of :data:`PER_EVENT`) atomically."""
    from .outputs import atomic_path

    path = Path(path)
    if group_name(signal) not in {group_name(g) for g in groups}:
        raise ScoresFileError(f"signal {signal!r} is not among the groups {list(groups)}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w", libver=("v110", "latest")) as f:
        f.attrs["signal_source"] = group_name(signal)
        for name, d in groups.items():
            g = f.create_group(group_name(name))
            n = None
            for k in PER_EVENT:
                v = d.get(k)
                if v is None:
                    continue
                v = np.asarray(v, _DTYPES[k])
                if n is not None and v.shape[0] != n:
                    raise ScoresFileError(f"{name}/{k} has {v.shape[0]} entries, not {n}")
                n = v.shape[0]
                g.create_dataset(k, data=v, chunks=True if v.size else None, fletcher32=bool(v.size))
    return path


def read_scores(path: str | Path, fields: tuple[str, ...] = PER_EVENT, require_signal: bool = True) -> Scores:
    """Read and check a scores file: the signal attribute and group, a finite ``score`` in every group, and
    equal lengths of a group's datasets.  ``require_signal=False``: a file of extra groups only (a second
    evaluation added to a fit) may lack the signal group."""
    p = Path(path)
    if not p.is_file():
        raise ScoresFileError(f"scores file {p} not found (run `scintnet evaluate` first)")
    try:
        with h5py.File(p, "r") as f:
            sig = f.attrs.get("signal_source")
            if sig is None and require_signal:
                raise ScoresFileError(f"{p}: root attribute 'signal_source' missing (not a scores file)")
            sig = "" if sig is None else sig.decode() if isinstance(sig, bytes) else str(sig)
            out: dict[str, dict[str, np.ndarray]] = {}
            for name, g in f.items():
                if not isinstance(g, h5py.Group) or "score" not in g:
                    raise ScoresFileError(f"{p}: group {name!r} has no 'score' dataset")
                d = {k: np.asarray(g[k][()]) for k in fields if k in g}
                n = d["score"].shape[0] if "score" in d else g["score"].shape[0]
                bad = [k for k, v in d.items() if v.shape[:1] != (n,)]
                if bad:
                    raise ScoresFileError(f"{p}: {name}/{bad} do not have the {n} entries of its scores")
                if "score" in d and not np.all(np.isfinite(d["score"])):
                    raise ScoresFileError(f"{p}: group {name!r} has non-finite scores")
                out[name] = d
    except OSError as exc:
        raise ScoresFileError(f"cannot read scores file {p}: {' '.join(str(exc).split())[:200]}") from None
    if require_signal and sig not in out:
        raise ScoresFileError(f"{p}: signal source {sig!r} has no group (groups: {', '.join(out)})")
    return Scores(sig, out)


def add_fields(path: str | Path, fields: dict[str, dict[str, np.ndarray]]) -> Path:
    """Add (or replace) per-event datasets of existing groups, e.g. ``second_pulse_fraction`` for an
    evaluation made before it existed; the file is rewritten atomically in the current format.

    ``fields``: {group: {dataset: array}} with names of :data:`PER_EVENT` (not ``score``: scores are
    the evaluation's own) and one entry per scored event of the group."""
    sc = read_scores(path)
    unknown = sorted(set(fields) - set(sc.groups))
    if unknown:
        raise ScoresFileError(f"{path}: no groups {unknown} (groups: {', '.join(sc.groups)})")
    for g, d in fields.items():
        for k, v in d.items():
            if k not in PER_EVENT or k == "score":
                raise ScoresFileError(f"{path}: cannot add {k!r} (addable: {', '.join(PER_EVENT[1:])})")
            n = sc.groups[g]["score"].shape[0]
            if np.shape(v)[:1] != (n,):
                raise ScoresFileError(f"{path}: {g}/{k} has {np.shape(v)[:1]} entries, the group {n} scores")
            sc.groups[g][k] = np.asarray(v)
    return write_scores(path, sc.groups, sc.signal)
