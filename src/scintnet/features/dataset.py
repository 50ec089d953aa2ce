"""Datasets for the networks: sparse events in memory, selections, Nhit matching, loaders.

Events stay sparse (ragged hits) in an :class:`EventSet`; a *representation*
(:class:`KamNetMap`, :class:`TimeSpectrum`, :class:`PointCloud`) turns a batch of event
indices into dense tensors with one Numba scatter per batch, inside the DataLoader's
workers.  Every event uses the reconstructed vertex, energy and T0 (``/reco`` written by
``scintnet reco``, or reconstructed on the fly), never Monte-Carlo truth, unless
``Selection(use_reco=False)`` asks for truth.
"""

from __future__ import annotations

import dataclasses
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from ..io.events import concat_offsets
from ..io.store import EventFile
from .maps import CPU_MAP, PAPER_MAP, MapSpec, count_cells, fill_maps, fill_points, fill_spectra, pmt_cells

__all__ = ["Selection", "EventSet", "load_event_set", "nhit_match", "KamNetMap", "TimeSpectrum", "PointCloud",
           "make_loaders", "PAPER_MAP", "CPU_MAP", "gather_ragged"]


@dataclass(frozen=True)
class Selection:
    """Event selection; defaults are the paper's (2.0–3.0 MeV, R < 157 cm, reconstructed quantities)."""

    e_min_MeV: float = 2.0
    e_max_MeV: float = 3.0
    r_max_mm: float = 1570.0
    use_reco: bool = True


