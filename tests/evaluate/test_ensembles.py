"""Training-to-training comparison (scintnet.evaluate.ensembles)."""

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from scintnet.evaluate.ensembles import model_spread_difference, per_training_rejections


def test_welch_by_hand():
    # a: mean 3, var 2.5; b: mean 6, var 10 -> se = sqrt(2.5/5 + 10/5) = sqrt(2.5)
    r = model_spread_difference([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert r["diff"] == pytest.approx(-3.0)
    assert r["diff_err"] == pytest.approx(np.sqrt(2.5))
    assert r["t"] == pytest.approx(-3.0 / np.sqrt(2.5))
    assert r["dof"] == pytest.approx(6.25 / (0.25 / 4 + 4.0 / 4))  # Welch-Satterthwaite
    # two-sided p from Student's t with the Welch dof (not the pooled-variance test)
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(3.0 / np.sqrt(2.5), r["dof"]))
    assert r["p_value"] != pytest.approx(stats.ttest_ind([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]).pvalue)
    assert r["min_pairwise_diff"] == pytest.approx(1 - 10)
    # pairs with a_i > b_j: a=3 > 2; a=4 > 2; a=5 > 2, 4 -> 4 of 25
    assert r["fraction_pairs_a_better"] == pytest.approx(4 / 25)


def test_p_value_calibrated_under_the_null():
    """Equal-mean models with unequal spreads (3 vs 6 trainings, like rotinv vs KamNet): the
    Welch test must reject at its nominal 5 % rate, not more."""
    rng = np.random.default_rng(7)
    p = np.array([model_spread_difference(rng.normal(50, 1.2, 3), rng.normal(50, 4.4, 6))["p_value"]
                  for _ in range(3000)])
    assert 0.03 < np.mean(p < 0.05) < 0.07
    # and it has power against a real 7-point difference
    p1 = np.array([model_spread_difference(rng.normal(57, 1.2, 3), rng.normal(50, 4.4, 6))["p_value"]
                   for _ in range(500)])
    assert np.mean(p1 < 0.05) > 0.6


def test_rank_sum_p_exact_and_robust_to_an_outlier():
    # five of A above all five of B: U = 25, exact two-sided p = 2 / C(10, 5) = 2 / 252
    r = model_spread_difference([5, 6, 7, 8, 9], [0, 1, 2, 3, 4])
    assert r["mannwhitney_p"] == pytest.approx(2 / 252)
    # one wild training of B (like KamNet's occasional high film figure) inflates B's sd and
    # Welch's p; the rank test only sees that one pairing is lost
    r2 = model_spread_difference([5, 6, 7, 8, 9], [0, 1, 2, 3, 40])
    assert r2["fraction_pairs_a_better"] == pytest.approx(20 / 25)
    # exact null distribution of U by enumerating which 5 of the 10 ranks A holds
    u = np.array([sum(i > j for i in c for j in set(range(10)) - set(c))
                  for c in itertools.combinations(range(10), 5)])
    assert r2["mannwhitney_p"] == pytest.approx(2 * np.mean(u >= 20))
    assert r2["p_value"] > 0.5 and r2["mannwhitney_p"] < r2["p_value"] / 4


def test_single_training_has_no_t_test():
    r = model_spread_difference([0.5], [0.4, 0.45])
    assert r["t"] is None and r["diff_err"] is None and "two trainings" in r["t_test_unavailable"]
    assert r["diff"] == pytest.approx(0.075)
    with pytest.raises(ValueError):
        model_spread_difference([], [0.4])


def _write_eval(path, per_source, n_models=1):
    path.mkdir(parents=True)
    (path / "evaluation.json").write_text(json.dumps({"n_models": n_models, "per_source": per_source}))


def test_per_training_rejections_reads_bootstrap_and_single_runs(tmp_path):
    _write_eval(tmp_path / "boot" / "eval", {"C10": {
        "rejection_at_90": 0.5, "rejection_at_90_per_model": [0.4, 0.5, 0.6],
        "rejection_at_90_energy_matched": 0.45, "rejection_at_90_energy_matched_per_model": [0.44, 0.45, 0.46]}},
        n_models=3)
    _write_eval(tmp_path / "single" / "eval_film", {"C10": {"rejection_at_90": 0.7,
                                                            "rejection_at_90_energy_matched": 0.65,
                                                            "rejection_at_90_vertex_matched": 0.55}})
    v, lab = per_training_rejections([tmp_path / "boot"], "C10")
    assert v == [0.4, 0.5, 0.6] and len(lab) == 3
    v, _ = per_training_rejections([tmp_path / "boot"], "C10", energy_matched=True)
    assert v == [0.44, 0.45, 0.46]
    v, _ = per_training_rejections([tmp_path / "single"], "C10", True, eval_name="eval_film")
    assert v == [0.65]
    v, _ = per_training_rejections([tmp_path / "single"], "C10", eval_name="eval_film", vertex_matched=True)
    assert v == [0.55]
    with pytest.raises(ValueError, match="re-run"):  # an evaluation from before the vertex-matched figure
        per_training_rejections([tmp_path / "boot"], "C10", vertex_matched=True)
    with pytest.raises(KeyError, match="Bi214"):
        per_training_rejections([tmp_path / "boot"], "Bi214")
    with pytest.raises(FileNotFoundError):
        per_training_rejections([tmp_path / "single"], "C10")  # no eval/ folder there


def test_missing_figures_are_errors_not_dropped(tmp_path):
    # an old bootstrap evaluation without per-model energy-matched figures
    _write_eval(tmp_path / "old" / "eval", {"C10": {"rejection_at_90": 0.5, "rejection_at_90_per_model": [0.4, 0.6]}},
                n_models=2)
    with pytest.raises(ValueError, match="per-model"):
        per_training_rejections([tmp_path / "old"], "C10", energy_matched=True)
    _write_eval(tmp_path / "nomatch" / "eval", {"C10": {"rejection_at_90": 0.5, "rejection_at_90_energy_matched": None,
                                                        "energy_matching_unavailable": "too few events"}})
    with pytest.raises(ValueError, match="too few events"):
        per_training_rejections([tmp_path / "nomatch"], "C10", energy_matched=True)


def test_compare_models_cli(tmp_path):
    from typer.testing import CliRunner

    from scintnet.cli import app

    _write_eval(tmp_path / "a" / "eval", {"C10": {"rejection_at_90": 0.55, "rejection_at_90_per_model": [0.53, 0.55, 0.57]}},
                n_models=3)
    _write_eval(tmp_path / "b1" / "eval", {"C10": {"rejection_at_90": 0.46}})
    _write_eval(tmp_path / "b2" / "eval", {"C10": {"rejection_at_90": 0.47}})
    r = CliRunner().invoke(app, ["compare-models", "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b1"),
                                 "--b", str(tmp_path / "b2"), "--background", "C10", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["n_a"] == 3 and res["n_b"] == 2
    assert res["diff"] == pytest.approx(0.55 - 0.465)
    assert res["p_value"] < 0.05
    # all 6 pairings favour A, but with 3 vs 2 trainings the exact rank-sum p is only 2 / C(5, 2)
    assert res["mannwhitney_p"] == pytest.approx(0.2)
    r = CliRunner().invoke(app, ["compare-models", "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b1"),
                                 "--b", str(tmp_path / "b2"), "--background", "C10"])
    assert r.exit_code == 0 and "Mann-Whitney p = 0.2" in r.output, r.output
    r = CliRunner().invoke(app, ["compare-models", "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b1"),
                                 "--background", "Bi214"])
    assert r.exit_code != 0 and "Bi214" in r.output
