"""The calibration benchmark: hidden per-tube deviations, every method, scores on independent events.

``run_bench`` simulates (or reuses) the data, nominal-simulation and template samples, reconstructs them
with the nominal detector, runs each method, scores its per-tube parameters against the injected truth
and simulates independent events with them to score the generated hits against the data.  ``nominal``
(no calibration) is the reference row every method must improve on.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..detector.config import DetectorConfig, PMTVariation, load_config
from ..detector.pmts import build_pmt_array
from ..io.outputs import write_text_atomic
from ..reco.pipeline import Reconstructor
from ..sim.run import simulate_events
from .gan import GanConfig, train_gan
from .gan import generated_table as gan_table
from .moments import moments_calibration
from .plots import plot_recovered, plot_residual_map
from .response import closure_corrected, fit_response, template_shape
from .samples import (DEFAULT_MIX, HitTable, MixEntry, PMTParams, hit_table, nominal_params, read_table,
                      simulate_sample, split_counts, template_detector, with_variation)
from .scores import parameter_scores, sample_scores

METHODS = ("moments", "response", "gan")
CLOSURE_HITS = 3_000_000  # hits per block of the closure fit (it only needs the average deviations)


@dataclass(frozen=True)
class CalibBenchConfig:
    """Sizes and seeds of one benchmark (events per sample; the template needs fewer)."""

    preset: str = "klz800"
    variation_seed: int = 2026
    n_data: int = 40000
    n_sim: int = 40000
    n_template: int = 20000
    n_generated: int = 20000
    seed: int = 1
    methods: tuple[str, ...] = METHODS
    max_iter: int = 100
    gan_steps: int = 2000

    def __post_init__(self):
        if not self.methods:
            raise ValueError(f"no calibration method given; use some of {', '.join(METHODS)}")
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown calibration method(s) {sorted(unknown)}; use {', '.join(METHODS)}")
        if min(self.n_data, self.n_sim, self.n_template, self.n_generated) < 50:
            raise ValueError("every sample needs at least 50 events")


def generated_table(det: DetectorConfig, params: PMTParams, n: int, seed: int, rec: Reconstructor,
                    mix: tuple[MixEntry, ...] = DEFAULT_MIX, workers: int = 1) -> HitTable:
    """Events of ``mix`` simulated with per-tube ``params`` (a calibrated simulation), as a hit table."""
    pmts = params.apply_to(build_pmt_array(det.nominal()))
    chunks = (simulate_events(det.nominal(), det.name, m.source, k, seed * 100 + i, vertex=m.vertex,
                              energy_MeV=m.energy_MeV, workers=workers, chunk_size=5000, pmts=pmts)
              for i, (m, k) in enumerate(zip(mix, split_counts(n, mix))))
    return hit_table(chunks, det, rec)


def calibrate(method: str, data: HitTable, sim: HitTable, template: HitTable, nominal: PMTParams,
              threshold_pe: float, max_iter: int = 100, log: Callable[[str], None] | None = None) -> PMTParams:
    """Per-tube parameters of ``data`` by ``method`` (``moments`` or ``response``)."""
    moments = moments_calibration(data, sim, nominal)
    if method == "moments":
        return moments
    if method != "response":
        raise ValueError(f"unknown calibration method {method!r}")
    g = template_shape(template)
    # start from the moments where they are sane (a tube without hits keeps the nominal value)
    init = PMTParams(qe=np.clip(np.nan_to_num(moments.qe, nan=0.0), 0.05 * nominal.qe, 1.0),
                     time_offset_ns=np.clip(moments.time_offset_ns, -10, 10), tts_sigma_ns=nominal.tts_sigma_ns,
                     spe_sigma=nominal.spe_sigma,
                     dark_rate_hz=np.clip(np.nan_to_num(moments.dark_rate_hz, nan=0.0), 0.05 * nominal.dark_rate_hz,
                                          1e3 * nominal.dark_rate_hz))
    fd = fit_response(data, g, init, nominal, threshold_pe, max_iter, log)
    fs = fit_response(sim, g, nominal, nominal, threshold_pe, max_iter, log, n_max=CLOSURE_HITS)
    return closure_corrected(fd.params, fs.params, nominal)


def run_bench(cfg: CalibBenchConfig, out_dir: str | Path, workers: int = 1,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark in ``out_dir`` (samples reused when present); the result dict is also written
    to ``out_dir/calib_bench.json`` with the per-tube parameters of every method."""
    say = log or (lambda m: None)
    out_dir = Path(out_dir)
    det = load_config(cfg.preset)
    variation = PMTVariation(seed=cfg.variation_seed)
    data_det = with_variation(det, variation)
    t_start = time.perf_counter()
    files = {"data": simulate_sample(data_det, cfg.n_data, cfg.seed, out_dir / "data", workers=workers, log=say),
             "sim": simulate_sample(det, cfg.n_sim, cfg.seed + 1, out_dir / "sim", workers=workers, log=say),
             "template": simulate_sample(template_detector(det), cfg.n_template, cfg.seed + 2, out_dir / "template",
                                         workers=workers, log=say)}
    rec = Reconstructor(det, build_pmt_array(det), None)
    tables = {}
    for k, paths in files.items():
        t0 = time.perf_counter()
        tables[k] = read_table(paths, det, rec)
        say(f"{k}: {tables[k].n_events} events, {tables[k].n_hits} hits reconstructed ({time.perf_counter() - t0:.0f} s)")
    nominal = nominal_params(det)
    truth = PMTParams.of(build_pmt_array(data_det))
    results: dict[str, Any] = {}
    params: dict[str, PMTParams] = {"nominal": nominal}
    gan = None
    for method in cfg.methods:
        t0 = time.perf_counter()
        if method == "gan":
            gan = train_gan(tables["data"], tables["template"], nominal, GanConfig(steps=cfg.gan_steps, seed=cfg.seed),
                            log=say)
            params[method] = gan.params
        else:
            params[method] = calibrate(method, tables["data"], tables["sim"], tables["template"], nominal,
                                       det.pmts.threshold_pe, cfg.max_iter, say)
        results[method] = {"wall_s": time.perf_counter() - t0}
        say(f"{method}: calibrated in {results[method]['wall_s']:.0f} s")
    results = {"nominal": {"wall_s": 0.0}, **results}
    for method, p in params.items():
        i = ("nominal",) + METHODS  # a method's seed does not depend on which others run
        i = i.index(method)
        results[method].update(parameter_scores(p, truth, nominal))
        t0 = time.perf_counter()
        if method == "gan":  # the generator's own hits, from an independent template sample
            fresh = simulate_sample(template_detector(det), cfg.n_generated, cfg.seed + 10 + i,
                                    out_dir / "template_gen", workers=workers, log=say)
            gen = gan_table(gan.generator, read_table(fresh, det, rec), gan.scale, seed=cfg.seed)
        else:
            gen = generated_table(det, p, cfg.n_generated, cfg.seed + 10 + i, rec, workers=workers)
        results[method].update(sample_scores(tables["data"], gen, seed=cfg.seed))
        say(f"{method}: generated sample scored ({time.perf_counter() - t0:.0f} s): "
            + ", ".join(f"{k} {v:.3g}" for k, v in results[method].items() if isinstance(v, float)))
    plots = [plot_recovered({k: v for k, v in params.items() if k != "nominal"}, truth, nominal,
                            out_dir / "calib_recovered.png", results)]
    best = "response" if "response" in params else cfg.methods[0]
    plots.append(plot_residual_map(params[best], truth, nominal, build_pmt_array(det).pos_mm,
                                   out_dir / f"calib_residual_map_{best}.png", best))
    meta = {"config": asdict(cfg), "plots": plots, "variation": asdict(variation), "scintnet_version": __version__,
            "events": {k: t.n_events for k, t in tables.items()}, "hits": {k: t.n_hits for k, t in tables.items()},
            "wall_s": time.perf_counter() - t_start}
    write_text_atomic(out_dir / "calib_bench.json", json.dumps(
        {**results, "meta": meta, "params": {k: p.to_dict() for k, p in params.items()},
         "truth": truth.to_dict()}, indent=1))
    return {**results, "meta": meta}


