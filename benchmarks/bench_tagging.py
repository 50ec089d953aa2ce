"""Throughput of the stream and the likelihood tag at real size.

    .venv/bin/python benchmarks/bench_tagging.py --days 365 --workers 2 --out /tmp/stream365.h5

Prints the seconds to generate the stream and to tag its candidates (pair search + score).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/stream_bench.h5")
    ap.add_argument("--reuse", action="store_true", help="tag an existing --out instead of generating it")
    a = ap.parse_args()
    from scintnet.sim.stream import load_stream_config, read_stream, run_stream
    from scintnet.tagging.config import load_tag_config
    from scintnet.tagging.likelihood import fit_likelihood
    from scintnet.tagging.pairs import find_pairs, neutron_table, select_candidates

    res: dict[str, float] = {}
    if not a.reuse:
        t = time.perf_counter()
        r = run_stream(load_stream_config(), a.days, 1, a.out, a.workers)
        res["stream_s"] = time.perf_counter() - t
        res["n_events"], res["n_muons"] = r["n_events"], r["n_muons"]
    s = read_stream(a.out)
    sc = load_tag_config().spallation
    c = select_candidates(s, sc.fiducial_radius_mm, 0.0)  # every XeLS candidate (the tag ignores energy)
    t = time.perf_counter()
    p = find_pairs(c, neutron_table(s, sc.fiducial_radius_mm + sc.max_distance_mm), sc.window_s, sc.max_distance_mm)
    res["pair_search_s"] = time.perf_counter() - t
    train = np.arange(len(c)) % 2 == 0
    if c.is_spallation.sum() >= 5:
        lk = fit_likelihood(c, p, train, sc.max_distance_mm)
        t = time.perf_counter()
        lk.score(p)
        res["score_s"] = time.perf_counter() - t
    res["n_candidates"] = len(c)
    res["pairs_per_candidate"] = p.muon.size / max(len(c), 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
