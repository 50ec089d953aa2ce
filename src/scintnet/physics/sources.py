"""Event sources selectable by name.

``get_source(name, energy_MeV=None)`` returns a :class:`Source` whose ``sample(n, rng)``
gives the :class:`~scintnet.physics.particles.Primaries` of ``n`` decays.  Radioactive
decays come from the ENSDF-derived table (``nucdata``); double beta, solar ν and guns
from their own generators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..config import ConfigError
from . import double_beta, solar
from .particles import ALPHA, ELECTRON, GAMMA, POSITRON, Primaries

SIGNAL_SOURCES = {"Xe136_0vbb"}

# Decays from the ENSDF table that scintnet names explicitly (others in the table also work).
DECAY_SOURCES = ("Bi214", "Tl208", "C10", "Xe137", "I130", "I132", "I124", "I122", "Sb118", "Nb90",
                 "K40", "Co60", "Ag110m", "Bi212", "Bi210", "Kr85", "C11", "He6")
GUNS = {"electron": ELECTRON, "gamma": GAMMA, "positron": POSITRON, "alpha": ALPHA}

DESCRIPTIONS = {
    "Xe136_0vbb": "136Xe 0nbb: two electrons sharing Q = 2457.8 keV (signal)",
    "Xe136_2vbb": "136Xe 2nbb to the ground state (closure-approximation two-electron spectrum)",
    "Xe136_2vbb_excited": "136Xe 2nbb to the 0+1 (1579 keV) state of 136Ba with its gammas",
    "Xe136_2vbb_0p1": "136Xe 2nbb to 136Ba 0+1 (1579 keV)",
    "Xe136_2vbb_2p1": "136Xe 2nbb to 136Ba 2+1 (818.5 keV)",
    "Xe136_2vbb_2p2": "136Xe 2nbb to 136Ba 2+2 (1551 keV)",
    "B8_solar": "8B solar-neutrino elastic-scattering recoil electrons",
    "Bi214": "214Bi beta-gamma (238U chain; XeLS or balloon film)",
    "Tl208": "208Tl beta-gamma (232Th chain), 2614 keV gamma",
    "C10": "10C beta+ with 718 keV gamma and ortho-positronium (muon spallation)",
    "Xe137": "137Xe beta- (neutron capture on 136Xe)",
    "I130": "130I long-lived Xe spallation product",
    "I132": "132I long-lived Xe spallation product",
    "I124": "124I long-lived Xe spallation product",
    "I122": "122I long-lived Xe spallation product",
    "Sb118": "118Sb long-lived Xe spallation product",
    "Nb90": "90Nb long-lived Xe spallation product",
    "K40": "40K beta- (89 %) / EC with the 1461 keV gamma (11 %)",
    "Co60": "60Co beta- with the 1173 + 1332 keV gamma cascade",
    "Ag110m": "110mAg beta- with its gamma cascade (Fukushima fallout in KamLAND-Zen 400)",
    "Bi212": "212Bi beta- (64 %) / alpha (36 %) (232Th chain)",
    "Bi210": "210Bi beta- (Q = 1162 keV, 222Rn daughter)",
    "Kr85": "85Kr beta- (Q = 687 keV)",
    "C11": "11C beta+ (Q_EC = 1982 keV; carbon spallation)",
    "He6": "6He beta- (Q = 3505 keV; carbon spallation)",
    "electron": "electron gun (needs --energy)",
    "gamma": "gamma gun (needs --energy)",
    "positron": "positron gun (kinetic energy --energy; annihilation gammas added by transport)",
    "alpha": "alpha gun (needs --energy)",
}


@dataclass(frozen=True)
class Source:
    name: str
    label: int  # 1 signal (0nbb), 0 background
    description: str
    _sampler: Callable[[int, np.random.Generator], Primaries]
    energy_MeV: float | None = None

    def sample(self, n: int, rng: np.random.Generator) -> Primaries:
        return self._sampler(n, rng)


# names for plots and reports (¹⁰C, not C10); a key without one is shown as it is
DISPLAY_NAMES = {"Xe136_0vbb": "¹³⁶Xe 0νββ", "Xe136_2vbb": "¹³⁶Xe 2νββ", "C10": "¹⁰C", "Bi214": "²¹⁴Bi",
                 "Bi214_film": "²¹⁴Bi (balloon film)", "Tl208": "²⁰⁸Tl", "Xe137": "¹³⁷Xe", "I130": "¹³⁰I",
                 "I132": "¹³²I", "I124": "¹²⁴I", "I122": "¹²²I", "Sb118": "¹¹⁸Sb", "Nb90": "⁹⁰Nb", "C11": "¹¹C",
                 "Be10": "¹⁰Be", "K40": "⁴⁰K", "Po210": "²¹⁰Po (α)", "B8_solar": "⁸B solar ν", "alpha": "α"}


def display_name(key: str) -> str:
    """Human name of a source key for plots and reports (``display_name("C10") == "¹⁰C"``)."""
    if key in DISPLAY_NAMES:
        return DISPLAY_NAMES[key]
    base, _, where = key.partition("@")  # e.g. "Bi214@film"
    return f"{DISPLAY_NAMES.get(base, base)} ({where})" if where else key


def list_sources() -> list[str]:
    return list(DESCRIPTIONS)


def _gun(ptype: int, energy: float) -> Callable[[int, np.random.Generator], Primaries]:
    def sample(n: int, rng: np.random.Generator) -> Primaries:
        return Primaries(np.arange(n, dtype=np.int64), np.full(n, ptype, np.int8), np.full(n, energy), np.zeros(n))

    return sample


MAX_GUN_ENERGY_MeV = 1000.0


def get_source(name: str, energy_MeV: float | None = None) -> Source:
    """Look up a source by name; guns need ``energy_MeV`` (kinetic energy)."""
    desc = DESCRIPTIONS.get(name, "")
    label = int(name in SIGNAL_SOURCES)
    if name in GUNS:
        # up to 1 GeV: the electromagnetic transport and light tables are meant for MeV-scale deposits
        if energy_MeV is None or not 0 < energy_MeV <= MAX_GUN_ENERGY_MeV:
            raise ConfigError(f"source {name!r} is a particle gun: give an energy 0 < E <= "
                              f"{MAX_GUN_ENERGY_MeV:g} MeV (--energy MeV), got {energy_MeV}")
        return Source(name, 0, desc, _gun(GUNS[name], float(energy_MeV)), float(energy_MeV))
    if energy_MeV is not None:
        raise ConfigError(f"source {name!r} has its own spectrum; --energy is only for guns")
    if name == "Xe136_0vbb":
        return Source(name, label, desc, double_beta.primaries_0nbb)
    if name == "Xe136_2vbb":
        return Source(name, label, desc, double_beta.primaries_2nbb)
    if name.startswith("Xe136_2vbb_"):
        state = {"excited": "0p1"}.get(name[len("Xe136_2vbb_"):], name[len("Xe136_2vbb_"):])
        if state not in double_beta.BA136_LEVELS_KEV:
            raise ConfigError(f"unknown source {name!r}")
        return Source(name, label, desc, lambda n, rng: double_beta.primaries_2nbb_excited(n, rng, state))
    if name == "B8_solar":
        return Source(name, label, desc, solar.primaries_b8)
    from . import nucdata

    if name in nucdata.available_nuclides():
        return Source(name, label, desc or f"{name} decay (ENSDF)", lambda n, rng: nucdata.sample_decays(name, n, rng))
    raise ConfigError(f"unknown source {name!r}; available: {', '.join(list_sources())}")