def calibrate_files(data: list[str | Path], sim: list[str | Path], out_dir: str | Path, methods=("moments", "response"),
                    n_template: int = 20000, seed: int = 1, max_iter: int = 100, workers: int = 1,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Calibrate a user's own data files against their own nominal simulation (same backgrounds, same
    detector): per-tube parameters of every method, written to ``out_dir/calibration.json``.  The zero-TTS
    template is simulated here from the simulation's detector (the benchmark's background mix)."""
    from ..io.store import EventFile

    say = log or (lambda m: None)
    if not methods or set(methods) - set(METHODS):
        raise ValueError(f"unknown or no calibration method in {list(methods)}; use some of {', '.join(METHODS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with EventFile(sim[0]) as f:
        det = f.detector_config().nominal()
    layout = build_pmt_array(det).pos_mm
    for p in list(data) + list(sim):
        with EventFile(p) as f:
            pos = f.pmt_positions_mm()
        if pos.shape != layout.shape or not np.allclose(pos, layout, atol=0.5):
            raise ValueError(f"{p} has another PMT layout than the simulation {sim[0]}")
    template = simulate_sample(template_detector(det), n_template, seed, out_dir / "template", workers=workers, log=say)
    rec = Reconstructor(det, build_pmt_array(det), None)
    tables = {"data": read_table(data, det, rec), "sim": read_table(sim, det, rec), "template": read_table(template, det, rec)}
    nominal = nominal_params(det)
    params = {}
    for m in methods:
        if m == "gan":
            params[m] = train_gan(tables["data"], tables["template"], nominal, GanConfig(seed=seed), log=say).params
        else:
            params[m] = calibrate(m, tables["data"], tables["sim"], tables["template"], nominal,
                                  det.pmts.threshold_pe, max_iter, say)
    path = write_text_atomic(out_dir / "calibration.json", json.dumps(
        {"detector": det.name, "data": [str(p) for p in data], "sim": [str(p) for p in sim],
         "scintnet_version": __version__, "params": {k: v.to_dict() for k, v in params.items()}}, indent=1))
    return {"out": str(path), "methods": list(params), "events": {k: t.n_events for k, t in tables.items()}}
