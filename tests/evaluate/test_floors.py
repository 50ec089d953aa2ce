"""Floors (Fisher linear discriminant, XGBoost) on the networks' inputs."""

import numpy as np
import pytest

from scintnet.evaluate.floors import fisher_direction, floor_features, floor_figures, train_floors
from scintnet.features.dataset import load_event_set

N = 600


def test_fisher_direction_is_the_lda_solution():
    rng = np.random.default_rng(1)
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    x0 = rng.multivariate_normal([0, 0], cov, 20000)
    x1 = rng.multivariate_normal([1.0, 0.2], cov, 20000)
    w = fisher_direction(x0, x1, ridge=0.0)
    exact = np.linalg.solve(cov, [1.0, 0.2])
    assert np.dot(w, exact) / np.linalg.norm(w) / np.linalg.norm(exact) > 0.999


@pytest.fixture(scope="module")
def sets(simulate, calibration):
    cache = calibration("klz400-fast")
    return [load_event_set(simulate("klz400-fast", src, N, seed, preset="klz400-fast", chunk_size=N,
                                    store_deposits=False), label=int(src != "C10"), cache_dir=cache, log=None)
            for src, seed in (("Xe136_0vbb", 21), ("C10", 22))]


def test_floor_features_shapes_and_normalisation(sets):
    sig, _ = sets
    x = floor_features(sig, "time+moments")
    assert x.shape == (len(sig), 28 * 4)
    assert np.allclose(x[:, :28].sum(1), 1.0, atol=1e-5)  # normalised proper-time spectrum
    assert np.all((x[:, 56:84] >= 0) & (x[:, 56:84] <= 1.0 + 1e-9))  # dipole |sum q u| / sum q


def test_floors_separate_c10_from_0vbb_and_not_noise(sets):
    sig, bkg = sets
    h = len(sig) // 2, len(bkg) // 2
    fl = train_floors(sig.subset(np.arange(h[0])), bkg.subset(np.arange(h[1])), "time", seed=1)
    test_s, test_b = sig.subset(np.arange(h[0], len(sig))), bkg.subset(np.arange(h[1], len(bkg)))
    fig = floor_figures(fl, test_s, test_b)
    # the 10C beta+ annihilation gammas (o-Ps, 1 ns 718 keV level) make its light later and multi-site:
    # far above the 10 % a blind cut gives (statistical error ~3 points here)
    assert fig["linear"]["rejection_at_90"] > 0.18
    assert fig["xgboost"]["rejection_at_90"] > 0.15
    # control: trained to tell signal from signal (two disjoint halves) and tested on two other disjoint
    # signal halves, the floors find nothing: ~10 % (binomial noise ~2.5 points for ~150 events)
    tr, te = np.arange(h[0]), np.arange(h[0], len(sig))
    null = train_floors(sig.subset(tr[::2]), sig.subset(tr[1::2]), "time", seed=2)
    nf = floor_figures(null, sig.subset(te[::2]), sig.subset(te[1::2]))
    for name in ("linear", "xgboost"):
        assert nf[name]["rejection_at_90"] < 0.18, (name, nf[name])
