"""Interactive event display: one self-contained HTML page per event (no network at view time).

The page shows the PMT sphere (orthographic 3-D view, drag to rotate) and its Mollweide projection, hits
coloured by proper time or charge, a time slider / play button over the proper-time slices the networks see
(KamNet paper eq. 1-2: tau = T_raw - TOF(vertex) - T0, T0 the charge-weighted mean; 28 slices of 1.5 ns over
-20..22 ns), the true and reconstructed vertex, the truth deposits when the file stores them, and the
attention S(t) of a trained KamNet over its own time slices.

Library choice (measured, see docs/display.md): our own canvas-2D viewer (``assets/viewer.js``, 14 kB) rather
than plotly's offline bundle (plotly.min.js alone is 4.6 MB per page) or three.js: the page of a 0vbb event is
about 0.1 MB, needs no WebGL, and redraws a slice in a few milliseconds.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..features.maps import PAPER_MAP, MapSpec, proper_times, time_bins
from ..io.store import EventFile, EventFileError

PAGE_VERSION = 1


def _round(a: np.ndarray, nd: int) -> list:
    return np.round(np.asarray(a, np.float64), nd).ravel().tolist()


@lru_cache(maxsize=2)
def _reconstructor(detector_json: str):
    """One reconstructor per detector (building it costs seconds; a report shows several events)."""
    from ..detector.config import config_from_json
    from ..detector.pmts import build_pmt_array
    from ..reco.calibrate import load_or_make_calibration
    from ..reco.pipeline import Reconstructor

    cfg = config_from_json(detector_json)
    return Reconstructor(cfg, build_pmt_array(cfg), load_or_make_calibration(cfg))


@lru_cache(maxsize=2)
def _trained(run_dir: str):
    from ..train.harness import load_run

    t = load_run(run_dir)
    return t.model, t.meta, t.representation


def _reco_vertex(f: EventFile, index: int, chunk) -> tuple[np.ndarray | None, float | None, str, float]:
    """The reconstructed vertex and energy of event ``index``: the file's /reco group, else reconstructed now."""
    if "reco" in f.h5 and bool(f.h5["reco"].attrs.get("complete", False)):
        g = f.h5["reco"]
        if bool(g["valid"][index]):
            return (g["vertex_mm"][index].astype(np.float64), float(g["energy_MeV"][index]), "reco (file)",
                    float(g["t0_ns"][index]) if "t0_ns" in g else 0.0)
        return None, None, "reco failed (file flags)", 0.0
    r = _reconstructor(f.detector_json)(chunk)
    if not bool(r["valid"][0]):
        return None, None, "reco failed", 0.0
    return np.asarray(r["vertex_mm"][0], np.float64), float(r["energy_MeV"][0]), "reco", float(r["t0_ns"][0])


def _attention(run_dir: str | Path, chunk, f: EventFile, reco_vertex, reco_energy,
               t0_ns: float = 0.0) -> dict[str, Any] | None:
    """Score and attention S(t) of the run's model on this event (None if the model has no attention)."""
    import torch

    from ..detector.pmts import build_pmt_array
    from ..evaluate.evaluate import score_events
    from ..features.dataset import event_set_from_chunk
    model, meta, rep = _trained(str(Path(run_dir).resolve()))
    cfg = f.detector_config()
    pmts = build_pmt_array(cfg)
    v = reco_vertex if reco_vertex is not None else chunk.vertex_mm[0].astype(np.float64)
    reco = {"valid": np.array([True]), "vertex_mm": v[None, :], "energy_MeV": np.array([reco_energy or 0.0]),
            "t0_ns": np.array([t0_ns])}  # the fitted start time, as evaluate uses it (gated T0 presets)
    es = event_set_from_chunk(chunk, reco, int(chunk.label[0]), "event", pmts, cfg, events=np.array([0]))
    with torch.no_grad():
        score, att = score_events(model, rep, es)
    spec = getattr(rep, "spec", None)
    out: dict[str, Any] = {"model": f"{meta['run_config']['model']}/{meta['run_config']['preset']}",
                           "score": float(score[0]), "values": None}
    if att is not None and spec is not None:
        a = np.asarray(att[0], np.float64).ravel()
        out["values"] = _round(a, 5)
        out["t_edges_ns"] = _round(np.linspace(spec.t_min_ns, spec.t_max_ns, spec.n_t + 1), 3)
    return out


