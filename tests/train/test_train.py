"""Training harness: learning, determinism, resume after a kill, evaluation outputs."""

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest
import torch

from scintnet.evaluate.evaluate import evaluate_run
from scintnet.evaluate.metrics import auc, rejection_at_acceptance, roc_curve
from scintnet.train.config import RunConfig
from scintnet.train.harness import TrainError, train_run


@pytest.fixture(scope="module")
def files(simulate):
    return {name: str(simulate("klz400-fast", src, 240, seed, vertex="sphere:1000", energy_MeV=energy,
                               chunk_size=240, store_deposits=False))
            for name, src, energy, seed in (("sig", "Xe136_0vbb", None, 1), ("alpha", "alpha", 16.0, 2),
                                            ("sig_test", "Xe136_0vbb", None, 3), ("alpha_test", "alpha", 16.0, 4))}


def _cfg(files, **kw):
    base = RunConfig(model="kamnet", preset="tiny", signal=[files["sig"]], background=[files["alpha"]], epochs=3,
                     batch_size=32, e_min_MeV=0.5, e_max_MeV=10.0, r_max_mm=3000.0, seed=5, lr=3e-3,
                     nhit_matching=False, threads=1, optimizer="rmsprop")
    return replace(base, **kw)


def test_metrics_known_values():
    rng = np.random.default_rng(0)
    s, b = rng.normal(1, 1, 20000), rng.normal(0, 1, 20000)
    # two unit Gaussians 1 sigma apart: AUC = Phi(1/sqrt(2)) = 0.7602
    assert auc(s, b) == pytest.approx(0.7602, abs=0.01)
    # 90 % acceptance cut at 1 - 1.2816 = -0.2816: rejection = Phi(-0.2816) = 0.389
    assert rejection_at_acceptance(s, b) == pytest.approx(0.389, abs=0.01)
    tpr, fpr, _ = roc_curve(s, b)
    assert tpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(tpr) >= 0)


def test_training_learns_and_resume_equals_uninterrupted(files, tmp_path):
    full = train_run(_cfg(files), tmp_path / "full", progress=False, log=lambda m: None)
    # alpha light is much slower than electron light: the tiny KamNet must learn it
    assert full["best_val_auc"] > 0.85
    assert (tmp_path / "full" / "training_curves.png").stat().st_size > 10_000
    assert full["stopped"] == "epochs" and full["epochs_planned"] == 3 and full["threads"] == 1
    # the standardisation is stored with the weights: a finite positive scale per time bin
    state = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    assert state["input_scale"].shape == (6,) and bool((state["input_scale"] > 0).all())
    # stop after epoch 1 (a chunk too short for another epoch), then resume the same config
    part = train_run(_cfg(files), tmp_path / "killed", progress=False, log=lambda m: None, chunk_seconds=1e-9)
    assert part["stopped"] == "chunk" and part["epochs_done"] == 1
    resumed = train_run(_cfg(files), tmp_path / "killed", resume=True, progress=False, log=lambda m: None)
    h1 = json.loads((tmp_path / "full" / "metrics.json").read_text())
    h2 = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert [round(r["val_loss"], 5) for r in h1] == [round(r["val_loss"], 5) for r in h2]
    assert resumed["epochs_done"] == 3
    # the thread count is not part of the run (results then agree to rounding, not bit for bit)
    again = train_run(_cfg(files, threads=2), tmp_path / "killed", resume=True, progress=False, log=lambda m: None)
    assert again["epochs_done"] == 3
    with pytest.raises(TrainError, match="already holds a run"):
        train_run(_cfg(files), tmp_path / "full", progress=False, log=lambda m: None)
    with pytest.raises(TrainError, match="different configuration"):
        train_run(_cfg(files, lr=1e-3), tmp_path / "full", resume=True, progress=False, log=lambda m: None)


