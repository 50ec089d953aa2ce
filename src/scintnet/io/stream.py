"""The stream file format: the one place that reads and writes ``scintnet-stream`` files.

A stream file (written by :func:`scintnet.sim.stream.run_stream`) holds a time-sorted event stream::

    /events   t_s f8, type i1, nuclide i2, region i1, detected i1, E_MeV f4, pos_mm f4[3],
              true_E_MeV f4, true_pos_mm f4[3], muon i8 (row in /muons), parent i8 (row in /events)
    /muons    t_s f8, entry_mm f4[3], dir f4[3], length_mm f4, impact_mm f4, showering i1,
              edep_MeV f4, n_neutrons i4, reco_entry_mm f4[3], reco_dir f4[3],
              shower_offsets i8[n+1], shower_s_mm f4, shower_E_MeV f4
              (muon model v2 adds) energy_GeV f4, dq_MeV f4 (light beyond minimum ionisation),
              shower_hadronic i1, profile_offsets i8[n+1], profile_MeV f4 (reconstructed light in
              bins of response.muon_profile_bin_mm along the reconstructed track from its entry)
    attrs     format="scintnet-stream", scintnet_version, config (JSON), days, seed, event_types (JSON),
              nuclides (JSON), regions (JSON), complete
    /convection  (only when the config's ``[convection]`` is enabled) periods_s f8[n, 2]: the injected
              convection periods (start, stop in s, disjoint, time-ordered, clipped to the stream); then
              /events also has ``convection i1`` (1: an extra 214Bi/214Po decay injected by a period)

``type`` codes are :data:`EVENT_TYPES`, ``region`` codes :data:`REGIONS`, ``nuclide`` an index into
:data:`NUCLIDES` (-1: none).  The ``config`` attribute is a :class:`StreamConfig` (its schema lives here
with the format so that a reader needs nothing above ``io``; presets and loading are in
``scintnet.sim.stream.config``).  Chunk files (``chunk_NNNNNN.h5``, the resumable pieces of a run) hold the
same two groups with local ids and a ``meta`` attribute (JSON).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..config import ConfigError, build
from .store import EventFileError, atomic_path, create_h5, probe_hdf5

FORMAT = "scintnet-stream"

# event type codes (int8, events/type)
EVENT_TYPES: dict[str, int] = {
    "neutron": 1, "ncap_xe136": 2, "xe137": 3, "spall_xe": 4, "spall_c10": 5, "xe136_2vbb": 6,
    "xe136_0vbb": 7, "bi214": 8, "po214": 9, "bi212": 10, "po212": 11, "ibd_prompt": 12,
    "ibd_delayed": 13, "single": 14,
}
REGIONS = {"xels": 0, "film": 1, "ls": 2}  # events/region codes (int8)
# ragged per-muon lists: <group>_offsets i8[n + 1] and <group>_* columns of length offsets[-1]
MUON_RAGGED = ("shower", "profile")
SPALLATION_TYPES = (EVENT_TYPES["spall_xe"], EVENT_TYPES["xe137"])  # Xe spallation for the tag
# events/nuclide is an index into this tuple (int16, -1: none)
NUCLIDES = ("C10", "Xe137", "I130", "I132", "I124", "I122", "Sb118", "Nb90", "Bi214", "Po214", "Bi212", "Po212")


class StreamConfigError(ConfigError):
    """An invalid or unknown stream configuration (or a file that is not a readable stream)."""


# --------------------------------------------------------------------------- the stored configuration


@dataclass(frozen=True)
class StreamGeometry:
    xels_radius_mm: float
    ls_radius_mm: float
    film_um: float
    xels_mass_kg: float
    spallation_radius_mm: float


@dataclass(frozen=True)
class Response:
    energy_resolution: float
    vertex_resolution_mm: float
    energy_threshold_MeV: float
    muon_entry_resolution_mm: float
    muon_angle_resolution_deg: float
    # reconstructed light profile along the muon track (muon model v2; defaults = the klz800 preset)
    muon_profile_bin_mm: float = 100.0
    muon_profile_resolution_mm: float = 300.0


@dataclass(frozen=True)
class Muons:
    """Cosmic muons.  Muon model v2: energy from the underground spectrum, stochastic radiative losses
    (showers), showering class from the residual light, neutrons per shower.  The v2 fields have defaults
    equal to the klz800 preset so that stream files written with the v1 model (whose fields are the
    ``None`` ones at the end) still load; the generator refuses v1 fields."""

    rate_hz: float
    zenith_cos_power: float
    dedx_MeV_per_mm: float
    neutron_yield_per_g_cm2: float
    depth_kmwe: float = 2.7
    spectrum_index: float = 3.77
    spectrum_epsilon_GeV: float = 693.0
    spectrum_b_per_kmwe: float = 0.4
    b_em_per_g_cm2: float = 2.4e-6
    b_nucl_per_g_cm2: float = 0.4e-6
    transfer_min_MeV: float = 100.0
    showering_dq_MeV: float = 3000.0
    neutron_energy_power: float = 0.75
    em_neutron_ratio: float = 0.1
    showering_fraction: float | None = None
    showers_mean: float | None = None
    shower_energy_mean_MeV: float | None = None
    neutron_fraction_from_showers: float | None = None


@dataclass(frozen=True)
class Neutrons:
    """Neutron transport, capture and detection (v2 fields with klz800 defaults, v1 fields ``None``)."""

    capture_time_us: float
    capture_gamma_MeV: float
    dead_time_us: float
    xe136_capture_fraction: float
    xe136_capture_gamma_MeV: float
    fermi_age_cm2: float = 27.0
    diffusion_length_mm: float = 28.5
    fast_fraction: float = 0.15
    fast_length_mm: float = 1000.0
    efficiency: float = 0.95
    dead_time_showering_us: float = 100.0
    deadtime_free: bool = False
    lateral_scale_mm: float | None = None
    diffusion_sigma_mm: float | None = None
    efficiency_nonshowering: float | None = None
    efficiency_showering: float | None = None


@dataclass(frozen=True)
class XeIsotope:
    name: str
    relative_yield: float


@dataclass(frozen=True)
class Spallation:
    xe_roi_per_year: float
    roi_MeV: tuple[float, float]
    c10_yield_per_mu_g_cm2: float
    c10_neutron_probability: float
    xe_parent_showering: float
    xe_neutrons_per_lost_nucleon: float
    xe_isotopes: tuple[XeIsotope, ...]
    c10_parent_showering: float = 0.5


@dataclass(frozen=True)
class Radioactivity:
    xe136_mass_kg: float
    xe136_2vbb_half_life_yr: float
    xe136_0vbb_half_life_yr: float
    u238_xels_g_per_g: float
    th232_xels_g_per_g: float
    film_mass_g: float
    u238_film_g_per_g: float
    th232_film_g_per_g: float
    alpha_range_film_um: float


@dataclass(frozen=True)
class IBD:
    rate_per_day: float
    prompt_mean_MeV: float
    prompt_shape: float
    neutron_sigma_mm: float


@dataclass(frozen=True)
class Singles:
    rate_hz: float
    slope_MeV: float
    external_fraction: float
    external_depth_mm: float


@dataclass(frozen=True)
class Convection:
    """Periods of convection in the mini-balloon (KamNet paper sec. V.B) that pull 214Bi off the film.

    Period starts are a Poisson process (``rate_per_day``) with exponential durations
    (``mean_duration_days``); overlapping periods merge.  During a period extra 214Bi decays (each with its
    214Po follow-up) occur inside the XeLS at ``bi214_factor`` x the film's 214Bi decay rate, at an
    exponential depth ``depth_mm`` inward from the balloon.  Off by default: a disabled section changes
    nothing (the stream, its stored config and its file are those of a stream without it).
    """

    enabled: bool = False
    rate_per_day: float = 0.03
    mean_duration_days: float = 2.0
    bi214_factor: float = 3.0
    depth_mm: float = 400.0


@dataclass(frozen=True)
class StreamConfig:
    """Everything that fixes a stream's physics (with ``days`` and ``seed``, its content)."""

    name: str
    description: str
    chunk_days: float
    geometry: StreamGeometry
    response: Response
    muons: Muons
    neutrons: Neutrons
    spallation: Spallation
    radioactivity: Radioactivity
    ibd: IBD
    singles: Singles
    convection: Convection = field(default_factory=Convection)

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        if not self.convection.enabled:
            del d["convection"]  # a disabled section leaves the stored config (and chunk stamps) as before
        for sec in ("muons", "neutrons"):  # unset v1-model fields are not stored
            d[sec] = {k: v for k, v in d[sec].items() if not (k in V1_FIELDS[sec] and v is None)}
        return json.dumps(d, sort_keys=True)

    @property
    def v1_muon_model(self) -> bool:
        """True for a config of the v1 muon model (read from an old file; it cannot be generated again)."""
        return any(getattr(getattr(self, sec), k) is not None for sec, ks in V1_FIELDS.items() for k in ks)


