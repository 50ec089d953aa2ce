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
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..evaluate.metrics import auc, rejection_at_acceptance
from ..models.registry import build_model, count_parameters
from .config import RunConfig
from .data import build_loaders


class TrainError(Exception):
    """A run that cannot start (bad config, existing run without --resume, ...)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def device_for() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _lr_lambda(cfg: RunConfig, steps_per_epoch: int) -> Callable[[int], float]:
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return cfg.lr_decay ** ((step - warm) / max(steps_per_epoch, 1))

    return f


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    lr = cfg.effective_lr()
    name = cfg.effective_optimizer()
    if name == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
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
        atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())


def train_run(cfg: RunConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train one model; returns the summary also written to ``run.json``."""
    out = Path(out_dir)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise TrainError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if cfg.select_on not in ("val_loss", "val_auc"):
        raise TrainError(f"select_on must be val_loss or val_auc, not {cfg.select_on!r}")
    if not cfg.signal or not cfg.background:
        raise TrainError("need at least one --signal and one --background event file")
    out.mkdir(parents=True, exist_ok=True)
    from .. import configure_runtime

    runtime = configure_runtime(cfg.threads)
    log(f"threads: {runtime['threads']} of {runtime['cores']} cores (torch, Numba, BLAS)")
    device = device_for()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, cfg.preset).to(device)
    data = build_loaders(cfg, model)
    loaders = data["loaders"]
    steps = max(1, len(loaders["train"]))
    opt = make_optimizer(cfg, model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps))
    history: list[dict[str, Any]] = []
    best_val, bad_epochs, start = math.inf, 0, 0
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        if state["run_config"] != cfg.to_json():
            raise TrainError(f"{out}: --resume with a different configuration than the stored run")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = json.loads(state["history"])
        best_val, bad_epochs, start = state["best_val"], state["bad_epochs"], state["epoch"] + 1
        log(f"resuming {out} at epoch {start}")
    lossf = nn.BCEWithLogitsLoss()
    n_params = count_parameters(model)
    t_start = time.perf_counter()
    trained_s = sum(h["epoch_seconds"] for h in history)
    stopped = "epochs"
    from tqdm import tqdm

    for epoch in range(start, cfg.epochs):
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        data["set_epoch"](epoch)
        model.train()
        t0 = time.perf_counter()
        tot, n = 0.0, 0
        bar = tqdm(loaders["train"], desc=f"epoch {epoch}", unit="batch", leave=False,
                   disable=None if progress else True)  # None: no bar when not on a terminal
        for inputs, y in bar:
            x = {k: v.to(device) for k, v in inputs.items()}
            y = y.to(device)
            logit = model(*x.values()) if len(x) > 1 else model(x["x"])
            loss = lossf(logit, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * y.numel()
            n += y.numel()
            bar.set_postfix(loss=f"{tot / max(n, 1):.4f}")
            if cfg.max_train_seconds is not None and trained_s + time.perf_counter() - t0 >= cfg.max_train_seconds:
                break  # time budget spent: finish this (shortened) epoch with validation + checkpoint
        dt = time.perf_counter() - t0
        vs, vl, vloss = predict(model, loaders["val"], device)
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
            atomic_torch_save(model.state_dict(), out / "model.pt")
        else:
            bad_epochs += 1
        _write_metrics(out, history)
        atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           "epoch": epoch, "best_val": best_val, "bad_epochs": bad_epochs,
                           "history": json.dumps(history), "run_config": cfg.to_json()}, ckpt_path)
        if bad_epochs >= cfg.patience:
            stopped = "early_stopping"
            break
        if cfg.max_train_seconds is not None and trained_s >= cfg.max_train_seconds:
            stopped = "time_limit"
            break
    summary = {
        "scintnet_version": __version__, "torch_version": torch.__version__, "device": str(device),
        "run_config": cfg.to_dict(), "model_config": model.cfg.to_dict(), "params": n_params,
        "representation": data["representation"], "n_train": data["n"]["train"], "n_val": data["n"]["val"],
        "n_test": data["n"]["test"], "epochs_done": len(history), "stopped": stopped,
        "selected_on": cfg.select_on, "best_selection_metric": best_val, "train_seconds": trained_s, "wall_seconds_this_call": time.perf_counter() - t_start,
        "data_files": {"signal": cfg.signal, "background": cfg.background},
    }
    if history:
        key = (lambda h: h["val_loss"]) if cfg.select_on == "val_loss" else (lambda h: -h["val_auc"])
        best = min(history, key=key)
        summary.update(best_epoch=best["epoch"], best_val_auc=best["val_auc"],
                       best_val_rejection_at_90=best["val_rejection_at_90"])
    atomic_write_bytes(out / "run.json", json.dumps(summary, indent=2).encode())
    return summary


def load_trained(run_dir: str | Path, device: torch.device | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Model with the best weights of a run, and its run.json."""
    run_dir = Path(run_dir)
    meta_p = run_dir / "run.json"
    if not meta_p.exists() or not (run_dir / "model.pt").exists():
        raise TrainError(f"{run_dir}: not a finished training run (run.json/model.pt missing)")
    meta = json.loads(meta_p.read_text())
    rc = meta["run_config"]
    from ..models.registry import MODELS

    cls, _ = MODELS[rc["model"]]
    cfg_cls = type(build_model(rc["model"], rc["preset"]).cfg)
    mc = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_config"].items()}
    model = cls(cfg_cls(**mc))
    state = torch.load(run_dir / "model.pt", map_location=device or "cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model, meta
