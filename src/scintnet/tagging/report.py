"""Run all stream taggers, produce the machine-readable figures, the plots and the tagged split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..io.stream import Stream
from .coincidence import build_pairs, evaluate_bdt, train_bdt
from .config import TagConfig
from .likelihood import efficiency_curve, fit_likelihood, tag_figures
from .pairs import Candidates, find_pairs, neutron_table, select_candidates

# published reference values shown next to ours
REFERENCE = {"likelihood": "(42.0 +- 8.8) % tagged into 8.6 % of exposure (article 000 sec. 4.2)",
             "pointnet": "49 % at 10 % false tag; +3 % with track displacement; 53 % with dE/dx (talk 001)",
             "coincidence": "96 % accuracy (talk 001)"}


def split_tagged(cands: Candidates, score: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Rows of the tagged and untagged datasets (for the analysis' two-dataset fit)."""
    tagged = score > threshold
    return {"tagged_rows": cands.row[tagged], "untagged_rows": cands.row[~tagged]}


# Xe-spallation candidates the taggers need: 20 in each half (training PDFs / networks, test figures), so a
# tagged fraction near 40 % carries a binomial error of at most ~11 points.  A choice, not a literature number.
MIN_SPALLATION_CANDIDATES = 40


def check_spallation_statistics(n_spallation: int, days: float) -> None:
    """One-line error, with the stream length that would do, when a stream holds too few Xe-spallation
    candidates to train and test the taggers (the README's 30-day klz800 stream holds about 9)."""
    if n_spallation >= MIN_SPALLATION_CANDIDATES:
        return
    rate = n_spallation / days if days > 0 else 0.0
    # the count is Poisson: ask for an expectation x with x - 2 sqrt(x) = the minimum (2 sigma to spare)
    safe = (1.0 + np.sqrt(1.0 + MIN_SPALLATION_CANDIDATES)) ** 2
    need = (f"about {int(np.ceil(safe / rate))} days of this stream (rate from the {n_spallation} seen, 2 sigma to "
            "spare)" if rate > 0 else "a longer stream")
    raise ValueError(f"this {days:g}-day stream holds {n_spallation} Xe-spallation candidates in the fiducial volume "
                     f"({rate:.2f}/day); the taggers need >= {MIN_SPALLATION_CANDIDATES} (half to train, half to "
                     f"test): {need}, or a spallation-enriched one (scintnet stream --set "
                     "spallation.xe_roi_per_year=2000, docs/tagging.md)")


# The training stream `tag` simulates when the data stream is too short: the data stream's own configuration with
# Xe spallation x100 and IBD x20 (the docs/tagging.md enrichment), same length, its own seed.  The likelihood
# PDFs and the networks learn shapes (dT, distance, neutron clouds), which the enrichment leaves unchanged; the
# accidental-neutron density grows by a few %.  A choice, not a literature number.
TRAIN_ENRICHMENT = {"spallation.xe_roi_per_year": 100.0, "ibd.rate_per_day": 20.0}
TRAIN_SEED_OFFSET = 7919


def training_stream_config(stream: Stream) -> tuple[Any, list[str]]:
    """(StreamConfig, overrides) of the spallation-enriched training stream for ``stream``."""
    import json

    from ..config import apply_overrides
    from ..io.stream import stream_config_from_dict

    d = json.loads(stream.config.to_json())
    ov = []
    for key, factor in TRAIN_ENRICHMENT.items():
        sec, fld = key.split(".")
        ov.append(f"{key}={float(d[sec][fld]) * factor!r}")
    apply_overrides(d, ov)
    return stream_config_from_dict(d), ov


def training_stream(stream: Stream, path: Path, workers: int = 1,
                    log: Callable[[str], None] | None = None) -> tuple[Stream, dict[str, Any]]:
    """Read, or simulate once, the enriched training stream of :func:`training_stream_config` at ``path``.

    An existing file is reused only when it is that stream (configuration, days and seed); anything else is an
    error, never overwritten.
    """
    import json

    from ..io.stream import read_stream
    from ..sim.stream import run_stream

    cfg, ov = training_stream_config(stream)
    seed = int(stream.attrs.get("seed", 0)) + TRAIN_SEED_OFFSET
    info = {"path": str(path), "days": stream.days, "seed": seed, "overrides": ov}
    path = Path(path)
    if path.exists():
        tr = read_stream(path)
        same = (json.loads(tr.config.to_json()) == json.loads(cfg.to_json()) and tr.days == stream.days
                and int(tr.attrs.get("seed", -1)) == seed)
        if not same:
            raise ValueError(f"{path} exists but is not the enriched training stream of this stream "
                             "(config/days/seed differ); remove it or pass it with --train")
        return tr, info | {"generated": False}
    if log:
        log(f"simulating a {stream.days:g}-day training stream ({', '.join(ov)}) into {path}")
    run_stream(cfg, stream.days, seed, path, workers)
    return read_stream(path), info | {"generated": True}


