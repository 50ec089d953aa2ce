"""``scintnet evaluate``: ROC, AUC, rejection at 90 % signal acceptance (with bootstrap
spread), a per-source table in the form of the KamNet paper's Table I, score spectra,
the attention plot (paper Fig. 6) and ``scores.h5`` for the analysis stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ScintnetError
from ..io.rundir import EVALUATION, SCORES, record_evaluation
from ..io.store import EventFile
from ..train.harness import atomic_write_bytes, load_run
from .results import ENERGY, PLAIN, VERTEX, Figure, SourceResult
from .metrics import (auc, bootstrap_metric, effective_sample_size, energy_matching_weights,
                      rejection_at_acceptance, vertex_matching_weights,
                      weighted_rejection_at_acceptance)

SIGNAL_SOURCE = "Xe136_0vbb"


def source_label(path: str | Path) -> str:
    """Source name of an event file, with the vertex region when it is not the XeLS."""
    with EventFile(path) as f:
        run = f.run
    v = run.get("vertex", "xels")
    return run["source"] if v == "xels" else f"{run['source']}_{v}"


def score_events(model: torch.nn.Module, rep, events, batch_size: int = 256, progress: bool = False,
                 desc: str = "scoring") -> tuple[np.ndarray, np.ndarray | None]:
    """Sigmoid scores of all events of an EventSet, and KamNet's attention S(t) if available.

    ``progress``: a bar on a terminal, a line every 30 s in a log."""
    from ..executor import progress_bar

    model.eval()
    scores, atts = [], []
    starts = range(0, len(events), batch_size)
    with torch.no_grad():
        for s in progress_bar(starts, desc=desc, unit="batch", enabled=progress, leave=False):
            idx = np.arange(s, min(s + batch_size, len(events)))
            x = rep(events, idx)
            logit = model(*x.values()) if len(x) > 1 else model(x["x"])
            scores.append(torch.sigmoid(logit).numpy())
            a = getattr(model, "last_attention", None)
            if a is not None:
                atts.append(a.numpy())
    att = np.concatenate(atts) if atts else None
    return (np.concatenate(scores) if scores else np.zeros(0)), att


class EvaluateError(ScintnetError):
    """Data that cannot be evaluated with a run (the message says why)."""


def check_data_detector(meta: dict[str, Any], data: list[str], force: bool = False) -> None:
    """Refuse data files of another detector than the run was trained on (unless ``force``)."""
    from ..io.rundir import detector_fingerprint
    from ..io.store import EventFile

    trained = meta.get("detector")
    if not trained or force:  # runs of older versions did not record their detector
        return
    for p in data:
        with EventFile(p) as f:
            det = json.loads(f.detector_json)
        if detector_fingerprint(det) != trained.get("fingerprint"):
            raise EvaluateError(f"{p} was simulated with detector {det.get('name')!r} but the run was trained on "
                                f"{trained.get('name')!r} (other physics); pass --force to evaluate it anyway")


def evaluate_run(run_dir: str | Path, data: list[str], out_dir: str | Path | None = None, n_boot: int = 200,
                 r_max_mm: float | None = None, plots: bool = True, signal_source: str | None = None,
                 e_range_MeV: tuple[float, float] | None = None, double_pulse_loss: float | None = 0.01,
                 floors: bool = True, floor_train_events: int = 20000, force: bool = False,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score ``data`` with a trained run.  The signal is the source with label 1 (0nbb), or
    ``signal_source`` when given (e.g. an excited-state 2nbb file in the paper's sec. VI study).

    Every event also gets its double-pulse variable (:mod:`scintnet.reco.pileup`, stored in
    scores.h5); with ``double_pulse_loss`` each background additionally gets the rejection of
    "double-pulse cut at that signal loss, then the score" at 90 % acceptance of *all* signal events
    (keys ``*_double_pulse_cut``), beside the score-only figures.

    ``floors``: a Fisher linear discriminant and an XGBoost (:mod:`scintnet.evaluate.floors`) trained on the
    events the network trained on (its training split, rebuilt from run.json) are scored on the same test
    events: ``per_source[NAME]["floors"]`` and, over all backgrounds, ``floors``; the same floors trained on
    every selected event of the training files (at most ``floor_train_events`` per class) are
    ``floors_all_training_events`` (see :func:`_floors`).

    Every data file must come from the detector the run was trained on (same physics fingerprint), unless
    ``force`` (a robustness study: a model applied to another detector on purpose).  The evaluation folder
    is recorded in the run (``evaluations.json``), so later commands given the run folder find it."""
    from ..features.dataset import Selection, load_event_set
    from ..reco.pileup import DoublePulse, event_set_second_pulse

    run_dir = Path(run_dir)
    trained = load_run(run_dir)
    model, meta, rep = trained.model, trained.meta, trained.representation
    rc = meta["run_config"]
    check_data_detector(meta, data, force)
    e_lo, e_hi = (rc["e_min_MeV"], rc["e_max_MeV"]) if e_range_MeV is None else e_range_MeV
    sel = Selection(e_min_MeV=e_lo, e_max_MeV=e_hi, r_max_mm=rc["r_max_mm"] if r_max_mm is None else r_max_mm)
    per: dict[str, dict[str, Any]] = {}
    events: dict[str, list] = {}
    say = log or (lambda m: None)
    for path in data:
        name = source_label(path)
        ev = load_event_set([path], selection=sel, seed=0)
        events.setdefault(name, []).append(ev)
        say(f"scoring {len(ev)} events of {path} ({name})")
        sc, att = score_events(model, rep, ev, progress=log is not None, desc=f"scoring {name}")
        d = per.setdefault(name, {"score": [], "att": [], "energy": [], "radius": [], "label": [], "pulse": []})
        d["score"].append(sc)
        d["pulse"].append(event_set_second_pulse(ev, DoublePulse()))
        if att is not None:
            d["att"].append(att)
        d["energy"].append(np.asarray(getattr(ev, "energy_MeV", np.full(len(ev), np.nan))))
        vtx = getattr(ev, "vertex_mm", None)
        d["radius"].append(np.linalg.norm(vtx, axis=1) if vtx is not None else np.full(len(ev), np.nan))
        d["label"].append(np.asarray(ev.labels))
    scores = {k: {kk: (np.concatenate(v) if v else None) for kk, v in d.items()} for k, d in per.items()}
    if signal_source is not None:
        sig_names = [k for k in scores if k == signal_source]
    else:
        sig_names = [k for k, d in scores.items() if d["label"].size and np.all(d["label"] == 1)]
    if len(sig_names) != 1:
        raise ValueError(f"evaluate needs exactly one signal ({SIGNAL_SOURCE}) source among --data, got {sig_names}")
    signal_name = sig_names[0]
    sig = scores[signal_name]["score"]
    rows: dict[str, SourceResult] = {}
    for name, d in scores.items():
        if name == signal_name:
            continue
        b = d["score"]
        rej, rej_sd = bootstrap_metric(sig, b, rejection_at_acceptance, n_boot=n_boot, seed=1)
        row = rows[name] = SourceResult(int(b.size), auc(sig, b), {PLAIN: rejection_at_acceptance(sig, b)},
                                        bootstrap_mean=rej, bootstrap_std=rej_sd)
        # rejection at the signal's energy spectrum: what the score adds beyond energy.  When it
        # cannot be formed, the JSON says why (null + reason) rather than leaving the key out.
        es, eb = scores[signal_name]["energy"], d["energy"]
        matched, why = None, None
        if not (b.size and np.all(np.isfinite(es)) and np.all(np.isfinite(eb))):
            why = "no reconstructed energies in the event files"
        else:
            try:
                matched = weighted_rejection_at_acceptance(sig, b, energy_matching_weights(es, eb))
            except ValueError as exc:  # e.g. signal and background energy ranges do not overlap
                why = str(exc)
        row.rejection[ENERGY] = matched
        if why is not None:
            row.unavailable["energy"] = why
        else:  # ... and at the background's positions too: beyond energy *and* position (the fit uses both)
            _vertex_matched(row, sig, b, es, eb, scores[signal_name]["radius"], d["radius"])
    dp_cut = _double_pulse_figures(rows, scores, signal_name, double_pulse_loss) if double_pulse_loss else None
    bkg_all = np.concatenate([d["score"] for n, d in scores.items() if n != signal_name]) if rows else np.zeros(0)
    res: dict[str, Any] = {
        "run": str(run_dir), "model": rc["model"], "preset": rc["preset"], "params": meta.get("params"),
        "signal_source": signal_name, "n_signal": int(sig.size),
        "selection": {"e_min_MeV": sel.e_min_MeV, "e_max_MeV": sel.e_max_MeV, "r_max_mm": sel.r_max_mm},
    }
    if bkg_all.size:
        rej, rej_sd = bootstrap_metric(sig, bkg_all, rejection_at_acceptance, n_boot=n_boot, seed=2)
        res.update(auc=auc(sig, bkg_all), rejection_at_90=rejection_at_acceptance(sig, bkg_all),
                   rejection_at_90_bootstrap_std=rej_sd)
    if double_pulse_loss:
        res["double_pulse"] = {"signal_loss": double_pulse_loss, **DoublePulse().__dict__, "cut_fraction": dp_cut}
    if floors and rows:
        # on the network's own information: the time spectrum alone for a time-spectrum model (LSTM),
        # the time spectrum and the map's moments for the map and hit models
        feats = "time" if getattr(model, "input_kind", None) == "time_spectrum" else "time+moments"
        say(f"floors: Fisher linear discriminant and XGBoost on {feats} of the run's training events")
        res.update(_floors(rc, sel, events, signal_name, rows, floor_train_events, feats))
    res["per_source"] = {name: row.to_dict() for name, row in rows.items()}
    res["data_files"] = [str(Path(p).resolve()) for p in data]  # the HTML report shows events of each
    out = Path(out_dir) if out_dir else run_dir / "eval"
    out.mkdir(parents=True, exist_ok=True)
    _write_scores(out / SCORES, scores, signal_name)
    if plots:
        from .plots import evaluation_plots

        res["plots"] = evaluation_plots(scores, res, out)
    atomic_write_bytes(out / EVALUATION, json.dumps(res, indent=2).encode())
    record_evaluation(run_dir, out)
    return res


