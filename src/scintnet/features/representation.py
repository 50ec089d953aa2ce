"""The network input a run trains on, as data: a JSON spec recorded in run.json, and the model sized from it.

The data configuration comes first (as in weaver-core): a representation — the KamNet map
(:class:`~scintnet.features.dataset.KamNetMap`), the proper-time spectrum
(:class:`~.TimeSpectrum`) or the hit point cloud (:class:`~.PointCloud`) — is chosen by the kind of
input the model takes, filled from the model preset's input sizes, then changed by the run
config's ``[representation]`` table (:class:`InputSettings`); the model is then sized from the
representation (:func:`model_inputs`), not the other way round.  :func:`to_spec` /
:func:`from_spec` round-trip it through ``run.json`` so scoring uses exactly what training used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Union

from .dataset import KamNetMap, PointCloud, TimeSpectrum
from .maps import MapSpec

Representation = Union[KamNetMap, TimeSpectrum, PointCloud]
KINDS: dict[str, type] = {"kamnet_map": KamNetMap, "time_spectrum": TimeSpectrum, "point_cloud": PointCloud}
_KIND_OF = {v: k for k, v in KINDS.items()}


@dataclass(frozen=True)
class InputSettings:
    """The run config's ``[representation]`` table: settings of the input that differ from the
    model preset's (None: keep).  Map keys apply to ``kamnet_map`` (and ``n_t`` also to
    ``time_spectrum``), ``n_max`` to ``point_cloud``, ``frame`` (centre | vertex) to both."""

    n_t: int | None = None
    n_theta: int | None = None
    n_phi: int | None = None
    grid: str | None = None
    t_min_ns: float | None = None
    t_max_ns: float | None = None
    # T0 over the first flash only (MapSpec.t0_gate_ns): a feature setting, not a model one
    t0_gate_ns: tuple[float, float] | None = None
    log_charge: bool | None = None
    normalize: bool | None = None
    n_max: int | None = None
    frame: str | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


_APPLIES = {"kamnet_map": {"n_t", "n_theta", "n_phi", "grid", "t_min_ns", "t_max_ns", "t0_gate_ns", "log_charge",
                           "frame"},
            "time_spectrum": {"n_t", "t_min_ns", "t_max_ns", "normalize"},
            "point_cloud": {"n_max", "frame"}}


def kind_of(rep: Representation) -> str:
    try:
        return _KIND_OF[type(rep)]
    except KeyError:
        raise ValueError(f"not a representation: {type(rep).__name__}") from None


def default_representation(kind: str, model_cfg: Any) -> Representation:
    """The representation a model preset was built for, from its input-size fields.

    Maps carry log(1 + charge): ~hit occupancy for single p.e. (the original trained on maps
    "without charge"), while multi-p.e. cells still carry some weight.  ``t0_gate_ns`` is read
    from configs of old runs, where it sat in the DeepSphere model config.
    """
    c = model_cfg
    if kind == "kamnet_map":
        gate = getattr(c, "t0_gate_ns", None)
        spec = MapSpec(n_t=c.n_t, n_theta=c.n_theta, n_phi=c.n_phi, grid=getattr(c, "grid", "theta_phi"),
                       t0_gate_ns=None if gate is None else tuple(gate))
        return KamNetMap(spec=spec, log_charge=True)
    if kind == "time_spectrum":
        return TimeSpectrum(n_bins=c.n_t, normalize=True)
    if kind == "point_cloud":
        return PointCloud(n_max=c.max_hits, frame=getattr(c, "frame", "centre"))
    raise ValueError(f"unknown input kind {kind!r} (have: {', '.join(KINDS)})")


def with_settings(rep: Representation, settings: InputSettings | None) -> Representation:
    """``rep`` with the given settings applied; a setting that does not apply to its kind is an error."""
    if settings is None:
        return rep
    given = settings.given()
    kind = kind_of(rep)
    bad = sorted(set(given) - _APPLIES[kind])
    if bad:
        raise ValueError(f"representation: setting(s) {', '.join(bad)} not for a {kind} input "
                         f"(it takes {', '.join(sorted(_APPLIES[kind]))})")
    if kind == "kamnet_map":
        spec_kw = {k: given[k] for k in ("n_t", "n_theta", "n_phi", "grid", "t_min_ns", "t_max_ns", "t0_gate_ns")
                   if k in given}
        rep_kw = {k: given[k] for k in ("log_charge", "frame") if k in given}
        return dataclasses.replace(rep, spec=dataclasses.replace(rep.spec, **spec_kw), **rep_kw)
    if kind == "time_spectrum":
        kw = {"n_bins" if k == "n_t" else k: v for k, v in given.items()}
        return dataclasses.replace(rep, **kw)
    return dataclasses.replace(rep, **given)


def model_inputs(rep: Representation) -> dict[str, Any]:
    """The model-config fields the representation fixes (the model is sized from them)."""
    kind = kind_of(rep)
    if kind == "kamnet_map":
        s = rep.spec
        return {"n_t": s.n_t, "n_theta": s.n_theta, "n_phi": s.n_phi, "grid": s.grid}
    if kind == "time_spectrum":
        return {"n_t": rep.n_bins}
    return {"max_hits": rep.n_max, "frame": rep.frame}


def to_spec(rep: Representation) -> dict[str, Any]:
    """JSON-ready description: ``{"kind": ..., <fields>}`` (a map's binning under ``"map"``)."""
    d = {"kind": kind_of(rep)}
    for f in dataclasses.fields(rep):
        v = getattr(rep, f.name)
        if isinstance(v, MapSpec):
            v = {k: (list(x) if isinstance(x, tuple) else x) for k, x in dataclasses.asdict(v).items()}
            d["map"] = v
            continue
        d[f.name] = list(v) if isinstance(v, tuple) else v
    return d


def from_spec(spec: dict[str, Any]) -> Representation:
    """Inverse of :func:`to_spec`; a malformed spec is a one-line ValueError."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ValueError(f"representation spec needs a 'kind' in {sorted(KINDS)}, got {spec!r:.120}")
    cls = KINDS[spec["kind"]]
    kw = {k: v for k, v in spec.items() if k not in ("kind", "map")}
    try:
        if "pmt_types" in kw and kw["pmt_types"] is not None:
            kw["pmt_types"] = tuple(int(x) for x in kw["pmt_types"])
        if cls is KamNetMap:
            m = dict(spec.get("map") or {})
            if m.get("t0_gate_ns") is not None:
                m["t0_gate_ns"] = tuple(m["t0_gate_ns"])
            kw["spec"] = MapSpec(**m)
        return cls(**kw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"representation spec {spec['kind']}: {' '.join(str(exc).split())[:200]}") from None