def default_training_stream_path(data_path: str | Path) -> Path:
    p = Path(data_path)
    return p.with_name(p.stem + ".train" + p.suffix)


def resolve_training_stream(stream: Stream, data_path: str | Path, cfg: TagConfig, train_path: str | Path | None = None,
                            workers: int = 1, log: Callable[[str], None] | None = None
                            ) -> tuple[Stream | None, dict[str, Any] | None]:
    """The stream the taggers learn on: ``train_path`` if given; else ``None`` (the data stream itself, split
    in halves) when it holds enough Xe-spallation candidates; else the enriched training stream beside it
    (:func:`training_stream`, simulated once)."""
    from ..io.stream import read_stream

    if train_path is not None:
        if Path(train_path).resolve() == Path(data_path).resolve():
            raise ValueError(f"--train {train_path} is the data stream itself: give another stream, or none to "
                             "split this one in halves")
        return read_stream(train_path), {"path": str(train_path), "generated": False}
    sc = cfg.spallation
    n = int(select_candidates(stream, sc.fiducial_radius_mm, sc.min_energy_MeV).is_spallation.sum())
    try:
        check_spallation_statistics(n, stream.days)
        return None, None
    except ValueError as exc:
        if log:
            log(f"{exc}; training on an enriched stream instead")
    return training_stream(stream, default_training_stream_path(data_path), workers, log)


