"""Taggers on a small spallation/IBD-enriched stream: pair search, likelihood tag, XGBoost coincidences."""

from __future__ import annotations

import numpy as np
import pytest

from scintnet.sim.stream import load_stream_config, read_stream, run_stream
from scintnet.tagging.coincidence import build_pairs, evaluate_bdt, train_bdt
from scintnet.tagging.config import TagConfigError, load_tag_config
from scintnet.tagging.likelihood import efficiency_curve, fit_likelihood, working_point
from scintnet.tagging.pairs import Candidates, NeutronTable, find_pairs, neutron_table, select_candidates

OVR = ["chunk_days=2.0", "spallation.xe_roi_per_year=20000", "ibd.rate_per_day=300"]


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    p = tmp_path_factory.mktemp("t") / "s.h5"
    run_stream(load_stream_config(overrides=OVR), 6.0, 5, p)
    return read_stream(p)


def test_pair_search_matches_brute_force():
    rng = np.random.default_rng(0)
    nc, nn = 60, 400
    ct = np.sort(rng.uniform(0, 100, nc))
    c = Candidates(np.arange(nc), ct, rng.uniform(-1000, 1000, (nc, 3)), np.ones(nc), np.zeros(nc, bool),
                   -np.ones(nc, np.int64), np.zeros(nc))
    mu_t = np.sort(rng.uniform(0, 100, 50))
    nmu = rng.integers(0, 50, nn)
    nt = NeutronTable(mu_t[nmu] + 2e-4, rng.uniform(-1000, 1000, (nn, 3)), nmu, mu_t[nmu])
    p = find_pairs(c, nt, window_s=20.0, max_distance_mm=600.0)
    cp = p.candidate_of_pair()
    for i in range(nc):
        d = np.linalg.norm(nt.pos_mm - c.pos_mm[i], axis=1)
        ok = (d < 600) & (nt.t_s < ct[i]) & (nt.muon_t_s >= ct[i] - 20.0)
        mus = np.unique(nmu[ok])
        got = p.muon[cp == i]
        assert sorted(got) == list(mus)
        for m in mus:
            j = np.flatnonzero((cp == i) & (p.muon == m))[0]
            assert p.n_near[j] == ((nmu == m) & ok).sum()
            assert p.d_min_mm[j] == pytest.approx(d[(nmu == m) & ok].min())


def test_likelihood_tag_beats_exposure_loss(stream):
    cfg = load_tag_config().spallation
    c = select_candidates(stream, cfg.fiducial_radius_mm, cfg.min_energy_MeV)
    assert c.is_spallation.sum() > 100
    p = find_pairs(c, neutron_table(stream, 3500.0), cfg.window_s, cfg.max_distance_mm)
    train = np.arange(len(c)) % 2 == 0
    lk = fit_likelihood(c, p, train, cfg.max_distance_mm)
    s = lk.score(p)
    wp = working_point(efficiency_curve(s[~train], c.is_spallation[~train]), 0.086)
    assert wp["exposure_lost"] <= 0.09
    # the tag concentrates spallation: tagged fraction well above the exposure it costs
    assert wp["spallation_tagged"] > 2.5 * wp["exposure_lost"], wp
    # near neutrons and short dT favour spallation in the fitted PDFs
    assert lk.log_ratio_nd[2, 0] > 0 > lk.log_ratio_nd[0, -1]


def test_xgboost_separates_ibd_from_accidentals(stream):
    cfg = load_tag_config().coincidence
    ps = build_pairs(stream, cfg)
    assert ps.y.sum() > 300 and (~ps.on_time).sum() > 300
    assert not ps.y[~ps.on_time].any()  # off-time pairs are accidentals by construction
    tr = np.arange(len(ps.y)) % 2 == 0
    clf = train_bdt(ps.subset(tr), cfg.seed, n_estimators=60)
    ev = evaluate_bdt(clf, ps.subset(~tr))
    assert ev["accuracy"] > 0.85
    assert ev["efficiency"][0] == pytest.approx(1.0) and ev["purity_balanced"][-1] > ev["purity_balanced"][0]
    # true IBD delayed times follow the ~207.5 us capture time; off-time accidentals are uniform in [0, 1 ms)
    dt = ps.X[ps.y == 1, 5]
    assert abs(dt.mean() - 207.5) < 5 * 207.5 / np.sqrt(dt.size)
    da = ps.X[~ps.on_time, 5]
    assert da.min() >= 0 and da.max() < 1000 and abs(da.mean() - 500) < 5 * 289 / np.sqrt(da.size)


