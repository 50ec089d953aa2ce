"""The top-tagging table (seed 004) on one harness: accuracy, AUC, 1/eps_B at eps_S = 0.5 / 0.3, size, cost.

Floors first: the jet mass alone and XGBoost on six jet-level observables (mass, constituent count,
girth, p_T^D, leading-constituent fraction, charged fraction) on the same jets.  Every network is trained
``trainings`` times with different seeds (the spread is the model-bootstrap error) on the same split.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..metrics import auc, rejection_at_acceptance

# seed 004's table: accuracy / AUC / 1/eps_B at eps_S = 0.5 / at 0.3 / parameters (public top-tagging data)
SEED_004_TABLE = {
    "pfn": (None, 0.9819, 247, 888, 86_100),
    "particlenet": (0.940, 0.9858, 397, 1615, 370_000),
    "part": (0.940, 0.9858, 413, 1602, 2_140_000),
    "lorentznet": (0.942, 0.9868, 498, 2195, 224_000),
    "pelican": (0.9426, 0.987, None, 2250, 208_000),
}


@dataclass(frozen=True)
class JetBenchConfig:
    models: tuple[str, ...] = ("pfn", "particlenet_lite", "particlenet", "part", "lorentznet", "lorentz_moments")
    epochs: int = 20
    max_minutes: float | None = None  # per training
    batch_size: int = 128
    lr: float = 1e-3
    trainings: int = 1
    seed: int = 1
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)


def inv_eb(s: np.ndarray, b: np.ndarray, eff_s: float) -> float | None:
    """1 / background efficiency at signal efficiency ``eff_s`` (None when no background jet passes:
    the test sample is too small to measure it)."""
    e_b = 1.0 - rejection_at_acceptance(s, b, eff_s)
    return float(1.0 / e_b) if e_b > 0 else None


def figures(score: np.ndarray, label: np.ndarray) -> dict[str, float]:
    s, b = score[label == 1], score[label == 0]
    return {"accuracy": float(np.mean((score > 0.5) == (label == 1))), "auc": auc(s, b),
            "inv_eb_at_0.5": inv_eb(s, b, 0.5), "inv_eb_at_0.3": inv_eb(s, b, 0.3)}


def jet_observables(sample) -> np.ndarray:
    """[n, 6]: mass, constituent count, girth, p_T^D, leading p_T fraction, charged p_T fraction."""
    o = sample.offsets
    c = sample.constituents
    j = sample.jets
    n = np.diff(o)
    jet_of = np.repeat(np.arange(len(n)), n)
    z = c["pt_GeV"] / j["pt_GeV"][jet_of]
    dphi = (c["phi"] - j["phi"][jet_of] + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(c["eta"] - j["eta"][jet_of], dphi)
    girth = np.bincount(jet_of, z * dr, len(n))
    ptd = np.sqrt(np.bincount(jet_of, z * z, len(n))) / np.maximum(np.bincount(jet_of, z, len(n)), 1e-9)
    lead = np.where(n > 0, c["pt_GeV"][np.minimum(o[:-1], len(z) - 1)] / j["pt_GeV"], 0.0)
    chg = np.bincount(jet_of, z * (c["charge"] != 0), len(n))
    return np.stack([j["mass_GeV"], n, girth, ptd, lead, chg], 1).astype(np.float64)


def split(n: int, fractions, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    a = int(fractions[0] * n)
    b = a + int(fractions[1] * n)
    return [perm[:a], perm[a:b], perm[b:]]


def floors(sample, parts: list[np.ndarray], seed: int) -> dict[str, dict[str, float]]:
    y = sample.jets["label"]
    obs = jet_observables(sample)
    out = {"jet_mass": figures(_rank01(obs[parts[2], 0], obs[parts[0], 0], y[parts[0]]), y[parts[2]])}
    try:
        import xgboost as xgb
    except ImportError:
        return out
    tr, va, te = parts
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "subsample": 0.8, "seed": seed,
                     "nthread": 1, "eval_metric": "auc"}, xgb.DMatrix(obs[tr], label=y[tr]), 400,
                    evals=[(xgb.DMatrix(obs[va], label=y[va]), "val")], early_stopping_rounds=30, verbose_eval=False)
    out["xgboost_observables"] = figures(bst.predict(xgb.DMatrix(obs[te])), y[te])
    return out


def _rank01(x_test: np.ndarray, x_train: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """A one-variable classifier: P(top | mass) from training histograms (a monotone map is not enough:
    top jets sit in a mass window)."""
    edges = np.quantile(x_train, np.linspace(0, 1, 41))
    edges[-1] += 1e-6
    i_tr = np.clip(np.searchsorted(edges, x_train, side="right") - 1, 0, 39)
    sig = np.bincount(i_tr, y_train == 1, 40) + 0.5
    tot = np.bincount(i_tr, None, 40) + 1.0
    i_te = np.clip(np.searchsorted(edges, x_test, side="right") - 1, 0, 39)
    return (sig / tot)[i_te]


def _flops_per_jet(model, inputs: dict[str, Any]) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x, p4, m = (torch.from_numpy(inputs[k][:8]) for k in ("x", "p4", "mask"))
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x, p4, m)
    return float(fc.get_total_flops()) / 8


def train_one(name: str, inputs: dict[str, np.ndarray], parts: list[np.ndarray], cfg: JetBenchConfig, seed: int,
              log: Callable[[str], None], return_model: bool = False):
    """Train ``name`` on ``parts[0]``, keep the epoch of best validation AUC, return its test figures
    (and the model, with ``return_model``)."""
    import torch

    from .models import JET_MODELS, build_jet_model

    mcfg = JET_MODELS[name]
    n_max = mcfg.n_max
    t = {k: torch.from_numpy(np.ascontiguousarray(v[:, :n_max] if v.ndim >= 2 else v)) for k, v in inputs.items()}
    torch.manual_seed(seed)
    model = build_jet_model(mcfg)
    params = int(sum(p.numel() for p in model.parameters()))
    flops = _flops_per_jet(model, {k: v[:, :n_max] if v.ndim >= 2 else v for k, v in inputs.items()})
    tr, va, te = (torch.from_numpy(p) for p in parts)
    steps = cfg.epochs * max(1, (len(tr) + cfg.batch_size - 1) // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)

    def set_lr(step: int) -> None:
        """Warm-up then cosine on the progress: steps done, or time used when a budget is set (so a
        training stopped by the clock still ends at a small learning rate)."""
        prog = step / steps
        if cfg.max_minutes is not None:
            prog = max(prog, (time.perf_counter() - t0) / (60 * cfg.max_minutes))
        prog = min(prog, 1.0)
        f = prog / 0.05 if prog < 0.05 else 0.5 * (1 + np.cos(np.pi * (prog - 0.05) / 0.95))
        for g in opt.param_groups:
            g["lr"] = cfg.lr * max(f, 0.01)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def scores(idx):
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(idx), 512):
                b = idx[i:i + 512]
                out.append(torch.sigmoid(model(t["x"][b], t["p4"][b], t["mask"][b])))
        return torch.cat(out).numpy()

    best, best_state, t_train, n_seen, n_step, stopped = -1.0, None, 0.0, 0, 0, "epochs"
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = tr[torch.randperm(len(tr), generator=gen)]
        t1 = time.perf_counter()
        for i in range(0, len(order), cfg.batch_size):
            b = order[i:i + cfg.batch_size]
            loss = loss_fn(model(t["x"][b], t["p4"][b], t["mask"][b]), t["label"][b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            set_lr(n_step)
            opt.step()
            n_step += 1
            n_seen += len(b)
            if cfg.max_minutes is not None and time.perf_counter() - t0 > 60 * cfg.max_minutes:
                stopped = "time"  # within an epoch too: one epoch of a large model can exceed the budget
                break
        t_train += time.perf_counter() - t1
        v = auc(*(lambda s, y: (s[y == 1], s[y == 0]))(scores(va), inputs["label"][parts[1]]))
        if v > best:
            best, best_state = v, {k: x.clone() for k, x in model.state_dict().items()}
        log(f"jets {name} seed {seed}: epoch {epoch + 1}/{cfg.epochs} loss {loss.detach().item():.4f} val AUC {v:.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
        if stopped == "time":
            break
    model.load_state_dict(best_state)
    t1 = time.perf_counter()
    s = scores(te)
    infer = len(te) / (time.perf_counter() - t1)
    row = figures(s, inputs["label"][parts[2]])
    row.update({"params": params, "flops_per_jet": flops, "train_s": t_train, "train_jets_per_s": n_seen / t_train,
                "infer_jets_per_s": infer, "epochs_run": epoch + 1, "stopped": stopped, "best_val_auc": best,
                "n_max": n_max})
    return (row, model) if return_model else row


def jets_bench(sample, cfg: JetBenchConfig = JetBenchConfig(), log: Callable[[str], None] | None = None,
               threads: int | None = None) -> dict[str, Any]:
    """Floors and every model of ``cfg.models`` on ``sample`` (a ``JetSample`` with both classes)."""
    from .models import JET_MODELS, jet_inputs

    step = log or (lambda m: None)
    y = sample.jets["label"]
    if len(np.unique(y)) != 2:
        raise ValueError("the jet sample needs both top (label 1) and QCD (label 0) jets")
    bad = [m for m in cfg.models if m not in JET_MODELS]
    if bad:
        raise ValueError(f"unknown jet model(s) {bad} (one of {', '.join(JET_MODELS)})")
    parts = split(len(sample), cfg.split, cfg.seed)
    n_max = max(JET_MODELS[m].n_max for m in cfg.models) if cfg.models else 1
    inputs = jet_inputs(sample, n_max)
    out: dict[str, Any] = {"n_jets": len(sample), "n_top": int((y == 1).sum()), "n_qcd": int((y == 0).sum()),
                           "n_train": len(parts[0]), "n_test": len(parts[2]), "config": asdict(cfg),
                           "floors": floors(sample, parts, cfg.seed), "seed_004_table": SEED_004_TABLE}
    step("jets floors: " + ", ".join(f"{k} AUC {v['auc']:.4f}" for k, v in out["floors"].items()))
    models = []
    for name in cfg.models:
        runs = [train_one(name, inputs, parts, cfg, cfg.seed + 1000 * r, step) for r in range(cfg.trainings)]
        row: dict[str, Any] = {"model": name}
        for k in runs[0]:
            vals = [r[k] for r in runs]
            if any(v is None for v in vals):
                row[k] = None
            elif isinstance(vals[0], (int, float)) and not isinstance(vals[0], bool):
                row[k] = float(np.mean(vals)) if k not in ("params", "n_max") else vals[0]
                if len(runs) > 1 and k in ("accuracy", "auc", "inv_eb_at_0.5", "inv_eb_at_0.3"):
                    row[k + "_std"] = float(np.std(vals, ddof=1))
            else:
                row[k] = vals[0]
        row["trainings"] = len(runs)
        models.append(row)
        step(f"jets {name}: AUC {row['auc']:.4f}, 1/eps_B(0.3) {row['inv_eb_at_0.3']}, {row['params']} params")
    out["models"] = models
    return out
