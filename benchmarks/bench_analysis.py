"""Fit and Feldman–Cousins timings for the klz800-like model (prints JSON).

    python benchmarks/bench_analysis.py [--fits 50] [--fc-points 50] [--fc-toys 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json

from scintnet.analysis.bench import bench_fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=50)
    ap.add_argument("--fc-points", type=int, default=50)
    ap.add_argument("--fc-toys", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    print(json.dumps(bench_fit(a.fits, a.fc_points, a.fc_toys, a.workers), indent=2))


if __name__ == "__main__":
    main()
