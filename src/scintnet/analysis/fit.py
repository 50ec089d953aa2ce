"""The fit of an analysis configuration and its 90 % C.L. limits: what ``scintnet fit`` runs.

:class:`FitRequest` holds the options (data, injected signal, the optional Feldman-Cousins band, Bayesian
limit, sensitivity bands, 2-D scan, classifier-score axis, minimiser, figures); :func:`fit_request` builds it
from the ``[fit]`` table of an analysis TOML merged with explicit arguments (the arguments win);
:func:`run_fit` builds the templates, fits, sets the Wilks limit (and the optional others) and returns the
result dict that ``scintnet fit --json`` prints.

Bad input is a :class:`FitError` (or the :class:`~scintnet.errors.ScintnetError` of the module that found
it: :class:`~scintnet.analysis.model.AnalysisConfigError`, :class:`~scintnet.analysis.likelihood.LikelihoodError`)
with a one-line message; nothing here exits the process.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import ConfigError, build, read_toml
from ..errors import ScintnetError
from .likelihood import MINIMIZERS
from .model import AnalysisConfig, AnalysisConfigError, load_analysis_config, parse_toy_seed

FIT_TABLE_OPTIONS = ("scores", "score_bins", "score_map", "minimizer")  # what an analysis TOML's [fit] may hold


class FitError(ScintnetError, ValueError):
    """Invalid fit options or data, or a fit that did not converge (one-line message)."""


def check_data_spec(data: str) -> None:
    """``data`` is ``'asimov'``, ``'toy:SEED'`` or an existing file (cheap: before any template is built)."""
    if not isinstance(data, str):
        raise FitError(f"--data {data!r}: not 'asimov', 'toy:SEED' or an existing .npy histogram file")
    if data.startswith("toy:"):
        parse_toy_seed(data)  # LikelihoodError naming the spec
    elif data != "asimov" and not Path(data).is_file():
        raise FitError(f"--data {data!r}: not 'asimov', 'toy:SEED' or an existing .npy histogram file")


@dataclass(frozen=True)
class FitRequest:
    """What to fit and which limits to set (every field has the default of ``scintnet fit``)."""

    # the observed histogram: 'asimov' (the nominal expectation), 'toy:SEED' (a Poisson toy of it, auxiliary
    # measurements re-drawn) or the path of a .npy array of the model's shape (datasets, volume, energy[, score])
    data: str = "asimov"
    # 0nbb decays injected into the asimov/toy data (None: the configuration's own signal rate)
    signal_decays: float | None = None
    fc_toys: int = 0  # Feldman-Cousins toys per grid point (0: no FC band)
    fc_points: int = 12  # FC grid points on [0, 2 x the Wilks limit] (decays)
    bands: int = 0  # background-only toys for the median / 1 sigma / 2 sigma sensitivity bands (0: none)
    bayes: bool = False  # emcee posterior, flat priors: the 90 % credible upper limit (decays)
    scan2d: bool = False  # 2-D delta-chi2 scan of (0nbb, Xe_spallation) when the model has Xe_spallation
    # scores.h5 files (or run folders) of `scintnet evaluate`: each adds groups for a classifier-score axis
    # (empty: no score axis)
    scores: tuple[Path, ...] = ()
    score_bins: int = 4  # score bins, equal signal population (quantiles of the signal's scores)
    # component -> evaluated group whose scores it takes ('*': the default group); see analysis.scores
    score_map: Mapping[str, str] = field(default_factory=dict)
    workers: int = 1  # worker processes for the FC / band toys (the results do not depend on it)
    seed: int = 1  # seed of the FC, band and Bayesian random streams
    minimizer: str = "newton"  # 'newton' (projected Newton, MIGRAD fallback) or 'minuit' (MIGRAD only)
    plots: Path | None = None  # folder for the figures (delta chi2, spectra, <mbb>); None: no figures

    def __post_init__(self) -> None:
        check_data_spec(self.data)
        if self.minimizer not in MINIMIZERS:
            raise FitError(f"minimizer {self.minimizer!r} is unknown; choose from {', '.join(MINIMIZERS)}")
        # (score_bins >= 1 is checked where the score axis is built, as with a [fit] table)
        for name, low in (("fc_toys", 0), ("fc_points", 2), ("bands", 0), ("score_bins", None), ("workers", 1),
                          ("seed", None)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or (low is not None and v < low):
                raise FitError(f"{name} must be an integer{f' >= {low}' if low is not None else ''}, got {v!r}")
        if self.signal_decays is not None:
            if isinstance(self.signal_decays, bool) or not isinstance(self.signal_decays, (int, float)) \
                    or not math.isfinite(self.signal_decays):
                raise FitError(f"signal_decays must be a finite number, got {self.signal_decays!r}")
        object.__setattr__(self, "scores", tuple(Path(p) for p in self.scores))
        object.__setattr__(self, "score_map", dict(self.score_map))
        if self.plots is not None:
            object.__setattr__(self, "plots", Path(self.plots))


@dataclass(frozen=True)
class _FitTable:
    """The [fit] table of an analysis TOML, typed (checked by ``config.build``)."""

    scores: list[str] = field(default_factory=list)
    score_bins: int | None = None
    score_map: Any = None
    minimizer: str | None = None


def read_fit_table(config: str | Path | None) -> dict[str, Any]:
    """The optional ``[fit]`` table of an analysis TOML (scores, score_bins, score_map, minimizer).

    Only the options the table gives, plus ``scores`` (always, made relative to the TOML's folder);
    ``config=None`` is ``{}``.  A missing file or bad TOML is the AnalysisConfigError of the config loader.
    """
    if config is None:
        return {}
    try:
        opts = read_toml(config, what="analysis config").get("fit", {})
        if not isinstance(opts, dict):
            raise ConfigError(f"[fit] must be a table, got {opts!r}")
        unknown = set(opts) - set(FIT_TABLE_OPTIONS)
        if unknown:
            raise ConfigError(f"[fit]: unknown option(s) {sorted(unknown)}; allowed: {sorted(FIT_TABLE_OPTIONS)}")
        opts = dict(opts)
        if isinstance(opts.get("scores"), str):
            opts["scores"] = [opts["scores"]]
        table = build(_FitTable, opts, "[fit]")
        smap = table.score_map
        if smap is not None and not (isinstance(smap, dict)
                                     and all(isinstance(v, str) for v in smap.values())):
            raise ConfigError(f"[fit].score_map: expected a table of COMPONENT = \"GROUP\" strings, got {smap!r}")
    except AnalysisConfigError:
        raise
    except ConfigError as exc:
        raise AnalysisConfigError(str(exc)) from None
    base = Path(config).parent
    res: dict[str, Any] = {k: v for k, v in dataclasses.asdict(table).items() if k in opts}
    res["scores"] = [str(p if Path(p).is_absolute() else base / p) for p in table.scores]
    return res


def fit_request(config: str | Path | None = None, *, data: str = "asimov", signal_decays: float | None = None,
                fc_toys: int = 0, fc_points: int = 12, bands: int = 0, bayes: bool = False, scan2d: bool = False,
                scores: Sequence[str | Path] | None = None, score_bins: int | None = None,
                score_map: Mapping[str, str] | Sequence[str] | None = None, workers: int = 1, seed: int = 1,
                minimizer: str | None = None, plots: str | Path | None = None) -> FitRequest:
    """A :class:`FitRequest` from the ``[fit]`` table of the analysis TOML ``config`` and explicit arguments.

    An argument given (not None / empty) wins over the table: ``scores`` replaces the table's list,
    ``score_bins`` and ``minimizer`` its values (defaults 4 and 'newton'); ``score_map`` entries (a mapping,
    or ``COMPONENT=GROUP`` strings as on the command line) are added to the table's, replacing same names.
    """
    check_data_spec(data)  # the cheapest check first
    opts = read_fit_table(config)
    minimizer = minimizer or opts.get("minimizer", "newton")
    if minimizer not in MINIMIZERS:
        raise FitError(f"minimizer {minimizer!r} is unknown; choose from {', '.join(MINIMIZERS)}")
    score_files = tuple(Path(x) for x in (scores or opts.get("scores", [])))
    smap = dict(opts.get("score_map", {}))
    if isinstance(score_map, Mapping):
        smap.update(score_map)
    else:
        for item in score_map or []:
            if "=" not in item:
                raise FitError(f"--score-map {item!r} must look like COMPONENT=GROUP")
            k, v = item.split("=", 1)
            smap[k.strip()] = v.strip()
    return FitRequest(data=data, signal_decays=signal_decays, fc_toys=fc_toys, fc_points=fc_points, bands=bands,
                      bayes=bayes, scan2d=scan2d, scores=score_files,
                      score_bins=int(score_bins or opts.get("score_bins", 4)), score_map=smap,
                      workers=workers, seed=seed, minimizer=minimizer,
                      plots=Path(plots) if plots is not None else None)


def run_fit(acfg: AnalysisConfig | str | Path, request: FitRequest | None = None,
            log: Callable[[str], None] | None = None) -> dict:
    """Fit the configuration ``acfg`` (an :class:`AnalysisConfig`, a preset name or an analysis TOML path) to
    the request's data and set the 90 % C.L. limits: Wilks always, Feldman-Cousins, Bayesian, the sensitivity
    bands and the 2-D scan on request; with a score axis also the limit on the same data summed over scores.

    Returns the dict of ``scintnet fit --json`` (keys: config, shape, n_parameters, fit, wilks,
    signal_efficiency, exposure_kg_yr, expected_decays [, score_axis, feldman_cousins, bayesian,
    sensitivity_bands, scan2d, plots]).  ``log``: one line per template while they are built.
    """
    from threadpoolctl import threadpool_limits

    request = request if request is not None else FitRequest()
    if not isinstance(acfg, AnalysisConfig):
        s = str(acfg)
        as_path = isinstance(acfg, Path) or s.endswith(".toml") or "/" in s or "\\" in s or Path(s).is_file()
        acfg = load_analysis_config(path=s) if as_path else load_analysis_config(s)
    with threadpool_limits(1, user_api="blas"):  # small fit matrices: threads only cost (see analysis.limits)
        return _run_fit(acfg, request, log)


def _run_fit(acfg: AnalysisConfig, req: FitRequest, log: Callable[[str], None] | None) -> dict:
    from . import conversions as cv
    from . import limits as lm
    from .model import build_model

    check_data_spec(req.data)
    pdfs = None
    score_info: dict = {}
    if req.scores:
        from .scores import read_score_groups, score_edges, score_pdfs

        groups, sig_group = read_score_groups(req.scores)
        sig_group = acfg.signal if acfg.signal in groups else sig_group
        if sig_group not in groups:
            raise FitError(f"the scores files hold no signal group ({acfg.signal!r}); evaluated: {', '.join(groups)}")
        edges = score_edges(groups[sig_group], int(req.score_bins))
        pdfs, used = score_pdfs(acfg.active, groups, edges, req.score_map)
        score_info = {"files": [str(f) for f in req.scores], "edges": edges[1:-1].tolist(),
                      "groups": used, "pdfs": {k: v.tolist() for k, v in pdfs.items()}}
    d: object = req.data
    if req.data != "asimov" and not req.data.startswith("toy:"):
        p = Path(req.data)
        try:
            d = np.load(p, allow_pickle=False)  # a pickled array could run code
        except (ValueError, OSError, EOFError) as exc:
            raise FitError(f"--data {p}: not a .npy histogram ({' '.join(str(exc).split())[:150]})") from None
    lik, info = build_model(acfg, data=d, signal_decays=req.signal_decays, score_pdfs=pdfs, log=log)
    lik.minimizer = req.minimizer
    pr = lm.Profiler(lik)
    ul = pr.upper_limit()
    best = pr.best
    if not best.valid:
        raise FitError("the global fit did not converge (check the data and the templates)")
    eff = info.efficiency[acfg.signal]
    t_half = cv.halflife_from_counts(ul, info.exposure_kg_yr, efficiency=eff)
    lo, hi = cv.mbb_range(t_half)
    res = {"config": acfg.name, "shape": list(lik.shape), "n_parameters": len(lik.names),
           "fit": {"chi2": best.chi2, "valid": best.valid, "values": best.values, "minimizer": req.minimizer,
                   "newton_fallbacks": lik.n_newton_fallbacks},
           "wilks": {"upper_limit_decays": ul, "halflife_yr": t_half, "mbb_meV_min": lo, "mbb_meV_max": hi,
                     "n_refits": pr.n_refits},
           "signal_efficiency": eff, "exposure_kg_yr": info.exposure_kg_yr,
           "expected_decays": info.expected_decays}
    if pdfs is not None:
        # the same data with the score axis summed out: what the classifier adds to the fit
        lik0, _ = build_model(acfg, data=lik.n.reshape(lik.shape).sum(axis=-1), signal_decays=req.signal_decays)
        lik0.c_mean = lik.c_mean.copy()  # same auxiliary measurements as the toy
        lik0.minimizer = req.minimizer
        ul0 = lm.Profiler(lik0).upper_limit()
        score_info["without_score_axis"] = {
            "upper_limit_decays": ul0,
            "halflife_yr": cv.halflife_from_counts(ul0, info.exposure_kg_yr, efficiency=eff)}
        score_info["limit_gain"] = ul0 / ul if ul > 0 else None
        res["score_axis"] = score_info
    grid = np.linspace(0, max(3 * ul, 5.0), 40)
    scan = pr.scan(grid)
    if req.fc_toys:
        fc = lm.feldman_cousins(lik, np.linspace(0, 2 * ul, req.fc_points), n_toys=req.fc_toys, seed=req.seed,
                                workers=req.workers)
        res["feldman_cousins"] = fc.summary()
        if np.isfinite(fc.upper_limit):
            res["feldman_cousins"]["halflife_yr"] = cv.halflife_from_counts(
                fc.upper_limit, info.exposure_kg_yr, efficiency=eff)
    if req.bayes:
        b = lm.bayesian_upper_limit(lik, seed=req.seed)
        b.pop("samples")
        b["halflife_yr"] = cv.halflife_from_counts(b["upper_limit"], info.exposure_kg_yr, efficiency=eff)
        res["bayesian"] = b
    if req.bands:
        sb = lm.sensitivity_bands(lik, n_toys=req.bands, seed=req.seed, workers=req.workers)
        sb.pop("upper_limits")
        sb["median_halflife_yr"] = cv.halflife_from_counts(sb["median"], info.exposure_kg_yr, efficiency=eff)
        res["sensitivity_bands"] = sb
    if req.scan2d and "Xe_spallation" in lik.names:
        xs = best.values["Xe_spallation"]
        s2 = lm.scan_2d(lik, acfg.signal, np.linspace(0, 2 * ul, 9), "Xe_spallation",
                        np.linspace(0.5 * xs, 1.5 * xs + 10, 9))
        res["scan2d"] = {k: v for k, v in s2.items()}
    if req.plots is not None:
        from . import plots as pl

        plots = req.plots
        files = [pl.plot_delta_chi2(grid, scan, plots / "delta_chi2.png",
                                    fc_crit=fc.t_crit if req.fc_toys else None,
                                    fc_grid=fc.grid if req.fc_toys else None),
                 pl.plot_spectrum(lik, best.array(lik.names), acfg.energy_edges, plots / "spectrum_singles.png",
                                  dataset=0, title="singles"),
                 pl.plot_mbb(t_half, plots / "mbb.png")]
        if len(acfg.datasets) > 1:
            files.append(pl.plot_spectrum(lik, best.array(lik.names), acfg.energy_edges,
                                          plots / "spectrum_tagged.png", dataset=1, title="tagged"))
        res["plots"] = [str(f) for f in files]
    return res