def test_weight_average_clipping_and_rotations_learn_and_resume_exactly(files, tmp_path):
    cfg = _cfg(files, ema_decay=0.9, grad_clip_norm=1.0, optimizer="adamw", weight_decay=1e-4, augment_rotations=True)
    full = train_run(cfg, tmp_path / "full", progress=False, log=lambda m: None)
    assert full["best_val_auc"] > 0.85  # the averaged weights are what is validated and saved
    ckpt = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    raw, avg = ckpt["model"], {k[len("module."):]: v for k, v in ckpt["ema"].items() if k.startswith("module.")}
    assert avg.keys() == raw.keys() and int(ckpt["ema"]["n_averaged"]) > 10
    # an average over past steps, not the last weights; batch-norm statistics are averaged too
    w = [k for k, v in raw.items() if v.is_floating_point() and v.numel() > 10][0]
    assert not torch.allclose(avg[w], raw[w])
    saved = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    best = full["best_epoch"]
    if best == 2:  # the last epoch was the best: model.pt is the average at its end
        assert torch.equal(saved[w], avg[w])
    # killed after epoch 1 and resumed: the average continues from its stored state, the rotations
    # are those of the same batches
    train_run(cfg, tmp_path / "killed", progress=False, log=lambda m: None, chunk_seconds=1e-9)
    train_run(cfg, tmp_path / "killed", resume=True, progress=False, log=lambda m: None)
    h1 = json.loads((tmp_path / "full" / "metrics.json").read_text())
    h2 = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert [round(r["val_loss"], 5) for r in h1] == [round(r["val_loss"], 5) for r in h2]
    # a run without the options resumes from a checkpoint written before they existed (same key)
    from scintnet.train.harness import _resume_key

    plain = _cfg(files)
    assert "ema_decay" not in _resume_key(plain) and "ema_decay" in _resume_key(cfg)
    from scintnet.config import ConfigError

    with pytest.raises(ConfigError, match="ema_decay"):
        replace(cfg, ema_decay=1.0).validate()


def test_cosine_schedule_warms_up_and_ends_at_zero():
    from scintnet.train.harness import _lr_lambda

    f = _lr_lambda(RunConfig(epochs=10, warmup_epochs=1.0), steps_per_epoch=100)
    assert f(0) == pytest.approx(0.01) and f(99) == pytest.approx(1.0)
    assert f(100) == pytest.approx(1.0) and f(550) == pytest.approx(0.5) and f(999) < 1e-4
    vals = [f(s) for s in range(100, 1000)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))  # monotone after warm-up
    g = _lr_lambda(RunConfig(epochs=10, schedule="exponential", lr_decay=0.5), steps_per_epoch=100)
    assert g(300) == pytest.approx(0.25)


def test_report_warns_on_early_stop_and_on_results_within_the_floors():
    from scintnet.evaluate.report import report_warnings

    run = {"stopped": "time_limit", "epochs_done": 1, "epochs_planned": 30, "run_config": {"epochs": 30}}
    ev = {"per_source": {"C10": {"rejection_at_90_energy_matched": 0.14,
                                 "floors": {"linear": {"rejection_at_90_energy_matched": 0.30},
                                            "xgboost": {"rejection_at_90_energy_matched": 0.10}}}}}
    w = report_warnings(run, ev)
    assert len(w) == 2 and "1 of 30 epochs" in w[0] and "¹⁰C" in w[1] and "linear" in w[1] and "xgboost" not in w[1]
    ok = {"stopped": "epochs", "epochs_done": 30, "epochs_planned": 30, "run_config": {"epochs": 30}}
    ev["per_source"]["C10"]["rejection_at_90_energy_matched"] = 0.35
    assert report_warnings(ok, ev) == []
    # a floor given all the files' events (more than the matched split) says the network is short of events
    ev["floors_all_training_events_per_source"] = {"C10": {"xgboost": {"rejection_at_90_energy_matched": 0.40}}}
    ev["floors_all_training_events_training"] = {"n_signal": 900, "n_background": 800}
    w = report_warnings(ok, ev)
    assert len(w) == 1 and "short of training events" in w[0] and "900 + 800" in w[0]