def test_offtime_windows_predict_the_ontime_accidentals(tmp_path):
    """With a high singles rate the real on-time accidentals are many: the off-time count / windows predicts them."""
    from dataclasses import replace

    p = tmp_path / "hot.h5"
    run_stream(load_stream_config(overrides=["chunk_days=0.25", "singles.rate_hz=20.0", "singles.external_fraction=0.0"]),
               0.25, 3, p)
    cfg = replace(load_tag_config().coincidence, offtime_windows=200, max_dr_mm=13000.0)  # whole LS: many pairs
    ps = build_pairs(read_stream(p), cfg)
    seen = int(((ps.y == 0) & ps.on_time).sum())
    expected = float(ps.weight[~ps.on_time].sum())
    assert seen > 30
    assert abs(seen - expected) < 4 * np.sqrt(expected), (seen, expected)


def test_pid_scores_have_the_requested_auc(stream):
    from scintnet.evaluate.metrics import auc
    from scintnet.io.stream import EVENT_TYPES
    from scintnet.tagging.coincidence import pid_scores

    typ = stream.events["type"]
    for want in (0.577, 0.9):
        s = pid_scores(stream, want, seed=1)
        pos, gam = s[typ == EVENT_TYPES["ibd_prompt"]], s[typ == EVENT_TYPES["single"]]
        assert abs(auc(pos, gam) - want) < 0.02
        assert np.isnan(s[typ == EVENT_TYPES["po214"]]).all()
    assert np.array_equal(pid_scores(stream, 0.7, 3), pid_scores(stream, 0.7, 3), equal_nan=True)


def test_bad_tag_config(tmp_path):
    with pytest.raises(TagConfigError):
        load_tag_config("nope")
    f = tmp_path / "x.toml"
    f.write_text("name = 'x'\n")
    with pytest.raises(TagConfigError):
        load_tag_config(path=f)


def test_positron_gamma_pid_pipeline(tmp_path):
    """Tiny end-to-end run of the e+/gamma PID: simulate guns, train the graph network, score the test set."""
    from dataclasses import replace

    from scintnet.tagging.config import load_tag_config
    from scintnet.tagging.pid import run_pid

    pc = replace(load_tag_config().pid, events_per_class=200, model_preset="tiny", epochs=1, max_minutes=1.0,
                 detector_preset="klz400-fast", vertex="sphere:1000", e_window_MeV=(1.0, 4.0))
    res = run_pid(pc, tmp_path, log=lambda m: None)
    assert res["n_test_positron"] > 50 and res["n_test_gamma"] > 50
    assert 0 <= res["auc"] <= 1 and 0.5 <= res["balanced_accuracy"] <= 1
    assert (tmp_path / "pid.json").exists() and (tmp_path / "pid.png").exists()
    # the two guns have about the same visible light: e+ 1.2 MeV + 2 x 511 keV vs a 2.2 MeV gamma
    from scintnet.io.store import EventFile

    nh = {}
    for k in ("positron", "gamma"):
        f = next((tmp_path / "data").glob(f"{k}_train_*.h5"))
        with EventFile(f) as ef:
            c = ef.read(0, None)
            nh[k] = c.hit_charge_pe.sum() / c.n_events
    assert 0.85 < nh["positron"] / nh["gamma"] < 1.15


def test_tag_says_how_many_days_a_short_stream_needs(tmp_path):
    """The README's klz800 stream is too short for the taggers at 30 days: one line with the days that would do."""
    from scintnet.tagging.report import MIN_SPALLATION_CANDIDATES, check_spallation_statistics, run_tagging

    p = tmp_path / "short.h5"
    run_stream(load_stream_config(overrides=["chunk_days=2.0"]), 2.0, 3, p)
    with pytest.raises(ValueError, match=r"2-day stream holds \d+ Xe-spallation candidates.*days|longer stream") as e:
        run_tagging(read_stream(p), load_tag_config(), pointnet=False)
    assert "\n" not in str(e.value)
    check_spallation_statistics(MIN_SPALLATION_CANDIDATES, 30.0)  # enough: no error
    with pytest.raises(ValueError, match="about 183 days"):  # 9 in 30 days: (1 + sqrt(41))^2 / 0.3 per day
        check_spallation_statistics(9, 30.0)


