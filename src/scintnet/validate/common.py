"""Helpers shared by validation and benchmarks: in-memory simulation, robust widths."""

from __future__ import annotations

from ..metrics import gaussian_core  # noqa: F401  (its home is scintnet.metrics)
from ..sim.run import concat_chunks, simulate_events  # noqa: F401  (their home is the sim stage)