def _stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def gather_ragged(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New offsets and flat hit indices of events ``idx`` of a ragged array (vectorised)."""
    idx = np.asarray(idx, np.int64)
    starts, lens = offsets[idx], offsets[idx + 1] - offsets[idx]
    new_off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    hit = np.arange(new_off[-1], dtype=np.int64) + np.repeat(starts - new_off[:-1], lens)
    return new_off, hit


@dataclass
class EventSet:
    """Sparse events (one or more files) with their reconstructed quantities.

    Per hit: ``hit_pmt``, ``hit_time_ns``, ``hit_charge_pe`` (ragged by ``hit_offsets``).
    Per event: ``vertex_mm``, ``energy_MeV``, ``t0_ns`` (reconstructed, or truth when
    ``use_reco`` was False), ``true_vertex_mm``, ``true_evis_MeV``, ``labels`` (int8,
    1 = 0nbb signal), ``sources`` (index into ``source_names``), ``file_index`` and
    ``event_index`` (position in the source file).  Detector: ``pmt_pos_mm``, ``pmt_type``,
    ``type_tts_ns`` (per PMT type), ``v_mm_per_ns`` (effective light speed for the TOF).
    """

    hit_offsets: np.ndarray
    hit_pmt: np.ndarray
    hit_time_ns: np.ndarray
    hit_charge_pe: np.ndarray
    vertex_mm: np.ndarray
    energy_MeV: np.ndarray
    t0_ns: np.ndarray
    true_vertex_mm: np.ndarray
    true_evis_MeV: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    file_index: np.ndarray
    event_index: np.ndarray
    source_names: list[str]
    files: list[str]
    pmt_pos_mm: np.ndarray
    pmt_type: np.ndarray
    type_tts_ns: np.ndarray
    v_mm_per_ns: float
    skipped: dict[str, int] = field(default_factory=dict)
    nhit_spec: MapSpec = PAPER_MAP
    _nhit: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.hit_offsets.size - 1)

    @property
    def fast_types(self) -> tuple[int, ...]:
        """PMT types with the best timing (the 17-inch tubes in KamLAND)."""
        return tuple(int(k) for k in np.flatnonzero(self.type_tts_ns == self.type_tts_ns.min()))

    def pmt_mask(self, types: Sequence[int] | None) -> np.ndarray:
        """bool[n_pmt] of the tubes of ``types`` (None: the fast-timing types)."""
        return np.isin(self.pmt_type, self.fast_types if types is None else tuple(types))

    def nhit(self) -> np.ndarray:
        """Occupied cells per event of the ``nhit_spec`` map of the fast tubes (paper's 'Nhit')."""
        if self._nhit is None:
            spec = self.nhit_spec
            cell = pmt_cells(self.pmt_pos_mm, spec, self.pmt_mask(None))
            self._nhit = count_cells(np.arange(len(self), dtype=np.int64), *self._kernel_args(cell, spec),
                                     spec.t_min_ns, spec.dt_ns, spec.n_t, spec.n_angle)
        return self._nhit

    def _kernel_args(self, cell: np.ndarray, spec: MapSpec = PAPER_MAP) -> tuple:
        lo, hi = spec.gate
        return (self.hit_offsets, self.hit_pmt, self.hit_time_ns, self.hit_charge_pe, self.vertex_mm,
                self.pmt_pos_mm, cell, 1.0 / self.v_mm_per_ns, np.asarray(self.t0_ns, np.float64), lo, hi)

    def subset(self, idx: np.ndarray) -> "EventSet":
        """A new EventSet of events ``idx`` (hits copied compactly)."""
        idx = np.asarray(idx, np.int64)
        off, hit = gather_ragged(self.hit_offsets, idx)
        per_ev = {k: getattr(self, k)[idx] for k in ("vertex_mm", "energy_MeV", "t0_ns", "true_vertex_mm",
                                                     "true_evis_MeV", "labels", "sources", "file_index",
                                                     "event_index")}
        return EventSet(off, self.hit_pmt[hit], self.hit_time_ns[hit], self.hit_charge_pe[hit], **per_ev,
                        source_names=list(self.source_names), files=list(self.files), pmt_pos_mm=self.pmt_pos_mm,
                        pmt_type=self.pmt_type, type_tts_ns=self.type_tts_ns, v_mm_per_ns=self.v_mm_per_ns,
                        skipped=dict(self.skipped), nhit_spec=self.nhit_spec,
                        _nhit=None if self._nhit is None else self._nhit[idx])

    @classmethod
    def concat(cls, sets: Sequence["EventSet"]) -> "EventSet":
        """Join sets of the same detector layout (source names and file lists are merged)."""
        if not sets:
            raise ValueError("EventSet.concat needs at least one set")
        a = sets[0]
        for s in sets[1:]:
            if s.pmt_pos_mm.shape != a.pmt_pos_mm.shape or not np.allclose(s.pmt_pos_mm, a.pmt_pos_mm, atol=1e-2):
                raise ValueError("cannot combine event sets of different PMT layouts")
            if s.v_mm_per_ns != a.v_mm_per_ns:
                raise ValueError("cannot combine event sets with different effective light speeds")
        names: list[str] = []
        files: list[str] = []
        src, fidx = [], []
        for s in sets:
            names_map = np.array([names.index(n) if n in names else (names.append(n) or len(names) - 1)
                                  for n in s.source_names], np.int16)
            files_map = np.array([files.index(f) if f in files else (files.append(f) or len(files) - 1)
                                  for f in s.files], np.int32)
            src.append(names_map[s.sources] if len(s) else s.sources)
            fidx.append(files_map[s.file_index] if len(s) else s.file_index)
        cat = lambda k: np.concatenate([getattr(s, k) for s in sets])  # noqa: E731
        skipped: dict[str, int] = {}
        for s in sets:
            for k, v in s.skipped.items():
                skipped[k] = skipped.get(k, 0) + v
        nh = None if any(s._nhit is None for s in sets) or any(s.nhit_spec != a.nhit_spec for s in sets) \
            else np.concatenate([s._nhit for s in sets])
        return cls(concat_offsets([s.hit_offsets for s in sets]), cat("hit_pmt"), cat("hit_time_ns"), cat("hit_charge_pe"), cat("vertex_mm"),
                   cat("energy_MeV"), cat("t0_ns"), cat("true_vertex_mm"), cat("true_evis_MeV"), cat("labels"),
                   np.concatenate(src).astype(np.int16), np.concatenate(fidx).astype(np.int32), cat("event_index"),
                   names, files, a.pmt_pos_mm, a.pmt_type, a.type_tts_ns, a.v_mm_per_ns, skipped, a.nhit_spec, nh)


# --------------------------------------------------------------------------- loading


def event_set_from_chunk(chunk, reco: dict[str, np.ndarray], label: int, source: str, pmts, cfg,
                         events: np.ndarray | None = None) -> EventSet:
    """An in-memory :class:`EventSet` of ``chunk``'s events ``events`` (default: the valid ones of ``reco``).

    ``chunk`` is an ``io.events.EventChunk``, ``reco`` the output of a ``reco.pipeline.Reconstructor``
    and ``pmts`` its ``PMTArray``; ``cfg`` the detector config (for the tube types' timing).
    """
    ok = np.flatnonzero(reco["valid"]) if events is None else np.asarray(events, np.int64)
    off, hit = gather_ragged(chunk.hit_offsets, ok)
    return EventSet(off, chunk.hit_pmt[hit].astype(np.int16), chunk.hit_time_ns[hit], chunk.hit_charge_pe[hit],
                    reco["vertex_mm"][ok], reco["energy_MeV"][ok], reco["t0_ns"][ok],
                    chunk.vertex_mm[ok].astype(float), chunk.evis_MeV[ok].astype(float),
                    np.full(ok.size, label, np.int8), np.zeros(ok.size, np.int16), np.zeros(ok.size, np.int32), ok,
                    [source], [f"<memory:{source}>"], pmts.pos_mm, pmts.type_index,
                    np.array([p.tts_sigma_ns for p in cfg.pmts.types]), cfg.scintillator.group_velocity_mm_per_ns)


def _source_name(run: dict) -> str:
    src = str(run.get("source", "unknown"))
    vtx = str(run.get("vertex", "xels"))
    return src if vtx == "xels" else f"{src}@{vtx}"


def read_reco_group(f: EventFile) -> dict[str, np.ndarray] | None:
    """The ``/reco`` group of a file when it is complete and matches the event count."""
    if "reco" not in f.h5:
        return None
    g = f.h5["reco"]
    if not bool(g.attrs.get("complete", False)) or g["valid"].shape[0] != f.n_events:
        return None
    return {"vertex_mm": g["vertex_mm"][:].astype(np.float64), "energy_MeV": g["energy_MeV"][:].astype(np.float64),
            "t0_ns": g["t0_ns"][:].astype(np.float64), "valid": g["valid"][:].astype(bool),
            "flags": g["flags"][:].astype(np.uint8)}


def _load_one(path: str, label: int | None, selection: Selection, reco_factory: Callable, log: Callable[[str], None],
              chunk_events: int) -> tuple[EventSet, dict]:
    from ..reco.pipeline import BAD_FLAGS, drop_hits_of, hit_flags, summarize_flags, summary_line

    with EventFile(path) as f:
        cfg = f.detector_config()
        pos = f.pmt_positions_mm()
        ptype = f.pmt_types().astype(np.int16)
        stored = read_reco_group(f) if selection.use_reco else None
        rec = None
        parts = []
        for s in range(0, f.n_events, chunk_events):
            ch = f.read(s, s + chunk_events, truth_detail=False, check_values=False)  # bad events: skipped, counted
            flags = hit_flags(ch, pos.shape[0])
            if not selection.use_reco:
                r = {"vertex_mm": ch.vertex_mm.astype(np.float64), "energy_MeV": ch.evis_MeV.astype(np.float64),
                     "t0_ns": np.zeros(ch.n_events)}
            elif stored is not None:
                r = {k: v[s:s + ch.n_events] for k, v in stored.items()}
                flags |= r["flags"]
            else:
                rec = rec or reco_factory(cfg)
                r = rec(ch)
                flags |= r["flags"]
            vtx = np.asarray(r["vertex_mm"], np.float64)
            bad_v = ~np.isfinite(vtx).all(1) & (flags == 0)
            flags[bad_v] |= BAD_FLAGS["fit_failed"]
            ch = drop_hits_of(ch, flags != 0)
            parts.append((ch, r, flags, s))
        run = f.run
    flags = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.uint8)
    vtx = np.concatenate([p[1]["vertex_mm"] for p in parts]) if parts else np.zeros((0, 3))
    e = np.concatenate([p[1]["energy_MeV"] for p in parts]) if parts else np.zeros(0)
    t0 = np.concatenate([p[1]["t0_ns"] for p in parts]) if parts else np.zeros(0)
    valid = flags == 0
    with np.errstate(invalid="ignore"):
        sel = valid & (e >= selection.e_min_MeV) & (e < selection.e_max_MeV) & \
            (np.linalg.norm(np.nan_to_num(vtx, nan=np.inf), axis=1) < selection.r_max_mm)
    log(f"{path}: {summary_line(flags.size, flags)}; selection {selection.e_min_MeV:g}-{selection.e_max_MeV:g} MeV, "
        f"R < {selection.r_max_mm:g} mm kept {int(sel.sum())}")
    # assemble the selected events of all chunks
    offs = []
    hp, ht, hq, tv, te, lab, eidx = [], [], [], [], [], [], []
    for ch, r, fl, s in parts:
        k = np.flatnonzero(sel[s:s + ch.n_events])
        off, hit = gather_ragged(ch.hit_offsets, k)
        offs.append(off)
        hp.append(ch.hit_pmt[hit])
        ht.append(ch.hit_time_ns[hit])
        hq.append(ch.hit_charge_pe[hit])
        tv.append(ch.vertex_mm[k].astype(np.float64))
        te.append(ch.evis_MeV[k].astype(np.float64))
        lab.append(ch.label[k].astype(np.int8))
        eidx.append(k + s)
    n = int(sel.sum())
    cat = lambda xs, dt, shape=(0,): np.concatenate(xs).astype(dt) if xs else np.zeros(shape, dt)  # noqa: E731
    labels = cat(lab, np.int8) if label is None else np.full(n, label, np.int8)
    type_tts = np.array([p.tts_sigma_ns for p in cfg.pmts.types], float)
    es = EventSet(concat_offsets(offs), cat(hp, np.int16), cat(ht, np.float32), cat(hq, np.float32),
                  vtx[sel], e[sel], t0[sel], cat(tv, np.float64, (0, 3)), cat(te, np.float64), labels,
                  np.zeros(n, np.int16), np.zeros(n, np.int32), cat(eidx, np.int64), [_source_name(run)], [str(path)],
                  pos, ptype, type_tts, cfg.scintillator.group_velocity_mm_per_ns, summarize_flags(flags))
    return es, {"n_events": int(flags.size), "n_valid": int(valid.sum()), "n_selected": n}


def load_event_set(paths: str | Path | Iterable[str | Path], label: int | None = None,
                   selection: Selection = Selection(), max_events: int | None = None, seed: int = 0,
                   log: Callable[[str], None] | None = _stderr, cache_dir: Path | None = None,
                   chunk_events: int = 20000) -> EventSet:
    """Load, check, reconstruct (when no ``/reco`` group) and select the events of ``paths``.

    ``label``: class of every event (None: the file's truth label).  Bad events (no hits,
    NaN times or charges, PMT ids outside the layout, failed fit, vertex outside the
    detector) are counted, skipped and reported in one line per file through ``log``.
    ``max_events``: keep a random subset of that size (drawn with ``seed``).
    """
    from ..reco.calibrate import reconstructor_for

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("load_event_set: no input files")
    say = log or (lambda m: None)
    recos: dict[str, object] = {}

    def factory(cfg):
        key = cfg.to_json()
        if key not in recos:
            recos[key] = reconstructor_for(cfg, cache_dir=cache_dir, log=say)
        return recos[key]

    sets = [_load_one(p, label, selection, factory, say, chunk_events)[0] for p in paths]
    es = EventSet.concat(sets) if len(sets) > 1 else sets[0]
    if max_events is not None and len(es) > max_events:
        keep = np.sort(np.random.default_rng(seed).choice(len(es), max_events, replace=False))
        es = es.subset(keep)
    return es


# --------------------------------------------------------------------------- Nhit matching


def _rank_within(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random rank of each element among the elements with the same value."""
    order = np.lexsort((rng.random(values.size), values))
    sv = values[order]
    first = np.searchsorted(sv, sv, side="left")
    rank = np.empty(values.size, np.int64)
    rank[order] = np.arange(values.size) - first
    return rank


MATCH_ON = ("nhit", "energy")
ENERGY_MATCH_BIN_MeV = 0.01  # 10 keV: a tenth of the resolution at 2.5 MeV (~ 6.5 %/sqrt(E))


def _match_bins(sig: EventSet, bkg: EventSet, bin_width: int, match_on: str) -> tuple[np.ndarray, np.ndarray]:
    """Histogram bin of every event for the matching: Nhit (occupied cells, ``bin_width`` wide) or the
    reconstructed energy in :data:`ENERGY_MATCH_BIN_MeV` bins."""
    if match_on == "nhit":
        return sig.nhit() // bin_width, bkg.nhit() // bin_width
    if match_on == "energy":
        e = [np.asarray(es.energy_MeV, float) for es in (sig, bkg)]
        lo = min(float(x.min()) for x in e if x.size) if any(x.size for x in e) else 0.0
        return tuple(np.floor((x - lo) / ENERGY_MATCH_BIN_MeV).astype(np.int64) for x in e)
    raise ValueError(f"match_on must be one of {', '.join(MATCH_ON)}, not {match_on!r}")


def nhit_match(sig: EventSet, bkg: EventSet, seed: int, bootstrap: bool = False,
               bin_width: int = 1, match_on: str = "nhit") -> tuple[np.ndarray, np.ndarray]:
    """Indices of signal and background events with identical Nhit histograms (paper sec. V).

    For every Nhit bin (``bin_width`` cells wide) the same number min(n_sig, n_bkg) of events is
    drawn from each class, without replacement; ``bootstrap=True`` draws that many *with*
    replacement instead (a bootstrap replica of the matched sample).  Sorted indices.
    ``match_on="energy"`` matches the reconstructed-energy histograms instead (10 keV bins): the
    training set then has the energy spectra of the fixed-energy figure the networks are judged on.
    """
    rng = np.random.default_rng(seed)
    bs, bb = _match_bins(sig, bkg, bin_width, match_on)
    top = int(max(bs.max(initial=0), bb.max(initial=0))) + 1
    k = np.minimum(np.bincount(bs, minlength=top), np.bincount(bb, minlength=top))
    if not bootstrap:
        return (np.flatnonzero(_rank_within(bs, rng) < k[bs]), np.flatnonzero(_rank_within(bb, rng) < k[bb]))
    out = []
    for b in (bs, bb):
        order = np.argsort(b, kind="stable")
        first = np.searchsorted(b[order], np.arange(top))
        cnt = np.bincount(b, minlength=top)
        bins = np.repeat(np.arange(top), k)
        pick = first[bins] + (rng.random(bins.size) * cnt[bins]).astype(np.int64)
        out.append(np.sort(order[pick]))
    return out[0], out[1]


def nhit_weights(sig: EventSet, bkg: EventSet, bin_width: int = 1,
                 match_on: str = "nhit") -> tuple[np.ndarray, np.ndarray]:
    """Per-event weights that give signal and background identical weighted Nhit histograms.

    The expectation of :func:`nhit_match` without discarding events: in every Nhit bin each event of a
    class weighs min(n_sig, n_bkg) / n_class, so both classes carry the matched sample's count there
    (bins one class lacks weigh 0, as matching drops them).  Weighting keeps all the events' other
    information (histogram reweighting, as weaver-core does for jet pT and mass).  Mean weight 1 over
    both classes, so a weighted loss keeps the scale of an unweighted one.  ``match_on`` as for
    :func:`nhit_match`.
    """
    bs, bb = _match_bins(sig, bkg, bin_width, match_on)
    top = int(max(bs.max(initial=0), bb.max(initial=0))) + 1
    ns, nb = np.bincount(bs, minlength=top), np.bincount(bb, minlength=top)
    k = np.minimum(ns, nb).astype(float)
    ws, wb = k[bs] / np.maximum(ns[bs], 1), k[bb] / np.maximum(nb[bb], 1)
    total = ws.sum() + wb.sum()
    if total <= 0:
        raise ValueError("Nhit weights: signal and background Nhit ranges do not overlap")
    scale = (ws.size + wb.size) / total
    return (ws * scale).astype(np.float32), (wb * scale).astype(np.float32)


# --------------------------------------------------------------------------- representations


def _layout_key(pmt_pos_mm: np.ndarray) -> int:
    # by content, not id(): a rotated layout (RandomRotation) is a new array every batch, and a
    # freed array's id can be reused by the next one
    return hash(np.ascontiguousarray(pmt_pos_mm).tobytes())


def _cached(cache: dict, key, make: Callable[[], np.ndarray], size: int = 8) -> np.ndarray:
    if key not in cache:
        if len(cache) >= size:  # rotated layouts would grow it without bound
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


class _Representation:
    """Base: caches the per-PMT cell table of an EventSet layout."""

    pmt_types: tuple[int, ...] | None = None

    def _cells(self, events: EventSet, spec: MapSpec) -> np.ndarray:
        return _cached(self.__dict__.setdefault("_cell_cache", {}), (_layout_key(events.pmt_pos_mm), spec, self.pmt_types),
                       lambda: pmt_cells(events.pmt_pos_mm, spec, events.pmt_mask(self.pmt_types)))


@dataclass(frozen=True)
class KamNetMap(_Representation):
    """Spatiotemporal hit map (paper eq. 1–2): ``{"x": float32 [B, n_t, n_theta, n_phi]}`` of charge.

    ``pmt_types`` None uses the fast-timing tubes (paper: 17-inch); ``log_charge`` puts
    log1p(charge) in the cells instead of charge.  ``frame="centre"`` (the paper) bins each tube
    by its direction from the detector centre; ``frame="vertex"`` by its direction from the
    reconstructed vertex (:func:`~.maps.fill_maps` says why).
    """

    spec: MapSpec = PAPER_MAP
    pmt_types: tuple[int, ...] | None = None
    log_charge: bool = False
    frame: str = "centre"

    def __post_init__(self):
        if self.frame not in ("centre", "vertex"):
            raise ValueError(f"KamNetMap frame must be 'centre' or 'vertex', not {self.frame!r}")

    def __call__(self, events: EventSet, idx: np.ndarray) -> dict[str, torch.Tensor]:
        s = self.spec
        idx = np.asarray(idx, np.int64)
        out = np.zeros((idx.size, s.n_cells), np.float32)
        fill_maps(out, idx, *events._kernel_args(self._cells(events, s), s), s.t_min_ns, s.dt_ns, s.n_t, s.n_angle,
                  self.frame == "vertex", s.n_theta, s.n_phi, s.grid == "equal_area")
        if self.log_charge:
            np.log1p(out, out=out)
        return {"x": torch.from_numpy(out).view(idx.size, *s.shape)}


@dataclass(frozen=True)
class TimeSpectrum(_Representation):
    """Charge-weighted proper-time spectrum ``{"x": float32 [B, n_bins]}`` (LSTM baseline input).

    Edge bins keep under/overflow; ``normalize`` divides by the event's summed charge.
    """

    n_bins: int = 28
    t_min_ns: float = -20.0
    t_max_ns: float = 22.0
    pmt_types: tuple[int, ...] | None = None
    normalize: bool = False

    def __call__(self, events: EventSet, idx: np.ndarray) -> dict[str, torch.Tensor]:
        spec = MapSpec(n_t=self.n_bins, t_min_ns=self.t_min_ns, t_max_ns=self.t_max_ns, n_theta=1, n_phi=1)
        idx = np.asarray(idx, np.int64)
        out = np.zeros((idx.size, self.n_bins), np.float32)
        fill_spectra(out, idx, *events._kernel_args(self._cells(events, spec), spec), spec.t_min_ns, spec.dt_ns,
                     spec.n_t)
        if self.normalize:
            out /= np.maximum(out.sum(1, keepdims=True), 1e-12)
        return {"x": torch.from_numpy(out)}


@dataclass(frozen=True)
class PointCloud(_Representation):
    """Hits as points ``{"x": float32 [B, N, F], "mask": bool [B, N]}``.

    ``frame="centre"`` (F = 6): PMT direction seen from the detector centre (x, y, z unit
    vector), proper time tau (ns), charge (p.e.), PMT type index.
    ``frame="vertex"`` (F = 8): the direction is the unit vector u from the reconstructed vertex
    to the PMT, followed by u . r_vertex / R and |r_vertex| / R (R: mean PMT-sphere radius).
    Rotating the detector about its centre rotates u and leaves the two vertex scalars
    unchanged, so a rotation-invariant network stays invariant while it learns where in the
    detector the event is (an off-centre vertex breaks the symmetry to rotations about r_vertex).
    At most ``n_max`` hits per event, the earliest in proper time first; padding rows are
    zero with ``mask`` False.  ``pmt_types`` None keeps all tubes.
    """

    n_max: int = 768
    pmt_types: tuple[int, ...] | None = None
    frame: str = "centre"

    def __post_init__(self) -> None:
        if self.frame not in ("centre", "vertex"):
            raise ValueError(f"PointCloud frame must be 'centre' or 'vertex', not {self.frame!r}")

    @property
    def n_features(self) -> int:
        return 8 if self.frame == "vertex" else 6

    def _cells(self, events: EventSet, spec: MapSpec) -> np.ndarray:
        def make() -> np.ndarray:
            keep = np.ones(events.pmt_type.size, bool) if self.pmt_types is None else events.pmt_mask(self.pmt_types)
            return np.where(keep, 0, -1).astype(np.int32)

        return _cached(self.__dict__.setdefault("_cell_cache", {}), (_layout_key(events.pmt_pos_mm), self.pmt_types),
                       make)

    def __call__(self, events: EventSet, idx: np.ndarray) -> dict[str, torch.Tensor]:
        idx = np.asarray(idx, np.int64)
        x = np.zeros((idx.size, self.n_max, self.n_features), np.float32)
        mask = np.zeros((idx.size, self.n_max), np.bool_)
        cells = self._cells(events, PAPER_MAP)
        dirs = events.pmt_pos_mm / np.linalg.norm(events.pmt_pos_mm, axis=1, keepdims=True)
        a = events._kernel_args(cells)
        r_ref_mm = float(np.linalg.norm(events.pmt_pos_mm, axis=1).mean())
        fill_points(x, mask, idx, a[0], a[1], a[2], a[3], a[4], a[5], dirs, events.pmt_type, cells, a[7], a[8], a[9],
                    a[10], self.frame == "vertex", 1.0 / r_ref_mm)
        return {"x": torch.from_numpy(x), "mask": torch.from_numpy(mask)}


@dataclass(frozen=True)
class RandomRotation:
    """Training-time augmentation: each batch seen with the detector rotated about its centre.

    The events' physics does not depend on the direction they sit in: a rotation R of the PMT
    positions and the reconstructed (and true) vertices about the centre keeps every
    time of flight and proper time, and moves the hit pattern on the sphere.  ``representation``
    then builds its input from the rotated layout (its cells are recomputed: PMTs fall into other
    map cells, as they would for an event elsewhere), so the network sees each training event in a
    new orientation every epoch -- more distinct inputs from the same simulation, and a nudge
    towards the rotation invariance the spherical layers have by construction.  R is uniform on
    SO(3) (scipy) and a function of (``seed``, the batch's event indices) only: the same batches give
    the same rotations, with any number of loader workers and after a resume.  Only for training:
    validation and test see the detector as it is.
    """

    representation: Callable
    seed: int = 0

    def __call__(self, events: EventSet, idx: np.ndarray) -> dict[str, torch.Tensor]:
        from scipy.spatial.transform import Rotation

        idx = np.asarray(idx, np.int64)
        rng = np.random.default_rng([int(self.seed), zlib.crc32(idx.tobytes())])
        return self.representation(rotate_events(events, Rotation.random(random_state=rng).as_matrix()), idx)


def rotate_events(events: EventSet, rot: np.ndarray) -> EventSet:
    """The events with the detector rotated by the 3 x 3 rotation matrix ``rot`` about its centre: PMT
    positions and (reconstructed, true) vertices rotated, hits and times shared (not copied)."""
    rot = np.asarray(rot, np.float64)
    if rot.shape != (3, 3) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-9) or np.linalg.det(rot) < 0:
        raise ValueError("rot must be a 3 x 3 proper rotation matrix")
    return dataclasses.replace(events, pmt_pos_mm=events.pmt_pos_mm @ rot.T, vertex_mm=events.vertex_mm @ rot.T,
                               true_vertex_mm=events.true_vertex_mm @ rot.T, _nhit=None)


# --------------------------------------------------------------------------- loaders


class BatchDataset(Dataset):
    """Map-style dataset indexed by *batches* of event indices (one scatter per batch)."""

    def __init__(self, events: EventSet, index: np.ndarray, y: np.ndarray, representation: Callable,
                 w: np.ndarray | None = None):
        self.events = events
        self.index = np.asarray(index, np.int64)
        self.y = np.asarray(y, np.float32)
        self.representation = representation
        self.w = None if w is None else np.asarray(w, np.float32)  # per-event loss weights (Nhit weighting)

    def __len__(self) -> int:
        return int(self.index.size)

    def __getitem__(self, batch: Sequence[int]) -> tuple[torch.Tensor, ...]:
        """``(inputs, y)``, or ``(inputs, y, w)`` for a weighted dataset."""
        b = np.asarray(batch, np.int64)
        item = (self.representation(self.events, self.index[b]), torch.from_numpy(self.y[b]))
        return item if self.w is None else (*item, torch.from_numpy(self.w[b]))


def split_indices(n: int, split: tuple[float, float, float], rng: np.random.Generator) -> list[np.ndarray]:
    """Random disjoint train/val/test index arrays of ``range(n)`` with the given fractions."""
    if len(split) != 3 or min(split) < 0 or sum(split) <= 0:
        raise ValueError(f"split must be three non-negative fractions, got {split}")
    f = np.asarray(split, float) / sum(split)
    perm = rng.permutation(n)
    cut = np.round(np.cumsum(f) * n).astype(np.int64)
    return [np.sort(perm[a:b]) for a, b in zip([0, cut[0], cut[1]], [cut[0], cut[1], n])]


def _loader(ds: BatchDataset, train: bool, batch_size: int, seed: int, num_workers: int) -> DataLoader:
    if train:
        g = torch.Generator().manual_seed(int(seed))
        sampler = BatchSampler(RandomSampler(range(len(ds)), generator=g), batch_size, drop_last=False)
    else:
        sampler = BatchSampler(SequentialSampler(range(len(ds))), batch_size, drop_last=False)
    return DataLoader(ds, batch_size=None, sampler=sampler, num_workers=num_workers, persistent_workers=num_workers > 0)


def _weighted_loaders(signal: EventSet, background: EventSet, representation: Callable, batch_size: int,
                      split: tuple[float, float, float], seed: int, num_workers: int,
                      match_on: str = "nhit") -> dict[str, DataLoader]:
    """:func:`make_loaders` with Nhit weighting: split, weight the training split, match val/test."""
    events = EventSet.concat([signal, background])
    rng = np.random.default_rng(seed)
    ps, pb = split_indices(len(signal), split, rng), split_indices(len(background), split, rng)
    out = {}
    for k, name in enumerate(("train", "val", "test")):
        s, b = signal.subset(ps[k]), background.subset(pb[k])
        if name == "train":
            ws, wb = nhit_weights(s, b, match_on=match_on)
            keep_s, keep_b = np.flatnonzero(ws > 0), np.flatnonzero(wb > 0)
            w = np.concatenate([ws[keep_s], wb[keep_b]])
        else:
            keep_s, keep_b = nhit_match(s, b, seed + k, match_on=match_on)
            w = None
        index = np.concatenate([ps[k][keep_s], len(signal) + pb[k][keep_b]])
        y = np.concatenate([np.ones(keep_s.size), np.zeros(keep_b.size)]).astype(np.float32)
        out[name] = _loader(BatchDataset(events, index, y, representation, w), name == "train", batch_size, seed,
                            num_workers)
    return out


def make_loaders(signal: EventSet, background: EventSet, representation: Callable, batch_size: int = 32,
                 split: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0, nhit_matching: bool = True,
                 num_workers: int = 0, bootstrap: bool = False, nhit_weighting: bool = False,
                 match_on: str = "nhit") -> dict[str, DataLoader]:
    """Train/val/test loaders of signal (y = 1) against background (y = 0).

    Nhit matching (optional) happens first; each class is then split with ``split`` by
    ``seed`` (stratified, so every split keeps the class balance).  The train loader
    reshuffles every epoch from a generator seeded with ``seed``; val/test keep file order.
    Each item is ``(inputs: dict[str, Tensor], y: float32 Tensor [B])``.

    ``nhit_weighting`` (with ``nhit_matching``): each class is split first; the training split keeps
    every event, weighted by :func:`nhit_weights` (items ``(inputs, y, w)``), and only validation and
    test are matched by resampling — the training set is not thinned to the smaller class per Nhit bin.
    ``match_on``: what the matching equalises, ``"nhit"`` (the paper) or ``"energy"`` (:func:`nhit_match`).
    """
    if nhit_matching and nhit_weighting:
        return _weighted_loaders(signal, background, representation, batch_size, split, seed, num_workers, match_on)
    if len(signal) == 0 or len(background) == 0:
        raise ValueError(f"make_loaders needs events of both classes (signal {len(signal)}, background {len(background)})")
    if nhit_matching:
        isig, ibkg = nhit_match(signal, background, seed, bootstrap=bootstrap, match_on=match_on)
    else:
        isig, ibkg = np.arange(len(signal)), np.arange(len(background))
    events = EventSet.concat([signal, background])
    rng = np.random.default_rng(seed)
    parts = [split_indices(isig.size, split, rng), split_indices(ibkg.size, split, rng)]
    out = {}
    for k, name in enumerate(("train", "val", "test")):
        index = np.concatenate([isig[parts[0][k]], len(signal) + ibkg[parts[1][k]]])
        y = np.concatenate([np.ones(parts[0][k].size), np.zeros(parts[1][k].size)]).astype(np.float32)
        out[name] = _loader(BatchDataset(events, index, y, representation), name == "train", batch_size, seed,
                            num_workers)
    return out