def run_tagging(stream: Stream, cfg: TagConfig, plots: Path | None = None, pointnet: bool = True,
                log: Callable[[str], None] | None = None, split_out: Path | None = None,
                train_stream: Stream | None = None) -> dict[str, Any]:
    """Likelihood tag, PointNet (three input sets) and the XGBoost coincidence tagger on one stream.

    Without ``train_stream``, candidates are split by index parity: even for training/PDFs, odd for the
    figures.  With it, the taggers learn on all of ``train_stream`` and every candidate of ``stream`` is a
    test candidate (a short data stream holds too few Xe-spallation candidates to train on).
    """
    log = log or (lambda m: None)
    sc = cfg.spallation
    res: dict[str, Any] = {"days": stream.days}
    rmax = sc.fiducial_radius_mm + sc.max_distance_mm

    def candidates_and_pairs(s: Stream):
        c = select_candidates(s, sc.fiducial_radius_mm, sc.min_energy_MeV)
        log(f"pairs for {len(c)} candidates")
        return c, find_pairs(c, neutron_table(s, rmax), sc.window_s, sc.max_distance_mm)

    t = time.perf_counter()
    cands, pairs = candidates_and_pairs(stream)
    res["pair_search_s"] = time.perf_counter() - t
    res["n_candidates"] = len(cands)
    res["n_spallation_candidates"] = int(cands.is_spallation.sum())
    if train_stream is None:
        check_spallation_statistics(res["n_spallation_candidates"], stream.days)
        tr_stream, tr_cands, tr_pairs = stream, cands, pairs
        train = np.arange(len(cands)) % 2 == 0
        test = ~train
    else:
        tr_stream = train_stream
        tr_cands, tr_pairs = candidates_and_pairs(train_stream)
        n_tr = int(tr_cands.is_spallation.sum())
        try:
            check_spallation_statistics(n_tr, train_stream.days)
        except ValueError as exc:
            raise ValueError(f"training stream: {exc}") from None
        res["training_stream"] = {"days": train_stream.days, "n_candidates": len(tr_cands),
                                  "n_spallation_candidates": n_tr}
        train = np.ones(len(tr_cands), bool)
        test = np.ones(len(cands), bool)
    lk = fit_likelihood(tr_cands, tr_pairs, train, sc.max_distance_mm)
    t = time.perf_counter()
    score = lk.score(pairs)
    res["likelihood_score_s"] = time.perf_counter() - t
    curve = efficiency_curve(score[test], cands.is_spallation[test])
    n_sp = int((cands.is_spallation & test).sum())
    wp = tag_figures(curve, sc.exposure_loss_target, n_sp)
    res["likelihood"] = wp | {"n_spallation_test": n_sp, "reference": REFERENCE["likelihood"]}
    split = split_tagged(cands, score, wp["threshold"])
    res["split"] = {"n_tagged": int(split["tagged_rows"].size), "n_untagged": int(split["untagged_rows"].size)}
    if split_out is not None:
        np.savez(split_out, **split)
        res["split"]["file"] = str(split_out)
    curves = {"likelihood": curve}
    log("combined veto: spallation likelihood + KamNet topology score")
    from .combined import combined_veto

    tr_score = score if tr_stream is stream else lk.score(tr_pairs)
    res["combined"] = combined_veto(tr_stream, tr_cands, tr_score, train, stream, cands, score, test,
                                    sc.exposure_loss_target, sc.seed)
    if pointnet:
        from .pointnet import build_pair_points, neutron_index, score_candidates, train_pointnet, training_pairs

        res["pointnet"] = {"reference": REFERENCE["pointnet"]}
        index, tr_index = neutron_index(stream), (neutron_index(tr_stream) if tr_stream is not stream else None)
        tr_index = tr_index or index
        geo = (sc.max_distance_mm, sc.max_points, sc.track_dedx_radius_mm)
        pidx, py = training_pairs(tr_cands, tr_pairs, train, sc.max_pairs_train, np.random.default_rng(sc.seed))
        for mode in ("base", "track", "dedx"):
            log(f"PointNet ({mode}) on {int(py.sum())} true-parent and {int((~py).sum())} accidental pairs")
            t = time.perf_counter()
            pp = build_pair_points(tr_stream, tr_cands, tr_pairs, pidx, *geo, mode, tr_index)
            model = train_pointnet(pp, py, seed=sc.seed, epochs=sc.pointnet_epochs, log=log)
            t_train = time.perf_counter() - t
            t = time.perf_counter()
            s = score_candidates(model, stream, cands, pairs, test, *geo, mode, index=index)[test]
            c = efficiency_curve(s, cands.is_spallation[test])
            w = tag_figures(c, sc.false_tag_target, n_sp)
            res["pointnet"][mode] = {"spallation_tagged": w["spallation_tagged"], "false_tag": w["exposure_lost"],
                                     "spallation_tagged_err": w["spallation_tagged_err"],
                                     "best_val_auc": model.best_val_auc, "best_val_partial_auc": model.best_val_pauc,
                                     "train_s": t_train, "score_s": time.perf_counter() - t}
            curves[f"pointnet_{mode}"] = c
        # the likelihood at the same 10 % false-tag point, for comparison
        res["likelihood_at_false_tag"] = tag_figures(curve, sc.false_tag_target, n_sp)
    log("XGBoost coincidence tagger")
    res["coincidence"], cv = coincidence_figures(stream, tr_stream, cfg.coincidence)
    if cv is not None:
        curves["coincidence"] = cv
    if plots is not None:
        # the dT / distance shapes from the stream the taggers learned on (a short data stream holds a few)
        res["plots"] = make_plots(Path(plots), curves, tr_cands, tr_pairs, test)
    return res


def _eff_at_purity(ev: dict[str, Any], purity: float, key: str = "purity") -> float:
    ok = ev[key] >= purity
    return float(ev["efficiency"][ok].max()) if ok.any() else 0.0


