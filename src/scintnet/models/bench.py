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


def _train_seconds_per_step(model, x: dict[str, torch.Tensor], seconds: float) -> float:
    """Mean wall time of a full training step (forward, BCE, backward, RMSprop) after one warm-up step."""
    batch = next(iter(x.values())).shape[0]
    y = torch.randint(0, 2, (batch,)).float()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss()
    model.train()

    def step() -> None:
        loss = lossf(model(*x.values()), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up: first-touch allocations, oneDNN primitive creation
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        if time.perf_counter() - t0 > seconds and n >= 2:
            return (time.perf_counter() - t0) / n


def kamnet_layer_seconds(model, x: torch.Tensor) -> list[dict[str, Any]]:
    """Forward and backward wall time per event of each KamNet stage (ConvLSTM + attention, the S2
    and SO(3) convolutions with their batch norm, the FC head), each stage on a detached input."""
    from .spherical import so3_integrate

    model.train()
    batch = x.shape[0]
    rows = []

    def timed(name: str, f, inp: torch.Tensor) -> torch.Tensor:
        inp = inp.detach().requires_grad_(inp.is_floating_point())
        f(inp)  # warm-up
        t0 = time.perf_counter()
        out = f(inp)
        tf = time.perf_counter() - t0
        t0 = time.perf_counter()
        (out if isinstance(out, torch.Tensor) else out[0]).float().sum().backward()
        tb = time.perf_counter() - t0
        rows.append({"layer": name, "forward_s_per_event": tf / batch, "backward_s_per_event": tb / batch})
        return (out if isinstance(out, torch.Tensor) else out[0]).detach()

    z = timed("attention_conv_lstm", model.acl, x)
    for i, (conv, norm) in enumerate(zip(model.convs, model.norms)):
        z = timed(f"{type(conv).__name__}_{i} (b {conv.b_in}->{conv.b_out}, {conv.c_in}->{conv.c_out} ch)",
                  lambda t, c=conv, n=norm: torch.relu(model._norm(n, c(t))), z)
    timed("head", lambda t: model.head(so3_integrate(t, model.layout)), z)
    return rows


def bench_one(name: str, preset: str, batch: int = 32, seconds: float = 5.0, threads: int | None = None,
              reference: bool = True) -> dict[str, Any]:
    """Benchmark one model.  For KamNet, ``reference`` also times the reference spherical layers
    (:mod:`.spherical_reference`) on the same inputs and threads, and the per-layer split."""
    from .. import configure_runtime
    from .registry import build_model, count_parameters

    rt = configure_runtime(threads)
    torch.manual_seed(0)
    model = build_model(name, preset)
    out: dict[str, Any] = {"model": name, "preset": preset, "params": count_parameters(model),
                           "threads": rt["threads"], "cores": rt["cores"], "batch": batch}
    out["flops_per_event"] = flops_per_event(model)
    x = _inputs(model, batch)
    out["train_s_per_step"] = _train_seconds_per_step(model, x, seconds)
    out["train_events_per_s"] = batch / out["train_s_per_step"]
    out["train_step_seconds"] = out["train_s_per_step"]  # the older key
    if name == "kamnet":
        out["layers"] = kamnet_layer_seconds(model, x["x"])
        if reference:
            from .kamnet import KamNet

            ref = KamNet(model.cfg, reference=True)
            ref.load_state_dict(model.state_dict())
            out["reference_train_s_per_step"] = _train_seconds_per_step(ref, x, seconds)
            out["speedup_train_step"] = out["reference_train_s_per_step"] / out["train_s_per_step"]
            out["reference_layers"] = kamnet_layer_seconds(ref, x["x"])
            sph = [sum(r["forward_s_per_event"] + r["backward_s_per_event"] for r in rows if "Convolution" in r["layer"])
                   for rows in (out["layers"], out["reference_layers"])]
            out["speedup_spherical_layers"] = sph[1] / sph[0]
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


def bench_models(models: list[tuple[str, str]], seconds: float = 5.0, threads: int | None = None,
                 reference: bool = True) -> list[dict[str, Any]]:
    res = []
    for name, preset in models:
        code = ("import json,sys; from scintnet.models.bench import bench_one; "
                f"print(json.dumps(bench_one({name!r}, {preset!r}, seconds={seconds}, threads={threads!r}, "
                f"reference={reference!r})))")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
        if p.returncode != 0:
            res.append({"model": name, "preset": preset, "error": p.stderr.strip().splitlines()[-1:]})
        else:
            res.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return res
