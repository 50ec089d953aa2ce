"""Applying a per-tube calibration to data, and its downstream effect on a trained network (issue 21, item 5).

What a calibration can undo in recorded hits: each tube's time offset (subtracted from its hit times) and
its bad channels (dead tubes give no hits; hot tubes' hits are mostly noise: both masked).  QE, TTS and
dark-rate differences cannot be undone hit by hit; they belong in the simulation the network trains on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..detector.config import DetectorConfig, PMTVariation
from ..features.maps import select_pmts
from ..io.events import EventChunk
from ..io.outputs import check_output
from ..io.store import EventFile, write_events
from .samples import PMTParams, nominal_params, with_variation

DEAD_QE_FRACTION = 0.2  # a tube recovered below this fraction of its nominal QE is dead
HOT_DARK_FACTOR = 5.0  # a tube recovered above this multiple of its nominal dark rate is hot


def bad_tubes(params: PMTParams, nominal: PMTParams) -> np.ndarray:
    """bool[n]: tubes the calibration calls dead or hot."""
    return (params.qe < DEAD_QE_FRACTION * nominal.qe) | (params.dark_rate_hz > HOT_DARK_FACTOR * nominal.dark_rate_hz)


def calibrate_chunk(c: EventChunk, offset_ns: np.ndarray, masked: np.ndarray) -> EventChunk:
    """Hits of ``c`` with per-tube offsets subtracted and masked tubes' hits removed."""
    k = select_pmts(c, ~masked)
    k.hit_time_ns = (k.hit_time_ns - offset_ns[np.asarray(k.hit_pmt, np.int64)]).astype(np.float32)
    k.dep_offsets = np.zeros(c.n_events + 1, np.int64)  # truth detail is not carried over
    k.prim_offsets = np.zeros(c.n_events + 1, np.int64)
    return k


def apply_calibration(src: str | Path, out: str | Path, params: PMTParams, nominal: PMTParams,
                      method: str = "", overwrite: bool = False) -> dict[str, Any]:
    """Write ``src`` with the calibration ``params`` applied (offsets relative to the tubes' average, bad
    tubes masked) to ``out``; the run record says which calibration."""
    out = check_output(out, overwrite)
    offset = np.asarray(params.time_offset_ns, float) - np.mean(params.time_offset_ns)
    masked = bad_tubes(params, nominal)
    with EventFile(src) as f:
        pos = f.pmt_positions_mm()
        if pos.shape[0] != offset.size:
            raise ValueError(f"{src} has {pos.shape[0]} tubes, the calibration {offset.size}")
        run = {**f.run, "calibration": {"method": method, "masked_tubes": int(masked.sum()),
                                        "offset_rms_ns": float(np.std(offset))}}
        n = write_events(out, (calibrate_chunk(c, offset, masked) for c in f.iter_chunks(10000)), run,
                         f.detector_json, f.info().preset, f.pmt_positions_mm(), f.pmt_types())
    return {"out": str(out), "n_events": n, "masked_tubes": int(masked.sum())}


def load_bench_params(path: str | Path) -> tuple[dict[str, PMTParams], dict[str, Any]]:
    """Per-method parameters and the metadata of a ``calib_bench.json``."""
    d = json.loads(Path(path).read_text())
    if not isinstance(d, dict) or "params" not in d or "meta" not in d:
        raise ValueError(f"{path} is not a calib_bench.json of `scintnet calibrate bench`")
    params = {m: PMTParams(**{k: np.asarray(v, float) for k, v in p.items()}) for m, p in d["params"].items()}
    return params, d["meta"]


def downstream(run_dir: str | Path, bench_json: str | Path, out_dir: str | Path, det: DetectorConfig,
               background: str = "C10", n_events: int = 3000, seed: int = 77, workers: int = 1,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Rejection of ``background`` at 90 % 0nbb acceptance by the run trained on the nominal simulation:
    on nominal events, on "data" (the bench's hidden deviations) and on the data calibrated by each method."""
    from ..evaluate.evaluate import evaluate_run
    from ..sim.run import SimConfig, run_simulation

    say = log or (lambda m: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params, meta = load_bench_params(bench_json)
    if meta["config"]["preset"] != det.name:
        raise ValueError(f"the calibration was made on {meta['config']['preset']!r}, the run on {det.name!r}")
    variation = PMTVariation(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["variation"].items()})
    nominal = nominal_params(det)
    files: dict[str, list[str]] = {}
    for kind, d in (("nominal", det.nominal()), ("data", with_variation(det, variation))):
        files[kind] = []
        for k, src in enumerate(("Xe136_0vbb", background)):
            p = out_dir / kind / f"{src}.h5"
            p.parent.mkdir(exist_ok=True)
            if not p.exists():
                say(f"simulating {n_events} {src} events ({kind}) -> {p}")
                run_simulation(SimConfig.for_detector(d, src, n_events, seed + k, store_deposits=False), p,
                               workers=workers)
            files[kind].append(str(p))
    for method, p in params.items():
        if method == "nominal":
            continue
        files[f"data+{method}"] = []
        for src in files["data"]:
            dst = out_dir / f"data_{method}" / Path(src).name
            dst.parent.mkdir(exist_ok=True)
            if not dst.exists():
                apply_calibration(src, dst, p, nominal, method)
            files[f"data+{method}"].append(str(dst))
    result: dict[str, Any] = {}
    for kind, data in files.items():
        say(f"evaluating on {kind}")
        res = evaluate_run(run_dir, data, out_dir / f"eval_{kind.replace('+', '_')}", n_boot=50, plots=False,
                           floors=False, force=True)
        row = res["per_source"][background]
        result[kind] = {"rejection_at_90": row["rejection_at_90"], "auc": row["auc"],
                        "rejection_at_90_bootstrap_std": row.get("rejection_at_90_bootstrap_std")}
    return result
