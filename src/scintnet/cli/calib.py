"""CLI commands for the learned detector response (seed 001, issue 21): the per-tube calibration benchmark."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import _fail, _print_json, err, out

calibrate_app = typer.Typer(no_args_is_help=True,
                            help="Per-tube calibration from background data (hidden deviations, scored with truth).")


@calibrate_app.command("bench")
def bench(
    out_dir: Path = typer.Option(Path("out/calib"), "--out", "-o", help="folder of the samples and calib_bench.json "
                                 "(samples already there are reused)"),
    preset: str = typer.Option("klz800", "--preset", help="detector preset"),
    n_data: int = typer.Option(40000, "--data-events", min=50, help="'data' events (tubes with hidden deviations)"),
    n_sim: int = typer.Option(40000, "--sim-events", min=50, help="nominal-simulation events"),
    n_template: int = typer.Option(20000, "--template-events", min=50, help="zero-TTS template events"),
    n_generated: int = typer.Option(20000, "--generated-events", min=50,
                                    help="events simulated with each method's parameters (the sample scores)"),
    variation_seed: int = typer.Option(2026, "--variation-seed", help="seed of the hidden per-tube deviations"),
    seed: int = typer.Option(1, "--seed"),
    methods: str = typer.Option("moments,response,gan", "--methods", help="comma-separated: moments, response, gan"),
    gan_steps: int = typer.Option(2000, "--gan-steps", min=1, help="adversarial training steps"),
    max_iter: int = typer.Option(100, "--max-iter", min=1, help="L-BFGS iterations per fit block"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    as_json: bool = typer.Option(False, "--json", help="print the result object (keyed by method)"),
) -> None:
    """Recover hidden per-tube QE, offsets, TTS, single-p.e. widths and dark rates; score every method."""
    from ..calib.bench import CalibBenchConfig, run_bench

    try:
        cfg = CalibBenchConfig(preset=preset, variation_seed=variation_seed, n_data=n_data, n_sim=n_sim,
                               n_template=n_template, n_generated=n_generated, seed=seed,
                               methods=tuple(m.strip() for m in methods.split(",") if m.strip()), max_iter=max_iter,
                               gan_steps=gan_steps)
        res = run_bench(cfg, out_dir, workers=workers, log=lambda m: err.print(m, highlight=False))
    except (ValueError, FileExistsError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
        return
    keys = ("qe_rms_over_spread", "time_offset_rms_over_spread", "tts_rms_over_spread", "spe_rms_over_spread",
            "dark_rate_rms_over_spread", "dark_hits_ratio", "sigma_t_ratio", "sigma_q_ratio", "classifier_auc", "wall_s")
    out.print("method      " + " ".join(f"{k.replace('_rms_over_spread', ''):>12.12}" for k in keys), highlight=False)
    for m, r in res.items():
        if m != "meta":
            out.print(f"{m:<11} " + " ".join(f"{r[k]:12.3f}" if r[k] is not None else f"{'-':>12}" for k in keys),
                      highlight=False)
    out.print(f"(written to {out_dir / 'calib_bench.json'})", highlight=False)


@calibrate_app.command("apply")
def apply(
    data: Path = typer.Argument(..., help="event file to calibrate"),
    bench_json: Path = typer.Option(..., "--bench", help="calib_bench.json of `scintnet calibrate bench`"),
    method: str = typer.Option("response", "--method", help="whose parameters: moments, response, gan"),
    out_path: Path = typer.Option(..., "--out", "-o", help="calibrated event file"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Subtract per-tube time offsets and mask dead / hot tubes in an event file."""
    from ..calib.apply import apply_calibration, load_bench_params
    from ..calib.samples import nominal_params
    from ..detector.config import load_config

    try:
        params, meta = load_bench_params(bench_json)
        if method not in params or method == "nominal":
            raise ValueError(f"{bench_json} has no {method!r} calibration (has: {', '.join(params)})")
        res = apply_calibration(data, out_path, params[method], nominal_params(load_config(meta["config"]["preset"])),
                                method, overwrite)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {res['n_events']} events to {out_path} ({res['masked_tubes']} tubes masked)", highlight=False)


@calibrate_app.command("downstream")
def downstream_cmd(
    run: Path = typer.Argument(..., help="a run trained on the nominal simulation (0nbb vs the background)"),
    bench_json: Path = typer.Option(..., "--bench", help="calib_bench.json made on the run's detector preset"),
    out_dir: Path = typer.Option(Path("out/calib_downstream"), "--out", "-o"),
    background: str = typer.Option("C10", "--background"),
    n_events: int = typer.Option(3000, "--events", min=100, help="test events per class and detector"),
    seed: int = typer.Option(77, "--seed"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rejection of the trained run on nominal events, on data, and on data calibrated by each method."""
    import json

    from ..calib.apply import downstream
    from ..detector.config import load_config

    try:
        meta = json.loads((run / "run.json").read_text())
        det = load_config(meta["detector"]["name"])  # the preset the run was trained on
        res = downstream(run, bench_json, out_dir, det, background, n_events, seed, workers,
                         log=lambda m: err.print(m, highlight=False))
    except (ValueError, FileNotFoundError, KeyError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
        return
    for k, r in res.items():
        out.print(f"{k:<18} rejection at 90 % {r['rejection_at_90']:.3f}  AUC {r['auc']:.3f}", highlight=False)


@calibrate_app.command("fit")
def fit(
    data: list[Path] = typer.Option(..., "--data", help="event files of the data (repeat)"),
    sim: list[Path] = typer.Option(..., "--sim", help="event files of the nominal simulation of the same backgrounds"),
    out_dir: Path = typer.Option(Path("out/calibration"), "--out", "-o"),
    methods: str = typer.Option("moments,response", "--methods", help="comma-separated: moments, response, gan"),
    n_template: int = typer.Option(20000, "--template-events", min=50, help="zero-TTS template events simulated"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per-tube calibration of your own data against your own simulation (writes calibration.json)."""
    from ..calib.bench import calibrate_files

    try:
        res = calibrate_files([str(p) for p in data], [str(p) for p in sim], out_dir,
                              tuple(m.strip() for m in methods.split(",") if m.strip()), n_template=n_template,
                              workers=workers,
                              log=lambda m: err.print(m, highlight=False))
    except (ValueError, FileNotFoundError, FileExistsError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        out.print(f"wrote {res['out']} ({', '.join(res['methods'])})", highlight=False)
