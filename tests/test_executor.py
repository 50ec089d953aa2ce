"""The Dask executor gives bit-for-bit the local executor's results (a 2-worker local cluster)."""

import numpy as np
import pytest

from scintnet import executor as ex
from scintnet.detector.config import load_config
from scintnet.sim.run import SimConfig, run_simulation

distributed = pytest.importorskip("distributed")


@pytest.fixture
def dask_default():
    ex.set_default_executor("dask")
    yield
    ex.set_default_executor("local")


def _datasets(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def test_dask_simulation_equals_local(tmp_path, dask_default):
    cfg = load_config("klz400-fast")
    sim = SimConfig.for_detector(cfg, "C10", 120, 9, chunk_size=30, store_deposits=True)
    run_simulation(sim, tmp_path / "dask.h5", workers=2)  # the default engine is dask here
    ex.set_default_executor("local")
    run_simulation(sim, tmp_path / "local.h5", workers=2)
    a, b = _datasets(tmp_path / "dask.h5"), _datasets(tmp_path / "local.h5")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_dask_feldman_cousins_and_bands_equal_local(dask_default):
    from scintnet.analysis import limits as lm
    from scintnet.analysis.likelihood import BinnedLikelihood, Component

    comps = [Component("sig", np.array([1.0]), 1.0), Component("bkg", np.array([1.0]), 3.0, constraint=(3.0, 0.3))]
    lik = BinnedLikelihood(np.array([5.0]), comps, "sig")
    grid = np.array([4.0, 6.0, 8.0, 10.0])
    d = lm.feldman_cousins(lik, grid, n_toys=80, seed=4, workers=2, chunk=20)
    bd = lm.sensitivity_bands(lik, n_toys=16, seed=2, workers=2, chunk=4)
    ex.set_default_executor("local")
    loc = lm.feldman_cousins(lik, grid, n_toys=80, seed=4, workers=2, chunk=20)
    bl = lm.sensitivity_bands(lik, n_toys=16, seed=2, workers=2, chunk=4)
    assert np.array_equal(d.t_crit, loc.t_crit) and d.upper_limit == loc.upper_limit
    assert bd.keys() == bl.keys()
    for k in bd:
        assert np.array_equal(np.asarray(bd[k]), np.asarray(bl[k])), k


def test_executor_choice_is_validated():
    from scintnet.errors import ScintnetError

    with pytest.raises(ScintnetError, match="unknown executor"):
        ex.set_default_executor("spark")
    with pytest.raises(ScintnetError, match="needs --executor dask"):
        ex.set_default_executor("local", "tcp://x:1")
