"""Light outside the map window: why KamNet "rejects" ⁹⁰Nb, and what a plain cut does.

⁹⁰Nb (8⁺, 14.6 h) feeds the ⁹⁰Zr 3589 keV 8⁺ level, T½ = 125 ns (ENSDF via paceENSDF, in
``scintnet/physics/data/decay_data.json``): its 141 + 1129 keV γ-rays come ~100 ns after the β⁺/EC,
outside the proper-time window of the maps (−20…22 ns) but inside the event, so they count in the
reconstructed energy; they also drag the maps' T0 (charge-weighted mean time) late, pushing the
prompt hits below the window.  For every event in the 2–3 MeV, R < r_max selection
:func:`delayed_light_study` gives the fraction of hits outside the map window (τ as in the maps;
0νββ: the scintillator tail) and the in-window hits per MeV, then — for each evaluated run — the
rejection at 90 % 0νββ acceptance of the background events with and without delayed light
(out-of-window fraction above the 0νββ 99th percentile), and what that one cut alone rejects.  The
scores are read from RUN/eval/scores.h5 (same selection, same event order).
``scintnet study delayed-light``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..evaluate.compare import load_field
from ..features.maps import MapSpec
from ..io.rundir import SCORES, read_run_json
from .table_klz800 import StudyError

MAP_WINDOW_NS = (MapSpec.t_min_ns, MapSpec.t_max_ns)  # the maps' proper-time window (its defaults)


def late_light(path: str | Path, r_max_mm: float, window_ns: tuple[float, float] = MAP_WINDOW_NS
               ) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of hits outside the map window, in-window hits per MeV) per selected event of ``path``.

    τ is the maps' own proper time (:func:`scintnet.features.maps.proper_times`: T0 the charge-weighted
    mean of T_raw − TOF), so delayed light also drags T0 late and pushes prompt hits below the window.
    """
    from types import SimpleNamespace

    from ..features.dataset import Selection, load_event_set
    from ..features.maps import proper_times

    ev = load_event_set([str(path)], selection=Selection(e_min_MeV=2.0, e_max_MeV=3.0, r_max_mm=r_max_mm), seed=0,
                        log=None)
    nhit = np.diff(ev.hit_offsets)
    chunk = SimpleNamespace(n_events=len(ev), nhit=lambda: nhit, hit_pmt=ev.hit_pmt, hit_time_ns=ev.hit_time_ns,
                            hit_charge_pe=ev.hit_charge_pe)
    tau = proper_times(chunk, ev.pmt_pos_mm, ev.vertex_mm, ev.v_mm_per_ns)
    inside = (tau >= window_ns[0]) & (tau < window_ns[1])
    n_in = np.add.reduceat(inside.astype(np.int64), ev.hit_offsets[:-1])
    return 1.0 - n_in / nhit, n_in / ev.energy_MeV


def delayed_light_study(signal: str | Path, background: str | Path, group: str, runs: list[str | Path] = (),
                        r_max_mm: float | None = None) -> dict[str, Any]:
    """The late-light figures of ``background`` vs ``signal`` and, per run, the rejection split by it."""
    runs = [Path(r) for r in runs]
    if r_max_mm is None:
        if not runs:
            raise StudyError("give --r-max-mm or at least one run (its r_max_mm is used)")
        r_max_mm = float(read_run_json(runs[0])["run_config"]["r_max_mm"])
    ls, ns = late_light(signal, r_max_mm)
    lb, nb = late_light(background, r_max_mm)
    pct = lambda v: [float(x) for x in np.percentile(v, [10, 50, 90])]  # noqa: E731
    cut = float(np.percentile(ls, 99))
    delayed = lb > cut
    res: dict[str, Any] = {
        "group": group, "r_max_mm": r_max_mm, "n_signal": int(ls.size), "n_background": int(lb.size),
        "out_of_window_fraction_p10_50_90": {"signal": pct(ls), "background": pct(lb)},
        "in_window_hits_per_MeV_p10_50_90": {"signal": pct(ns), "background": pct(nb)},
        "cut_at_signal_p99": cut, "cut_rejection": float(delayed.mean()), "runs": {}}
    for run in runs:
        sc, sig = load_field(run / "eval" / SCORES)
        if group not in sc:
            raise StudyError(f"{run}: no group {group!r} in its evaluation (groups: {', '.join(sc)})")
        b = sc[group]
        if b.size != lb.size:
            raise StudyError(f"{run}: {b.size} scored {group} events, the selection gives {lb.size}")
        thr = np.quantile(sc[sig], 0.1)
        res["runs"][str(run)] = {"n_delayed": int(delayed.sum()),
                                 "rejection_delayed": float(np.mean(b[delayed] < thr)) if delayed.any() else None,
                                 "rejection_others": float(np.mean(b[~delayed] < thr)) if (~delayed).any() else None,
                                 "rejection_all": float(np.mean(b < thr))}
    return res


def summary_lines(res: dict[str, Any]) -> list[str]:
    f = lambda v: " / ".join(f"{x:.3g}" for x in v)  # noqa: E731
    g = res["group"]
    o, h = res["out_of_window_fraction_p10_50_90"], res["in_window_hits_per_MeV_p10_50_90"]
    lines = [f"fraction of hits outside the map window (10/50/90 %): 0νββ {f(o['signal'])}, {g} {f(o['background'])}",
             f"in-window hits per MeV (10/50/90 %): 0νββ {f(h['signal'])}, {g} {f(h['background'])}",
             f"cut on that fraction at the 0νββ 99th percentile ({res['cut_at_signal_p99']:.3f}; 1 % 0νββ loss) "
             f"rejects {100 * res['cut_rejection']:.1f} % of {g} ({res['n_background']} events)"]
    pc = lambda v: "—" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    for run, r in res["runs"].items():
        lines.append(f"{run}: rejection at 90 % — delayed-light events ({r['n_delayed']}) {pc(r['rejection_delayed'])}, "
                     f"others ({res['n_background'] - r['n_delayed']}) {pc(r['rejection_others'])}, "
                     f"all {pc(r['rejection_all'])}")
    return lines