def _training_split(rc: dict[str, Any]):
    """(signal, background) EventSets of exactly the events the run trained on -- its training split after
    selection and matching, rebuilt from the recorded run config and seed -- or (None, reason)."""
    import dataclasses

    from ..train.config import RunConfig
    from ..train.data import build_loaders, plan_inputs

    try:
        known = {f.name for f in dataclasses.fields(RunConfig)}
        cfg = RunConfig.from_dict({k: v for k, v in rc.items() if k in known})
        rep, _ = plan_inputs(cfg)
        ds = build_loaders(cfg, rep)["loaders"]["train"].dataset
    except (ValueError, OSError, KeyError, TypeError) as exc:  # ConfigError is a ValueError
        return None, f"the run's training split could not be rebuilt: {' '.join(str(exc).split())[:160]}"
    return (ds.events.subset(ds.index[ds.y == 1]), ds.events.subset(ds.index[ds.y == 0])), None


def _floors(rc: dict[str, Any], sel, events: dict[str, list], signal_name: str, rows: dict[str, SourceResult],
            n_train: int, features: str = "time+moments") -> dict[str, Any]:
    """Train the floors and add their figures (see :func:`evaluate_run`).

    ``floors`` are trained on the network's own training events (its split after selection and Nhit or
    energy matching), so a network below them has not learned what its data holds.  The same floors
    trained on every selected event of the training files (at most ``n_train`` per class) are reported as
    ``floors_all_training_events``: they see more events than the network did (matching discards some),
    so a network below only those is short of events rather than under-trained.
    """
    from ..features.dataset import EventSet, load_event_set
    from .floors import floor_figures, train_floors

    files = {"signal": list(rc.get("signal") or []), "background": list(rc.get("background") or [])}
    missing = [f for fs in files.values() for f in fs if not Path(f).is_file()]
    if not files["signal"] or not files["background"] or missing:
        return {"floors": None, "floors_unavailable": f"training files not found: {missing or 'none recorded'}"}
    sig_all = load_event_set(files["signal"], label=1, selection=sel, max_events=n_train, seed=11)
    bkg_all = load_event_set(files["background"], label=0, selection=sel, max_events=n_train, seed=12)
    fl_all = train_floors(sig_all, bkg_all, features)
    split, why = _training_split(rc)
    fl, (sig_tr, bkg_tr) = (fl_all, (sig_all, bkg_all)) if split is None else (train_floors(*split, features), split)
    sig_te = EventSet.concat(events[signal_name])
    pooled, all_per_source = [], {}
    for name, row in rows.items():
        b = EventSet.concat(events[name])
        pooled.append(b)
        row.floors = floor_figures(fl, sig_te, b)
        all_per_source[name] = floor_figures(fl_all, sig_te, b)
    bkg_te = EventSet.concat(pooled)
    out = {"floors": floor_figures(fl, sig_te, bkg_te),
           "floors_training": {"features": fl.features, "n_signal": len(sig_tr), "n_background": len(bkg_tr),
                               "events": "all selected events of the training files" if split is None
                               else "the network's training split"},
           "floors_all_training_events": floor_figures(fl_all, sig_te, bkg_te),
           "floors_all_training_events_per_source": all_per_source,
           "floors_all_training_events_training": {"n_signal": len(sig_all), "n_background": len(bkg_all)}}
    if why:
        out["floors_same_events_unavailable"] = why
    return out