def coincidence_figures(stream: Stream, tr_stream: Stream, cc) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The XGBoost coincidence tagger with and without the PID inputs, and on (dR, dT) alone.

    Trained on ``tr_stream`` (the data stream itself: pairs split in halves), figures on the data stream."""
    from .coincidence import BASE_FEATURES, DR_DT_FEATURES, FEATURES

    ps = build_pairs(stream, cc)
    if tr_stream is stream:
        tr = np.random.default_rng(cc.seed).random(len(ps.y)) < 0.5
        ps_tr, ps_te = ps.subset(tr), ps.subset(~tr)
    else:
        ps_tr, ps_te = build_pairs(tr_stream, cc), ps
    n_tr, n_te = int(ps_tr.y.sum()), int(ps_te.y.sum())
    n_acc_tr, n_acc_te = int((ps_tr.y == 0).sum()), int((ps_te.y == 0).sum())
    if n_tr < 10 or n_te < 5 or n_acc_tr < 10 or n_acc_te < 5:
        return {"error": f"only {n_tr} training and {n_te} test true prompt-delayed pairs ({n_acc_tr} / {n_acc_te} "
                         "accidental); use a longer stream"}, None
    out: dict[str, Any] = {}
    for key, feats in (("all", FEATURES), ("no_pid", BASE_FEATURES), ("dr_dt_only", DR_DT_FEATURES)):
        clf = train_bdt(ps_tr.columns(feats), cc.seed)
        ev = evaluate_bdt(clf, ps_te.columns(feats))
        out[key] = ev
    ev = out["all"]
    res = {"accuracy": ev["accuracy"], "accuracy_no_pid": out["no_pid"]["accuracy"],
           "accuracy_dr_dt_only": out["dr_dt_only"]["accuracy"], "pid_auc": cc.pid_auc,
           "n_true_test": ev["n_true"], "n_accidental_test": ev["n_accidental"],
           "n_offtime_test": ev["n_offtime"], "offtime_windows": cc.offtime_windows,
           "ontime_accidentals_test": ev["n_ontime_accidental"],
           "ontime_accidentals_expected": ev["ontime_accidentals_expected"],
           "efficiency_at_purity_0.99": _eff_at_purity(ev, 0.99),
           "efficiency_at_balanced_purity_0.99": _eff_at_purity(ev, 0.99, "purity_balanced"),
           "features": list(FEATURES), "reference": REFERENCE["coincidence"]}
    return res, ev


def make_plots(folder: Path, curves: dict[str, Any], cands: Candidates, pairs, test: np.ndarray) -> list[str]:
    """PNG plots: efficiency vs exposure loss, dT and distance distributions, efficiency vs purity."""
    from ..plotting import pyplot, save

    plt = pyplot()

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    fig, ax = plt.subplots(figsize=(5, 4))
    for k, c in curves.items():
        if k == "coincidence":
            continue
        ax.plot(100 * c["exposure_lost"], 100 * c["spallation_tagged"], label=k)
    ax.errorbar([8.6], [42.0], yerr=[8.8], fmt="ko", label="KLZ-800 (article 000)")
    ax.set(xlabel="exposure lost / 136Xe falsely tagged [%]", ylabel="Xe spallation tagged [%]", xlim=(0, 40), ylim=(0, 100))
    ax.legend(fontsize=7)
    files.append(save(fig, folder / "tag_efficiency_vs_exposure.png", dpi=110))
    cp = pairs.candidate_of_pair()
    par = cands.is_spallation[cp] & (pairs.muon == cands.parent_muon[cp])
    acc = ~cands.is_spallation[cp]
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
    bins = np.linspace(-4, 5.3, 50)
    axs[0].hist(np.log10(np.maximum(pairs.dt_s[par], 1e-6)), bins, density=True, histtype="step", label="parent muon")
    axs[0].hist(np.log10(np.maximum(pairs.dt_s[acc], 1e-6)), bins, density=True, histtype="step", label="accidental")
    axs[0].set(xlabel="log10(dT since muon / s)", ylabel="pairs (normalised)")
    axs[0].legend(fontsize=7)
    b2 = np.linspace(0, 1600, 41)
    axs[1].hist(pairs.d_min_mm[par] / 10, b2 / 10, density=True, histtype="step", label="parent muon")
    axs[1].hist(pairs.d_min_mm[acc] / 10, b2 / 10, density=True, histtype="step", label="accidental")
    axs[1].set(xlabel="distance to nearest neutron [cm]")
    files.append(save(fig, folder / "tag_dt_distance.png", dpi=110))
    if "coincidence" in curves:
        c = curves["coincidence"]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(c["purity"], c["efficiency"], label="this stream's mix (accidentals from off-time windows)")
        ax.plot(c["purity_balanced"], c["efficiency"], "--", label="equal true / accidental pairs")
        ax.set(xlabel="purity", ylabel="efficiency of true IBD pairs", title="XGBoost prompt-delayed tagger")
        ax.legend(fontsize=7)
        files.append(save(fig, folder / "coincidence_efficiency_vs_purity.png", dpi=110))
    return files