def test_evaluate_writes_table_plots_and_scores(files, tmp_path):
    train_run(_cfg(files, epochs=2), tmp_path / "run", progress=False, log=lambda m: None)
    res = evaluate_run(tmp_path / "run", [files["sig_test"], files["alpha_test"]], tmp_path / "eval", n_boot=20)
    assert len(res["per_source"]) == 1
    r = next(iter(res["per_source"].values()))
    assert 0.0 <= r["rejection_at_90"] <= 1.0 and r["auc"] > 0.8
    # the energy-matched figure is always reported: a value, or null with the reason
    if r["rejection_at_90_energy_matched"] is None:
        assert r["energy_matching_unavailable"]
    else:
        assert 0.0 <= r["rejection_at_90_energy_matched"] <= 1.0
        # so is the energy- and vertex-matched one (signal weighted to the background's radii)
        if r["rejection_at_90_vertex_matched"] is None:
            assert r["vertex_matching_unavailable"]
        else:
            assert 0.0 <= r["rejection_at_90_vertex_matched"] <= 1.0 and r["vertex_matched_signal_n_eff"] > 10
    for f in ("roc.png", "score_spectra.png", "attention.png", "evaluation.json", "scores.h5"):
        assert (tmp_path / "eval" / f).exists(), f
    # the floors train on exactly the network's training split (rebuilt from run.json), and again on every
    # selected event of its training files, which the 70/15/15 split makes a larger set
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    ft, fa = res["floors_training"], res["floors_all_training_events_training"]
    assert ft["events"] == "the network's training split" and ft["n_signal"] + ft["n_background"] == run["n_train"]
    assert fa["n_signal"] + fa["n_background"] > run["n_train"]
    for floors in (res["floors"], res["floors_all_training_events"]):
        assert set(floors) == {"linear", "xgboost"} and 0.0 <= floors["xgboost"]["rejection_at_90"] <= 1.0
    with h5py.File(tmp_path / "eval" / "scores.h5") as h:
        sig = h.attrs["signal_source"]
        assert sig.startswith("Xe136_0vbb")
        assert h[sig]["score"].shape == (240,) and h[sig]["attention"].shape == (240, 6)
        pulse = h[sig]["second_pulse_fraction"][:]
    # the double-pulse cut (reco/pileup.py) loses at most 1 % of the signal; the combined figure is reported
    dp = res["double_pulse"]
    assert dp["signal_loss"] == 0.01 and np.mean(pulse > dp["cut_fraction"]) <= 0.01
    assert 0.0 <= r["double_pulse_cut_rejection"] <= 1.0 and 0.0 <= r["rejection_at_90_double_pulse_cut"] <= 1.0
    from scintnet.evaluate.compare import paired_comparison

    c = paired_comparison(tmp_path / "eval" / "scores.h5", tmp_path / "eval" / "scores.h5", n_boot=10,
                          double_pulse_loss=0.01)
    assert c["rejection_a"] == pytest.approx(r["rejection_at_90_double_pulse_cut"]) and c["rejection_diff"] == 0.0


def test_bootstrap_models_spread_and_energy_matched(files, tmp_path):
    """Two bootstrap-resampled models: each sees a different resample, the summary quotes the
    mean and model-to-model spread of the plain and the energy-matched rejection."""
    from scintnet.evaluate.bootstrap import evaluate_bootstrap

    runs = [tmp_path / f"boot_{k:02d}" for k in range(2)]
    for k, d in enumerate(runs):
        train_run(_cfg(files, epochs=1, bootstrap=k + 1), d, progress=False, log=lambda m: None)
    w = [torch.load(d / "model.pt", weights_only=True) for d in runs]
    assert any(not torch.equal(w[0][k], w[1][k]) for k in w[0])  # different resamples, different models
    res = evaluate_bootstrap(tmp_path, runs, [files["sig_test"], files["alpha_test"]], tmp_path / "eval")
    assert res["n_models"] == 2
    r = next(iter(res["per_source"].values()))
    per = np.array(r["rejection_at_90_per_model"])
    assert r["rejection_at_90"] == pytest.approx(per.mean())
    assert r["rejection_at_90_bootstrap_std"] == pytest.approx(per.std(ddof=1))
    # quenched 16 MeV alphas overlap the 0nbb line in visible energy: the figure exists for each model
    em = np.array(r["rejection_at_90_energy_matched_per_model"])
    assert em.size == 2 and np.all((em >= 0) & (em <= 1))
    assert r["rejection_at_90_energy_matched"] == pytest.approx(em.mean())
    assert r["rejection_at_90_energy_matched_models_std"] == pytest.approx(em.std(ddof=1))
    one = json.loads((tmp_path / "eval" / "boot_01" / "evaluation.json").read_text())
    assert next(iter(one["per_source"].values()))["rejection_at_90_energy_matched"] == pytest.approx(em[1])
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text())["n_models"] == 2


