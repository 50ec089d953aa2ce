"""CLI commands for physics analysis (sensitivity, fit, limits) and ``bench fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this stage's commands to the main app (and benchmarks to ``scintnet bench``)."""
    from ._common import _fail, _print_json, err, out

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
        import numpy as np

        from ..analysis import conversions as cv
        from ..analysis import limits as lm
        from threadpoolctl import threadpool_limits

        from ..analysis.likelihood import MINIMIZERS, LikelihoodError
        from ..analysis.model import AnalysisConfigError, build_model, load_analysis_config

        from ..analysis.model import parse_toy_seed

        threadpool_limits(1, user_api="blas")  # small fit matrices: threads only cost (see analysis.limits)
        try:
            if data.startswith("toy:"):
                parse_toy_seed(data)  # before the templates are built (seconds)
            elif data != "asimov" and not Path(data).is_file():
                _fail(f"--data {data!r}: not 'asimov', 'toy:SEED' or an existing .npy histogram file")
            acfg = load_analysis_config(preset, config)
            fit_opts = _fit_options(config)
            minimizer = minimizer or fit_opts.get("minimizer", "newton")
            if minimizer not in MINIMIZERS:
                _fail(f"minimizer {minimizer!r} is unknown; choose from {', '.join(MINIMIZERS)}")
            score_files = [Path(x) for x in (scores or fit_opts.get("scores", []))]
            smap = dict(fit_opts.get("score_map", {}))
            for item in score_map or []:
                if "=" not in item:
                    _fail(f"--score-map {item!r} must look like COMPONENT=GROUP")
                k, v = item.split("=", 1)
                smap[k.strip()] = v.strip()
            pdfs = None
            score_info: dict = {}
            if score_files:
                from ..analysis.scores import read_score_groups, score_edges, score_pdfs

                groups, sig_group = read_score_groups(score_files)
                sig_group = acfg.signal if acfg.signal in groups else sig_group
                if sig_group not in groups:
                    _fail(f"the scores files hold no signal group ({acfg.signal!r}); evaluated: {', '.join(groups)}")
                edges = score_edges(groups[sig_group], int(score_bins or fit_opts.get("score_bins", 4)))
                pdfs, used = score_pdfs(acfg.active, groups, edges, smap)
                score_info = {"files": [str(f) for f in score_files], "edges": edges[1:-1].tolist(),
                              "groups": used, "pdfs": {k: v.tolist() for k, v in pdfs.items()}}
            d: object = data
            if data not in ("asimov",) and not data.startswith("toy:"):
                p = Path(data)
                try:
                    d = np.load(p, allow_pickle=False)  # a pickled array could run code
                except (ValueError, OSError, EOFError) as exc:
                    _fail(f"--data {p}: not a .npy histogram ({' '.join(str(exc).split())[:150]})")
            lik, info = build_model(acfg, data=d, signal_decays=signal, score_pdfs=pdfs,
                                    log=None if as_json else (lambda m: err.print(f"[dim]{m}[/dim]", highlight=False)))
            lik.minimizer = minimizer
            pr = lm.Profiler(lik)
            ul = pr.upper_limit()
            best = pr.best
            if not best.valid:
                _fail("the global fit did not converge (check the data and the templates)")
            eff = info.efficiency[acfg.signal]
            t_half = cv.halflife_from_counts(ul, info.exposure_kg_yr, efficiency=eff)
            lo, hi = cv.mbb_range(t_half)
            res = {"config": acfg.name, "shape": list(lik.shape), "n_parameters": len(lik.names),
                   "fit": {"chi2": best.chi2, "valid": best.valid, "values": best.values, "minimizer": minimizer,
                           "newton_fallbacks": lik.n_newton_fallbacks},
                   "wilks": {"upper_limit_decays": ul, "halflife_yr": t_half, "mbb_meV_min": lo, "mbb_meV_max": hi,
                             "n_refits": pr.n_refits},
                   "signal_efficiency": eff, "exposure_kg_yr": info.exposure_kg_yr,
                   "expected_decays": info.expected_decays}
            if pdfs is not None:
                # the same data with the score axis summed out: what the classifier adds to the fit
                lik0, _ = build_model(acfg, data=lik.n.reshape(lik.shape).sum(axis=-1), signal_decays=signal)
                lik0.c_mean = lik.c_mean.copy()  # same auxiliary measurements as the toy
                lik0.minimizer = minimizer
                ul0 = lm.Profiler(lik0).upper_limit()
                score_info["without_score_axis"] = {
                    "upper_limit_decays": ul0,
                    "halflife_yr": cv.halflife_from_counts(ul0, info.exposure_kg_yr, efficiency=eff)}
                score_info["limit_gain"] = ul0 / ul if ul > 0 else None
                res["score_axis"] = score_info
            grid = np.linspace(0, max(3 * ul, 5.0), 40)
            scan = pr.scan(grid)
            if fc_toys:
                fc = lm.feldman_cousins(lik, np.linspace(0, 2 * ul, fc_points), n_toys=fc_toys, seed=seed,
                                        workers=workers)
                res["feldman_cousins"] = fc.summary()
                if np.isfinite(fc.upper_limit):
                    res["feldman_cousins"]["halflife_yr"] = cv.halflife_from_counts(
                        fc.upper_limit, info.exposure_kg_yr, efficiency=eff)
            if bayes:
                b = lm.bayesian_upper_limit(lik, seed=seed)
                b.pop("samples")
                b["halflife_yr"] = cv.halflife_from_counts(b["upper_limit"], info.exposure_kg_yr, efficiency=eff)
                res["bayesian"] = b
            if bands:
                sb = lm.sensitivity_bands(lik, n_toys=bands, seed=seed, workers=workers)
                sb.pop("upper_limits")
                sb["median_halflife_yr"] = cv.halflife_from_counts(sb["median"], info.exposure_kg_yr, efficiency=eff)
                res["sensitivity_bands"] = sb
            if scan2d and "Xe_spallation" in lik.names:
                xs = best.values["Xe_spallation"]
                s2 = lm.scan_2d(lik, acfg.signal, np.linspace(0, 2 * ul, 9), "Xe_spallation",
                                np.linspace(0.5 * xs, 1.5 * xs + 10, 9))
                res["scan2d"] = {k: v for k, v in s2.items()}
            if plots is not None:
                from ..analysis import plots as pl

                files = [pl.plot_delta_chi2(grid, scan, plots / "delta_chi2.png",
                                            fc_crit=fc.t_crit if fc_toys else None,
                                            fc_grid=fc.grid if fc_toys else None),
                         pl.plot_spectrum(lik, best.array(lik.names), acfg.energy_edges, plots / "spectrum_singles.png",
                                          dataset=0, title="singles"),
                         pl.plot_mbb(t_half, plots / "mbb.png")]
                if len(acfg.datasets) > 1:
                    files.append(pl.plot_spectrum(lik, best.array(lik.names), acfg.energy_edges,
                                                  plots / "spectrum_tagged.png", dataset=1, title="tagged"))
                res["plots"] = [str(f) for f in files]
        except (AnalysisConfigError, LikelihoodError, ValueError, OSError) as exc:
            _fail(str(exc))
        if as_json:
            _print_json(res)
        else:
            w = res["wilks"]
            out.print(f"{acfg.name}: 0nbb < {w['upper_limit_decays']:.2f} decays (90 % C.L., Wilks) -> "
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


def _fit_options(config: Optional[Path]) -> dict:
    """The optional [fit] table of an analysis TOML (scores, score_bins, score_map, minimizer)."""
    if config is None or not Path(config).exists():
        return {}
    import tomllib

    opts = tomllib.loads(Path(config).read_text()).get("fit", {})
    allowed = {"scores", "score_bins", "score_map", "minimizer"}
    if set(opts) - allowed:
        raise ValueError(f"[fit]: unknown option(s) {sorted(set(opts) - allowed)}; allowed: {sorted(allowed)}")
    if isinstance(opts.get("scores"), str):
        opts["scores"] = [opts["scores"]]
    base = Path(config).parent
    opts["scores"] = [str(p if Path(p).is_absolute() else base / p) for p in opts.get("scores", [])]
    return opts


def _print_tree(console, d: dict, indent: int = 0) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            console.print(" " * indent + f"{k}:", highlight=False)
            _print_tree(console, v, indent + 2)
        else:
            console.print(" " * indent + f"{k}: {v:.4g}" if isinstance(v, float) else " " * indent + f"{k}: {v}",
                          highlight=False)
