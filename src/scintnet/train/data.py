"""Glue between the training harness and ``scintnet.features.dataset``: which
representation a model needs, event selection from the run config, loaders, bootstrap."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import RunConfig


def representation_for(model: nn.Module):
    """The input a model preset was built for (``input_kind`` and its config's input sizes): the
    representation of runs whose run.json records no spec."""
    from ..features.representation import default_representation

    return default_representation(getattr(model, "input_kind", "kamnet_map"), model.cfg)


def plan_inputs(cfg: RunConfig):
    """The data first: (representation, model config sized from it) for a run config.

    The representation is the model preset's own (:func:`representation_for`) with the run config's
    ``[representation]`` settings applied; the model config then takes its input sizes from it.  A
    setting the model has no field for (KamNet's θ–φ grid, say) is an error unless it is the preset's.
    """
    from ..features.representation import default_representation, model_inputs, with_settings
    from ..models.registry import MODELS, model_config

    base = model_config(cfg.model, cfg.preset)
    kind = getattr(MODELS[cfg.model][0], "input_kind", "kamnet_map")
    default = default_representation(kind, base)
    rep = with_settings(default, cfg.representation)
    sizes, own = model_inputs(rep), model_inputs(default)
    fixed = {k: v for k, v in sizes.items() if hasattr(base, k)}
    bad = [f"{k}={v!r}" for k, v in sizes.items() if not hasattr(base, k) and v != own[k]]
    if bad:
        raise ValueError(f"model {cfg.model!r} cannot take the representation setting(s) {', '.join(bad)} "
                         f"(it has no such field; it needs {', '.join(f'{k}={own[k]!r}' for k in own)})")
    return rep, dataclasses.replace(base, **fixed)


def input_statistics(loader, model: nn.Module, max_events: int = 4000) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(shift, scale) per time bin of the model's input over the first ``max_events`` training events
    (see :mod:`scintnet.models.inputs`); None for inputs that are not standardised."""
    from ..models.inputs import input_bins

    if input_bins(model) is None:
        return None
    kind = model.input_kind
    s1 = s2 = None
    n = n_events = 0
    for batch in loader:
        x = batch[0]["x"].double()
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


def build_loaders(cfg: RunConfig, rep) -> dict[str, Any]:
    """Loaders of representation ``rep`` for train/val/test plus an epoch hook that fixes the data order
    per (seed, epoch)."""
    from ..features.dataset import load_event_set, make_loaders

    sel = selection_for(cfg)
    sig = load_event_set(cfg.signal, label=1, selection=sel, max_events=cfg.max_events_per_class, seed=cfg.seed)
    bkg = load_event_set(cfg.background, label=0, selection=sel, max_events=cfg.max_events_per_class, seed=cfg.seed)
    if len(sig) == 0 or len(bkg) == 0:
        raise ValueError(f"no events pass the selection (signal {len(sig)}, background {len(bkg)})")
    loaders = make_loaders(sig, bkg, rep, batch_size=cfg.batch_size, seed=cfg.seed, nhit_matching=cfg.nhit_matching,
                           num_workers=cfg.num_workers, nhit_weighting=cfg.nhit_weighting, match_on=cfg.match_on)
    if cfg.bootstrap:
        # the paper's uncertainty method: each bootstrap model sees a resample (with
        # replacement) of the training set, drawn from (seed, bootstrap index)
        from ..features.dataset import BatchDataset

        ds = loaders["train"].dataset
        rng = np.random.default_rng([cfg.seed, cfg.bootstrap])
        pick = rng.integers(0, len(ds), len(ds))
        boot = BatchDataset(ds.events, ds.index[pick], ds.y[pick], ds.representation,
                            None if ds.w is None else ds.w[pick])
        g = torch.Generator().manual_seed(cfg.seed)
        sampler = torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(range(len(boot)), generator=g),
                                                cfg.batch_size, drop_last=False)
        loaders["train"] = torch.utils.data.DataLoader(boot, batch_size=None, sampler=sampler,
                                                       num_workers=cfg.num_workers,
                                                       persistent_workers=cfg.num_workers > 0)

    if cfg.augment_rotations:  # training batches only: validation and test see the detector as it is
        from ..features.dataset import RandomRotation

        ds = loaders["train"].dataset
        ds.representation = RandomRotation(ds.representation, seed=cfg.seed * 7919 + cfg.bootstrap)

    def set_epoch(epoch: int) -> None:
        # the order of an epoch depends only on (seed, epoch): resumed == uninterrupted
        inner = getattr(getattr(loaders["train"], "sampler", None), "sampler", None)
        g = getattr(inner, "generator", None)
        if g is not None:
            g.manual_seed(cfg.seed * 1_000_003 + epoch)

    n = {k: len(v.dataset) for k, v in loaders.items()}
    return {"loaders": loaders, "set_epoch": set_epoch, "representation": rep, "n": n,
            "signal": sig, "background": bkg}
