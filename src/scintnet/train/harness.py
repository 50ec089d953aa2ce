"""Training harness: plain PyTorch (so DDP works unchanged), resumable, deterministic.

One run directory holds everything::

    run.json          run config, model config, data files, versions, final summary
    metrics.csv/.json per-epoch train/validation loss, validation AUC, learning rate, time
    checkpoint.pt     model + optimiser + scheduler + history after the last finished epoch
    model.pt          weights of the best epoch (lowest validation loss)

All files are written atomically; ``resume=True`` continues after a kill losing at most
the epoch in progress.  Every epoch reseeds torch from (seed, epoch), and the data order
of an epoch is a function of (seed, epoch) only, so a resumed run equals an uninterrupted one.
Checkpoints are loaded with ``weights_only=True`` (no unpickling of arbitrary objects).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import pickle
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import ScintnetError
from ..executor import progress_bar
from ..io.rundir import CHECKPOINT, METRICS, MODEL, RUN_JSON, detector_fingerprint
from ..metrics import auc, rejection_at_acceptance
from ..models.registry import build_model, count_parameters
from .config import RunConfig
from ..models.inputs import attach_input_norm
from ..features.dataset import MATCH_ON
from ..features.representation import from_spec, to_spec
from .data import build_loaders, input_statistics, plan_inputs, representation_for


class TrainError(ScintnetError):
    """A run that cannot start (bad config, existing run without --resume, ...)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """:func:`scintnet.io.outputs.write_bytes_atomic` (kept under this name for its many callers)."""
    from ..io.outputs import write_bytes_atomic

    write_bytes_atomic(path, data)


def atomic_torch_save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def device_for(name: str | None = None) -> torch.device:
    """``name`` "cpu", "cuda" or "cuda:N"; None: CUDA when available, else the CPU."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise TrainError(f"device must be cpu, cuda or cuda:N, not {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(f"--device {name}: no CUDA device is available here (torch {torch.__version__})")
    return torch.device(name)


def _resume_key(cfg: RunConfig) -> str:
    # what must match to continue a run: everything but where and how fast it runs (paths compared absolute)
    d = cfg.to_dict()
    d.pop("threads", None)
    d.pop("num_workers", None)
    for k in ("grad_clip_norm", "ema_decay", "augment_rotations"):
        if not d.get(k):
            d.pop(k, None)  # off: the key of checkpoints written before the option existed
    if not any(v is not None for v in d.get("representation", {}).values()):
        d.pop("representation", None)  # no settings: the key of checkpoints written before the field existed
    for k in ("signal", "background"):
        d[k] = [str(Path(p).resolve()) for p in d[k]]
    return json.dumps(d, sort_keys=True)


def _lr_lambda(cfg: RunConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Learning-rate factor per optimiser step: linear warm-up, then cosine to 0 at the last
    planned step (Loshchilov & Hutter, SGDR, arXiv:1608.03983) or exponential decay per epoch."""
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    total = max(warm + 1, cfg.epochs * steps_per_epoch)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))
        return cfg.lr_decay ** ((step - warm) / max(steps_per_epoch, 1))

    return f


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    lr = cfg.effective_lr()
    name = cfg.effective_optimizer()
    if name == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise TrainError(f"unknown optimizer {name!r} (rmsprop, adam, sgd)")


def predict(model: nn.Module, loader, device: torch.device) -> tuple[np.ndarray, np.ndarray, float]:
    """Scores (sigmoid), labels and mean BCE loss over a loader."""
    model.eval()
    lossf = nn.BCEWithLogitsLoss(reduction="sum")
    scores, labels, tot, n = [], [], 0.0, 0
    with torch.no_grad():
        for inputs, y in loader:
            x = {k: v.to(device) for k, v in inputs.items()}
            logit = model(*x.values()) if len(x) > 1 else model(x["x"])
            tot += float(lossf(logit, y.to(device)))
            n += y.numel()
            scores.append(torch.sigmoid(logit).cpu().numpy())
            labels.append(y.numpy())
    if n == 0:
        return np.zeros(0), np.zeros(0), float("nan")
    return np.concatenate(scores), np.concatenate(labels), tot / n


