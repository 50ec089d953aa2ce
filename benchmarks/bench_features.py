"""Feature-building throughput (same as ``scintnet bench features --json``)."""

from __future__ import annotations

import json

from scintnet.detector.config import load_config
from scintnet.features.bench import bench_features

if __name__ == "__main__":
    print(json.dumps(bench_features(load_config("klz800")), indent=2))
