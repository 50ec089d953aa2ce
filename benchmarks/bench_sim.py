"""Simulation throughput benchmark: prints events/s and photoelectrons/s (0nbb, klz800).

    python benchmarks/bench_sim.py [--events N] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os

from scintnet.bench import bench_sim, stage_profile
from scintnet.detector.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="klz800")
    ap.add_argument("--source", default="Xe136_0vbb")
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--workers", type=int, nargs="*", default=[2])
    a = ap.parse_args()
    cfg = load_config(a.preset)
    res = bench_sim(cfg, a.preset, a.source, a.events, workers_list=tuple(a.workers))
    res["stage_seconds"] = stage_profile(cfg, a.source)
    res["cpu_count"] = os.cpu_count()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