def test_bootstrap_trainings_are_executor_tasks_independent_of_workers(files, tmp_path):
    from scintnet.train.harness import train_bootstrap

    cfg = _cfg(files, epochs=1, threads=1)
    a = train_bootstrap(cfg, tmp_path / "a", 2, workers=2, progress=False, log=lambda m: None)
    b = train_bootstrap(cfg, tmp_path / "b", 2, workers=1, progress=False, log=lambda m: None)
    assert [r["run_config"]["bootstrap"] for r in a] == [1, 2] == [r["run_config"]["bootstrap"] for r in b]
    for k in ("boot_00", "boot_01"):
        wa = torch.load(tmp_path / "a" / k / "model.pt", weights_only=True)
        wb = torch.load(tmp_path / "b" / k / "model.pt", weights_only=True)
        assert all(torch.equal(wa[n], wb[n]) for n in wa), k
    again = train_bootstrap(cfg, tmp_path / "a", 2, workers=2, resume=True, progress=False, log=lambda m: None)
    assert [r["train_seconds"] for r in again] == [r["train_seconds"] for r in a]  # resumed: nothing trained again


def test_bootstrap_summary_of_energy_matched_rejection():
    from scintnet.evaluate.bootstrap import summarise_models

    rows = [{"n_events": 100, "auc": a, "rejection_at_90": r, "rejection_at_90_energy_matched": e}
            for a, r, e in ((0.8, 0.50, 0.40), (0.7, 0.40, 0.20), (0.9, 0.60, 0.30))]
    s = summarise_models(rows)
    assert s["rejection_at_90"] == pytest.approx(0.5) and s["rejection_at_90_bootstrap_std"] == pytest.approx(0.1)
    assert s["auc"] == pytest.approx(0.8) and s["auc_models_std"] == pytest.approx(0.1)
    assert s["rejection_at_90_energy_matched"] == pytest.approx(0.3)
    assert s["rejection_at_90_energy_matched_models_std"] == pytest.approx(0.1)
    assert s["rejection_at_90_energy_matched_per_model"] == pytest.approx([0.4, 0.2, 0.3])
    # one model without the figure: the summary says so instead of averaging the others
    rows[1] = dict(rows[1], rejection_at_90_energy_matched=None, energy_matching_unavailable="ranges do not overlap")
    s = summarise_models(rows)
    assert s["rejection_at_90_energy_matched"] is None and s["energy_matching_unavailable"] == "ranges do not overlap"
    assert "rejection_at_90_energy_matched_per_model" not in s
    assert summarise_models(rows[:1])["rejection_at_90_bootstrap_std"] == 0.0
    # the vertex-matched figure is summarised the same way, independently of the energy-matched one
    rows = [{"n_events": 100, "auc": 0.8, "rejection_at_90": 0.5, "rejection_at_90_energy_matched": 0.3,
             "rejection_at_90_vertex_matched": v, "vertex_matched_signal_n_eff": 500.0} for v in (0.10, 0.14)]
    s = summarise_models(rows)
    assert s["rejection_at_90_vertex_matched"] == pytest.approx(0.12)
    assert s["rejection_at_90_vertex_matched_per_model"] == pytest.approx([0.10, 0.14])
    assert s["vertex_matched_signal_n_eff"] == 500.0
    rows[0] = dict(rows[0], rejection_at_90_vertex_matched=None, vertex_matching_unavailable="no reconstructed vertices")
    s = summarise_models(rows)
    assert s["rejection_at_90_vertex_matched"] is None and s["rejection_at_90_energy_matched"] == pytest.approx(0.3)
    assert s["vertex_matching_unavailable"] == "no reconstructed vertices"


def test_onnx_export_matches_torch(files, tmp_path):
    from scintnet.evaluate.export import export_onnx

    train_run(_cfg(files, epochs=1), tmp_path / "run", progress=False, log=lambda m: None)
    res = export_onnx(tmp_path / "run", tmp_path / "m.onnx", [files["sig_test"], files["alpha_test"]], n_check=64)
    assert (tmp_path / "m.onnx").exists() and res["n_events_checked"] == 64
    assert res["max_abs_diff_score"] < 1e-4