# fields of the v1 muon/neutron model (fixed showering fraction, exponential shower energies, exponential
# lateral neutron distance): kept only so that old stream files load
V1_FIELDS = {"muons": ("showering_fraction", "showers_mean", "shower_energy_mean_MeV", "neutron_fraction_from_showers"),
             "neutrons": ("lateral_scale_mm", "diffusion_sigma_mm", "efficiency_nonshowering", "efficiency_showering")}


_SECTIONS = {"geometry": StreamGeometry, "response": Response, "muons": Muons, "neutrons": Neutrons,
             "spallation": Spallation, "radioactivity": Radioactivity, "ibd": IBD, "singles": Singles,
             "convection": Convection}


def _stream_error(exc: ConfigError) -> StreamConfigError:
    return StreamConfigError(str(exc))


def stream_config_from_dict(d: dict[str, Any]) -> StreamConfig:
    """Build a :class:`StreamConfig` from parsed TOML/JSON (clear one-line errors)."""
    try:
        cfg = build(StreamConfig, d, "stream")
    except StreamConfigError:
        raise
    except ConfigError as exc:
        raise _stream_error(exc) from None
    g, m, n = cfg.geometry, cfg.muons, cfg.neutrons
    checks = [
        (cfg.chunk_days > 0, "chunk_days must be > 0"),
        (0 < g.xels_radius_mm < g.ls_radius_mm <= 1e5, "geometry: need 0 < xels_radius_mm < ls_radius_mm"),
        (g.film_um > 0 and g.xels_mass_kg > 0 and g.spallation_radius_mm > 0,
         "geometry: film_um, xels_mass_kg and spallation_radius_mm must be > 0"),
        (0 <= cfg.response.energy_resolution < 1 and cfg.response.vertex_resolution_mm >= 0,
         "response: need 0 <= energy_resolution < 1 and vertex_resolution_mm >= 0"),
        (0 <= m.rate_hz <= 1e4, "muons: need 0 <= rate_hz <= 1e4"),
        (0 < m.depth_kmwe <= 20 and m.spectrum_index > 2 and m.spectrum_epsilon_GeV > 0 and m.spectrum_b_per_kmwe > 0,
         "muons: need 0 < depth_kmwe <= 20, spectrum_index > 2 (finite mean energy), spectrum_epsilon_GeV > 0, "
         "spectrum_b_per_kmwe > 0"),
        (m.b_em_per_g_cm2 >= 0 and m.b_nucl_per_g_cm2 >= 0 and m.transfer_min_MeV > 0 and m.showering_dq_MeV > 0
         and 0 <= m.neutron_energy_power <= 2 and m.em_neutron_ratio >= 0 and m.neutron_yield_per_g_cm2 >= 0,
         "muons: need b_em/b_nucl >= 0, transfer_min_MeV > 0, showering_dq_MeV > 0, 0 <= neutron_energy_power <= 2, "
         "em_neutron_ratio >= 0, neutron_yield_per_g_cm2 >= 0"),
        (n.capture_time_us > 0 and 0 <= n.efficiency <= 1 and n.dead_time_us >= 0 and n.dead_time_showering_us >= 0
         and n.fermi_age_cm2 >= 0 and n.diffusion_length_mm >= 0 and 0 <= n.fast_fraction <= 1 and n.fast_length_mm > 0,
         "neutrons: need capture_time_us > 0, efficiency in [0, 1], dead times >= 0, fermi_age_cm2 >= 0, "
         "diffusion_length_mm >= 0, fast_fraction in [0, 1], fast_length_mm > 0"),
        (cfg.response.muon_profile_bin_mm > 0 and cfg.response.muon_profile_resolution_mm >= 0,
         "response: need muon_profile_bin_mm > 0 and muon_profile_resolution_mm >= 0"),
        (0 <= cfg.spallation.xe_parent_showering <= 1 and 0 <= cfg.spallation.c10_parent_showering <= 1,
         "spallation: xe_parent_showering and c10_parent_showering must be in [0, 1]"),
        (cfg.spallation.roi_MeV[0] < cfg.spallation.roi_MeV[1], "spallation.roi_MeV must be (low, high)"),
        (all(x.relative_yield >= 0 for x in cfg.spallation.xe_isotopes), "spallation.xe_isotopes: yields >= 0"),
        (cfg.ibd.rate_per_day >= 0 and cfg.singles.rate_hz >= 0, "ibd / singles rates must be >= 0"),
        (0 <= cfg.singles.external_fraction <= 1, "singles.external_fraction must be in [0, 1]"),
        (0 <= cfg.convection.rate_per_day <= 100 and cfg.convection.mean_duration_days > 0
         and cfg.convection.bi214_factor >= 0 and cfg.convection.depth_mm > 0,
         "convection: need 0 <= rate_per_day <= 100, mean_duration_days > 0, bi214_factor >= 0, depth_mm > 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise StreamConfigError(f"stream config: {msg}")
    return cfg


# --------------------------------------------------------------------------- writing


def _write_group(h5: h5py.Group, d: dict[str, np.ndarray]) -> None:
    for k, v in d.items():
        # chunked with a Fletcher-32 checksum (a damaged file is an error, see io.store), compressed when large
        kw = {"compression": "gzip", "compression_opts": 1, "shuffle": True} if v.size > 1000 else {}
        h5.create_dataset(k, data=v, chunks=True if v.size else None, fletcher32=bool(v.size), **kw)


def write_chunk(path: str | Path, events: dict[str, np.ndarray], muons: dict[str, np.ndarray],
                meta: dict[str, Any]) -> None:
    """Write one chunk file atomically (its tables with chunk-local ids, ``meta`` as a JSON attribute)."""
    with atomic_path(path) as tmp, create_h5(tmp) as h5:
        _write_group(h5.create_group("events"), events)
        _write_group(h5.create_group("muons"), muons)
        h5.attrs["meta"] = json.dumps(meta, sort_keys=True)


def read_chunk_meta(path: str | Path) -> dict[str, Any] | None:
    """The ``meta`` attribute of a chunk file, or None when it is missing or unreadable."""
    try:
        with h5py.File(path, "r") as h5:
            return json.loads(h5.attrs["meta"])
    except (OSError, KeyError, ValueError):
        return None


def read_chunk(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(events, muons) of one chunk file, as written by :func:`write_chunk`."""
    with h5py.File(path, "r") as h5:
        return {k: h5["events"][k][()] for k in h5["events"]}, {k: h5["muons"][k][()] for k in h5["muons"]}


def write_stream(out: str | Path, events: dict[str, np.ndarray], muons: dict[str, np.ndarray], *, days: float,
                 seed: int, config_json: str, convection_s: np.ndarray | None = None) -> None:
    """Write a complete stream file atomically (tables time-sorted with global ids, dtypes as in the layout).

    ``convection_s``: the injected convection periods (n, 2) in s, written as ``/convection/periods_s``
    (None: no group, the stream has no convection truth)."""
    with atomic_path(out) as tmp, create_h5(tmp) as h5:
        _write_group(h5.create_group("events"), events)
        _write_group(h5.create_group("muons"), muons)
        if convection_s is not None:
            per = np.asarray(convection_s, np.float64).reshape(-1, 2)
            h5.create_group("convection").create_dataset("periods_s", data=per, chunks=True if per.size else None,
                                                         fletcher32=bool(per.size))
        h5.attrs.update(format=FORMAT, scintnet_version=__version__, days=days, seed=seed, config=config_json,
                        event_types=json.dumps(EVENT_TYPES), nuclides=json.dumps(list(NUCLIDES)),
                        regions=json.dumps(REGIONS), complete=True)


# --------------------------------------------------------------------------- reading


@dataclass
class Stream:
    """A stream file in memory (events and muons as dicts of arrays)."""

    events: dict[str, np.ndarray]
    muons: dict[str, np.ndarray]
    days: float
    config: StreamConfig
    attrs: dict[str, Any] = field(default_factory=dict)
    convection_s: np.ndarray | None = None  # injected convection periods (n, 2) in s; None: no such truth

    def of_type(self, *names: str) -> np.ndarray:
        return np.isin(self.events["type"], [EVENT_TYPES[n] for n in names])


def ragged_group(key: str) -> str | None:
    """The ragged list (``shower`` or ``profile``) a muon column belongs to, or None for a per-muon column."""
    for g in MUON_RAGGED:
        if key.startswith(g + "_"):
            return g
    return None


def _check_table(tab: dict[str, np.ndarray], name: str, path: str | Path) -> None:
    # one row per entry, except the ragged lists of the muons (<group>_offsets[n + 1], <group>_*[m])
    lengths = {k: len(v) for k, v in tab.items() if ragged_group(k) is None}
    if len(set(lengths.values())) > 1:
        raise StreamConfigError(f"{path}: the {name} columns have different lengths {lengths} (corrupt file)")
    for g in MUON_RAGGED:
        if f"{g}_offsets" not in tab:
            continue
        o = tab[f"{g}_offsets"]
        n = next(iter(lengths.values()), 0)
        ragged = {k: len(v) for k, v in tab.items() if ragged_group(k) == g and k != f"{g}_offsets"}
        if (len(o) != n + 1 or o[0] != 0 or np.any(np.diff(o) < 0)
                or any(m != int(o[-1]) for m in ragged.values())):
            raise StreamConfigError(f"{path}: {name}/{g}_offsets do not match the {g} lists (corrupt file)")
    for k, v in tab.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise StreamConfigError(f"{path}: non-finite values in {name}/{k} (corrupt file)")
    t = tab.get("t_s")
    if t is not None and t.size > 1 and np.any(np.diff(t) < 0):
        raise StreamConfigError(f"{path}: {name}/t_s is not time-ordered (corrupt file)")


def read_stream(path: str | Path) -> Stream:
    """Read a stream file (one-line error for anything that is not one).

    Checked: the HDF5 structure (a time-limited probe), the format attribute, both tables with equal column
    lengths, finite values and time order, the stored config and the stream length."""
    p = Path(path)
    if not p.is_file():
        raise StreamConfigError(f"{path}: no such stream file" if not p.exists() else f"{path} is not a file")
    try:
        if not h5py.is_hdf5(p):
            raise StreamConfigError(f"{path} is not an HDF5 file (stream files are HDF5)")
        probe_hdf5(p)
        with h5py.File(p, "r") as h5:
            if h5.attrs.get("format") != FORMAT:
                raise StreamConfigError(f"{path} is not a scintnet stream file (format attribute missing)")
            for g in ("events", "muons"):
                if not isinstance(h5.get(g), h5py.Group):
                    raise StreamConfigError(f"{path}: missing group {g!r} (not a complete stream file)")
            ev = {k: np.asarray(h5["events"][k][()]) for k in h5["events"]}
            mu = {k: np.asarray(h5["muons"][k][()]) for k in h5["muons"]}
            for need in ("t_s", "E_MeV", "type"):
                if need not in ev:
                    raise StreamConfigError(f"{path}: events/{need} missing")
            _check_table(ev, "events", path)
            _check_table(mu, "muons", path)
            conv = None
            if isinstance(h5.get("convection"), h5py.Group):
                conv = np.asarray(h5["convection"]["periods_s"][()], np.float64).reshape(-1, 2)
                if conv.size and (not np.isfinite(conv).all() or np.any(conv[:, 1] < conv[:, 0])
                                  or np.any(conv[1:, 0] < conv[:-1, 1])):
                    raise StreamConfigError(f"{path}: convection/periods_s are not disjoint ordered (start, stop) "
                                            "pairs (corrupt file)")
            raw = h5.attrs["config"]
            cfg = stream_config_from_dict(json.loads(raw if isinstance(raw, str) else raw.decode()))
            days = float(h5.attrs["days"])
            if not 0 < days < 1e7:
                raise StreamConfigError(f"{path}: bad stream length {days} days")
            return Stream(ev, mu, days, cfg, {k: h5.attrs[k] for k in h5.attrs}, conv)
    except EventFileError as exc:
        raise StreamConfigError(str(exc)) from None
    except (OSError, KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        if isinstance(exc, StreamConfigError):
            raise
        raise StreamConfigError(f"cannot read stream file {path}: {' '.join(str(exc).split())[:200]}") from None