def _write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_bytes(out / "metrics.json", json.dumps(history, indent=1).encode())
    if history:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
        atomic_write_bytes(out / METRICS, buf.getvalue().encode())


def _ddp_worker(rank: int, world: int, init_file: str, backend: str, cfg: RunConfig, out_dir: str,
                threads: int, verbose: bool = True) -> None:
    import torch.distributed as tdist

    import sys

    if backend == "nccl":
        torch.cuda.set_device(rank)  # before the process group: one GPU per rank
    tdist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        out = Path(out_dir) if rank == 0 else Path(out_dir) / f".rank{rank}"  # only rank 0's files are kept
        cfg = dataclasses.replace(cfg, threads=threads)
        device = f"cuda:{rank}" if backend == "nccl" else "cpu"
        say = (lambda m: print(m, file=sys.stderr, flush=True)) if rank == 0 and verbose else (lambda m: None)
        train_run(cfg, out, progress=rank == 0 and verbose, log=say, device=device, dist=(rank, world))
    finally:
        tdist.destroy_process_group()


def train_distributed(cfg: RunConfig, out_dir: str | Path, world_size: int = 2, backend: str | None = None,
                      log: Callable[[str], None] = print, verbose: bool = True) -> dict[str, Any]:
    """Data-parallel training in ``world_size`` processes (``torch.distributed``: gloo on CPU, NCCL on GPUs).

    Same harness as :func:`train_run`; gradients are averaged over the ranks, so with the same global batch
    the model equals a one-process training (tests/test_train.py checks it) for models without batch norm;
    batch-norm statistics are taken per rank (plain DDP), so KamNet, DeepSphere and the CNN are close to, not
    equal to, the one-process model.  Per-batch time budgets are off (the ranks must take the same number of
    steps): give ``epochs``; early stopping is decided on rank 0.  A last batch smaller than 2 events per rank
    is skipped.  ``verbose``: rank 0's progress and log lines on stderr.  Returns rank 0's run summary.
    """
    import shutil
    import tempfile

    import torch.multiprocessing as tmp_mp

    if world_size < 1:
        raise TrainError("world_size must be >= 1")
    if cfg.max_train_seconds is not None:
        raise TrainError("distributed training takes --epochs, not a time budget (the ranks must step together)")
    backend = backend or ("nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size else "gloo")
    from .. import available_cores

    threads = max(1, (cfg.threads or available_cores()) // world_size)
    out = Path(out_dir)
    if (out / CHECKPOINT).exists():
        raise TrainError(f"{out} already holds a run; choose another --out")
    if not cfg.signal or not cfg.background:
        raise TrainError("need at least one --signal and one --background event file")
    cfg.validate()
    check_training_files(cfg.signal, cfg.background)  # here, not first in a rank: a clean one-line error
    try:
        with tempfile.TemporaryDirectory(prefix="scintnet-ddp-") as tmp:
            log(f"distributed training: {world_size} processes, backend {backend}, {threads} threads each")
            tmp_mp.start_processes(_ddp_worker, args=(world_size, str(Path(tmp) / "init"), backend, cfg, str(out),
                                                      threads, verbose), nprocs=world_size, start_method="spawn")
    except tmp_mp.ProcessRaisedException as exc:  # a rank failed: its last line is the message
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        raise TrainError(f"distributed training failed: {lines[-1] if lines else exc}") from None
    finally:
        for r in range(1, world_size):
            shutil.rmtree(out / f".rank{r}", ignore_errors=True)
    summary = json.loads((out / RUN_JSON).read_text())
    summary["distributed"] = {"world_size": world_size, "backend": backend, "threads_per_rank": threads}
    atomic_write_bytes(out / RUN_JSON, json.dumps(summary, indent=2).encode())
    return summary


def _boot_task(task: tuple) -> dict[str, Any] | None:
    cfg_dict, out_dir, resume, device, chunk_seconds, amp, progress = task
    out = Path(out_dir)
    if resume and (out / RUN_JSON).exists() and not (out / CHECKPOINT).exists():
        return None  # finished before the restart
    quiet = (lambda m: None) if not progress else print
    return train_run(RunConfig.from_dict(cfg_dict), out, resume=(out / CHECKPOINT).exists(), progress=progress,
                     log=quiet, device=device, chunk_seconds=chunk_seconds, amp=amp)


def train_bootstrap(cfg: RunConfig, out_dir: str | Path, k: int, workers: int = 1, resume: bool = False,
                    device: str | None = None, chunk_seconds: float | None = None, amp: bool = False,
                    progress: bool = True, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """The paper's uncertainty method: ``k`` models on bootstrap resamples, ``out_dir/boot_XX``.

    Each training is one executor task (seeded by its bootstrap index, so the models do not depend on how
    many run at once or where); with ``workers`` > 1 the threads are shared out.  Resumable.
    """
    from .. import available_cores
    from ..executor import get_executor

    out = Path(out_dir)
    threads = cfg.threads if workers == 1 else max(1, (cfg.threads or available_cores()) // workers)
    tasks = [(dataclasses.replace(cfg, bootstrap=i + 1, threads=threads).to_dict(), str(out / f"boot_{i:02d}"), resume,
              device, chunk_seconds, amp, progress and workers == 1) for i in range(k)]
    results: dict[str, dict[str, Any]] = {}
    for task, r in get_executor(workers).map_unordered(_boot_task, tasks):
        if r is not None:
            results[task[1]] = r
            log(f"bootstrap model {Path(task[1]).name}: best val AUC {r.get('best_val_auc', float('nan')):.4f}")
    return [results[t[1]] for t in tasks if t[1] in results]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_training_files(signal: list[str], background: list[str]) -> dict[str, Any]:
    """Every file a valid, non-empty event file, none given twice, all of one detector (else TrainError).

    Returns the detector config (dict) of the files."""
    from ..io.store import EventFile

    seen: dict[str, str] = {}
    detector: tuple[str, str] | None = None
    for role, paths in (("signal", signal), ("background", background)):
        for p in paths:
            key = str(Path(p).resolve())
            if key in seen:
                raise TrainError(f"{p} is given twice (as {seen[key]} and as {role}); signal and background "
                                 "must be different files")
            seen[key] = role
            with EventFile(p) as f:  # EventFileError (a ScintnetError) names the file
                if f.n_events == 0:
                    raise TrainError(f"{p}: holds no events")
                det = json.loads(f.detector_json)
            name = detector_fingerprint(det)
            if detector is None:
                detector = (name, p)
                first = det
            elif name != detector[0]:
                raise TrainError(f"{p} and {detector[1]} were simulated with different detectors; train on "
                                 "files of one detector")
    return first


def train_run(cfg: RunConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
              log: Callable[[str], None] = print, device: str | None = None, chunk_seconds: float | None = None,
              amp: bool = False, dist: tuple[int, int] | None = None) -> dict[str, Any]:
    """Train one model; returns the summary also written to ``run.json``.

    ``device``: "cpu", "cuda" (None: CUDA when available).  ``chunk_seconds``: stop at an epoch
    boundary before an epoch that would end after this wall time of this call (``stopped`` =
    "chunk"); ``resume=True`` continues exactly there (a batch-queue or lent-GPU slot of 10 minutes
    trains a long run in pieces).  ``amp``: bfloat16 autocast on CUDA (mixed precision).
    ``dist``: (rank, world size) inside an initialised ``torch.distributed`` process group
    (:func:`train_distributed`): every rank loads the same data, takes its share of each global batch and
    the gradients are averaged, so the result equals one process with the same global batch.
    """
    t_call = time.perf_counter()  # the chunk budget counts data loading too
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not resume:
        raise TrainError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if cfg.select_on not in ("val_loss", "val_auc"):
        raise TrainError(f"select_on must be val_loss or val_auc, not {cfg.select_on!r}")
    if cfg.schedule not in ("cosine", "exponential"):
        raise TrainError(f"schedule must be cosine or exponential, not {cfg.schedule!r}")
    if cfg.match_on not in MATCH_ON:  # a CLI override skips RunConfig.validate
        raise TrainError(f"match_on must be one of {', '.join(MATCH_ON)}, not {cfg.match_on!r}")
    dev = device_for(device)  # before anything is written: a missing GPU leaves no empty run folder
    if not cfg.signal or not cfg.background:
        raise TrainError("need at least one --signal and one --background event file")
    cfg.validate()
    detector = check_training_files(cfg.signal, cfg.background)  # before the run folder exists
    # absolute data paths: the stored run works from any folder (export, evaluate, floors)
    cfg = dataclasses.replace(cfg, signal=[str(Path(p).resolve()) for p in cfg.signal],
                              background=[str(Path(p).resolve()) for p in cfg.background])
    from .. import configure_runtime

    runtime = configure_runtime(cfg.threads)
    log(f"threads: {runtime['threads']} of {runtime['cores']} cores (torch, Numba, BLAS)")
    if runtime.get("busy_hint"):
        log(runtime["busy_hint"])
    device = dev
    use_amp = bool(amp and dev.type == "cuda")
    torch.manual_seed(cfg.seed)
    cfg = cfg.resolved()
    try:
        rep, model_cfg = plan_inputs(cfg)  # the data first, the model sized from it
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    model = build_model(cfg.model, cfg.preset, config=model_cfg)
    data = build_loaders(cfg, rep)
    loaders = data["loaders"]
    for split in ("train", "val"):
        y = np.asarray(loaders[split].dataset.y)
        if not ((y == 1).any() and (y == 0).any()):
            raise TrainError(f"after the selection ({cfg.e_min_MeV}-{cfg.e_max_MeV} MeV, R < {cfg.r_max_mm} mm) the "
                             f"{split} split holds {int((y == 1).sum())} signal and {int((y == 0).sum())} background "
                             "events: both classes are needed; give files with more events")
    out.mkdir(parents=True, exist_ok=True)  # only now: a run that cannot start leaves no folder
    norm = input_statistics(loaders["train"], model) if cfg.normalize_inputs else None
    if norm is not None:
        attach_input_norm(model, *norm)
    model = model.to(device)
    steps = max(1, len(loaders["train"]))
    opt = make_optimizer(cfg, model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps))
    ema = None
    if cfg.ema_decay is not None:  # parameters and batch-norm buffers averaged (the library's EMA)
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
    evaluated = model if ema is None else ema.module  # what is validated, selected and saved
    history: list[dict[str, Any]] = []
    best_val, bad_epochs, start = math.inf, 0, 0
    if resume and ckpt_path.exists():
        try:
            state = torch.load(ckpt_path, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - weights-only: any failure is a bad file
            raise TrainError(f"{ckpt_path}: cannot resume from this checkpoint (not a weights-only checkpoint "
                             f"of scintnet: {type(exc).__name__})") from None
        try:
            stored = RunConfig.from_dict(json.loads(state["run_config"]))
        except (ValueError, TypeError):  # written by a version with other fields
            stored = None
        if stored is None or _resume_key(stored) != _resume_key(cfg):
            raise TrainError(f"{out}: --resume with a different configuration than the stored run")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        history = json.loads(state["history"])
        best_val, bad_epochs, start = state["best_val"], state["bad_epochs"], state["epoch"] + 1
        log(f"resuming {out} at epoch {start}")
    y_train, w_train = loaders["train"].dataset.y, loaders["train"].dataset.w
    w_train = np.ones_like(y_train) if w_train is None else w_train  # Nhit weighting: the classes' summed weights
    n_pos, n_neg = float(w_train[y_train == 1].sum()), float(w_train[y_train == 0].sum())
    # equal total weight per class (Nhit matching balances the classes already; without it, not)
    pos_weight = torch.tensor(n_neg / max(n_pos, 1.0) if cfg.class_weights else 1.0, device=device)
    def lossf(logit: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, reduction: str = "mean") -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logit, y, weight=w, pos_weight=pos_weight,
                                                              reduction=reduction)

    n_params = count_parameters(model)
    net, lossf_sum, shard = model, None, slice(None)
    if dist is not None:
        from torch.nn.parallel import DistributedDataParallel

        rank, world = dist
        net = DistributedDataParallel(model)  # shares the parameters: model.state_dict() stays as it is
        # each rank's share of a global batch; sum / n_global * world, averaged over ranks, is the global mean
        lossf_sum = functools.partial(lossf, reduction="sum")
        shard = slice(rank, None, world)
    t_start = time.perf_counter()
    trained_s = sum(h["epoch_seconds"] for h in history)
    stopped = "epochs"

    for epoch in range(start, cfg.epochs):
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        data["set_epoch"](epoch)
        model.train()
        t0 = time.perf_counter()
        tot, n = 0.0, 0
        # a bar on a terminal, a line every 30 s in a log (a first epoch is minutes long)
        bar = progress_bar(loaders["train"], desc=f"epoch {epoch}", unit="batch", leave=False, enabled=progress)
        for batch in bar:
            inputs, y = batch[0], batch[1]
            w = batch[2] if len(batch) > 2 else None  # per-event weights (Nhit weighting)
            n_global = y.numel()
            if dist is not None and n_global < 2 * dist[1]:
                continue  # a last batch too small to give every rank >= 2 events (batch norm needs 2); all skip it
            x = {k: v[shard].to(device) for k, v in inputs.items()}
            y = y[shard].to(device)
            w = None if w is None else w[shard].to(device)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
                logit = net(*x.values()) if len(x) > 1 else net(x["x"])
            if dist is None:
                loss = lossf(logit.float(), y, w)
            else:
                loss = lossf_sum(logit.float(), y, w) * (dist[1] / n_global)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            tot += loss.item() * (y.numel() if dist is None else n_global / dist[1])  # this rank's loss sum
            n += y.numel()
            bar.set_postfix(loss=f"{tot / max(n, 1):.4f}")
            if (dist is None and cfg.max_train_seconds is not None
                    and trained_s + time.perf_counter() - t0 >= cfg.max_train_seconds):
                break  # time budget spent: finish this (shortened) epoch with validation + checkpoint
        dt = time.perf_counter() - t0
        vs, vl, vloss = predict(evaluated, loaders["val"], device)
        vauc = auc(vs[vl == 1], vs[vl == 0]) if (vl == 1).any() and (vl == 0).any() else float("nan")
        vrej = rejection_at_acceptance(vs[vl == 1], vs[vl == 0]) if (vl == 1).any() and (vl == 0).any() else float("nan")
        row = {"epoch": epoch, "train_loss": tot / max(n, 1), "val_loss": vloss, "val_auc": vauc,
               "val_rejection_at_90": vrej, "lr": opt.param_groups[0]["lr"], "epoch_seconds": dt,
               "train_events_per_s": n / dt}
        history.append(row)
        trained_s += dt
        log(f"epoch {epoch}: train {row['train_loss']:.4f}  val {vloss:.4f}  AUC {vauc:.4f}  "
            f"rej@90 {vrej:.3f}  ({n / dt:.0f} ev/s)")
        # selection metric as "lower is better"; val_auc is an option because in the first
        # epochs batch-norm running statistics can make the validation loss swing while the
        # ranking (AUC) already improves
        metric = vloss if cfg.select_on == "val_loss" else -vauc
        if metric < best_val - 1e-6:
            best_val, bad_epochs = metric, 0
            atomic_torch_save(evaluated.state_dict(), out / MODEL)
        else:
            bad_epochs += 1
        _write_metrics(out, history)
        atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           **({} if ema is None else {"ema": ema.state_dict()}), "epoch": epoch, "best_val": best_val, "bad_epochs": bad_epochs,
                           "history": json.dumps(history), "run_config": cfg.to_json()}, ckpt_path)
        stop = cfg.patience is not None and bad_epochs >= cfg.patience
        if dist is not None:  # rank 0 decides (batch-norm statistics are per rank): no rank waits alone
            import torch.distributed as tdist

            flag = torch.tensor([int(stop)])
            tdist.broadcast(flag, 0)
            stop = bool(flag.item())
        if stop:
            stopped = "early_stopping"
            break
        if cfg.max_train_seconds is not None and trained_s >= cfg.max_train_seconds:
            stopped = "time_limit"
            break
        if chunk_seconds is not None and epoch + 1 < cfg.epochs:
            per_epoch = (time.perf_counter() - t_start) / (epoch + 1 - start)
            if time.perf_counter() - t_call + per_epoch > chunk_seconds:
                stopped = "chunk"  # the next epoch would not fit: --resume continues here
                log(f"chunk of {chunk_seconds:.0f} s done after epoch {epoch}; continue with --resume")
                break
    no_best = history and not (out / MODEL).exists()
    if no_best:  # the selection metric was never finite (a diverged training): keep the last weights, say so
        atomic_torch_save(evaluated.state_dict(), out / MODEL)
        log(f"warning: no epoch had a finite {cfg.select_on}; model.pt holds the last epoch's weights")
    if history:
        try:
            plot_training_curves(history, out / "training_curves.png", title=f"{cfg.model} ({cfg.preset})")
        except Exception as exc:  # a plot must never lose a finished run
            log(f"training-curve plot failed: {exc}")
    summary = {
        "scintnet_version": __version__, "torch_version": torch.__version__, "device": str(device),
        "threads": runtime["threads"], "epochs_planned": cfg.epochs, "class_pos_weight": float(pos_weight),
        "input_normalisation": None if norm is None else {"shift": norm[0].tolist(), "scale": norm[1].tolist()},
        "run_config": cfg.to_dict(), "model_config": model.cfg.to_dict(), "params": n_params,
        "representation": to_spec(rep), "n_train": data["n"]["train"], "n_val": data["n"]["val"],
        "n_test": data["n"]["test"], "epochs_done": len(history), "stopped": stopped,
        "selected_on": cfg.select_on, "best_selection_metric": best_val, "train_seconds": trained_s, "wall_seconds_this_call": time.perf_counter() - t_start,
        "data_files": {"signal": cfg.signal, "background": cfg.background},
        "detector": {"name": detector.get("name"), "fingerprint": detector_fingerprint(detector)},
    }
    summary["model_sha256"] = _sha256(out / MODEL)  # load_trained checks it: a damaged model is an error
    if no_best:
        summary["warning"] = f"no epoch had a finite {cfg.select_on}; model.pt holds the last epoch's weights"
    if history:
        key = (lambda h: h["val_loss"]) if cfg.select_on == "val_loss" else (lambda h: -h["val_auc"])
        best = min(history, key=key)
        summary.update(best_epoch=best["epoch"], best_val_auc=best["val_auc"],
                       best_val_rejection_at_90=best["val_rejection_at_90"])
    atomic_write_bytes(out / RUN_JSON, json.dumps(summary, indent=2).encode())
    return summary


def plot_training_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Loss (train, validation), validation AUC and rejection at 90 % and the learning rate per epoch."""
    from ..plotting import pyplot, save

    plt = pyplot()

    ep = [h["epoch"] + 1 for h in history]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].plot(ep, [h["train_loss"] for h in history], "o-", label="training")
    ax[0].plot(ep, [h["val_loss"] for h in history], "s-", label="validation")
    ax[0].set(xlabel="epoch", ylabel="BCE loss", title="loss")
    ax[0].legend()
    ax[1].plot(ep, [h["val_auc"] for h in history], "o-", color="C2", label="AUC")
    ax[1].plot(ep, [h["val_rejection_at_90"] for h in history], "s-", color="C3", label="rejection at 90 % acceptance")
    ax[1].axhline(0.1, color="0.6", ls=":", lw=1, label="random (rejection 10 %)")
    ax[1].set(xlabel="epoch", ylabel="validation figure", title="validation")
    ax[1].legend(fontsize=8)
    ax[2].plot(ep, [h["lr"] for h in history], "o-", color="C4")
    ax[2].set(xlabel="epoch", ylabel="learning rate (end of epoch)", title="schedule")
    fig.suptitle(title)
    save(fig, path, dpi=110)
    return path


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A finished run ready to score: the model with its best weights, its run.json and the input it trained on."""

    model: nn.Module
    meta: dict[str, Any]
    representation: Any  # features.representation.Representation


def load_run(run_dir: str | Path, device: torch.device | None = None) -> TrainedRun:
    """:func:`load_trained` plus the representation recorded in run.json (runs from before the spec
    was recorded: the model preset's own input, as they were trained)."""
    model, meta = load_trained(run_dir, device)
    spec = meta.get("representation")
    try:
        rep = from_spec(spec) if isinstance(spec, dict) else representation_for(model)
    except ValueError as exc:
        raise TrainError(f"{Path(run_dir) / 'run.json'}: {exc}") from None
    return TrainedRun(model, meta, rep)


def load_trained(run_dir: str | Path, device: torch.device | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Model with the best weights of a run, and its run.json."""
    run_dir = Path(run_dir)
    meta_p = run_dir / RUN_JSON
    if not meta_p.exists() or not (run_dir / MODEL).exists():
        raise TrainError(f"{run_dir}: not a finished training run (run.json/model.pt missing)")
    from ..models.registry import MODELS

    try:
        meta = json.loads(meta_p.read_text())
        rc = meta["run_config"]
        cls, presets = MODELS[rc["model"]]
        cfg_cls = type(next(iter(presets.values())))
        mc = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_config"].items()}
        legacy_gate = mc.pop("t0_gate_ns", None)  # an input setting that sat in old DeepSphere configs
        model = cls(cfg_cls(**mc))
        if legacy_gate is not None and not isinstance(meta.get("representation"), dict):
            from ..features.representation import InputSettings, with_settings

            meta = {**meta, "representation": to_spec(with_settings(
                representation_for(model), InputSettings(t0_gate_ns=tuple(legacy_gate))))}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise TrainError(f"{meta_p}: not a valid run description ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    want = meta.get("model_sha256")
    if isinstance(want, str) and _sha256(run_dir / MODEL) != want:
        raise TrainError(f"{run_dir / 'model.pt'} does not match the checksum in run.json (damaged or replaced)")
    try:
        state = torch.load(run_dir / MODEL, map_location=device or "cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainError(f"{run_dir / 'model.pt'}: not a weights-only checkpoint; refused (loading it could "
                         "run code)") from None
    except Exception as exc:  # noqa: BLE001 - the weights-only loader runs no code: any failure is a bad file
        raise TrainError(f"{run_dir / 'model.pt'}: unreadable checkpoint ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    if not isinstance(state, dict):
        raise TrainError(f"{run_dir / 'model.pt'}: not a state dict")
    if "input_shift" in state:  # trained with input standardisation: the buffers come with the weights
        attach_input_norm(model)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TrainError(f"{run_dir / 'model.pt'}: weights do not fit the model in run.json "
                         f"({' '.join(str(exc).split())[:200]})") from None
    model.eval()
    return model, meta