def _vertex_matched(row: SourceResult, sig: np.ndarray, bkg: np.ndarray, energy_sig: np.ndarray,
                    energy_bkg: np.ndarray, radius_sig: np.ndarray, radius_bkg: np.ndarray) -> None:
    """The energy- and vertex-matched rejection — background weighted to the signal's energy spectrum,
    signal weighted to the background's radial distribution — and the Kish effective number of
    signal events it rests on; None with the reason when it cannot be formed."""
    if not (np.all(np.isfinite(radius_sig)) and np.all(np.isfinite(radius_bkg))):
        row.rejection[VERTEX], row.unavailable["vertex"] = None, "no reconstructed vertices"
        return
    try:
        ws = vertex_matching_weights(radius_sig, radius_bkg)
    except ValueError as exc:
        row.rejection[VERTEX], row.unavailable["vertex"] = None, str(exc)
        return
    wb = energy_matching_weights(energy_sig, energy_bkg)
    row.rejection[VERTEX] = weighted_rejection_at_acceptance(sig, bkg, wb, weights_signal=ws)
    row.vertex_matched_signal_n_eff = effective_sample_size(ws)


def _double_pulse_figures(rows: dict[str, SourceResult], scores: dict[str, dict[str, np.ndarray]],
                          signal_name: str, loss: float) -> float:
    """Add the "double-pulse cut, then score" rejections (plain, energy- and vertex-matched) per
    background to ``rows``; returns the cut value."""
    from ..reco.pileup import apply_cut, cut_for_signal_loss

    cut = cut_for_signal_loss(scores[signal_name]["pulse"], loss)
    sd = scores[signal_name]
    sig = apply_cut(sd["score"], sd["pulse"], cut)
    for name, row in rows.items():
        d = scores[name]
        b = apply_cut(d["score"], d["pulse"], cut)
        row.double_pulse_cut_rejection = float(np.mean(~(d["pulse"] <= cut))) if b.size else None
        row.rejection[Figure("none", True)] = rejection_at_acceptance(sig, b)
        wb = None
        for kind in ("energy", "vertex"):
            fig = Figure(kind, True)
            if row.get(Figure(kind)) is None:
                row.rejection[fig] = None
                continue
            if wb is None:  # the same energy weights serve both figures
                wb = energy_matching_weights(sd["energy"], d["energy"])
            ws = vertex_matching_weights(sd["radius"], d["radius"]) if kind == "vertex" else None
            row.rejection[fig] = weighted_rejection_at_acceptance(sig, b, wb, weights_signal=ws)
    return cut


def _write_scores(path: Path, scores: dict[str, dict[str, np.ndarray]], signal_name: str) -> None:
    from ..io.scores import write_scores

    names = {"score": "score", "label": "label", "energy": "energy_MeV", "radius": "radius_mm",
             "pulse": "second_pulse_fraction", "att": "attention"}
    write_scores(path, {src: {names[k]: v for k, v in d.items() if k in names and v is not None}
                        for src, d in scores.items()}, signal_name)
