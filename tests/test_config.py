import pytest

from scintnet.detector.config import ConfigError, list_presets, load_config
from scintnet.detector.pmts import build_pmt_array


def test_presets_load_and_pmt_counts():
    assert {"klz800", "klz400-fast", "kl2zen"} <= set(list_presets())
    cfg = load_config("klz800")
    assert cfg.n_pmts == 1879
    assert [t.count for t in cfg.pmts.types] == [1325, 554]
    assert sum(t.photocoverage for t in cfg.pmts.types) == pytest.approx(0.34)
    assert cfg.geometry.balloon_radius_mm == 1900.0


def test_kl2zen_is_scaled_klz800():
    a, b = load_config("klz800"), load_config("kl2zen")
    assert b.scintillator.light_yield_per_MeV / a.scintillator.light_yield_per_MeV == pytest.approx(1.4)
    assert b.pmts.types[0].quantum_efficiency / a.pmts.types[0].quantum_efficiency == pytest.approx(1.9)
    assert b.pmts.types[0].photocoverage / a.pmts.types[0].photocoverage == pytest.approx(1.8)


def test_overrides_and_errors(tmp_path):
    cfg = load_config("klz400-fast", overrides=["pmts.types.0.quantum_efficiency=0.3",
                                                 "scintillator.light_yield_per_MeV=5000"])
    assert cfg.pmts.types[0].quantum_efficiency == 0.3
    assert cfg.scintillator.light_yield_per_MeV == 5000
    with pytest.raises(ConfigError, match="unknown detector preset"):
        load_config("nope")
    with pytest.raises(ConfigError, match="no field"):
        load_config("klz800", overrides=["scintillator.colour=3"])
    with pytest.raises(ConfigError, match="QE"):
        load_config("klz800", overrides=["pmts.types.0.quantum_efficiency=1.5"])
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path=bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(path=tmp_path / "missing.toml")


def test_pmt_layout_reproducible_and_uniform():
    import numpy as np

    cfg = load_config("klz800")
    a, b = build_pmt_array(cfg), build_pmt_array(cfg)
    assert np.array_equal(a.pos_mm, b.pos_mm)
    assert np.allclose(np.linalg.norm(a.pos_mm, axis=1), cfg.geometry.pmt_radius_mm)
    assert np.bincount(a.type_index).tolist() == [1325, 554]
    # quasi-uniform: the mean direction vanishes and each hemisphere holds half of each type
    assert np.linalg.norm(a.direction.mean(0)) < 0.01
    for t in (0, 1):
        z = a.direction[a.type_index == t, 2]
        assert abs((z > 0).mean() - 0.5) < 0.03
    # gray-disk areas reproduce the photocoverage
    cov = a.area_mm2.sum() / (4 * np.pi * cfg.geometry.pmt_radius_mm**2)
    assert cov == pytest.approx(0.34, rel=1e-9)


def test_retired_field_in_old_files_is_tolerated():
    """Event files written with the retired photon-speed spread (and without the optics fields) stay readable."""
    import json

    from scintnet.detector.config import ConfigError, config_from_json, load_config

    d = json.loads(load_config("klz800").to_json())
    for k in ("rayleigh_length_mm", "reemission_probability", "reemission_time_ns", "cherenkov"):
        del d["scintillator"][k]  # files older than the photon optics
    d["scintillator"]["group_velocity_spread"] = 0.08
    cfg = config_from_json(json.dumps(d))
    assert cfg.scintillator.cherenkov is False and cfg.scintillator.reemission_probability == 0.80
    d["scintillator"]["cherenkov"] = "yes"
    with pytest.raises(ConfigError, match="cherenkov"):
        config_from_json(json.dumps(d))


def test_cherenkov_switch_per_preset():
    from scintnet.detector.config import load_config

    assert load_config("klz400-fast").scintillator.cherenkov  # sim-Fast (RAT/Geant4) has Cherenkov light
    assert not load_config("klz800").scintillator.cherenkov  # sim-KLZ800 turned it off (paper sec. III)
    assert load_config("klz800", overrides=["scintillator.cherenkov=true"]).scintillator.cherenkov
    for name in ("klz800", "klz400-fast", "kl2zen"):
        assert "group_velocity_spread" not in load_config(name).to_json()
