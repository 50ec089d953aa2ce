"""Training-run configuration (explicit dataclass; TOML-loadable; stored with every run)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, build, read_toml
from ..features.dataset import MATCH_ON
from ..features.representation import InputSettings

# Paper / original-code optimiser settings (public KamNet settings, numbers.md):
# RMSprop, lr 7.73e-5, momentum 0.78, batch 32, 30 epochs, 20,000 events per class.
PAPER_LR = 7.729560386535045e-05
PAPER_MOMENTUM = 0.7806697572271865


# Optimiser and learning rate when the run config gives none, per model preset (a table, not a branch).
# "paper": the published KamNet settings (RMSprop with momentum at 7.73e-5, numbers.md).  Every other
# preset trains for minutes, not 30 epochs of 40k events: with RMSprop + momentum at lr 1e-3 the LSTM
# baseline collapsed to a constant output in our runs (AUC 0.50 after 5 epochs), Adam at 1e-3 did not.
TRAINING_DEFAULTS: dict[str, tuple[str, float]] = {"paper": ("rmsprop", PAPER_LR)}
DEFAULT_TRAINING = ("adam", 1e-3)


def _training_defaults(preset: str) -> tuple[str, float]:
    return TRAINING_DEFAULTS.get(preset, DEFAULT_TRAINING)


# Model presets that carried an input setting before the representation moved to the run config
# (features.representation): they now name the model preset and the [representation] they stood for.
LEGACY_PRESETS: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("deepsphere", "cpu_flash"): ("cpu", {"t0_gate_ns": [-20.0, 30.0]}),
}


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
    # with nhit_matching: train on every event, weighted so the Nhit histograms agree (features.dataset.
    # nhit_weights), instead of discarding events down to the smaller class per Nhit bin; val/test stay matched
    nhit_weighting: bool = False
    # what the matching (or weighting) equalises: "nhit" (occupied cells, the paper) or "energy" (the
    # reconstructed energy, the variable of the fixed-energy figures)
    match_on: str = "nhit"
    num_workers: int = 0
    threads: int | None = None  # compute threads (torch, Numba, BLAS); None = the CPU affinity's cores
    bootstrap: int = 0  # >0: index of the bootstrap resample this run trains on
    max_train_seconds: float | None = None  # stop after this wall time (checked per epoch)
    # clip the gradients' global L2 norm to this before each step (None: off).  Recurrent nets
    # (the ConvLSTM, the LSTM) can take rare huge steps that throw a training off its path.
    grad_clip_norm: float | None = None
    # validate, select and save an exponential moving average of the weights and batch-norm
    # buffers, updated every step with this decay (None: off; torch.optim.swa_utils).  The
    # average is a cheap ensemble over the last ~1/(1-decay) steps: less training-to-training spread.
    ema_decay: float | None = None
    # training batches seen in random rotations of the detector (features.dataset.RandomRotation)
    augment_rotations: bool = False
    # the input, where it differs from the model preset's (features.representation); the model is sized from it
    representation: InputSettings = field(default_factory=InputSettings)

    def effective_optimizer(self) -> str:
        return self.optimizer if self.optimizer is not None else _training_defaults(self.preset)[0]

    def effective_lr(self) -> float:
        return self.lr if self.lr is not None else _training_defaults(self.preset)[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "RunConfig":
        """Build and check a run config (types by ``config.build``; ranges here). Errors: ConfigError."""
        cfg = build(RunConfig, d, "run")
        cfg.validate()
        return cfg.resolved()

    def resolved(self) -> "RunConfig":
        """The config with a legacy preset (:data:`LEGACY_PRESETS`) replaced by what it stood for."""
        legacy = LEGACY_PRESETS.get((self.model, self.preset))
        if legacy is None:
            return self
        preset, extra = legacy
        given = {**extra, **self.representation.given()}
        return dataclasses.replace(self, preset=preset,
                                   representation=build(InputSettings, given, "run.representation"))

    def validate(self) -> None:
        """Ranges of the training settings; raises :class:`ConfigError` naming the field."""
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.optimizer in (None, "adam", "adamw", "rmsprop", "sgd"),
             "optimizer must be adam, adamw, rmsprop or sgd"),
            (self.lr is None or self.lr > 0, "lr must be > 0"),
            (0 <= self.momentum < 1 and self.weight_decay >= 0, "need 0 <= momentum < 1, weight_decay >= 0"),
            (self.warmup_epochs >= 0, "warmup_epochs must be >= 0"),
            (self.schedule in ("cosine", "exponential"), "schedule must be cosine or exponential"),
            (0 < self.lr_decay <= 1, "lr_decay must be in (0, 1]"),
            (self.patience is None or self.patience >= 1, "patience must be >= 1"),
            (self.select_on in ("val_auc", "val_loss"), "select_on must be val_auc or val_loss"),
            (self.match_on in MATCH_ON, f"match_on must be one of {', '.join(MATCH_ON)}"),
            (self.max_events_per_class is None or self.max_events_per_class >= 1,
             "max_events_per_class must be >= 1"),
            (0 <= self.e_min_MeV < self.e_max_MeV, "need 0 <= e_min_MeV < e_max_MeV"),
            (self.r_max_mm > 0, "r_max_mm must be > 0"),
            (self.num_workers >= 0 and (self.threads is None or self.threads >= 1),
             "num_workers must be >= 0 and threads >= 1"),
            (self.bootstrap >= 0, "bootstrap must be >= 0"),
            (self.max_train_seconds is None or self.max_train_seconds > 0, "max_train_seconds must be > 0"),
            (self.grad_clip_norm is None or self.grad_clip_norm > 0, "grad_clip_norm must be > 0"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, "ema_decay must be in (0, 1)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"run config: {msg}")

    @staticmethod
    def from_toml(path: str | Path) -> "RunConfig":
        try:
            return RunConfig.from_dict(read_toml(path, what="run config"))
        except ConfigError as exc:
            msg = str(exc)
            raise ConfigError(msg if str(path) in msg else f"{path}: {msg}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