def test_pressure_map_over_qe_and_coverage(files, tmp_path):
    """Trained model scored over a (QE, coverage) grid; the grid's files really change the light collection."""
    from scintnet.evaluate.pressure import pressure_map
    from scintnet.io.store import EventFile

    train_run(_cfg(files, epochs=1), tmp_path / "run", progress=False, log=lambda m: None)
    logs: list[str] = []
    res = pressure_map([tmp_path / "run"], qe=(0.12, 0.24), coverage=(0.22,), events=120,
                       out_dir=tmp_path / "pm", n_boot=20, log=logs.append)
    (name, m), = res["models"].items()
    assert np.asarray(m["rejection_at_90"]).shape == (2, 1) and (tmp_path / "pm" / "pressure_map.png").exists()
    assert sum("simulating" in s for s in logs) == 4
    # photoelectrons scale with QE x coverage: twice the QE, ~twice the hits (few multi-p.e. PMTs at 2.5 MeV)
    nhit = []
    for q in (0.12, 0.24):
        with EventFile(tmp_path / "pm" / "data" / f"Xe136_0vbb_qe{q:.3f}_cov0.220_n120_s100.h5") as f:
            c = f.read(0, None)
            nhit.append(np.mean(np.diff(c.hit_offsets)))
    assert 1.7 < nhit[1] / nhit[0] < 2.1
    logs.clear()
    pressure_map([tmp_path / "run"], qe=(0.12, 0.24), coverage=(0.22,), events=120, out_dir=tmp_path / "pm",
                 n_boot=20, plots=False, log=logs.append)
    assert not any("simulating" in s for s in logs)  # files are reused


def test_retrained_pressure_map_one_training_per_cell(tmp_path):
    """Paper Fig. 3: a model per cell, each an executor task, worker-independent, resumable."""
    from scintnet.evaluate.pressure import retrained_pressure_map

    kw = dict(qe=(0.16, 0.30), coverage=(0.22,), model="kamnet", model_preset="tiny", train_events=240,
              test_events=150, epochs=1, batch_size=32, n_boot=10, plots=False, log=lambda m: None)
    a = retrained_pressure_map(out_dir=tmp_path / "a", workers=2, **kw)
    own = a["models"]["retrained per cell (kamnet:tiny)"]["rejection_at_90"]
    nom = a["models"]["trained at the nominal cell (kamnet:tiny)"]["rejection_at_90"]
    assert np.asarray(own).shape == (2, 1) and np.asarray(nom).shape == (2, 1)
    assert own[1][0] == nom[1][0]  # the nominal (central) cell's own model is the robustness map's model
    assert len({c["run"] for c in a["cells"].values()}) == 2  # one training per cell
    b = retrained_pressure_map(out_dir=tmp_path / "b", workers=1, **kw)
    assert a["models"] == b["models"]  # results do not depend on where the tasks ran
    t0 = [c["train_seconds"] for c in b["cells"].values()]
    c = retrained_pressure_map(out_dir=tmp_path / "b", workers=1, **kw)  # resumed: nothing trained again
    assert [x["train_seconds"] for x in c["cells"].values()] == t0 and c["models"] == b["models"]


def test_paired_comparison_detects_a_better_model(tmp_path):
    from scintnet.evaluate.compare import paired_comparison

    rng = np.random.default_rng(0)
    sig, bkg = rng.normal(1.0, 1, 3000), rng.normal(0.0, 1, 3000)
    noise_s, noise_b = rng.normal(0, 1.0, 3000), rng.normal(0, 1.0, 3000)
    for name, (s, b) in {"good": (sig, bkg), "worse": (sig + noise_s, bkg + noise_b)}.items():
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.attrs["signal_source"] = "Xe136_0vbb"
            f.create_group("Xe136_0vbb")["score"] = s
            f.create_group("C10")["score"] = b
    r = paired_comparison(tmp_path / "good.h5", tmp_path / "worse.h5", n_boot=200)
    assert r["rejection_diff"] > 0.1 and r["fraction_a_better"] > 0.99
    # the paired spread is smaller than the two independent ones combined (common test fluctuation)
    from scintnet.evaluate.metrics import bootstrap_metric, rejection_at_acceptance

    sd_a = bootstrap_metric(sig, bkg, rejection_at_acceptance, 200, 1)[1]
    sd_b = bootstrap_metric(sig + noise_s, bkg + noise_b, rejection_at_acceptance, 200, 1)[1]
    assert r["rejection_diff_paired_std"] < np.hypot(sd_a, sd_b)
    r0 = paired_comparison(tmp_path / "good.h5", tmp_path / "good.h5", n_boot=50)
    assert r0["rejection_diff"] == 0 and r0["rejection_diff_paired_std"] == 0


