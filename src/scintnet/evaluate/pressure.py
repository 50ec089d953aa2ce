"""Robustness "pressure map" (KamNet paper §IV.C, Fig. 3; issue 7).

The paper varies the two "pressure" parameters of the sim-Fast detector — PMT quantum
efficiency and photocoverage — and shows the 10C rejection at 90 % 0νββ acceptance over the
(QE, coverage) plane.  Here each *trained* model (trained at the nominal setting) is evaluated
on independent events simulated at every other setting: how smoothly does its rejection
degrade or improve when the light collection differs from what it was trained on?

Event files are simulated once per (setting, class) under ``out_dir/data`` (resumable, seeded
from (seed, setting index, class)), reconstructed with that setting's own energy calibration,
and selected with each run's own energy/radius window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..train.harness import atomic_write_bytes
from ..io.rundir import CHECKPOINT, RUN_JSON


def setting_files(preset: str, qe: Sequence[float], coverage: Sequence[float], sources: Sequence[str], events: int,
                  out_dir: Path, seed: int = 100, workers: int = 1,
                  log: Callable[[str], None] = print) -> dict[tuple[int, int, str], Path]:
    """Simulate (or reuse) one event file per (QE index, coverage index, source)."""
    from ..detector.config import load_config
    from ..sim.run import SimConfig, run_simulation

    files = {}
    for i, q in enumerate(qe):
        for j, c in enumerate(coverage):
            cfg = load_config(preset, overrides=[f"pmts.types.0.quantum_efficiency={q}",
                                                 f"pmts.types.0.photocoverage={c}"])
            for k, src in enumerate(sources):
                path = out_dir / "data" / f"{src}_qe{q:.3f}_cov{c:.3f}_n{events}_s{seed}.h5"
                if not path.exists():
                    sim = SimConfig.for_detector(cfg, src, events,
                                                 int(np.random.SeedSequence([seed, i, j, k]).generate_state(1)[0]),
                                                 chunk_size=2000, store_deposits=False)
                    log(f"simulating {path.name}")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    run_simulation(sim, path, workers)
                files[(i, j, src)] = path
    return files


def pressure_map(runs: Sequence[str | Path], preset: str = "klz400-fast", qe: Sequence[float] = (0.16, 0.23, 0.30),
                 coverage: Sequence[float] = (0.15, 0.22, 0.29), signal: str = "Xe136_0vbb",
                 background: str = "C10", events: int = 3000, out_dir: str | Path = "out/pressure",
                 seed: int = 100, workers: int = 1, n_boot: int = 100, plots: bool = True,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Rejection at 90 % signal acceptance of every run over the (QE, coverage) grid."""
    from ..features.dataset import load_event_set
    from ..train.harness import load_run
    from .evaluate import score_events
    from .metrics import auc, bootstrap_metric, rejection_at_acceptance
    from ..features.dataset import Selection

    out_dir = Path(out_dir)
    files = setting_files(preset, qe, coverage, (signal, background), events, out_dir, seed, workers, log)
    res: dict[str, Any] = {"preset": preset, "qe": list(qe), "coverage": list(coverage), "signal": signal,
                           "background": background, "events_per_file": events, "seed": seed, "models": {}}
    for run in runs:
        trained = load_run(run)
        model, meta, rep = trained.model, trained.meta, trained.representation
        rc = meta["run_config"]
        sel = Selection(e_min_MeV=rc["e_min_MeV"], e_max_MeV=rc["e_max_MeV"], r_max_mm=rc["r_max_mm"])
        rej = np.zeros((len(qe), len(coverage)))
        sd = np.zeros_like(rej)
        au = np.zeros_like(rej)
        ns = np.zeros((len(qe), len(coverage), 2), int)
        for i in range(len(qe)):
            for j in range(len(coverage)):
                s_ev = load_event_set([str(files[(i, j, signal)])], label=1, selection=sel, seed=0)
                b_ev = load_event_set([str(files[(i, j, background)])], label=0, selection=sel, seed=0)
                s, _ = score_events(model, rep, s_ev)
                b, _ = score_events(model, rep, b_ev)
                rej[i, j] = rejection_at_acceptance(s, b)
                sd[i, j] = bootstrap_metric(s, b, rejection_at_acceptance, n_boot=n_boot, seed=2)[1]
                au[i, j] = auc(s, b)
                ns[i, j] = (s.size, b.size)
        name = f"{Path(run).name} ({rc['model']}:{rc['preset']})"
        i0 = int(np.argmin(np.abs(np.asarray(qe) - _nominal(meta, "quantum_efficiency", qe))))
        j0 = int(np.argmin(np.abs(np.asarray(coverage) - _nominal(meta, "photocoverage", coverage))))
        res["models"][name] = {
            "run": str(run), "model": rc["model"], "preset": rc["preset"], "rejection_at_90": rej.tolist(),
            "rejection_at_90_bootstrap_std": sd.tolist(), "auc": au.tolist(), "n_signal_background": ns.tolist(),
            "nominal_cell": [i0, j0],
            # smoothness: mean |difference| between neighbouring cells (paper: KamNet "smoother")
            "mean_neighbour_step": float(np.mean(np.concatenate([np.abs(np.diff(rej, axis=0)).ravel(),
                                                                 np.abs(np.diff(rej, axis=1)).ravel()]))),
            "worst_drop_from_nominal": float(rej[i0, j0] - rej.min()),
        }
        log(f"{name}: nominal {rej[i0, j0]:.3f}, min {rej.min():.3f}, max {rej.max():.3f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        res["plot"] = str(plot_pressure_map(res, out_dir / "pressure_map.png"))
    atomic_write_bytes(out_dir / "pressure_map.json", json.dumps(res, indent=2).encode())
    return res


def _nominal(meta: dict, field: str, grid: Sequence[float]) -> float:
    """The training files' setting (read from the run's first signal file), else the grid centre."""
    try:
        from ..io.store import EventFile

        with EventFile(meta["run_config"]["signal"][0]) as f:
            return float(getattr(f.detector_config().pmts.types[0], field))
    except Exception:  # noqa: BLE001 - the run's files may have moved: fall back to the centre
        return float(grid[len(grid) // 2])


def plot_pressure_map(res: dict, path: Path) -> Path:
    from ..plotting import pyplot, save

    plt = pyplot()

    models = list(res["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.4), squeeze=False)
    qe, cov = res["qe"], res["coverage"]
    for ax, name in zip(axes[0], models):
        r = np.asarray(res["models"][name]["rejection_at_90"]) * 100
        im = ax.imshow(r, origin="lower", cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for i in range(len(qe)):
            for j in range(len(cov)):
                ax.text(j, i, f"{r[i, j]:.0f}", ha="center", va="center", color="w" if r[i, j] < 60 else "k",
                        fontsize=9)
        i0, j0 = res["models"][name]["nominal_cell"]
        ax.add_patch(plt.Rectangle((j0 - 0.5, i0 - 0.5), 1, 1, fill=False, ec="r", ls="--", lw=1.5))
        ax.set_xticks(range(len(cov)), [f"{c * 100:.0f}" for c in cov])
        ax.set_yticks(range(len(qe)), [f"{q * 100:.0f}" for q in qe])
        ax.set_xlabel("photocoverage [%]")
        ax.set_ylabel("QE [%]")
        ax.set_title(name, fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), label=f"{res['background']} rejection at 90 % acceptance [%]")
    return save(fig, path, tight=False, bbox_inches="tight")  # colorbar spans the axes: no tight_layout


# --------------------------------------------------------------------------- one training per cell (paper Fig. 3)


def _cell_task(task: tuple) -> dict[str, Any]:
    """Train one model on a cell's training files and score it on every cell's test files (one executor task)."""
    (i, j, cfg_dict, run_dir, test_files, signal, background, n_boot) = task
    from ..features.dataset import Selection, load_event_set
    from ..train.config import RunConfig
    from ..train.harness import load_run, train_run
    from .evaluate import score_events
    from .metrics import auc, bootstrap_metric, rejection_at_acceptance

    cfg = RunConfig.from_dict(cfg_dict)
    run_dir = Path(run_dir)
    if (run_dir / RUN_JSON).exists():  # reuse a finished cell only if it was trained with these settings
        from ..train.harness import TrainError, _resume_key

        stored = RunConfig.from_dict(json.loads((run_dir / RUN_JSON).read_text())["run_config"])
        if _resume_key(stored) != _resume_key(cfg):
            raise TrainError(f"{run_dir} was trained with other settings (model, epochs, data); choose another --out")
    if not (run_dir / RUN_JSON).exists():  # resumable: a finished cell is not trained again
        if (run_dir / CHECKPOINT).exists():
            train_run(cfg, run_dir, resume=True, progress=False, log=lambda m: None)
        else:
            train_run(cfg, run_dir, progress=False, log=lambda m: None)
    trained = load_run(run_dir)
    model, meta, rep = trained.model, trained.meta, trained.representation
    sel = Selection(e_min_MeV=cfg.e_min_MeV, e_max_MeV=cfg.e_max_MeV, r_max_mm=cfg.r_max_mm)
    scores: dict[str, Any] = {}
    for key, (fs, fb) in test_files.items():  # key "i,j": this model on that cell's test events
        s, _ = score_events(model, rep, load_event_set([fs], label=1, selection=sel, seed=0, log=None))
        b, _ = score_events(model, rep, load_event_set([fb], label=0, selection=sel, seed=0, log=None))
        scores[key] = {"rejection_at_90": rejection_at_acceptance(s, b), "auc": auc(s, b),
                       "rejection_at_90_bootstrap_std": bootstrap_metric(s, b, rejection_at_acceptance, n_boot=n_boot,
                                                                         seed=2)[1], "n": [int(s.size), int(b.size)]}
    return {"cell": [i, j], "run": str(run_dir), "epochs_done": meta["epochs_done"],
            "train_seconds": meta["train_seconds"], "best_val_auc": meta.get("best_val_auc"), "scores": scores}


def retrained_pressure_map(preset: str = "klz400-fast", qe: Sequence[float] = (0.16, 0.23, 0.30),
                           coverage: Sequence[float] = (0.15, 0.22, 0.29), model: str = "kamnet",
                           model_preset: str = "cpu", signal: str = "Xe136_0vbb", background: str = "C10",
                           train_events: int = 3000, test_events: int = 1500, epochs: int = 4, batch_size: int = 64,
                           lr: float | None = 3e-3, out_dir: str | Path = "out/pressure_retrained", seed: int = 200,
                           workers: int = 1, threads: int | None = None, n_boot: int = 100, plots: bool = True,
                           log: Callable[[str], None] = print) -> dict[str, Any]:
    """The paper's pressure map (Fig. 3): one model trained per (QE, coverage) cell and tested in that cell.

    Every cell's training is one task of the executor (``scintnet --executor dask`` runs the nine — or the
    paper's full grid — on a cluster; each task is seeded, so results do not depend on where it runs).  Each
    model is also scored on every other cell's test events, so the same run gives the robustness map of the
    model trained at the nominal (central) cell beside the retrained map.  Resumable: finished cells are kept.
    """
    from ..executor import get_executor
    from ..train.config import RunConfig

    out_dir = Path(out_dir)
    sources = (signal, background)
    log(f"simulating the training and test files of {len(qe) * len(coverage)} cells")
    train_files = setting_files(preset, qe, coverage, sources, train_events, out_dir / "train", seed, workers, log)
    test_files = setting_files(preset, qe, coverage, sources, test_events, out_dir / "test", seed + 1, workers, log)
    tests = {f"{i},{j}": (str(test_files[(i, j, signal)]), str(test_files[(i, j, background)]))
             for i in range(len(qe)) for j in range(len(coverage))}
    tasks = []
    for i in range(len(qe)):
        for j in range(len(coverage)):
            cfg = RunConfig(model=model, preset=model_preset, signal=[str(train_files[(i, j, signal)])],
                            background=[str(train_files[(i, j, background)])], epochs=epochs, batch_size=batch_size,
                            # one thread per cell by default: the workers give the parallelism and the
                            # result does not depend on how many there are
                            lr=lr, seed=seed + 10 * i + j, threads=threads or 1,
                            select_on="val_auc", max_events_per_class=train_events)
            tasks.append((i, j, cfg.to_dict(), str(out_dir / "cells" / f"qe{qe[i]:.3f}_cov{coverage[j]:.3f}"), tests,
                          signal, background, n_boot))
    cells: dict[tuple[int, int], dict] = {}
    for k, (task, r) in enumerate(get_executor(workers).map_unordered(_cell_task, tasks)):
        cells[(task[0], task[1])] = r
        own = r["scores"][f"{task[0]},{task[1]}"]["rejection_at_90"]
        log(f"[progress] cell {k + 1}/{len(tasks)} QE {qe[task[0]]:.2f} coverage {coverage[task[1]]:.2f}: "
            f"{r['epochs_done']} epochs in {r['train_seconds']:.0f} s, own-cell rejection {100 * own:.1f} %")
    nq, nc = len(qe), len(coverage)
    i0, j0 = nq // 2, nc // 2

    def grid(fn) -> list:
        return [[fn(i, j) for j in range(nc)] for i in range(nq)]

    own = lambda key: grid(lambda i, j: cells[(i, j)]["scores"][f"{i},{j}"][key])  # noqa: E731
    nominal = lambda key: grid(lambda i, j: cells[(i0, j0)]["scores"][f"{i},{j}"][key])  # noqa: E731
    res: dict[str, Any] = {
        "preset": preset, "qe": list(qe), "coverage": list(coverage), "signal": signal, "background": background,
        "model": f"{model}:{model_preset}", "train_events_per_class": train_events, "test_events_per_file": test_events,
        "epochs": epochs, "seed": seed, "cells": {f"{i},{j}": cells[(i, j)] for (i, j) in sorted(cells)},
        "models": {
            f"retrained per cell ({model}:{model_preset})": {
                "rejection_at_90": own("rejection_at_90"), "rejection_at_90_bootstrap_std": own("rejection_at_90_bootstrap_std"),
                "auc": own("auc"), "nominal_cell": [i0, j0]},
            f"trained at the nominal cell ({model}:{model_preset})": {
                "rejection_at_90": nominal("rejection_at_90"),
                "rejection_at_90_bootstrap_std": nominal("rejection_at_90_bootstrap_std"), "auc": nominal("auc"),
                "nominal_cell": [i0, j0]},
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        res["plot"] = str(plot_pressure_map(res, out_dir / "pressure_map_retrained.png"))
    atomic_write_bytes(out_dir / "pressure_map_retrained.json", json.dumps(res, indent=2).encode())
    return res
