"""Training-run configuration (explicit dataclass; TOML-loadable; stored with every run)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Paper / original-code optimiser settings (public KamNet settings, numbers.md):
# RMSprop, lr 7.73e-5, momentum 0.78, batch 32, 30 epochs, 20,000 events per class.
PAPER_LR = 7.729560386535045e-05
PAPER_MOMENTUM = 0.7806697572271865


@dataclass
class RunConfig:
    model: str = "kamnet"
    preset: str = "cpu"
    signal: list[str] = field(default_factory=list)
    background: list[str] = field(default_factory=list)
    epochs: int = 30
    batch_size: int = 32
    optimizer: str | None = None  # None: "rmsprop" for the paper preset (as published), "adam" otherwise
    lr: float | None = None  # None: the preset's default (paper: 7.73e-5; cpu/tiny: 1e-3)
    momentum: float = PAPER_MOMENTUM
    weight_decay: float = 0.0
    warmup_epochs: float = 1.0  # linear warm-up of the learning rate
    schedule: str = "cosine"  # after warm-up: "cosine" to 0 at the last epoch, or "exponential" (lr_decay per epoch)
    lr_decay: float = 0.95  # per-epoch factor of the "exponential" schedule
    patience: int | None = None  # early stopping after this many epochs without a better selection metric; None: off
    select_on: str = "val_auc"  # best model by "val_auc" (higher is better) or "val_loss" (lower is better)
    class_weights: bool = True  # BCE weighted so that both classes carry equal total weight
    normalize_inputs: bool = True  # standardise the input per time bin from training events (models/inputs.py)
    seed: int = 1
    max_events_per_class: int | None = 20000
    e_min_MeV: float = 2.0
    e_max_MeV: float = 3.0
    r_max_mm: float = 1570.0
    nhit_matching: bool = True
    num_workers: int = 0
    threads: int | None = None  # compute threads (torch, Numba, BLAS); None = the CPU affinity's cores
    bootstrap: int = 0  # >0: index of the bootstrap resample this run trains on
    max_train_seconds: float | None = None  # stop after this wall time (checked per epoch)

    def effective_optimizer(self) -> str:
        # The CPU presets train for minutes, not 30 epochs of 40k events: with RMSprop +
        # momentum at lr 1e-3 the LSTM baseline collapsed to a constant output in our runs
        # (AUC 0.50 after 5 epochs), Adam did not.
        if self.optimizer is not None:
            return self.optimizer
        return "rmsprop" if self.preset == "paper" else "adam"

    def effective_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return PAPER_LR if self.preset == "paper" else 1e-3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(RunConfig)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown run-config field(s): {sorted(unknown)}")
        return RunConfig(**d)

    @staticmethod
    def from_toml(path: str | Path) -> "RunConfig":
        try:
            return RunConfig.from_dict(tomllib.loads(Path(path).read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
