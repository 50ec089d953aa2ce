"""Double-pulse (pile-up) identification: a second burst of light inside one readout window.

Some backgrounds put two separated flashes into one event: ⁹⁰Nb feeds the ⁹⁰Zr 3589 keV
isomer (T½ = 125 ns), whose 141 + 1129 keV γ-rays follow the β⁺/EC by ~100 ns; ²¹²Bi–²¹²Po
(T½ = 0.3 µs) piles up the same way.  The reconstructed energy counts both flashes, but the maps'
proper-time window (−20…22 ns) sees at most one of them, and the paper's T0 (charge-weighted mean,
eq. 2) lands between the two, so a network trained on single-flash events meets inputs it has never
seen.  A cut on the size of the largest late burst removes most of them at ~1 % signal loss and is
the same for every model, so it belongs in reconstruction, not in a network.

The variable: time residuals r = t_hit − |x_vertex − x_pmt| / v − t0 with the vertex fit's start
time t0 (the time-likelihood fit locks onto the first flash: its PDF has a flat floor for late
light); the largest number of hits in any ``window_ns`` interval starting at least ``delay_min_ns``
after t0, divided by all hits of the event.  Single-flash events only have the scintillator's slow
tail and dark hits there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np


@dataclass(frozen=True)
class DoublePulse:
    """Where to look for a second flash (ns after the reconstructed start time) and how wide it is.

    30 ns: past the fast scintillation pulse (6.9 ns decay in ``klz800``), so a single flash only
    contributes its slow tail there; with a 20 ns start the variable also responds to the pulse
    shape (two flashes 3 ns apart already fail the cut 27 % of the time, tests/test_pileup.py).
    """

    delay_min_ns: float = 30.0
    window_ns: float = 10.0

    def __post_init__(self) -> None:
        if not (self.delay_min_ns >= 0 and self.window_ns > 0):
            raise ValueError(f"DoublePulse needs delay_min_ns >= 0 and window_ns > 0, got {self}")


# Own kernel rather than a vectorised numpy form: it needs a per-event sort of the residuals
# and a sliding-window maximum, which Numba does in one pass without a per-event Python loop.
@nb.njit(cache=True)
def _second_pulse(offsets, pmt, time_ns, vertex_mm, t0_ns, pmt_pos, inv_v, delay_min, width):
    n = offsets.size - 1
    out = np.zeros(n)
    for e in range(n):
        a, b = offsets[e], offsets[e + 1]
        if b <= a or not np.isfinite(t0_ns[e]):
            out[e] = np.nan
            continue
        r = np.empty(b - a)
        for h in range(a, b):
            p = pmt[h]
            dx = pmt_pos[p, 0] - vertex_mm[e, 0]
            dy = pmt_pos[p, 1] - vertex_mm[e, 1]
            dz = pmt_pos[p, 2] - vertex_mm[e, 2]
            r[h - a] = time_ns[h] - np.sqrt(dx * dx + dy * dy + dz * dz) * inv_v - t0_ns[e]
        r.sort()
        best = 0
        j = 0
        for i in range(r.size):  # two pointers: hits in [r_i, r_i + width) for every late r_i
            if r[i] < delay_min:
                continue
            if j < i:
                j = i
            while j < r.size and r[j] < r[i] + width:
                j += 1
            best = max(best, j - i)
        out[e] = best / r.size
    return out


def second_pulse_fraction(hit_offsets: np.ndarray, hit_pmt: np.ndarray, hit_time_ns: np.ndarray,
                          vertex_mm: np.ndarray, t0_ns: np.ndarray, pmt_pos_mm: np.ndarray, v_mm_per_ns: float,
                          cfg: DoublePulse = DoublePulse()) -> np.ndarray:
    """Fraction of an event's hits in its largest late burst (float64[n_events]; NaN without hits or t0).

    ``hit_offsets`` int[n+1] ragged offsets; ``hit_time_ns`` raw first-hit times; ``vertex_mm`` and
    ``t0_ns`` the reconstructed vertex and start time; ``v_mm_per_ns`` the light speed of the TOF.
    """
    off = np.asarray(hit_offsets, np.int64)
    if off.ndim != 1 or off.size < 1 or np.any(np.diff(off) < 0) or off[-1] != len(hit_pmt):
        raise ValueError("hit_offsets must be non-decreasing, start the ragged hit arrays and end at their length")
    if len(hit_time_ns) != len(hit_pmt):
        raise ValueError("hit_time_ns and hit_pmt differ in length")
    if v_mm_per_ns <= 0:
        raise ValueError(f"v_mm_per_ns must be > 0, got {v_mm_per_ns}")
    return _second_pulse(off, np.asarray(hit_pmt, np.int64), np.asarray(hit_time_ns, np.float64),
                         np.asarray(vertex_mm, np.float64), np.asarray(t0_ns, np.float64),
                         np.asarray(pmt_pos_mm, np.float64), 1.0 / v_mm_per_ns, float(cfg.delay_min_ns),
                         float(cfg.window_ns))


def event_set_second_pulse(events, cfg: DoublePulse = DoublePulse()) -> np.ndarray:
    """:func:`second_pulse_fraction` of every event of a :class:`~scintnet.features.dataset.EventSet`."""
    return second_pulse_fraction(events.hit_offsets, events.hit_pmt, events.hit_time_ns, events.vertex_mm,
                                 events.t0_ns, events.pmt_pos_mm, events.v_mm_per_ns, cfg)


def cut_for_signal_loss(signal_fraction: np.ndarray, loss: float) -> float:
    """Cut value that removes the fraction ``loss`` of the signal (events above it fail)."""
    x = np.asarray(signal_fraction, float)
    x = x[np.isfinite(x)]
    if not 0.0 < loss < 1.0:
        raise ValueError(f"signal loss must be in (0, 1), got {loss}")
    if x.size == 0:
        raise ValueError("no finite signal values to set the double-pulse cut on")
    return float(np.quantile(x, 1.0 - loss, method="higher"))


def apply_cut(score: np.ndarray, fraction: np.ndarray, cut: float, fail_score: float = -1.0) -> np.ndarray:
    """Scores with the events failing the cut (fraction above ``cut``, or NaN) set to ``fail_score``.

    Any threshold on the returned score is then "passes the cut and the score threshold", so every
    rejection-at-acceptance metric gives the combined figure with the acceptance counted over all events.
    """
    s = np.array(score, float, copy=True)
    f = np.asarray(fraction, float)
    if f.shape != s.shape:
        raise ValueError(f"{f.size} double-pulse values for {s.size} scores")
    s[~(f <= cut)] = fail_score
    return s
