"""Run all stream taggers, produce the machine-readable figures, the plots and the tagged split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..io.stream import Stream
from .coincidence import build_pairs, evaluate_bdt, train_bdt
from .config import TagConfig
from .likelihood import binomial_error, efficiency_curve, fit_likelihood, working_point
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


def run_tagging(stream: Stream, cfg: TagConfig, plots: Path | None = None, pointnet: bool = True,
                log: Callable[[str], None] | None = None, split_out: Path | None = None) -> dict[str, Any]:
    """Likelihood tag, PointNet (three input sets) and the XGBoost coincidence tagger on one stream.

    Candidates are split by index parity: even for training/PDFs, odd for the figures.
    """
    log = log or (lambda m: None)
    sc = cfg.spallation
    res: dict[str, Any] = {"days": stream.days}
    cands = select_candidates(stream, sc.fiducial_radius_mm, sc.min_energy_MeV)
    neu = neutron_table(stream, sc.fiducial_radius_mm + sc.max_distance_mm)
    log(f"pairs for {len(cands)} candidates")
    t = time.perf_counter()
    pairs = find_pairs(cands, neu, sc.window_s, sc.max_distance_mm)
    res["pair_search_s"] = time.perf_counter() - t
    res["n_candidates"] = len(cands)
    res["n_spallation_candidates"] = int(cands.is_spallation.sum())
    check_spallation_statistics(res["n_spallation_candidates"], stream.days)
    train = np.arange(len(cands)) % 2 == 0
    test = ~train
    lk = fit_likelihood(cands, pairs, train, sc.max_distance_mm)
    t = time.perf_counter()
    score = lk.score(pairs)
    res["likelihood_score_s"] = time.perf_counter() - t
    curve = efficiency_curve(score[test], cands.is_spallation[test])
    wp = working_point(curve, sc.exposure_loss_target)
    n_sp = int((cands.is_spallation & test).sum())
    res["likelihood"] = wp | {"spallation_tagged_err": binomial_error(wp["spallation_tagged"], n_sp),
                              "n_spallation_test": n_sp, "reference": REFERENCE["likelihood"]}
    split = split_tagged(cands, score, wp["threshold"])
    res["split"] = {"n_tagged": int(split["tagged_rows"].size), "n_untagged": int(split["untagged_rows"].size)}
    if split_out is not None:
        np.savez(split_out, **split)
        res["split"]["file"] = str(split_out)
    curves = {"likelihood": curve}
    if pointnet:
        from .pointnet import build_pair_points, neutron_index, score_candidates, train_pointnet, training_pairs

        res["pointnet"] = {"reference": REFERENCE["pointnet"]}
        index = neutron_index(stream)
        geo = (sc.max_distance_mm, sc.max_points, sc.track_dedx_radius_mm)
        pidx, py = training_pairs(cands, pairs, train, sc.max_pairs_train, np.random.default_rng(sc.seed))
        for mode in ("base", "track", "dedx"):
            log(f"PointNet ({mode}) on {int(py.sum())} true-parent and {int((~py).sum())} accidental pairs")
            t = time.perf_counter()
            pp = build_pair_points(stream, cands, pairs, pidx, *geo, mode, index)
            model = train_pointnet(pp, py, seed=sc.seed, epochs=sc.pointnet_epochs, log=log)
            t_train = time.perf_counter() - t
            t = time.perf_counter()
            s = score_candidates(model, stream, cands, pairs, test, *geo, mode, index=index)[test]
            c = efficiency_curve(s, cands.is_spallation[test])
            w = working_point(c, sc.false_tag_target)
            res["pointnet"][mode] = {"spallation_tagged": w["spallation_tagged"], "false_tag": w["exposure_lost"],
                                     "spallation_tagged_err": binomial_error(w["spallation_tagged"], n_sp),
                                     "best_val_auc": model.best_val_auc, "best_val_partial_auc": model.best_val_pauc,
                                     "train_s": t_train, "score_s": time.perf_counter() - t}
            curves[f"pointnet_{mode}"] = c
        # the likelihood at the same 10 % false-tag point, for comparison
        res["likelihood_at_false_tag"] = working_point(curve, sc.false_tag_target)
    log("XGBoost coincidence tagger")
    ps = build_pairs(stream, cfg.coincidence)
    rng = np.random.default_rng(cfg.coincidence.seed)
    tr = rng.random(len(ps.y)) < 0.5
    from .coincidence import PairSet

    if ps.y.sum() >= 10:
        clf = train_bdt(PairSet(ps.X[tr], ps.y[tr]), cfg.coincidence.seed)
        ev = evaluate_bdt(clf, PairSet(ps.X[~tr], ps.y[~tr]))
        res["coincidence"] = {"accuracy": ev["accuracy"], "n_true_test": ev["n_true"],
                              "n_accidental_test": ev["n_accidental"], "reference": REFERENCE["coincidence"],
                              "efficiency_at_purity_0.99": _eff_at_purity(ev, 0.99)}
        curves["coincidence"] = ev
    else:
        res["coincidence"] = {"error": f"only {int(ps.y.sum())} true prompt-delayed pairs; use a longer stream"}
    if plots is not None:
        res["plots"] = make_plots(Path(plots), curves, cands, pairs, test)
    return res


def _eff_at_purity(ev: dict[str, Any], purity: float) -> float:
    ok = ev["purity"] >= purity
    return float(ev["efficiency"][ok].max()) if ok.any() else 0.0


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
        ax.plot(c["purity"], c["efficiency"])
        ax.set(xlabel="purity", ylabel="efficiency", title="XGBoost prompt-delayed tagger")
        files.append(save(fig, folder / "coincidence_efficiency_vs_purity.png", dpi=110))
    return files
