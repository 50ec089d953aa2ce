"""Model benchmarks: parameters, FLOPs per event, training and inference events/s, peak memory.

Each (model, preset) runs in a fresh subprocess so that peak RSS is that model's own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import torch


def _inputs(model, batch: int) -> dict[str, torch.Tensor]:
    c = model.cfg
    kind = getattr(model, "input_kind", "kamnet_map")
    if kind == "kamnet_map":
        x = torch.zeros(batch, c.n_t, c.n_theta, c.n_phi)
        x[:, c.n_t // 3] = torch.rand(batch, c.n_theta, c.n_phi) < 0.2  # sparse, like real maps
        return {"x": x}
    if kind == "time_spectrum":
        return {"x": torch.softmax(torch.randn(batch, c.n_t), 1)}
    if kind == "point_cloud":
        return {"x": torch.randn(batch, c.max_hits, c.n_features), "mask": torch.ones(batch, c.max_hits, dtype=torch.bool)}
    raise ValueError(kind)


def flops_per_event(model, batch: int = 8) -> float:
    """Forward FLOPs per event counted by torch's FlopCounterMode (matmul/conv/einsum ops)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    x = _inputs(model, batch)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*x.values())
    return fc.get_total_flops() / batch


def bench_one(name: str, preset: str, batch: int = 32, seconds: float = 5.0, threads: int | None = None) -> dict[str, Any]:
    from .registry import build_model, count_parameters

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(name, preset)
    out: dict[str, Any] = {"model": name, "preset": preset, "params": count_parameters(model),
                           "threads": torch.get_num_threads(), "batch": batch}
    out["flops_per_event"] = flops_per_event(model)
    x = _inputs(model, batch)
    y = torch.randint(0, 2, (batch,)).float()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss()
    model.train()
    n, t0, first = 0, time.perf_counter(), None
    while True:
        ts = time.perf_counter()
        loss = lossf(model(*x.values()), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or (time.perf_counter() - ts)
        n += batch
        if time.perf_counter() - t0 > seconds and n >= 2 * batch:
            break
    out["train_events_per_s"] = n / (time.perf_counter() - t0)
    out["train_step_seconds"] = batch / out["train_events_per_s"]
    model.eval()
    xi = _inputs(model, 256 if preset != "paper" else 32)
    bs = next(iter(xi.values())).shape[0]
    n, t0 = 0, time.perf_counter()
    with torch.no_grad():
        while True:
            model(*xi.values())
            n += bs
            if time.perf_counter() - t0 > seconds / 2 and n >= 2 * bs:
                break
    out["infer_events_per_s"] = n / (time.perf_counter() - t0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def bench_models(models: list[tuple[str, str]], seconds: float = 5.0, threads: int | None = None) -> list[dict[str, Any]]:
    res = []
    for name, preset in models:
        code = ("import json,sys; from scintnet.models.bench import bench_one; "
                f"print(json.dumps(bench_one({name!r}, {preset!r}, seconds={seconds}, threads={threads!r})))")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
        if p.returncode != 0:
            res.append({"model": name, "preset": preset, "error": p.stderr.strip().splitlines()[-1:]})
        else:
            res.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return res
