"""Shared fixtures.  The tests mirror the package (tests/<stage>/test_*.py for scintnet/<stage>/);
tests/data holds files written by earlier versions (each format must keep loading) and reference images.

``simulate`` and ``calibration`` make small event files and energy calibrations once per session, so
test modules that need the same sample share it instead of simulating it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def simulate(tmp_path_factory):
    """``simulate(detector_preset, source, n_events, seed, **SimConfig options) -> Path`` of an event file,
    simulated at the first request and shared by every later one with the same arguments."""
    from scintnet.detector.config import load_config
    from scintnet.sim.run import SimConfig, run_simulation

    root = tmp_path_factory.mktemp("simulated")
    made: dict[tuple, Path] = {}

    def make(detector: str, source: str, n_events: int, seed: int, **kw) -> Path:
        key = (detector, source, n_events, seed, tuple(sorted(kw.items())))
        if key not in made:
            path = root / f"{len(made):03d}_{detector}_{source.replace(':', '_')}_s{seed}.h5"
            run_simulation(SimConfig.for_detector(load_config(detector), source, n_events, seed, **kw), path)
            made[key] = path
        return made[key]

    return make


@pytest.fixture(scope="session")
def calibration(tmp_path_factory):
    """``calibration(detector_preset, n_per_energy=120) -> cache dir`` holding a small energy calibration
    (fast: enough for tests that need reconstructed energies, not for figures)."""
    from scintnet.detector.config import load_config
    from scintnet.reco.calibrate import load_or_make_calibration

    made: dict[tuple, Path] = {}

    def make(detector: str, n_per_energy: int = 120) -> Path:
        key = (detector, n_per_energy)
        if key not in made:
            cache = tmp_path_factory.mktemp(f"calib_{detector}")
            load_or_make_calibration(load_config(detector), cache, n_per_energy=n_per_energy)
            made[key] = cache
        return made[key]

    return make


@pytest.fixture(autouse=True)
def _ieee_denormals():
    """``scintnet.configure_runtime`` turns on flush-to-zero for denormals (3x faster GEMMs, see the root
    module); that CPU state outlives the test that set it, and Hypothesis refuses to run without IEEE
    subnormals.  Each test starts with the IEEE default again."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)
    yield
