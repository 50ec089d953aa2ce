"""Flat, vectorised containers passed between generation, transport and optics.

Everything is a struct-of-arrays over *many events at once* so the hot loops never
iterate over Python objects.  ``event`` is the index of the event inside the current
chunk (0 .. n_events-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Particle type codes (int8) shared by all modules.
ELECTRON = 0
GAMMA = 1
POSITRON = 2
ALPHA = 3
PARTICLE_NAMES = {ELECTRON: "e-", GAMMA: "gamma", POSITRON: "e+", ALPHA: "alpha"}


@dataclass
class Primaries:
    """Particles emitted by the source, before transport.

    Attributes
    ----------
    event : int64[n]      index of the event in the chunk
    ptype : int8[n]       ELECTRON / GAMMA / POSITRON / ALPHA
    energy_MeV : float64[n]  kinetic energy
    t_ns : float64[n]     emission time relative to the decay (e.g. cascade delays)
    direction : float64[n, 3] or None  unit vectors; None means isotropic (drawn by transport)
    """

    event: np.ndarray
    ptype: np.ndarray
    energy_MeV: np.ndarray
    t_ns: np.ndarray
    direction: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.event.size)

    @staticmethod
    def empty() -> "Primaries":
        return Primaries(
            np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0), np.zeros(0)
        )

    @staticmethod
    def concat(parts: list["Primaries"]) -> "Primaries":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Primaries.empty()
        has_dir = any(p.direction is not None for p in parts)
        direction = None
        if has_dir:
            dirs = []
            for p in parts:
                if p.direction is None:
                    d = np.full((len(p), 3), np.nan)
                else:
                    d = p.direction
                dirs.append(d)
            direction = np.concatenate(dirs)
        out = Primaries(
            np.concatenate([p.event for p in parts]).astype(np.int64),
            np.concatenate([p.ptype for p in parts]).astype(np.int8),
            np.concatenate([p.energy_MeV for p in parts]).astype(np.float64),
            np.concatenate([p.t_ns for p in parts]).astype(np.float64),
            direction,
        )
        order = np.argsort(out.event, kind="stable")
        return out.select(order)

    def select(self, idx: np.ndarray) -> "Primaries":
        return Primaries(
            self.event[idx],
            self.ptype[idx],
            self.energy_MeV[idx],
            self.t_ns[idx],
            None if self.direction is None else self.direction[idx],
        )


@dataclass
class Deposits:
    """Energy deposits after transport: the input of the optical simulation.

    Attributes
    ----------
    event : int64[m]        event index in the chunk (sorted ascending)
    pos_mm : float64[m, 3]  deposit position in detector coordinates
    t_ns : float64[m]       deposit time relative to the decay
    edep_MeV : float64[m]   deposited energy
    evis_MeV : float64[m]   visible (Birks-quenched) energy; 0 outside scintillator
    ptype : int8[m]         type of the particle that made the deposit
    dir : float64[m, 3] | None   direction of the e-/e+ track segment (zeros for alphas), for Cherenkov light
    tkin_MeV : float64[m] | None kinetic energy of the e-/e+ at the start of the segment (0 for alphas)
    """

    event: np.ndarray
    pos_mm: np.ndarray
    t_ns: np.ndarray
    edep_MeV: np.ndarray
    evis_MeV: np.ndarray
    ptype: np.ndarray
    dir: np.ndarray | None = None
    tkin_MeV: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.event.size)

    @staticmethod
    def empty() -> "Deposits":
        return Deposits(
            np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0),
            np.zeros(0, np.int8),
        )

    @staticmethod
    def concat(parts: list["Deposits"]) -> "Deposits":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Deposits.empty()
        track = all(p.dir is not None and p.tkin_MeV is not None for p in parts)
        out = Deposits(
            np.concatenate([p.event for p in parts]).astype(np.int64),
            np.concatenate([p.pos_mm for p in parts]).astype(np.float64),
            np.concatenate([p.t_ns for p in parts]).astype(np.float64),
            np.concatenate([p.edep_MeV for p in parts]).astype(np.float64),
            np.concatenate([p.evis_MeV for p in parts]).astype(np.float64),
            np.concatenate([p.ptype for p in parts]).astype(np.int8),
            np.concatenate([p.dir for p in parts]).astype(np.float64) if track else None,
            np.concatenate([p.tkin_MeV for p in parts]).astype(np.float64) if track else None,
        )
        order = np.argsort(out.event, kind="stable")
        return out.select(order)

    def select(self, idx: np.ndarray) -> "Deposits":
        return Deposits(
            self.event[idx], self.pos_mm[idx], self.t_ns[idx], self.edep_MeV[idx],
            self.evis_MeV[idx], self.ptype[idx],
            None if self.dir is None else self.dir[idx],
            None if self.tkin_MeV is None else self.tkin_MeV[idx],
        )