def test_pointnet_per_pair_tag_learns(stream, tmp_path):
    """Per-(candidate, muon) point clouds: the true parent's neutron cloud is recognised; the trained network tags
    spallation well above the false-tag rate it costs, and survives a save/load round trip."""
    from scintnet.tagging.pointnet import (build_pair_points, load_model, neutron_index, save_model,
                                           score_candidates, train_pointnet, training_pairs)

    cfg = load_tag_config().spallation
    c = select_candidates(stream, cfg.fiducial_radius_mm, cfg.min_energy_MeV)
    p = find_pairs(c, neutron_table(stream, cfg.fiducial_radius_mm + cfg.max_distance_mm), cfg.window_s,
                   cfg.max_distance_mm)
    train = np.arange(len(c)) % 2 == 0
    # ~200 pairs per candidate here: the per-candidate max needs a per-pair false rate far below 10 %,
    # so the negatives must sample the accidental tail well
    idx, y = training_pairs(c, p, train, 20000, np.random.default_rng(0))
    geo = (cfg.max_distance_mm, cfg.max_points, cfg.track_dedx_radius_mm)
    index = neutron_index(stream)
    pp = build_pair_points(stream, c, p, idx, *geo, "track", index)
    assert pp.points.shape[0] == idx.size and pp.glob.shape == (idx.size, 3)
    # every point of a pair lies within the search radius of its candidate (features normalised to it)
    n = pp.mask.sum(1)
    assert np.array_equal(n, np.minimum(p.n_near[idx], cfg.max_points))
    model = train_pointnet(pp, y, seed=1, epochs=12)
    assert model.best_val_auc > 0.9
    test = ~train
    s = score_candidates(model, stream, c, p, test, *geo, "track", index=index)[test]
    wp = working_point(efficiency_curve(s, c.is_spallation[test]), 0.10)
    assert wp["spallation_tagged"] > 2.0 * wp["exposure_lost"], wp
    f = tmp_path / "pn.pt"
    save_model(model, str(f))
    s2 = score_candidates(load_model(str(f)), stream, c, p, test, *geo, "track", index=index)[test]
    assert np.allclose(s, s2, atol=1e-5)


def test_short_stream_trains_on_an_enriched_stream(tmp_path):
    """A stream too short to train on is tagged with taggers learned on its enriched twin, simulated once beside
    it (x100 Xe spallation, own seed) and reused; a different file at that path is refused, not overwritten."""
    from scintnet.tagging.report import default_training_stream_path, resolve_training_stream, run_tagging

    p = tmp_path / "short.h5"
    run_stream(load_stream_config(overrides=["chunk_days=2.0"]), 3.0, 3, p)
    s = read_stream(p)
    cfg = load_tag_config()
    tr, info = resolve_training_stream(s, p, cfg)
    assert info["generated"] and default_training_stream_path(p).exists()
    assert tr.config.spallation.xe_roi_per_year == pytest.approx(100 * s.config.spallation.xe_roi_per_year)
    res = run_tagging(s, cfg, pointnet=False, train_stream=tr)
    assert res["training_stream"]["n_spallation_candidates"] >= 40
    # every data candidate is a test candidate; the exposure lost is measured on them
    assert res["likelihood"]["n_spallation_test"] == res["n_spallation_candidates"]
    assert 0.0 < res["likelihood"]["exposure_lost"] <= cfg.spallation.exposure_loss_target
    assert resolve_training_stream(s, p, cfg)[1]["generated"] is False  # reused
    q = tmp_path / "other.h5"
    run_stream(load_stream_config(overrides=["chunk_days=2.0"]), 3.0, 4, q)
    default_training_stream_path(q).write_bytes(p.read_bytes())  # not q's training stream
    with pytest.raises(ValueError, match="not the enriched training stream"):
        resolve_training_stream(read_stream(q), q, cfg)


def test_combined_veto_adds_topology_to_the_spallation_tag(stream):
    """The KamNet-family topology score (paper Table I long-lived point: ~25 % at 10 % signal loss) tags
    spallation on its own, and the 2-score classifier does at least as well as the spallation tag alone."""
    from scintnet.tagging.report import run_tagging

    res = run_tagging(stream, load_tag_config(), pointnet=False)
    cb = res["combined"]
    assert cb["exposure_lost"] <= load_tag_config().spallation.exposure_loss_target + 1e-9
    topo = cb["topology_only"]
    assert 0.12 < topo["spallation_tagged"] < 0.35 and topo["spallation_tagged"] > 1.5 * topo["exposure_lost"]
    sp = cb["spallation_only"]
    assert sp["spallation_tagged"] == pytest.approx(res["likelihood"]["spallation_tagged"])
    assert cb["spallation_tagged"] >= sp["spallation_tagged"] - 2 * cb["spallation_tagged_err"], cb


def test_tag_cli_on_a_short_stream(tmp_path):
    """`scintnet tag STREAM --json` on a stream too short to train on succeeds: trained on the enriched twin."""
    import json

    from typer.testing import CliRunner

    from scintnet.cli import app

    p = tmp_path / "s.h5"
    run_stream(load_stream_config(overrides=["chunk_days=2.0"]), 3.0, 3, p)
    r = CliRunner().invoke(app, ["tag", str(p), "--no-pointnet", "--no-plots", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["training_stream"]["generated"] and res["training_stream"]["n_spallation_candidates"] >= 40
    assert {"spallation_tagged", "exposure_lost", "spallation_only", "topology_only"} <= set(res["combined"])
    assert (tmp_path / "s.train.h5").exists()
    r = CliRunner().invoke(app, ["tag", str(p), "--train", str(tmp_path / "nope.h5"), "--no-pointnet", "--json"])
    assert r.exit_code != 0 and "nope.h5" in r.output
    r = CliRunner().invoke(app, ["tag", str(p), "--train", str(p), "--no-pointnet", "--json"])
    assert r.exit_code != 0 and "data stream itself" in r.output
