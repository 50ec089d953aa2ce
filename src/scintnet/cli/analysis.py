"""CLI commands for physics analysis (sensitivity, fit, limits) and ``bench fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _fail, _print_json, err, out

app = typer.Typer()
bench_app = typer.Typer()


@app.command("sensitivity")
def sensitivity_cmd(
    run: Optional[Path] = typer.Argument(None, help="runs/NAME (reads eval/scores.h5) or a scores.h5 file"),
    tpr: Optional[float] = typer.Option(None, "--tpr", help="signal efficiency of a cut (no run given)"),
    fpr: Optional[float] = typer.Option(None, "--fpr", help="background efficiency of the cut (eq. 5)"),
    fpr_ll: Optional[float] = typer.Option(None, "--fpr-ll", help="long-lived spallation efficiency (eq. 6)"),
    frac_ll: float = typer.Option(0.582, "--frac-ll", help="long-lived fraction of the ROI background (eq. 6)"),
    r0: float = typer.Option(1570.0, "--r0-mm", help="current fiducial radius for the FV expansion"),
    double_pulse_loss: Optional[float] = typer.Option(None, "--double-pulse-loss", min=0.0, max=0.5,
                                                      help="apply the double-pulse cut losing this fraction "
                                                      "of the signal first (e.g. 0.01)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counting-experiment sensitivity gains (KamNet paper eq. 5-8)."""
    from ..analysis import sensitivity as sn

    try:
        if run is not None:
            from ..io.rundir import scores_file

            path = scores_file(run)  # a run folder finds its (recorded) evaluation
            res = sn.sensitivity_from_scores(path, r0_mm=r0, frac_ll=frac_ll, double_pulse_loss=double_pulse_loss)
        else:
            if tpr is None or (fpr is None and fpr_ll is None):
                _fail("give a run directory, or --tpr with --fpr (eq. 5) and/or --fpr-ll (eq. 6)")
            res = {"tpr": tpr}
            if fpr is not None:
                res["fpr"] = fpr
                res["sensitivity_factor"] = sn.sensitivity_factor(tpr, fpr)
            if fpr_ll is not None:
                res["fpr_ll"] = fpr_ll
                res["frac_ll"] = frac_ll
                res["mixed_sensitivity_factor"] = sn.mixed_sensitivity_factor(tpr, fpr_ll, frac_ll=frac_ll)
    except (ValueError, FileNotFoundError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        _print_tree(out, res)

@app.command("limit")
def limit_cmd(
    halflife: Optional[float] = typer.Option(None, "--halflife", help="T1/2 limit in years"),
    counts: Optional[float] = typer.Option(None, "--counts", help="limit on signal decays (instead of --halflife)"),
    exposure: float = typer.Option(970.0, "--exposure", help="136Xe exposure in kg yr (with --counts)"),
    efficiency: float = typer.Option(1.0, "--efficiency", help="signal efficiency (with --counts)"),
    g_a: float = typer.Option(1.27, "--ga"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the <mbb> vs lightest-mass figure here"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Conversions: counts <-> T1/2 <-> <mbb> for the NME table."""
    from ..analysis import conversions as cv

    try:
        if (halflife is None) == (counts is None):
            _fail("give exactly one of --halflife and --counts")
        t = halflife if halflife is not None else cv.halflife_from_counts(counts, exposure, efficiency)
        lo, hi = cv.mbb_range(t, g_a=g_a)
        res = {"halflife_yr": t, "mbb_meV_min": lo, "mbb_meV_max": hi, "g_a": g_a,
               "g0nu_per_yr": cv.G0NU_XE136_PER_YR, "nme_range": list(cv.NME_RANGE_KLZ800),
               "per_nme": {k: {"nme": n.value, "mbb_meV": cv.mbb_from_halflife(t, n.value, g_a=g_a),
                               "reference": n.reference} for k, n in cv.NME_TABLE.items()}}
        if counts is not None:
            res.update(counts=counts, exposure_kg_yr=exposure, efficiency=efficiency)
        if plot is not None:
            from ..analysis.plots import plot_mbb

            res["plot"] = str(plot_mbb(t, plot))
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        out.print(f"T1/2 > {t:.3g} yr  ->  <mbb> < {lo:.0f}-{hi:.0f} meV (g_A = {g_a})", highlight=False)

@app.command("fit")
def fit_cmd(
    config: Optional[Path] = typer.Argument(None, help="analysis TOML (may start with preset = 'klz800-like')"),
    preset: str = typer.Option("klz800-like", "--preset", help="analysis preset when no file is given"),
    data: str = typer.Option("asimov", "--data", help="'asimov', 'toy:SEED' or a .npy histogram"),
    signal: Optional[float] = typer.Option(None, "--signal", help="injected 0nbb decays (asimov/toy data)"),
    fc_toys: int = typer.Option(0, "--fc-toys", min=0, help="Feldman-Cousins toys per grid point (0: skip)"),
    fc_points: int = typer.Option(12, "--fc-points", min=2),
    bands: int = typer.Option(0, "--bands", min=0, help="background-only toys for the sensitivity bands"),
    bayes: bool = typer.Option(False, "--bayes", help="emcee posterior 90 % credible limit"),
    scan2d: bool = typer.Option(False, "--scan2d", help="2-D scan (0nbb, Xe spallation)"),
    scores: Optional[list[Path]] = typer.Option(None, "--scores", help="runs/NAME or scores.h5 from "
                                                "`scintnet evaluate`: adds a classifier-score axis (repeatable)"),
    score_bins: Optional[int] = typer.Option(None, "--score-bins", min=1, help="score bins, equal signal "
                                             "population (default 4)"),
    score_map: Optional[list[str]] = typer.Option(None, "--score-map", help="COMPONENT=GROUP: take a "
                                                  "component's scores from another evaluated group"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    seed: int = typer.Option(1, "--seed"),
    minimizer: Optional[str] = typer.Option(None, "--minimizer", help="newton (default: projected Newton, "
                                            "MIGRAD fallback) or minuit (MIGRAD only)"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="directory for the figures"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit a configuration and set 90 % C.L. limits (Wilks; optional FC, Bayesian, bands)."""
    from ..analysis.fit import check_data_spec, fit_request, run_fit
    from ..analysis.model import load_analysis_config
    from ..errors import ScintnetError

    try:
        check_data_spec(data)  # before the configuration and the templates (seconds)
        acfg = load_analysis_config(preset, config)
        request = fit_request(config, data=data, signal_decays=signal, fc_toys=fc_toys, fc_points=fc_points,
                              bands=bands, bayes=bayes, scan2d=scan2d, scores=scores, score_bins=score_bins,
                              score_map=score_map, workers=workers, seed=seed, minimizer=minimizer, plots=plots)
        res = run_fit(acfg, request,
                      log=None if as_json else (lambda m: err.print(f"[dim]{m}[/dim]", highlight=False)))
    except (ScintnetError, ValueError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(res)
    else:
        w = res["wilks"]
        out.print(f"{res['config']}: 0nbb < {w['upper_limit_decays']:.2f} decays (90 % C.L., Wilks) -> "
                  f"T1/2 > {w['halflife_yr']:.3g} yr, <mbb> < {w['mbb_meV_min']:.0f}-{w['mbb_meV_max']:.0f} meV",
                  highlight=False)

@bench_app.command("fit")
def bench_fit_cmd(
    n_fits: int = typer.Option(50, "--fits", min=1),
    fc_points: int = typer.Option(50, "--fc-points", min=0),
    fc_toys: int = typer.Option(1000, "--fc-toys", min=0),
    workers: int = typer.Option(2, "--workers", "-j", min=1),
    minimizer: str = typer.Option("newton", "--minimizer", help="newton (projected Newton) or minuit (MIGRAD)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Time one fit and a Feldman-Cousins band on the klz800-like model."""
    from ..analysis.bench import bench_fit
    from ..analysis.likelihood import MINIMIZERS

    if minimizer not in MINIMIZERS:
        raise typer.BadParameter(f"choose from {', '.join(MINIMIZERS)}", param_hint="--minimizer")
    res = bench_fit(n_fits, fc_points, fc_toys, workers, method=minimizer)
    if as_json:
        _print_json(res)
    else:
        _print_tree(out, res)


def _print_tree(console, d: dict, indent: int = 0) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            console.print(" " * indent + f"{k}:", highlight=False)
            _print_tree(console, v, indent + 2)
        else:
            console.print(" " * indent + f"{k}: {v:.4g}" if isinstance(v, float) else " " * indent + f"{k}: {v}",
                          highlight=False)
