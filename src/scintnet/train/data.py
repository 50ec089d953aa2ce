"""Glue between the training harness and ``scintnet.features.dataset``: which
representation a model needs, event selection from the run config, loaders, bootstrap."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .config import RunConfig


def representation_for(model: nn.Module):
    """The input representation a model declares (``input_kind``), sized from its config."""
    from ..features.dataset import KamNetMap, PointCloud, TimeSpectrum
    from ..features.maps import MapSpec

    kind = getattr(model, "input_kind", "kamnet_map")
    c = model.cfg
    if kind == "kamnet_map":
        # log(1 + charge): ~hit occupancy for single p.e. (the original trained on maps
        # "without charge"), while multi-p.e. cells still carry some weight
        gate = getattr(c, "t0_gate_ns", None)
        spec = MapSpec(n_t=c.n_t, n_theta=c.n_theta, n_phi=c.n_phi, grid=getattr(c, "grid", "theta_phi"),
                       t0_gate_ns=None if gate is None else tuple(gate))
        return KamNetMap(spec=spec, log_charge=True)
    if kind == "time_spectrum":
        return TimeSpectrum(n_bins=c.n_t, normalize=True)
    if kind == "point_cloud":
        return PointCloud(n_max=c.max_hits, frame=getattr(c, "frame", "centre"))
    raise ValueError(f"unknown input kind {kind!r}")


def input_statistics(loader, model: nn.Module, max_events: int = 4000) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(shift, scale) per time bin of the model's input over the first ``max_events`` training events
    (see :mod:`scintnet.models.inputs`); None for inputs that are not standardised."""
    from ..models.inputs import input_bins

    if input_bins(model) is None:
        return None
    kind = model.input_kind
    s1 = s2 = None
    n = n_events = 0
    for inputs, _ in loader:
        x = inputs["x"].double()
        dims = [0] + list(range(2, x.dim()))  # all but the time axis
        cnt = x.numel() // x.shape[1]
        a, b = x.sum(dims), (x * x).sum(dims)
        s1, s2 = (a, b) if s1 is None else (s1 + a, s2 + b)
        n += cnt
        n_events += x.shape[0]
        if n_events >= max_events:
            break
    mean = s1 / n
    if kind == "kamnet_map":  # scale only: RMS per slice, empty cells stay 0
        rms = torch.sqrt(s2 / n)
        return torch.zeros_like(rms).float(), torch.where(rms > 0, rms, torch.ones_like(rms)).float()
    std = torch.sqrt(torch.clamp(s2 / n - mean * mean, min=0.0))
    return mean.float(), torch.where(std > 0, std, torch.ones_like(std)).float()


def selection_for(cfg: RunConfig):
    from ..features.dataset import Selection

    return Selection(e_min_MeV=cfg.e_min_MeV, e_max_MeV=cfg.e_max_MeV, r_max_mm=cfg.r_max_mm)


def build_loaders(cfg: RunConfig, model: nn.Module) -> dict[str, Any]:
    """Loaders for train/val/test plus an epoch hook that fixes the data order per (seed, epoch)."""
    from ..features.dataset import load_event_set, make_loaders

    sel = selection_for(cfg)
    sig = load_event_set(cfg.signal, label=1, selection=sel, max_events=cfg.max_events_per_class, seed=cfg.seed)
    bkg = load_event_set(cfg.background, label=0, selection=sel, max_events=cfg.max_events_per_class, seed=cfg.seed)
    if len(sig) == 0 or len(bkg) == 0:
        raise ValueError(f"no events pass the selection (signal {len(sig)}, background {len(bkg)})")
    rep = representation_for(model)
    loaders = make_loaders(sig, bkg, rep, batch_size=cfg.batch_size, seed=cfg.seed, nhit_matching=cfg.nhit_matching,
                           num_workers=cfg.num_workers)
    if cfg.bootstrap:
        # the paper's uncertainty method: each bootstrap model sees a resample (with
        # replacement) of the training set, drawn from (seed, bootstrap index)
        from ..features.dataset import BatchDataset

        ds = loaders["train"].dataset
        rng = np.random.default_rng([cfg.seed, cfg.bootstrap])
        pick = rng.integers(0, len(ds), len(ds))
        boot = BatchDataset(ds.events, ds.index[pick], ds.y[pick], ds.representation)
        g = torch.Generator().manual_seed(cfg.seed)
        sampler = torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(range(len(boot)), generator=g),
                                                cfg.batch_size, drop_last=False)
        loaders["train"] = torch.utils.data.DataLoader(boot, batch_size=None, sampler=sampler,
                                                       num_workers=cfg.num_workers,
                                                       persistent_workers=cfg.num_workers > 0)

    def set_epoch(epoch: int) -> None:
        # the order of an epoch depends only on (seed, epoch): resumed == uninterrupted
        inner = getattr(getattr(loaders["train"], "sampler", None), "sampler", None)
        g = getattr(inner, "generator", None)
        if g is not None:
            g.manual_seed(cfg.seed * 1_000_003 + epoch)

    n = {k: len(v.dataset) for k, v in loaders.items()}
    return {"loaders": loaders, "set_epoch": set_epoch, "representation": type(rep).__name__, "n": n,
            "signal": sig, "background": bkg}
