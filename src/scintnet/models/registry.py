"""Model registry: ``build_model(name, preset)``; every model declares its input kind and spec."""

from __future__ import annotations

from typing import Any

from torch import nn

from .deepsphere import DEEPSPHERE_PRESETS, DeepSphereNet
from .baselines import CNN_PRESETS, LSTM_PRESETS, ConventionalCNN, TimeLSTM
from .kamnet import KAMNET_PRESETS, KamNet
from .pointcloud import PARTICLENET_PRESETS, PART_PRESETS, ROTINV_PRESETS, ParTHits, ParticleNetHits, RotInvHits

MODELS: dict[str, tuple[type, dict[str, Any]]] = {
    "kamnet": (KamNet, KAMNET_PRESETS),
    "cnn": (ConventionalCNN, CNN_PRESETS),
    "lstm": (TimeLSTM, LSTM_PRESETS),
    # hit point clouds (docs/beyond_kamnet.md)
    "particlenet": (ParticleNetHits, PARTICLENET_PRESETS),
    "part": (ParTHits, PART_PRESETS),
    "rotinv": (RotInvHits, ROTINV_PRESETS),
    # spherical graph CNN with a time axis (DeepSphere-style)
    "deepsphere": (DeepSphereNet, DEEPSPHERE_PRESETS),
}


def list_models() -> list[str]:
    return list(MODELS)


def model_config(name: str, preset: str):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    cls, presets = MODELS[name]
    if preset not in presets:
        raise ValueError(f"model {name!r} has no preset {preset!r}; available: {', '.join(presets)}")
    return presets[preset]


def build_model(name: str, preset: str = "cpu", config=None) -> nn.Module:
    cls, _ = MODELS[name] if name in MODELS else (None, None)
    cfg = config if config is not None else model_config(name, preset)
    return cls(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
