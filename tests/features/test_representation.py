"""The representation spec (features.representation): recorded in run.json, the model sized from it,
old runs and the legacy ``deepsphere:cpu_flash`` preset still load."""

import json

import numpy as np
import pytest
import torch

from scintnet.config import ConfigError
from scintnet.features.dataset import KamNetMap, PointCloud, TimeSpectrum
from scintnet.features.maps import CPU_MAP, MapSpec, pixel_directions, pmt_angle_bins
from scintnet.features.representation import (InputSettings, from_spec, model_inputs, to_spec, with_settings)
from scintnet.models.registry import build_model
from scintnet.train.config import RunConfig
from scintnet.train.data import plan_inputs
from scintnet.train.harness import load_run


@pytest.mark.parametrize("rep", [KamNetMap(spec=CPU_MAP, log_charge=True),
                                 KamNetMap(spec=MapSpec(n_t=7, grid="equal_area", t0_gate_ns=(-20.0, 30.0))),
                                 KamNetMap(spec=CPU_MAP, log_charge=True, frame="vertex"),
                                 TimeSpectrum(n_bins=14, normalize=True), PointCloud(n_max=64, frame="vertex",
                                                                                     pmt_types=(0, 1))])
def test_spec_round_trips_through_json(rep):
    assert from_spec(json.loads(json.dumps(to_spec(rep)))) == rep


def test_bad_spec_is_a_one_line_error():
    with pytest.raises(ValueError, match="kind"):
        from_spec({"kind": "image"})
    with pytest.raises(ValueError, match="kamnet_map"):
        from_spec({"kind": "kamnet_map", "map": {"n_t": 0}})
    with pytest.raises(ValueError, match="not for a time_spectrum"):
        with_settings(TimeSpectrum(), InputSettings(n_theta=8))


@pytest.mark.parametrize("grid", ["theta_phi", "equal_area"])
def test_pixel_centres_fall_in_their_own_map_cells(grid):
    spec = MapSpec(n_theta=12, n_phi=10, grid=grid)
    d = pixel_directions(spec.n_theta, spec.n_phi, grid)
    it, ip = pmt_angle_bins(d * 9000.0, spec)
    np.testing.assert_array_equal(it * spec.n_phi + ip, np.arange(spec.n_angle))
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)


def test_model_is_sized_from_the_representation():
    rep, mcfg = plan_inputs(RunConfig(model="deepsphere", preset="tiny",
                                      representation=InputSettings(n_t=6, n_theta=12, n_phi=12)))
    assert rep.spec.shape == (6, 12, 12) and (mcfg.n_t, mcfg.n_theta, mcfg.n_phi) == (6, 12, 12)
    m = build_model("deepsphere", "tiny", config=mcfg).eval()  # takes the representation's tensor shape
    assert m(torch.zeros(2, *rep.spec.shape)).shape == (2,)
    rep, mcfg = plan_inputs(RunConfig(model="lstm", preset="tiny", representation=InputSettings(n_t=9)))
    assert rep.n_bins == 9 and mcfg.n_t == 9
    with pytest.raises(ValueError, match="grid"):  # KamNet has no grid field: its θ–φ grid only
        plan_inputs(RunConfig(model="kamnet", preset="tiny", representation=InputSettings(grid="equal_area")))
    assert model_inputs(PointCloud(n_max=40)) == {"max_hits": 40, "frame": "centre"}


def test_legacy_cpu_flash_preset_is_the_cpu_model_on_gated_maps():
    cfg = RunConfig.from_dict({"model": "deepsphere", "preset": "cpu_flash"})
    assert cfg.preset == "cpu" and cfg.representation.t0_gate_ns == (-20.0, 30.0)
    rep, _ = plan_inputs(cfg)
    assert rep.spec.t0_gate_ns == (-20.0, 30.0) and rep.log_charge
    with pytest.raises(ConfigError, match="representation"):
        RunConfig.from_dict({"representation": {"n_thetaa": 3}})


def test_vertex_frame_and_energy_matching_come_from_the_run_config():
    cfg = RunConfig.from_dict({"model": "kamnet", "preset": "tiny", "match_on": "energy",
                               "representation": {"frame": "vertex"}})
    rep, _ = plan_inputs(cfg)
    assert rep.frame == "vertex" and cfg.match_on == "energy"
    with pytest.raises(ConfigError, match="match_on"):
        RunConfig.from_dict({"match_on": "radius"})


def test_runs_without_a_recorded_spec_load_with_their_own_input(tmp_path):
    """A run.json of before the spec (representation = class name, the gate in the model config)."""
    m = build_model("deepsphere", "tiny")
    torch.save(m.state_dict(), tmp_path / "model.pt")
    rc = RunConfig(model="deepsphere", preset="cpu_flash").to_dict()
    rc.pop("representation")
    mc = {**m.cfg.to_dict(), "t0_gate_ns": [-20.0, 30.0]}
    (tmp_path / "run.json").write_text(json.dumps({"run_config": rc, "model_config": mc,
                                                   "representation": "KamNetMap"}))
    t = load_run(tmp_path)
    assert isinstance(t.representation, KamNetMap) and t.representation.spec.t0_gate_ns == (-20.0, 30.0)
    assert t.representation.spec.shape == (m.cfg.n_t, m.cfg.n_theta, m.cfg.n_phi)
    mc.pop("t0_gate_ns")
    (tmp_path / "run.json").write_text(json.dumps({"run_config": rc, "model_config": mc}))
    assert load_run(tmp_path).representation.spec.t0_gate_ns is None
