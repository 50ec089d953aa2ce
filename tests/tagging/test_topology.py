"""Topology scores for stream events: the paper working points, reproducibility, the scores.h5 round trip."""

from __future__ import annotations

import numpy as np
import pytest

from scintnet.io.scores import write_scores
from scintnet.io.stream import EVENT_TYPES, REGIONS, Stream
from scintnet.tagging.topology import (
    TOPOLOGY_CLASS,
    TopologyError,
    event_classes,
    paper_topology_model,
    stream_topology_scores,
    topology_from_scores,
)

N = 100_000


def _sampled_rejection(model, cls, rng, n=N):
    sig = model.sample(["single_site"] * n, rng)
    bkg = model.sample([cls] * n, rng)
    return float(np.mean(bkg < np.quantile(sig, 0.10)))


@pytest.mark.parametrize("cls, table_i", [("beta_plus_gamma", 0.400), ("beta_gamma", 0.270), ("film", 0.588)])
def test_paper_model_reproduces_table_i_rejection_at_90_percent_acceptance(cls, table_i):
    m = paper_topology_model()
    assert m.rejection(cls) == pytest.approx(table_i, abs=2e-3)  # the quantile tables themselves
    rej = _sampled_rejection(m, cls, np.random.default_rng(3))
    err = np.sqrt(table_i * (1 - table_i) / N) * 2  # binomial, doubled for the threshold's own spread
    assert abs(rej - table_i) < 4 * err


def test_paper_model_reproduces_table_i_auc_and_the_fast_c10_point():
    m = paper_topology_model()
    rng = np.random.default_rng(4)
    sig = m.sample(["single_site"] * 40_000, rng)
    for cls, auc in (("beta_gamma", 0.65), ("film", 0.83)):
        bkg = m.sample([cls] * 40_000, rng)
        # AUC = P(signal score > background score), from the ranks
        r = np.argsort(np.argsort(np.r_[sig, bkg]))[: sig.size].sum()
        u = (r - sig.size * (sig.size - 1) / 2) / (sig.size * bkg.size)
        assert u == pytest.approx(auc, abs=0.01)
    assert paper_topology_model("fast").rejection("beta_plus_gamma") == pytest.approx(0.740, abs=2e-3)
    with pytest.raises(TopologyError):
        paper_topology_model("nope")


def _tiny_stream(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    types = rng.choice([EVENT_TYPES[k] for k in ("xe136_2vbb", "bi214", "po214", "spall_c10")], n).astype(np.int8)
    region = np.where(rng.random(n) < 0.3, REGIONS["film"], REGIONS["xels"]).astype(np.int8)
    ev = {"t_s": np.sort(rng.random(n)), "type": types, "region": region, "E_MeV": np.ones(n, np.float32)}
    return Stream(ev, {}, 1.0, None)  # type: ignore[arg-type]


def test_stream_scores_are_seeded_per_class_and_nan_for_alphas():
    s = _tiny_stream()
    a, b = stream_topology_scores(s, seed=5), stream_topology_scores(s, seed=5)
    assert np.array_equal(a, b, equal_nan=True)
    assert not np.allclose(np.nan_to_num(a), np.nan_to_num(stream_topology_scores(s, seed=6)))
    cls = event_classes(s)
    po = s.events["type"] == EVENT_TYPES["po214"]
    assert np.all(np.isnan(a[po])) and np.all(np.isfinite(a[~po]))
    film_bi = (s.events["type"] == EVENT_TYPES["bi214"]) & (s.events["region"] == REGIONS["film"])
    assert set(cls[film_bi]) == {"film"} and TOPOLOGY_CLASS["bi214"] == "beta_gamma"
    # the film 214Bi is more background-like (lower score) than the XeLS 214Bi, which is below the signal
    xe_bi = (s.events["type"] == EVENT_TYPES["bi214"]) & ~film_bi
    sig = s.events["type"] == EVENT_TYPES["xe136_2vbb"]
    assert np.median(a[film_bi]) < np.median(a[xe_bi]) < np.median(a[sig])


def test_scores_file_round_trip_rebuilds_the_rejection(tmp_path):
    rng = np.random.default_rng(8)
    paper = paper_topology_model()
    groups = {"Xe136_0vbb": {"score": paper.sample(["single_site"] * 20_000, rng), "label": np.ones(20_000)},
              "Bi214_film": {"score": paper.sample(["film"] * 20_000, rng), "label": np.zeros(20_000)},
              "C10": {"score": paper.sample(["beta_plus_gamma"] * 20_000, rng), "label": np.zeros(20_000)},
              "Po210": {"score": rng.random(200), "label": np.zeros(200)}}  # unknown source: ignored
    p = write_scores(tmp_path / "scores.h5", groups, "Xe136_0vbb")
    m = topology_from_scores(p)
    assert set(m.classes) == {"single_site", "film", "beta_plus_gamma"}
    assert m.rejection("film") == pytest.approx(0.588, abs=0.015)
    assert m.rejection("beta_plus_gamma") == pytest.approx(0.400, abs=0.015)
    # sampling from the rebuilt tables keeps the working point
    assert _sampled_rejection(m, "film", np.random.default_rng(9), 40_000) == pytest.approx(0.588, abs=0.02)
    # a stream with a class the file lacks is a clear error
    with pytest.raises(TopologyError, match="no class 'beta_gamma'"):
        stream_topology_scores(_tiny_stream(), m, seed=1)
