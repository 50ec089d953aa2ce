"""CLI commands for models, training, evaluation and export (train, evaluate, export, bench models)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail
from ._common import _print_json as _json
from ..io.rundir import RUN_JSON

app = typer.Typer()  # the commands register in this file's order, that of `scintnet --help` (train, evaluate last)
bench_app = typer.Typer()


# the paper's models and baselines, then the beyond-KamNet models (issue: hit point clouds,
# rotation-invariant, spherical graph) at their CPU presets
DEFAULT_BENCH = [("kamnet", "cpu"), ("kamnet", "large"), ("cnn", "cpu"), ("lstm", "cpu"), ("kamnet", "paper"),
                 ("cnn", "paper"), ("lstm", "paper"), ("particlenet", "cpu"), ("part", "cpu"), ("rotinv", "cpu"),
                 ("rotinv", "cpu_vtx"), ("deepsphere", "cpu")]


@bench_app.command("models")
def bench_models_cmd(
    models: Optional[list[str]] = typer.Option(None, "--model", help="name:preset, e.g. kamnet:cpu (repeatable)"),
    seconds: float = typer.Option(5.0, "--seconds", help="time per measurement"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="compute threads (default: the CPU affinity's cores)"),
    reference: bool = typer.Option(True, "--reference/--no-reference",
                                   help="KamNet: also time the reference spherical layers and split per layer"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per model and preset: params, FLOPs/event, train s/step and events/s, inference events/s, peak RSS."""
    from ..models.bench import bench_models

    pairs = [tuple(m.split(":", 1)) if ":" in m else (m, "cpu") for m in (models or [])] or DEFAULT_BENCH
    res = bench_models(pairs, seconds, threads, reference)
    if as_json:
        _json({"models": res})
        return
    for r in res:
        if "error" in r:
            typer.echo(f"{r['model']}:{r['preset']}: error {r['error']}")
            continue
        typer.echo(f"{r['model']:8s} {r['preset']:6s} params {r['params']:>9,d}  FLOPs/ev {r['flops_per_event']:.3g}  "
                   f"train {r['train_events_per_s']:8.1f} ev/s ({r['train_s_per_step']:.3g} s/step of {r['batch']})  "
                   f"infer {r['infer_events_per_s']:8.1f} ev/s  RSS {r['peak_rss_mb']:.0f} MB  threads {r['threads']}")
        if "reference_train_s_per_step" in r:
            typer.echo(f"  reference spherical layers: {r['reference_train_s_per_step']:.3g} s/step -> "
                       f"{r['speedup_train_step']:.2f}x per training step, "
                       f"{r['speedup_spherical_layers']:.2f}x on the S2/SO(3) layers")
        for row, ref in zip(r.get("layers", []), r.get("reference_layers", [None] * len(r.get("layers", [])))):
            extra = "" if ref is None else (f"   (reference {1e3 * ref['forward_s_per_event']:.2f} / "
                                            f"{1e3 * ref['backward_s_per_event']:.2f})")
            typer.echo(f"    {row['layer']:44s} fwd {1e3 * row['forward_s_per_event']:7.2f} ms/ev  "
                       f"bwd {1e3 * row['backward_s_per_event']:7.2f} ms/ev{extra}")


