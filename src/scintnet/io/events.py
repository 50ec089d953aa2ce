"""In-memory event chunk: the unit that simulation produces and the store writes/reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def ragged_offsets(event: np.ndarray, n_events: int) -> np.ndarray:
    """Offsets int64[n_events+1] of an event-sorted index array."""
    return np.searchsorted(event, np.arange(n_events + 1)).astype(np.int64)


def concat_offsets(offsets: list[np.ndarray]) -> np.ndarray:
    """Offsets of the concatenation of ragged arrays, given each one's offsets (int64[n_i + 1] each)."""
    out = [np.zeros(1, np.int64)]
    base = 0
    for o in offsets:
        out.append(np.asarray(o[1:], np.int64) + base)
        base += int(o[-1])
    return np.concatenate(out)


@dataclass
class EventChunk:
    """A block of consecutive events (struct of arrays, ragged where needed).

    Hits:     ``hit_offsets`` int64[n+1], ``hit_pmt`` int16/int32, ``hit_time_ns`` float32,
              ``hit_charge_pe`` float32.
    Truth:    ``vertex_mm`` float32[n,3], ``edep_MeV`` / ``evis_MeV`` float32[n] (summed over
              deposits inside scintillator and everywhere, see below), ``npe`` int32[n],
              ``label`` int8[n]; ``dep_*`` deposits and ``prim_*`` primaries, ragged.
    """

    hit_offsets: np.ndarray
    hit_pmt: np.ndarray
    hit_time_ns: np.ndarray
    hit_charge_pe: np.ndarray
    vertex_mm: np.ndarray
    edep_MeV: np.ndarray
    evis_MeV: np.ndarray
    npe: np.ndarray
    label: np.ndarray
    dep_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    dep_pos_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    dep_t_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    dep_edep_MeV: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    dep_evis_MeV: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    dep_ptype: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    prim_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    prim_ptype: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    prim_energy_MeV: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    prim_t_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def n_events(self) -> int:
        return int(self.hit_offsets.size - 1)

    def nhit(self) -> np.ndarray:
        return np.diff(self.hit_offsets)

    def event_hits(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.hit_offsets[i], self.hit_offsets[i + 1]
        return self.hit_pmt[a:b], self.hit_time_ns[a:b], self.hit_charge_pe[a:b]

    def take(self, idx: np.ndarray) -> "EventChunk":
        """The events ``idx`` (in that order) with their hits, deposits and primaries."""
        idx = np.asarray(idx, np.int64)

        def ragged(off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            n = off[idx + 1] - off[idx]
            new = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
            rows = np.repeat(off[idx] - new[:-1], n) + np.arange(new[-1])
            return new, rows

        ho, h = ragged(self.hit_offsets)
        do, d = ragged(self.dep_offsets) if self.dep_offsets.size == self.n_events + 1 else (np.zeros(idx.size + 1, np.int64), np.zeros(0, np.int64))
        po, p = ragged(self.prim_offsets) if self.prim_offsets.size == self.n_events + 1 else (np.zeros(idx.size + 1, np.int64), np.zeros(0, np.int64))
        return EventChunk(
            ho, self.hit_pmt[h], self.hit_time_ns[h], self.hit_charge_pe[h], self.vertex_mm[idx], self.edep_MeV[idx],
            self.evis_MeV[idx], self.npe[idx], self.label[idx],
            do, self.dep_pos_mm[d], self.dep_t_ns[d], self.dep_edep_MeV[d], self.dep_evis_MeV[d], self.dep_ptype[d],
            po, self.prim_ptype[p], self.prim_energy_MeV[p], self.prim_t_ns[p])

    def total_charge(self) -> np.ndarray:
        """Summed charge per event in p.e. (float64)."""
        q = np.concatenate([[0.0], np.cumsum(self.hit_charge_pe, dtype=np.float64)])
        return q[self.hit_offsets[1:]] - q[self.hit_offsets[:-1]]
