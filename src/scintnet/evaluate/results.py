"""Typed evaluation results: which rejection figure (:class:`Figure`) and one background's figures
(:class:`SourceResult`), with the evaluation.json layout spelled in this module only.

A rejection at 90 % signal acceptance is quoted plain, at the signal's energy spectrum (background
weighted to it: what the score adds beyond energy) or at the signal's energy *and* the background's
radial distribution (beyond energy and position, which the spectral fit already uses), each before
or after the double-pulse cut (:mod:`scintnet.reco.pileup`).  evaluation.json keeps the flat keys it
always had (``rejection_at_90_energy_matched_double_pulse_cut``, ...): old files read back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MATCHINGS = ("none", "energy", "vertex")


@dataclass(frozen=True)
class Figure:
    """One rejection figure: ``matching`` in :data:`MATCHINGS`, before or after the double-pulse cut."""

    matching: str = "none"
    double_pulse_cut: bool = False

    def __post_init__(self) -> None:
        if self.matching not in MATCHINGS:
            raise ValueError(f"matching must be one of {MATCHINGS}, got {self.matching!r}")

    @classmethod
    def of(cls, energy_matched: bool = False, vertex_matched: bool = False, double_pulse_cut: bool = False) -> Figure:
        """From the command-line flags (vertex matching includes the energy weights)."""
        return cls("vertex" if vertex_matched else "energy" if energy_matched else "none", double_pulse_cut)

    @property
    def key(self) -> str:
        """The evaluation.json key of the figure."""
        k = "rejection_at_90" if self.matching == "none" else f"rejection_at_90_{self.matching}_matched"
        return k + ("_double_pulse_cut" if self.double_pulse_cut else "")

    @property
    def per_model_key(self) -> str:
        """Key of the per-model values in a bootstrap (several-model) evaluation."""
        return f"{self.key}_per_model"

    @property
    def models_std_key(self) -> str:
        """Key of the model-to-model standard deviation ("bootstrap" for the plain figure, as written since v1)."""
        return "rejection_at_90_bootstrap_std" if self == PLAIN else f"{self.key}_models_std"

    @property
    def unavailable_key(self) -> str | None:
        """Key of the reason a matched figure could not be formed (None for the plain figures)."""
        return None if self.matching == "none" else f"{self.matching}_matching_unavailable"

    @property
    def label(self) -> str:
        m = {"none": "", "energy": "energy-matched ", "vertex": "energy- and vertex-matched "}[self.matching]
        return f"{m}rejection at 90 %" + (" after the double-pulse cut" if self.double_pulse_cut else "")


PLAIN, ENERGY, VERTEX = Figure(), Figure("energy"), Figure("vertex")
FIGURES: tuple[Figure, ...] = tuple(Figure(m, c) for c in (False, True) for m in MATCHINGS)


@dataclass
class SourceResult:
    """A model's figures on one background source (an entry of evaluation.json ``per_source``).

    ``rejection`` holds every :data:`FIGURES` entry that was formed (None: could not be formed, with
    the reason in ``unavailable[matching]``); ``bootstrap_*`` are the event bootstrap of the plain
    figure; ``double_pulse_cut_rejection`` the background fraction the cut alone removes.
    """

    n_events: int
    auc: float
    rejection: dict[Figure, float | None] = field(default_factory=dict)
    bootstrap_mean: float | None = None
    bootstrap_std: float | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    vertex_matched_signal_n_eff: float | None = None
    double_pulse_cut_rejection: float | None = None
    floors: dict[str, Any] | None = None

    def get(self, fig: Figure) -> float | None:
        return self.rejection.get(fig)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"n_events": self.n_events, "auc": self.auc, PLAIN.key: self.rejection.get(PLAIN)}
        if self.bootstrap_mean is not None:
            d["rejection_at_90_bootstrap_mean"] = self.bootstrap_mean
        if self.bootstrap_std is not None:
            d["rejection_at_90_bootstrap_std"] = self.bootstrap_std
        for m in ("energy", "vertex"):
            f = Figure(m)
            if f in self.rejection:
                d[f.key] = self.rejection[f]
            if m in self.unavailable:
                d[f.unavailable_key] = self.unavailable[m]
            if m == "vertex" and self.vertex_matched_signal_n_eff is not None:
                d["vertex_matched_signal_n_eff"] = self.vertex_matched_signal_n_eff
        if self.double_pulse_cut_rejection is not None or any(f.double_pulse_cut for f in self.rejection):
            d["double_pulse_cut_rejection"] = self.double_pulse_cut_rejection
            for f in FIGURES:
                if f.double_pulse_cut and f in self.rejection:
                    d[f.key] = self.rejection[f]
        if self.floors is not None:
            d["floors"] = self.floors
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceResult:
        """Read an evaluation.json ``per_source`` entry (any version: absent figures stay absent)."""
        rej = {f: d[f.key] for f in FIGURES if f.key in d}
        why = {m: d[f"{m}_matching_unavailable"] for m in ("energy", "vertex") if f"{m}_matching_unavailable" in d}
        return cls(int(d["n_events"]), d["auc"], rej, d.get("rejection_at_90_bootstrap_mean"),
                   d.get("rejection_at_90_bootstrap_std"), why, d.get("vertex_matched_signal_n_eff"),
                   d.get("double_pulse_cut_rejection"), d.get("floors"))