def test_vertex_matched_comparison_sees_through_a_position_only_score(tmp_path):
    """Film-like test: a model whose score only knows 'large radius = background' beats a modest
    topology model at fixed energy, but loses to it at the background's positions."""
    from scintnet.evaluate.compare import paired_comparison

    rng = np.random.default_rng(5)
    n_s, n_b = 20000, 6000
    r_sig = np.abs(1900.0 * rng.uniform(0, 1, n_s) ** (1 / 3) + rng.normal(0, 100.0, n_s))
    r_bkg = 1900.0 + rng.normal(0, 100.0, n_b)
    e_sig, e_bkg = rng.normal(2.46, 0.08, n_s), rng.uniform(2.0, 3.0, n_b)
    scores = {"position": (-r_sig + rng.normal(0, 30, n_s), -r_bkg + rng.normal(0, 30, n_b)),
              "topology": (rng.normal(0.6, 1, n_s), rng.normal(0.0, 1, n_b))}
    for name, (s, b) in scores.items():
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.attrs["signal_source"] = "Xe136_0vbb"
            for grp, sc, e, r in (("Xe136_0vbb", s, e_sig, r_sig), ("Bi214_film", b, e_bkg, r_bkg)):
                g = f.create_group(grp)
                g["score"], g["energy_MeV"], g["radius_mm"] = sc, e, r
    a, b = tmp_path / "topology.h5", tmp_path / "position.h5"
    em = paired_comparison(a, b, n_boot=100, energy_matched=True)
    vm = paired_comparison(a, b, n_boot=100, vertex_matched=True)
    assert em["rejection_diff"] < -0.2  # "position" looks far better at fixed energy ...
    assert vm["vertex_matched"] and vm["rejection_b"] == pytest.approx(0.10, abs=0.04)  # ... but is at chance
    assert vm["rejection_diff"] > 0.05 and vm["fraction_a_better"] > 0.95


def test_distributed_two_processes_equal_one(files, tmp_path):
    """gloo data parallelism over 2 ranks = one process with the same global batch (within float tolerance)."""
    from scintnet.train.harness import train_distributed

    # no dropout; SGD: its update is linear in the gradient (Adam divides tiny gradients by their own size,
    # which turns float-summation-order noise into lr-sized steps)
    cfg = _cfg(files, model="particlenet", preset="tiny", epochs=2, optimizer="sgd", lr=0.05, threads=1)
    one = train_run(cfg, tmp_path / "one", progress=False, log=lambda m: None)
    two = train_distributed(cfg, tmp_path / "two", world_size=2, log=lambda m: None)
    assert two["distributed"]["world_size"] == 2 and not (tmp_path / "two" / ".rank1").exists()
    a = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert diff < 1e-4, diff
    assert one["epochs_done"] == 2 and one["n_train"] > 64  # several steps of trained weights compared
    h1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    h2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert [round(h["val_loss"], 4) for h in h1] == [round(h["val_loss"], 4) for h in h2]


def test_cli_config_file_chooses_model_and_representation(files, tmp_path):
    """`train --config F` trains F's model and preset (the CLI has no default that overrides them) on F's
    [representation]; run.json records the spec and the model is sized from it."""
    from typer.testing import CliRunner

    from scintnet.cli import app

    toml = tmp_path / "run.toml"
    toml.write_text('model = "lstm"\npreset = "tiny"\nepochs = 1\nthreads = 1\ne_min_MeV = 0.5\ne_max_MeV = 10.0\n'
                    'r_max_mm = 3000.0\nnhit_matching = false\n[representation]\nn_t = 9\n')
    r = CliRunner().invoke(app, ["train", "--config", str(toml), "--signal", files["sig"], "--background",
                                 files["alpha"], "--out", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (run["run_config"]["model"], run["run_config"]["preset"]) == ("lstm", "tiny")
    assert run["representation"]["kind"] == "time_spectrum" and run["representation"]["n_bins"] == 9
    assert run["model_config"]["n_t"] == 9


def test_nhit_weighted_training_keeps_every_event_and_learns(files, tmp_path):
    """--nhit-weighting: the training split is not thinned by matching (weights instead), the classes carry
    equal summed weight, and the network still separates 0νββ from α."""
    kw = dict(nhit_matching=True, epochs=2)
    matched = train_run(_cfg(files, **kw), tmp_path / "m", progress=False, log=lambda m: None)
    weighted = train_run(_cfg(files, nhit_weighting=True, **kw), tmp_path / "w", progress=False, log=lambda m: None)
    assert weighted["n_train"] > matched["n_train"]
    assert weighted["class_pos_weight"] == pytest.approx(1.0, abs=1e-4)  # weights already balance the classes
    assert weighted["best_val_auc"] > 0.9