@app.command()
def export(
    run: Path = typer.Argument(..., help="trained run directory"),
    onnx: Path = typer.Option(..., "--onnx", help="output ONNX file"),
    data: Optional[list[str]] = typer.Option(None, "--data", help="event files for the check (default: the run's)"),
    n_check: int = typer.Option(256, "--n-check", min=1),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --onnx file"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Export to ONNX and check onnxruntime against PyTorch on real events."""
    from ..evaluate.export import export_onnx
    from ..io.outputs import check_output
    from ..io.store import EventFileError
    from ..train.harness import TrainError

    check_output(onnx, overwrite)
    try:
        res = export_onnx(run, onnx, data, n_check)
    except (TrainError, EventFileError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _json(res)
    else:
        typer.echo(f"wrote {res['onnx']}: max |score(onnxruntime) - score(torch)| = {res['max_abs_diff_score']:.2e} "
                   f"on {res['n_events_checked']} events; onnxruntime {res['onnxruntime_events_per_s']:.0f} events/s")


@app.command()
def report(
    run: Path = typer.Argument(..., help="trained run directory"),
    eval_dir: Optional[Path] = typer.Option(None, "--eval", help="evaluation folder (default: RUN/eval or the "
                                            "evaluation recorded by `evaluate --out`)"),
    validation: Optional[Path] = typer.Option(None, "--validation", help="validate-sim --json output to include"),
    out: Path = typer.Option(..., "--out", help="report folder"),
    as_html: bool = typer.Option(False, "--html", help="also index.html: every plot and table inlined, example "
                                 "events of each class in the interactive display (self-contained)"),
    events: int = typer.Option(2, "--events", min=0, help="example events per evaluation file (--html)"),
) -> None:
    """Write a report folder: markdown summary, JSON and plots (and with --html one self-contained page)."""
    from ..evaluate.report import write_report

    try:
        from ..io.rundir import find_evaluation

        res = write_report(run, eval_dir if eval_dir is not None else find_evaluation(run), out, validation)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        _fail(f"cannot write the report: {exc}")
    typer.echo(f"report: {res['report']}")
    if as_html:
        from ..display.report import write_html_report

        h = write_html_report(out, run, eval_dir if eval_dir is not None else find_evaluation(run), events,
                              log=lambda m: typer.echo(m, err=True))
        typer.echo(f"html report: {h['html']} ({h['bytes'] / 1e6:.1f} MB, {len(h['events'])} example events)")


@app.command("pressure-map")
def pressure_map_cmd(
    runs: Optional[list[Path]] = typer.Argument(None, help="trained run directories (trained at the nominal "
                                                "setting); none with --retrain"),
    retrain: bool = typer.Option(False, "--retrain", help="the paper's map: one training per cell (each an "
                                 "executor task; --executor dask for a cluster), beside the nominal model's map"),
    model: str = typer.Option("kamnet", "--model", help="--retrain: the model"),
    model_preset: str = typer.Option("cpu", "--model-preset", help="--retrain: its preset"),
    train_events: int = typer.Option(3000, "--train-events", min=100, help="--retrain: training events per class"),
    epochs: int = typer.Option(4, "--epochs", min=1, help="--retrain: epochs per cell"),
    preset: str = typer.Option("klz400-fast", "--preset", help="detector preset whose gray-disk PMTs are varied"),
    qe: Optional[list[float]] = typer.Option(None, "--qe", help="quantum efficiencies (default 0.16 0.23 0.30)"),
    coverage: Optional[list[float]] = typer.Option(None, "--coverage", help="photocoverages (default 0.15 0.22 0.29)"),
    signal: str = typer.Option("Xe136_0vbb", "--signal"),
    background: str = typer.Option("C10", "--background"),
    events: int = typer.Option(3000, "--events", min=100, help="events simulated per setting and class"),
    seed: int = typer.Option(100, "--seed"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    out: Path = typer.Option(Path("out/pressure"), "--out"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Robustness: rejection of trained models over a (QE, photocoverage) grid (paper Fig. 3)."""
    from ..evaluate.pressure import pressure_map
    from ..io.store import EventFileError
    from ..train.harness import TrainError

    for q in (qe or []) + (coverage or []):
        if not 0 < q <= 1:
            _fail(f"QE and photocoverage must be in (0, 1], got {q}")
    if retrain:
        from ..evaluate.pressure import retrained_pressure_map

        if runs:
            _fail("--retrain trains its own models: give no run directories")
        res = retrained_pressure_map(preset, tuple(qe or (0.16, 0.23, 0.30)), tuple(coverage or (0.15, 0.22, 0.29)),
                                     model, model_preset, signal, background, train_events, events, epochs,
                                     out_dir=out, seed=seed, workers=workers,
                                     log=(lambda m: None) if as_json else typer.echo)
        if as_json:
            _json(res)
        else:
            typer.echo(f"wrote {out / 'pressure_map_retrained.json'} and {res.get('plot')}")
        return
    if not runs:
        _fail("give trained run directories, or --retrain")
    try:
        res = pressure_map([str(r) for r in runs], preset, tuple(qe or (0.16, 0.23, 0.30)),
                           tuple(coverage or (0.15, 0.22, 0.29)), signal, background, events, out, seed, workers,
                           log=(lambda m: None) if as_json else typer.echo)
    except (TrainError, EventFileError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _json(res)
    else:
        typer.echo(f"wrote {out / 'pressure_map.json'} and {res.get('plot')}")


@app.command()
def compare(
    run_a: Path = typer.Argument(..., help="evaluated run (or its scores.h5)"),
    run_b: Path = typer.Argument(..., help="evaluated run on the same test files"),
    background: Optional[str] = typer.Option(None, "--background", help="one background group (default: all)"),
    n_boot: int = typer.Option(1000, "--n-boot", min=10),
    energy_matched: bool = typer.Option(False, "--energy-matched", help="weight the background to the "
                                        "signal's energy spectrum (rejection at fixed energy)"),
    vertex_matched: bool = typer.Option(False, "--vertex-matched", help="as --energy-matched and the signal "
                                        "weighted to the background's radial distribution"),
    double_pulse_loss: Optional[float] = typer.Option(None, "--double-pulse-loss", min=0.0, max=0.5,
                                                      help="both runs behind the double-pulse cut that loses "
                                                      "this fraction of the signal (e.g. 0.01)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rejection and AUC difference of two runs with a paired bootstrap over the same test events."""
    from ..evaluate.compare import paired_comparison

    try:
        res = paired_comparison(run_a, run_b, background, n_boot, energy_matched=energy_matched,
                                vertex_matched=vertex_matched, double_pulse_loss=double_pulse_loss)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        _fail(str(exc))
    if as_json:
        _json(res)
    else:
        typer.echo(f"rejection at 90 %: A {100 * res['rejection_a']:.1f} %, B {100 * res['rejection_b']:.1f} %, "
                   f"A - B = {100 * res['rejection_diff']:.1f} +- {100 * res['rejection_diff_paired_std']:.1f} % "
                   f"(paired bootstrap; A better in {100 * res['fraction_a_better']:.1f} % of resamples)")
        from ..evaluate.results import ENERGY, PLAIN

        for side in ("a", "b"):
            for name, f in (res.get(f"floors_{side}") or {}).items():
                em = f.get(ENERGY.key)
                typer.echo(f"  floor of {side.upper()}'s evaluation, {name}: {100 * f[PLAIN.key]:.1f} %"
                           + ("" if em is None else f" (fixed energy {100 * em:.1f} %)"))


@app.command("compare-models")
def compare_models(
    a: list[Path] = typer.Option(..., "--a", help="trainings of model A: run dirs (bootstrap runs count K "
                                 "models) or evaluation.json files; repeat the option"),
    b: list[Path] = typer.Option(..., "--b", help="trainings of model B, as --a"),
    background: str = typer.Option(..., "--background", help="background source group, e.g. C10 or Bi214"),
    energy_matched: bool = typer.Option(False, "--energy-matched", help="use the energy-matched rejection"),
    vertex_matched: bool = typer.Option(False, "--vertex-matched", help="use the energy- and vertex-matched "
                                        "rejection (signal at the background's radii)"),
    eval_name: str = typer.Option("eval", "--eval-name", help="evaluation folder inside a run dir "
                                  "(e.g. eval_film)"),
    double_pulse_cut: bool = typer.Option(False, "--double-pulse-cut", help="use the figures behind the "
                                          "double-pulse cut (as recorded by `scintnet evaluate`)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rejection of model A vs model B over several trainings of each (training-to-training spread, Welch t)."""
    from ..evaluate.ensembles import model_spread_difference, per_training_rejections

    try:
        va, la = per_training_rejections(a, background, energy_matched, eval_name, vertex_matched, double_pulse_cut)
        vb, lb = per_training_rejections(b, background, energy_matched, eval_name, vertex_matched, double_pulse_cut)
        res = model_spread_difference(va, vb)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        _fail(str(exc))
    res.update(background=background, energy_matched=energy_matched, vertex_matched=vertex_matched,
               double_pulse_cut=double_pulse_cut,
               trainings_a=la, trainings_b=lb)
    if as_json:
        _json(res)
        return
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}"  # noqa: E731
    for side in ("a", "b"):
        typer.echo(f"{side.upper()}: {pct(res[f'mean_{side}'])} ± {pct(res[f'sd_{side}'])} % over "
                   f"{res[f'n_{side}']} trainings [" + "/".join(pct(v) for v in res[f"per_training_{side}"]) + "]")
    line = f"A - B = {100 * res['diff']:+.1f}"
    if res["diff_err"] is not None:
        line += f" ± {pct(res['diff_err'])} %"
    if res["t"] is not None:
        line += f" (Welch t = {res['t']:.2f}, dof {res['dof']:.1f}, p = {res['p_value']:.3g})"
    elif res.get("t_test_unavailable"):
        line += f" (no t-test: {res['t_test_unavailable']})"
    typer.echo(line)
    typer.echo(f"smallest pairwise A - B {100 * res['min_pairwise_diff']:+.1f} %, A better in "
               f"{100 * res['fraction_pairs_a_better']:.0f} % of the {res['n_a'] * res['n_b']} pairings "
               f"(Mann-Whitney p = {res['mannwhitney_p']:.3g})")


@app.command()
def floors(
    signal: list[str] = typer.Option(..., "--signal", help="training signal file(s)"),
    background: list[str] = typer.Option(..., "--background", help="training background file(s)"),
    test_signal: list[str] = typer.Option(..., "--test-signal", help="test signal file(s)"),
    test_background: list[str] = typer.Option(..., "--test-background", help="test background file(s)"),
    features: str = typer.Option("time+moments", "--features", help="time | moments | time+moments"),
    e_min: float = typer.Option(2.0, "--e-min-MeV"), e_max: float = typer.Option(3.0, "--e-max-MeV"),
    r_max_mm: float = typer.Option(1570.0, "--r-max-mm", help="fiducial radius of the selection"),
    max_events: int = typer.Option(20000, "--max-events", min=20, help="events per file set"),
    no_xgboost: bool = typer.Option(False, "--no-xgboost"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Linear (Fisher) and XGBoost floors: rejection at 90 % signal acceptance, plain and at fixed energy."""
    from ..evaluate.floors import floor_study

    _classifier_figures(lambda: floor_study(signal, background, test_signal, test_background, features, (e_min, e_max),
                                            r_max_mm, max_events, xgboost=not no_xgboost),
                        f"floors on {features}", "floors", (e_min, e_max), r_max_mm, as_json)


def _classifier_figures(run, title: str, key: str, e_range: tuple[float, float], r_max_mm: float, as_json: bool) -> None:
    """Run a floor-like study and print its per-classifier rejections (plain and at fixed energy) or its JSON."""
    from ..evaluate.results import ENERGY, PLAIN

    try:
        res = run()
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        _json(res)
        return
    n = res["n_test"]
    typer.echo(f"{title} ({n['signal']} signal / {n['background']} background test events, "
               f"R < {r_max_mm / 10:g} cm, {e_range[0]}-{e_range[1]} MeV)")
    for k, v in res[key].items():
        em = v[ENERGY.key]
        typer.echo(f"  {k:8s} rejection at 90 %: {100 * v[PLAIN.key]:.1f} %  at fixed energy: "
                   + ("n/a" if em is None else f"{100 * em:.1f} %"))


@app.command("truth-bound")
def truth_bound(
    signal: list[str] = typer.Option(..., "--signal", help="training signal file(s), simulated with deposits"),
    background: list[str] = typer.Option(..., "--background", help="training background file(s), with deposits"),
    test_signal: list[str] = typer.Option(..., "--test-signal", help="test signal file(s), with deposits"),
    test_background: list[str] = typer.Option(..., "--test-background", help="test background file(s), with deposits"),
    e_min: float = typer.Option(2.0, "--e-min-MeV"), e_max: float = typer.Option(3.0, "--e-max-MeV"),
    r_max_mm: float = typer.Option(1570.0, "--r-max-mm", help="fiducial radius of the selection"),
    max_events: int = typer.Option(20000, "--max-events", min=20, help="events per file set"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The floors' classifiers on the energy-deposit truth (where and when the light was made) of the same
    selected events: what the simulated topology holds, for comparison with networks on the hits."""
    from ..evaluate.truth_bound import truth_bound_study

    _classifier_figures(lambda: truth_bound_study(signal, background, test_signal, test_background, (e_min, e_max),
                                                  r_max_mm, max_events),
                        "deposit truth", "truth", (e_min, e_max), r_max_mm, as_json)


@app.command()
def train(
    out: Path = typer.Option(..., "--out", "-o", help="run directory"),
    # None: the --config file's model and preset, else the RunConfig defaults (kamnet, cpu); a CLI default
    # here would silently override the file's choice
    model: Optional[str] = typer.Option(None, "--model", "-m", help="kamnet | cnn | lstm | particlenet | part | "
                                        "rotinv | deepsphere  [default: the --config file's, else kamnet]"),
    preset: Optional[str] = typer.Option(None, "--preset", help="model preset: cpu | paper | large | tiny | ...  "
                                         "[default: the --config file's, else cpu]"),
    signal: Optional[list[str]] = typer.Option(None, "--signal", help="signal event file(s) (0nbb)"),
    background: Optional[list[str]] = typer.Option(None, "--background", help="background event file(s)"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML run config (CLI options override it)"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    max_events: Optional[int] = typer.Option(None, "--max-events", help="events per class (default 20000)"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="stop after this training time"),
    no_nhit_matching: bool = typer.Option(False, "--no-nhit-matching"),
    match_on: Optional[str] = typer.Option(None, "--match-on", help="what the matching equalises: nhit (the "
                                           "paper, default) or energy"),
    nhit_weighting: bool = typer.Option(False, "--nhit-weighting", help="train on every event, weighted so the "
                                        "Nhit histograms agree, instead of discarding events (val/test stay matched)"),
    select_on: Optional[str] = typer.Option(None, "--select-on", help="val_loss (default) or val_auc: best model and early stopping"),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", min=0.0, help="clip the gradients' global "
                                              "L2 norm to this before each step (default: off)"),
    ema: Optional[float] = typer.Option(None, "--ema", help="validate, select and save an exponential moving "
                                        "average of the weights with this per-step decay, e.g. 0.99 (default: off)"),
    augment_rotations: bool = typer.Option(False, "--augment-rotations", help="show each training batch in a "
                                           "random rotation of the detector about its centre"),
    bootstrap: int = typer.Option(0, "--bootstrap", min=0, help="train K models on bootstrap resamples"),
    resume: bool = typer.Option(False, "--resume", help="continue a killed run"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="compute threads (default: the cores of the CPU affinity)"),
    patience: Optional[int] = typer.Option(None, "--patience", min=1,
                                           help="early stopping after N epochs without improvement (default: off)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | cuda:N (default: CUDA if available)"),
    chunk_minutes: Optional[float] = typer.Option(None, "--chunk-minutes", min=0.1,
                                                  help="stop at the last epoch boundary within this wall time of "
                                                  "this call; continue with --resume"),
    amp: bool = typer.Option(False, "--amp", help="bfloat16 mixed precision (CUDA only)"),
    boot_workers: int = typer.Option(1, "--workers", "-j", min=1, help="--bootstrap: trainings run at once "
                                     "(executor tasks; threads shared out)"),
    ddp: int = typer.Option(1, "--ddp", min=1, help="data-parallel processes (torch.distributed: gloo on CPU, "
                            "NCCL on GPUs); the model equals one process with the same global batch"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train a classifier (binary cross-entropy; checkpoint every epoch; resumable)."""
    from dataclasses import replace

    from ..train.config import RunConfig
    from ..train.harness import TrainError, train_run

    try:
        cfg = RunConfig.from_toml(config) if config else RunConfig()
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    upd = {k: v for k, v in dict(model=model, preset=preset, epochs=epochs, batch_size=batch_size, lr=lr,
                                  seed=seed, max_events_per_class=max_events, select_on=select_on,
                                  threads=threads, patience=patience, grad_clip_norm=grad_clip,
                                  ema_decay=ema).items()
           if v is not None}
    if signal:
        upd["signal"] = list(signal)
    if background:
        upd["background"] = list(background)
    if nhit_weighting:
        upd["nhit_weighting"] = True
    if no_nhit_matching:
        upd["nhit_matching"] = False
    if augment_rotations:
        upd["augment_rotations"] = True
    if match_on is not None:
        upd["match_on"] = match_on
    if max_minutes is not None:
        upd["max_train_seconds"] = 60.0 * max_minutes
    cfg = replace(cfg, **upd).resolved()  # a legacy preset (deepsphere:cpu_flash) names what it stood for
    from ..models.registry import model_config

    try:
        model_config(cfg.model, cfg.preset)
    except ValueError as exc:
        _fail(str(exc))
    log = (lambda m: None) if as_json else (lambda m: typer.echo(m, err=True))
    runs = [(out, cfg)] if bootstrap == 0 else [
        (out / f"boot_{k:02d}", replace(cfg, bootstrap=k + 1)) for k in range(bootstrap)]
    results = []
    if ddp > 1:
        from ..train.harness import train_distributed

        if bootstrap or resume or chunk_minutes is not None or amp or (device not in (None, "cpu", "cuda")):
            _fail("--ddp trains one model from scratch on all CPUs or GPUs: no --bootstrap, --resume, "
                  "--chunk-minutes, --amp or --device cuda:N")
        try:
            results.append(train_distributed(cfg, out, ddp, backend="gloo" if device == "cpu" else None, log=log,
                                             verbose=not as_json))
        except (TrainError, ValueError, FileNotFoundError) as exc:
            _fail(str(exc))
        runs = []
    try:
        if bootstrap > 0:  # the K trainings are executor tasks (--workers, or --executor dask on a cluster)
            from ..train.harness import train_bootstrap

            results = train_bootstrap(cfg, out, bootstrap, workers=boot_workers, resume=resume, device=device,
                                      chunk_seconds=None if chunk_minutes is None else 60.0 * chunk_minutes,
                                      amp=amp, progress=not as_json, log=log)
            runs = []
        for d, c in runs:
            results.append(train_run(c, d, resume=resume, progress=not as_json, log=log, device=device,
                                     chunk_seconds=None if chunk_minutes is None else 60.0 * chunk_minutes,
                                     amp=amp))
    except (TrainError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    if as_json:
        _json(results[0] if len(results) == 1 else results)
    else:
        for r in results:
            typer.echo(f"{r['run_config']['model']}/{r['run_config']['preset']}: {r['params']} parameters, "
                       f"{r['epochs_done']} epochs ({r['stopped']}), best val AUC {r.get('best_val_auc', float('nan')):.4f}, "
                       f"rejection@90 {r.get('best_val_rejection_at_90', float('nan')):.3f}")

@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="run directory (or a directory of boot_XX runs)"),
    data: list[str] = typer.Option(..., "--data", help="event files: one Xe136_0vbb file + background files"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default RUN/eval)"),
    r_max_mm: Optional[float] = typer.Option(None, "--r-max-mm", help="override the fiducial radius"),
    signal_source: Optional[str] = typer.Option(None, "--signal-source", help="signal source name (default: the 0nbb file)"),
    double_pulse_loss: float = typer.Option(0.01, "--double-pulse-loss", min=0.0, max=0.5,
                                            help="also report each rejection behind the double-pulse cut that "
                                            "loses this fraction of the signal (0: off)"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="compute threads (default: the cores of the CPU affinity)"),
    force: bool = typer.Option(False, "--force", help="evaluate data of another detector than the training's"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """ROC, AUC, rejection at 90 % signal acceptance per source; plots and scores.h5."""
    from .. import configure_runtime
    from ..evaluate.evaluate import evaluate_run

    configure_runtime(threads)
    from ..io.store import EventFileError
    from ..train.harness import TrainError

    boots = sorted(p for p in run.glob("boot_*") if (p / RUN_JSON).exists())
    try:
        if boots:
            from ..evaluate.bootstrap import evaluate_bootstrap

            res = evaluate_bootstrap(run, boots, data, out, r_max_mm, double_pulse_loss or None, force=force)
        else:
            res = evaluate_run(run, data, out, r_max_mm=r_max_mm, signal_source=signal_source,
                               double_pulse_loss=double_pulse_loss or None, force=force,
                               log=None if as_json else (lambda m: typer.echo(m, err=True)))
    except (TrainError, EventFileError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _json(res)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{res['model']} ({res['preset']}) — rejection at 90 % {res['signal_source']} acceptance")
    dp = res.get("double_pulse")
    for c in ("source", "events", "AUC", "rejection@90") + ((f"with double-pulse cut ({100 * dp['signal_loss']:.0f} % "
                                                            "signal loss)",) if dp else ()):
        t.add_column(c)
    from ..evaluate.results import ENERGY, PLAIN, Figure, SourceResult

    for name, d in res["per_source"].items():
        r = SourceResult.from_dict(d)
        sd = r.bootstrap_std or 0.0
        extra = (f"{100 * r.get(Figure('none', True)):.1f} %",) if dp else ()
        t.add_row(name, str(r.n_events), f"{r.auc:.4f}", f"{100 * r.get(PLAIN):.1f} ± {100 * sd:.1f} %",
                  *extra)
        em_net = r.get(ENERGY)
        if em_net is not None:
            t.add_row("  at fixed E", "", "", f"{100 * em_net:.1f} %", *("",) * len(extra))
        all_ev = (res.get("floors_all_training_events_per_source") or {}).get(name) or {}
        # the floors on the same test events: trained on the network's events, then on all the files' events
        for label, fl in (("floor", r.floors or {}), ("floor, all events", all_ev)):
            for fname, f in fl.items():
                em = f.get(ENERGY.key)
                t.add_row(f"  {label}: {fname}", "", "", f"{100 * f[PLAIN.key]:.1f} %"
                          + ("" if em is None else f" (fixed E {100 * em:.1f} %)"), *("",) * len(extra))
    Console().print(t)
    if res.get("floors_unavailable"):
        typer.echo(f"floors: {res['floors_unavailable']}")
    if res.get("floors_same_events_unavailable"):
        typer.echo(f"floors: trained on all the files' events, {res['floors_same_events_unavailable']}")
    for f in res.get("plots", []):
        typer.echo(f"plot: {f}")
