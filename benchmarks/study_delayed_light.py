"""Light outside the map window: why KamNet "rejects" ⁹⁰Nb, and what a plain cut does.

⁹⁰Nb (8⁺, 14.6 h) feeds the ⁹⁰Zr 3589 keV 8⁺ level, T½ = 125 ns (ENSDF via paceENSDF, in
``scintnet/physics/data/decay_data.json``): its 141 + 1129 keV γ-rays come ~100 ns after the β⁺/EC,
outside the proper-time window of the maps (−20…22 ns) but inside the event, so they count in the
reconstructed energy; they also drag the maps' T0 (charge-weighted mean time) late, pushing the
prompt hits below the window.  For every event in the 2–3 MeV, R < r_max selection this prints the
fraction of hits outside the map window (τ as in the maps; 0νββ: the scintillator tail) and the
in-window hits per MeV, then — for each evaluated run — the rejection at 90 % 0νββ acceptance of the
background events with and without delayed light (out-of-window fraction above the 0νββ 99th
percentile), and what that one cut alone rejects.  The scores are read from RUN/eval/scores.h5 (same selection, same event order).

Usage:
    python benchmarks/study_delayed_light.py --signal out/data/test_klz800_Xe136_0vbb_xels.h5 \
        --background out/data/test_klz800_Nb90_xels.h5 --group Nb90 out/b9/kamnet_cpu out/b9/deepsphere
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def late_light(path: str, r_max_mm: float, window_ns: tuple[float, float] = (-20.0, 22.0)):
    """(fraction of hits outside the map window, in-window hits per MeV) per selected event of ``path``.

    τ is the maps' own proper time (``scintnet.features.maps.proper_times``: T0 the charge-weighted
    mean of T_raw − TOF), so delayed light also drags T0 late and pushes prompt hits below the window.
    """
    from types import SimpleNamespace

    from scintnet.features.dataset import Selection, load_event_set
    from scintnet.features.maps import proper_times

    ev = load_event_set([path], selection=Selection(e_min_MeV=2.0, e_max_MeV=3.0, r_max_mm=r_max_mm), seed=0,
                        log=None)
    nhit = np.diff(ev.hit_offsets)
    chunk = SimpleNamespace(n_events=len(ev), nhit=lambda: nhit, hit_pmt=ev.hit_pmt, hit_time_ns=ev.hit_time_ns,
                            hit_charge_pe=ev.hit_charge_pe)
    tau = proper_times(chunk, ev.pmt_pos_mm, ev.vertex_mm, ev.v_mm_per_ns)
    inside = (tau >= window_ns[0]) & (tau < window_ns[1])
    n_in = np.add.reduceat(inside.astype(np.int64), ev.hit_offsets[:-1])
    return 1.0 - n_in / nhit, n_in / ev.energy_MeV


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--signal", required=True)
    ap.add_argument("--background", required=True)
    ap.add_argument("--group", required=True, help="background group name in RUN/eval/scores.h5")
    ap.add_argument("--r-max-mm", type=float, help="default: the first run's r_max_mm")
    a = ap.parse_args()
    import h5py

    r_max = a.r_max_mm or json.loads((a.runs[0] / "run.json").read_text())["run_config"]["r_max_mm"]
    ls, ns = late_light(a.signal, r_max)
    lb, nb = late_light(a.background, r_max)
    pct = lambda v: " / ".join(f"{x:.3g}" for x in np.percentile(v, [10, 50, 90]))  # noqa: E731
    print(f"fraction of hits outside the map window (10/50/90 %): 0νββ {pct(ls)}, {a.group} {pct(lb)}")
    print(f"in-window hits per MeV (10/50/90 %): 0νββ {pct(ns)}, {a.group} {pct(nb)}")
    cut = np.percentile(ls, 99)
    delayed = lb > cut
    print(f"cut on that fraction at the 0νββ 99th percentile ({cut:.3f}; 1 % 0νββ loss) rejects "
          f"{100 * delayed.mean():.1f} % of {a.group} ({lb.size} events)")
    for run in a.runs:
        with h5py.File(run / "eval" / "scores.h5", "r") as f:
            s, b = f[f.attrs["signal_source"]]["score"][:], f[a.group]["score"][:]
        if b.size != lb.size:
            raise SystemExit(f"{run}: {b.size} scored {a.group} events, selection gives {lb.size}")
        thr = np.quantile(s, 0.1)
        print(f"{run}: rejection at 90 % — delayed-light events ({delayed.sum()}) {100 * np.mean(b[delayed] < thr):.1f} %, "
              f"others ({(~delayed).sum()}) {100 * np.mean(b[~delayed] < thr):.1f} %, all {100 * np.mean(b < thr):.1f} %")


if __name__ == "__main__":
    main()
