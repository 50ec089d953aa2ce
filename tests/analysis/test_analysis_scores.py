"""Classifier-score axis in the binned fit: mapping scores.h5 groups to components, and the physics
(an informative score tightens the limit; an uninformative one changes nothing)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from scintnet.analysis import limits as lm
from scintnet.analysis.likelihood import LikelihoodError
from scintnet.analysis.model import build_model, load_analysis_config
from scintnet.analysis.scores import read_score_groups, score_edges, score_pdfs

SMALL = {"n_template_events": 3000, "n_volume_bins": 4, "n_energy_bins": 20}


def _write_scores(path, groups: dict[str, np.ndarray], signal="Xe136_0vbb"):
    with h5py.File(path, "w") as f:
        f.attrs["signal_source"] = signal
        for k, v in groups.items():
            f.create_group(k)["score"] = v.astype(np.float32)


def test_groups_map_to_components(tmp_path):
    rng = np.random.default_rng(0)
    _write_scores(tmp_path / "a.h5", {"Xe136_0vbb": rng.random(400), "Bi214": rng.random(300) * 0.5})
    _write_scores(tmp_path / "b.h5", {"I130": rng.random(100), "I132": rng.random(100) ** 2})
    groups, sig = read_score_groups([tmp_path / "a.h5", tmp_path / "b.h5"])
    assert sig == "Xe136_0vbb" and set(groups) == {"Xe136_0vbb", "Bi214", "I130", "I132"}
    edges = score_edges(groups["Xe136_0vbb"], 4)
    assert np.histogram(groups["Xe136_0vbb"], edges)[0].tolist() == [100, 100, 100, 100]  # equal signal population

    cfg = load_analysis_config(overrides=SMALL)
    with pytest.raises(LikelihoodError, match="no classifier scores for .*Xe136_2vbb"):
        score_pdfs(cfg.active, groups, edges)
    pdfs, used = score_pdfs(cfg.active, groups, edges, {"*": "Bi214", "Xe136_2vbb": "Xe136_0vbb"})
    assert used["Bi214_xels"] == ["Bi214"] and used["Xe136_2vbb"] == ["Xe136_0vbb"]
    assert used["C11"] == ["Bi214"]  # the default group
    # a component without its own group averages its sources' pdfs (equal decay weights)
    cfg2 = load_analysis_config(overrides={**SMALL, "components": [
        {"name": "Xe136_0vbb", "source": "Xe136_0vbb", "vertex": "xels", "rate": 0.0, "unit": "decays"},
        {"name": "spall", "source": ["I130", "I132"], "vertex": "xels", "rate": 5.0, "unit": "roi_per_yr"}]})
    pdfs2, used2 = score_pdfs(cfg2.active, groups, edges)
    expect = 0.5 * (np.histogram(groups["I130"], edges)[0] / 100 + np.histogram(groups["I132"], edges)[0] / 100)
    assert np.allclose(pdfs2["spall"], expect) and used2["spall"] == ["I130", "I132"]
    for bad, msg in ((("*", "nope"), "default group"), (("nope", "Bi214"), "unknown components")):
        with pytest.raises(LikelihoodError, match=msg):
            score_pdfs(cfg.active, groups, edges, dict([bad]))
    with pytest.raises(LikelihoodError, match="not found"):
        read_score_groups([tmp_path / "missing.h5"])


@pytest.fixture(scope="module")
def small_cfg():
    return load_analysis_config(overrides=SMALL)


def _limit(cfg, pdfs, cache):
    lik, _ = build_model(cfg, data="asimov", score_pdfs=pdfs, cache_dir=cache)
    return lm.Profiler(lik).upper_limit(), lik


def test_score_axis_tightens_the_limit_only_when_informative(small_cfg, tmp_path_factory):
    cache = tmp_path_factory.mktemp("tmpl")
    names = [c.name for c in small_cfg.active]
    base, lik0 = _limit(small_cfg, None, cache)
    flat = {n: np.full(4, 0.25) for n in names}
    ul_flat, lik_flat = _limit(small_cfg, flat, cache)
    assert lik_flat.shape == (*lik0.shape, 4)
    # identical score pdfs for all components: the Asimov deviance splits exactly -> same limit
    assert ul_flat == pytest.approx(base, rel=0.02)
    # backgrounds pile up at low score, the signal is flat (equal-population bins): tighter limit
    sep = {n: (np.full(4, 0.25) if n == small_cfg.signal else np.array([0.55, 0.25, 0.15, 0.05])) for n in names}
    ul_sep, _ = _limit(small_cfg, sep, cache)
    assert ul_sep < 0.85 * base


def test_fit_cli_reads_scores_from_the_toml(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scintnet.cli import app

    monkeypatch.setenv("SCINTNET_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    _write_scores(tmp_path / "scores.h5", {"Xe136_0vbb": rng.beta(3, 1, 2000), "bkg": rng.beta(1, 3, 2000)})
    toml = tmp_path / "a.toml"
    toml.write_text('preset = "klz800-like"\nn_template_events = 3000\nn_volume_bins = 4\nn_energy_bins = 20\n'
                    '[fit]\nscores = "scores.h5"\nscore_bins = 3\nscore_map = { "*" = "bkg" }\n')
    r = CliRunner().invoke(app, ["fit", str(toml), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["shape"] == [2, 4, 20, 3]
    sa = res["score_axis"]
    assert sa["groups"]["Bi214_film"] == ["bkg"] and len(sa["edges"]) == 2
    # a background-like score distribution for every background: the classifier helps
    assert sa["limit_gain"] > 1.1
    bad = tmp_path / "b.toml"
    bad.write_text('preset = "klz800-like"\n[fit]\nscores = "scores.h5"\n')
    r = CliRunner().invoke(app, ["fit", str(bad), "--json"])
    assert r.exit_code != 0 and "no classifier scores for" in r.output


def test_fit_cli_minimizers_agree(tmp_path, monkeypatch):
    """`[fit] minimizer` and `--minimizer`: Newton and MIGRAD give the same Wilks limit."""
    from typer.testing import CliRunner

    from scintnet.cli import app

    monkeypatch.setenv("SCINTNET_CACHE_DIR", str(tmp_path / "cache"))
    toml = tmp_path / "a.toml"
    toml.write_text('preset = "klz800-like"\nn_template_events = 3000\nn_volume_bins = 4\nn_energy_bins = 20\n'
                    '[fit]\nminimizer = "minuit"\n')
    r = CliRunner().invoke(app, ["fit", str(toml), "--data", "toy:2", "--json"])
    assert r.exit_code == 0, r.output
    mig = json.loads(r.output)
    r = CliRunner().invoke(app, ["fit", str(toml), "--data", "toy:2", "--minimizer", "newton", "--json"])
    assert r.exit_code == 0, r.output
    new = json.loads(r.output)
    assert (mig["fit"]["minimizer"], new["fit"]["minimizer"]) == ("minuit", "newton")
    assert new["fit"]["chi2"] <= mig["fit"]["chi2"] + 1e-3
    assert new["wilks"]["upper_limit_decays"] == pytest.approx(mig["wilks"]["upper_limit_decays"], rel=2e-3)
    r = CliRunner().invoke(app, ["fit", str(toml), "--minimizer", "lbfgs", "--json"])
    assert r.exit_code != 0 and "unknown" in r.output