def event_payload(path: str | Path, index: int = 0, run: str | Path | None = None, spec: MapSpec = PAPER_MAP,
                  reconstruct: bool = True) -> dict[str, Any]:
    """Everything the page draws for event ``index`` of an event file (JSON-able; lengths in mm, times in ns).

    ``run``: a training run whose model scores the event and whose attention S(t) is shown.
    ``reconstruct``: reconstruct the vertex when the file has no /reco group (else the true vertex is used
    for the proper times, and the page says so).
    """
    with EventFile(path) as f:
        if not isinstance(index, (int, np.integer)) or not 0 <= index < f.n_events:
            raise EventFileError(f"{path}: event {index} outside 0..{f.n_events - 1}")
        chunk = f.read(index, index + 1, truth_detail=True)
        cfg = f.detector_config()
        pos = f.pmt_positions_mm()
        run_meta = f.run
        v_reco, e_reco, how, t0 = (_reco_vertex(f, index, chunk) if reconstruct
                                   else (None, None, "not reconstructed", 0.0))
        att = _attention(run, chunk, f, v_reco, e_reco, t0) if run is not None else None
    v_true = chunk.vertex_mm[0].astype(np.float64)
    v_tau = v_reco if v_reco is not None else v_true
    v = cfg.scintillator.group_velocity_mm_per_ns
    tau = proper_times(chunk, pos, v_tau[None, :], v)
    sl = time_bins(tau, spec)
    dep = None
    if chunk.dep_offsets is not None and int(chunk.dep_offsets[-1]) > 0:
        dep = {"pos_mm": _round(chunk.dep_pos_mm, 0), "edep_MeV": _round(chunk.dep_edep_MeV, 4)}
    source = str(run_meta.get("source", "?"))
    return {
        "version": PAGE_VERSION, "file": str(path), "event": int(index), "source": source,
        "vertex_spec": str(run_meta.get("vertex", "")), "detector": cfg.name,
        "pmt_radius_mm": float(cfg.geometry.pmt_radius_mm), "balloon_radius_mm": float(cfg.geometry.balloon_radius_mm),
        "pmt_pos_mm": _round(pos, 0),
        "hits": {"pmt": chunk.hit_pmt.astype(int).tolist(), "t_ns": _round(chunk.hit_time_ns, 2),
                 "tau_ns": _round(tau, 2), "q_pe": _round(chunk.hit_charge_pe, 2), "slice": sl.astype(int).tolist()},
        "spec": {"n_t": spec.n_t, "t_min_ns": spec.t_min_ns, "t_max_ns": spec.t_max_ns, "dt_ns": spec.dt_ns},
        "vertex_true_mm": _round(v_true, 0), "vertex_reco_mm": None if v_reco is None else _round(v_reco, 0),
        "reco": how, "energy_reco_MeV": e_reco, "evis_true_MeV": float(chunk.evis_MeV[0]),
        "npe": int(chunk.npe[0]), "nhit": int(chunk.hit_offsets[-1]), "deposits": dep, "attention": att,
        "tau_vertex": "reco" if v_reco is not None else "true",
    }


def _asset(name: str) -> str:
    return resources.files("scintnet.display").joinpath("assets", name).read_text()


def event_div(payload: dict[str, Any], div_id: str = "ev0") -> str:
    """The HTML fragment of one event display (needs :func:`page_head` once on the page)."""
    data = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return (f'<div class="sn-event" id="{html.escape(div_id)}"></div>\n'
            f'<script>SNDisplay.mount(document.getElementById("{html.escape(div_id)}"), {data});</script>\n')


def page_head(title: str) -> str:
    """``<head>`` with the viewer's CSS and JavaScript inlined (the page fetches nothing)."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title>\n<style>{_asset('viewer.css')}</style>\n"
            f"<script>{_asset('viewer.js')}</script>\n</head>\n")


def event_page(payload: dict[str, Any]) -> str:
    title = f"scintnet event {payload['event']} of {Path(payload['file']).name} ({payload['source']})"
    return (page_head(title) + f"<body><h1>{html.escape(title)}</h1>\n" + event_div(payload)
            + "<p class=\"sn-foot\">scintnet event display: drag the sphere to rotate; the slider steps through "
              "the proper-time slices (KamNet paper eq. 1&ndash;2).</p>\n</body></html>\n")


def write_event_page(payload: dict[str, Any], out: str | Path, overwrite: bool = False) -> Path:
    """Write the self-contained page of ``payload`` to ``out`` (atomically; an existing file needs overwrite)."""
    from ..io.outputs import check_output, write_text_atomic

    out = check_output(out, overwrite)
    write_text_atomic(out, event_page(payload))
    return out
