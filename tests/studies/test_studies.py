"""Studies over evaluated runs (scintnet.studies, `scintnet study`), on synthetic scores files with a
known answer: a background group whose scores are shifted by a known amount has a known rejection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scintnet.cli import app
from scintnet.io.scores import ScoresFileError, add_fields, read_scores, write_scores
from scintnet.metrics import rejection_at_acceptance
from scintnet.studies import table_klz800 as t

GROUPS = {"Bi214": 0.3, "I130": 0.0, "Nb90": 1.5, "C10": 1.0, "Xe137": 0.5, "B8_solar": 0.2}


def _run(path, seed, shift=0.0, model="kamnet", preset="cpu"):
    """A trained-and-evaluated run folder: signal scores N(1, 1), background N(1 - d, 1) (d + shift)."""
    rng = np.random.default_rng(seed)
    n = 2000

    def grp(mu, label):
        return {"score": 1 / (1 + np.exp(-rng.normal(mu, 1.0, n))), "label": np.full(n, label),
                "energy_MeV": rng.uniform(2.0, 3.0, n), "radius_mm": 1570 * rng.uniform(0, 1, n) ** (1 / 3)}

    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"run_config": {"model": model, "preset": preset}, "params": 1234,
                                               "train_seconds": 60.0}))
    for sub, names in (("eval", [g for g in GROUPS]), ("eval_film", ["Bi214_film"])):
        (path / sub).mkdir()
        groups = {"Xe136_0vbb": grp(1.0, 1)}
        for g in names:
            groups[g] = grp(1.0 - GROUPS.get(g, 0.8) - shift, 0)
        write_scores(path / sub / "scores.h5", groups, "Xe136_0vbb")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    return [_run(d / "a1", 1), _run(d / "a2", 2), _run(d / "b1", 3, 0.5, "deepsphere"),
            _run(d / "b2", 4, 0.5, "deepsphere")]


def test_group_figures_match_the_definition(runs):
    rows = t.table_klz800(runs, runs[0], n_boot=50)
    sc = read_scores(runs[0] / "eval" / "scores.h5").field("score")
    expect = rejection_at_acceptance(sc["Xe136_0vbb"], np.concatenate([sc[g] for g in ("I130", "Nb90")]))
    # ¹²⁴I, ¹²²I, ... were not evaluated: the pooled group is the ones present
    assert rows[0].groups["long-lived spallation"].window == pytest.approx(expect)
    assert rows[0].is_reference and not rows[2].is_reference
    # a flat energy spectrum and uniform radii in both classes: matching changes little
    c10 = rows[0].groups["¹⁰C"]
    assert abs(c10.energy_matched - c10.window) < 0.03 and abs(c10.vertex_matched - c10.window) < 0.03
    # Gaussian logits 1 apart: the cut at the signal's 10 % quantile rejects Φ(d - 1.2816) = Φ(-0.28) = 0.39
    assert c10.window == pytest.approx(0.389, abs=0.025)
    # deepsphere's backgrounds are 0.5 further away: the paired difference is positive and many sd
    d = rows[2].groups["¹⁰C"].vs_ref["energy_matched"]
    assert d.diff > 5 * d.sd > 0
    assert set(rows[2].isotopes) == {"I130", "Nb90"}


def test_saved_table_round_trip_and_old_layout(runs, tmp_path):
    rows = t.table_klz800(runs[:2], runs[0], n_boot=20)
    p = tmp_path / "cmp.json"
    p.write_text(json.dumps([x.to_dict() for x in rows]))
    back = t.load_figures(p)
    assert [x.to_dict() for x in back] == [x.to_dict() for x in rows]
    # the JSON keys of the former benchmarks/compare_klz800.py --json
    g = json.loads(p.read_text())[1]["groups"]["¹⁰C"]
    assert {"rejection_at_90", "sd", "n_events", "energy_matched", "vertex_matched", "diff", "diff_sd",
            "matched_diff", "matched_diff_sd", "vmatched_diff", "vmatched_diff_sd"} <= set(g)
    # extending a saved table with another reference is refused
    with pytest.raises(t.StudyError, match="not the reference"):
        t.table_klz800(runs[2:], runs[2], back)
    more = t.table_klz800(runs, runs[0], back, n_boot=20)
    assert len(more) == 4 and more[0].to_dict() == rows[0].to_dict()


def test_markdown_and_plot(runs, tmp_path):
    rows = t.table_klz800(runs, runs[0], n_boot=20)
    md = t.markdown_tables(rows, runs[0])
    assert "| deepsphere:cpu (2) |" in md and "rank p" in md and "spallation isotopes one by one" in md
    png = t.plot_trainings(rows, tmp_path / "p" / "trainings.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_table_and_one_line_errors(runs, tmp_path):
    r = CliRunner().invoke(app, ["study", "table-klz800", *map(str, runs), "--ref", str(runs[0]), "--n-boot", "20",
                                 "--json-out", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    assert "energy-matched" in r.output and (tmp_path / "t.json").exists()
    r = CliRunner().invoke(app, ["study", "table-klz800", str(runs[0]), "--ref", str(runs[0]),
                                 "--json-out", str(tmp_path / "t.json")])
    assert r.exit_code != 0 and "--overwrite" in r.output  # never overwritten without being asked
    r = CliRunner().invoke(app, ["study", "plot-trainings", str(tmp_path / "t.json"), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["study", "table-klz800", str(tmp_path), "--ref", str(runs[0])])
    assert r.exit_code == 2 and "run.json" in r.output and "Traceback" not in r.output


def test_add_fields_keeps_scores_and_checks_lengths(runs, tmp_path):
    p = tmp_path / "scores.h5"
    p.write_bytes((runs[0] / "eval" / "scores.h5").read_bytes())
    before = read_scores(p)
    n = before.groups["C10"]["score"].size
    add_fields(p, {"C10": {"second_pulse_fraction": np.linspace(0, 1, n)}})
    after = read_scores(p)
    assert np.array_equal(after.groups["C10"]["score"], before.groups["C10"]["score"])
    assert after.groups["C10"]["second_pulse_fraction"][-1] == pytest.approx(1.0)
    with pytest.raises(ScoresFileError, match="entries"):
        add_fields(p, {"C10": {"second_pulse_fraction": np.zeros(n + 1)}})
    with pytest.raises(ScoresFileError, match="cannot add"):
        add_fields(p, {"C10": {"score": np.zeros(n)}})


def test_compare_table_rows(runs, tmp_path):
    import shutil

    from scintnet.studies.compare_table import compare_table, markdown

    a, b = (shutil.copytree(runs[i], tmp_path / runs[i].name) for i in (0, 2))  # the fixture stays as it is
    for r, rej in ((a, 0.4), (b, 0.6)):
        meta = json.loads((r / "run.json").read_text())
        meta["run_config"]["preset"] = "tiny"
        (r / "run.json").write_text(json.dumps(meta))
        (r / "metrics.csv").write_text("epoch,train_events_per_s\n1,100\n2,300\n3,200\n")
        (r / "eval" / "evaluation.json").write_text(json.dumps({"auc": 0.7, "rejection_at_90": rej,
                                                                "rejection_at_90_bootstrap_std": 0.01}))
    rows = compare_table([a, b], a, n_boot=20)
    assert rows[0].vs_ref is None and rows[0].train_events_per_s == 200.0  # median over epochs
    assert rows[0].flops_per_event > 0
    assert rows[1].vs_ref.diff > 5 * rows[1].vs_ref.sd  # backgrounds 0.5 further away
    assert "| kamnet:tiny |" in markdown(rows, a) and "reference" in markdown(rows, a)
