"""Event-stream physics: muon rate, neutron capture time, Bi-Po timing, film alphas, truth links, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from scintnet.sim.stream import (
    DAY_S,
    EVENT_TYPES,
    REGIONS,
    StreamConfigError,
    half_life_s,
    load_stream_config,
    read_stream,
    run_stream,
)

DATA = Path(__file__).parents[1] / "data"  # tests/data: files of earlier versions, reference images

# enhanced film/XeLS uranium so two days hold enough Bi-Po pairs for timing fits
OVR = ["chunk_days=1.0", "radioactivity.u238_film_g_per_g=3e-10", "radioactivity.u238_xels_g_per_g=1.5e-15"]


@pytest.fixture(scope="module")
def stream2d(tmp_path_factory):
    p = tmp_path_factory.mktemp("s") / "s.h5"
    run_stream(load_stream_config(overrides=OVR), 2.0, 3, p, workers=1)
    return read_stream(p)


def test_muon_rate_matches_config(stream2d):
    cfg = stream2d.config
    n = stream2d.muons["t_s"].size
    expect = cfg.muons.rate_hz * 2 * DAY_S
    assert abs(n - expect) < 5 * np.sqrt(expect) + 50  # +50: injected parents of spallation isotopes
    assert np.all(np.diff(stream2d.muons["t_s"]) >= 0)
    # tracks cross the LS sphere: chord length = 2 sqrt(R^2 - b^2)
    L, b = stream2d.muons["length_mm"], stream2d.muons["impact_mm"]
    assert np.allclose(L, 2 * np.sqrt(6500.0**2 - b.astype(float) ** 2), rtol=1e-3, atol=1.0)


def test_neutron_capture_time_fit(stream2d):
    ev, mu = stream2d.events, stream2d.muons
    n = ev["type"] == EVENT_TYPES["neutron"]
    dt_us = (ev["t_s"][n] - mu["t_s"][ev["muon"][n]]) * 1e6
    assert dt_us.min() > 0
    tau = dt_us.mean()  # exponential MLE
    assert abs(tau - 207.5) < 4 * tau / np.sqrt(dt_us.size), tau  # KamLAND 207.5 us
    # neutron yield: captures per muon per g/cm2 of LS track, near the published 2.8e-4 (buffer captures are lost)
    y = n.sum() / (mu["length_mm"].sum() / 10 * 0.78)
    assert 2.0e-4 < y < 3.2e-4, y


def test_bipo_timing_and_film_alpha_loss(stream2d):
    ev = stream2d.events
    po = np.flatnonzero(ev["type"] == EVENT_TYPES["po214"])
    bi = ev["parent"][po]
    assert np.all(ev["type"][bi] == EVENT_TYPES["bi214"])
    dt = ev["t_s"][po] - ev["t_s"][bi]
    t_half_us = dt.mean() * np.log(2) * 1e6
    assert abs(t_half_us - 164.3) < 4 * t_half_us / np.sqrt(dt.size), t_half_us
    film = ev["region"][po] == REGIONS["film"]
    det = ev["detected"][po] == 1
    assert det[~film].mean() > 0.98  # LS/XeLS: alpha light always seen (article: > 99.8 %)
    assert 0.2 < det[film].mean() < 0.6  # film: about half lost (article: ~50 %)
    # quenched 7.69 MeV alpha looks like < 1 MeV
    assert 0.5 < np.median(ev["true_E_MeV"][po][~film]) < 1.0


def test_truth_links_and_time_order(stream2d):
    ev = stream2d.events
    assert np.all(np.diff(ev["t_s"]) >= 0)
    d = np.flatnonzero(ev["type"] == EVENT_TYPES["ibd_delayed"])
    assert np.all(ev["type"][ev["parent"][d]] == EVENT_TYPES["ibd_prompt"])
    sp = np.flatnonzero(ev["type"] == EVENT_TYPES["spall_xe"])
    assert sp.size > 0 and np.all(ev["muon"][sp] >= 0)
    assert np.all(stream2d.muons["t_s"][ev["muon"][sp]] < ev["t_s"][sp])
    # the parent muon's track passes through the isotope's (true) position
    mu = stream2d.muons
    m = ev["muon"][sp]
    x = ev["true_pos_mm"][sp] - mu["entry_mm"][m]
    u = mu["dir"][m]
    perp = np.linalg.norm(x - (x * u).sum(1)[:, None] * u, axis=1)
    assert np.all(perp < 1.0)


def test_2vbb_rate():
    cfg = load_stream_config()
    r = cfg.radioactivity
    per_day = r.xe136_mass_kg * 4.431e24 * np.log(2) / r.xe136_2vbb_half_life_yr / 365.25
    assert 2400 < per_day < 2800  # ~2600 2nbb decays/day in 678 kg of 136Xe


def test_workers_and_resume_reproducible(tmp_path):
    cfg = load_stream_config(overrides=["chunk_days=0.5"])
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run_stream(cfg, 1.0, 9, a, workers=1, keep_chunks=True)
    run_stream(cfg, 1.0, 9, b, workers=2)
    (tmp_path / "a.h5.chunks" / "chunk_000001.h5").unlink()  # "killed" run: one chunk missing
    r = run_stream(cfg, 1.0, 9, a, workers=1)
    assert r["resumed_chunks"] == 1
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for k in ("t_s", "E_MeV", "type", "parent", "muon"):
            assert np.array_equal(fa["events"][k][()], fb["events"][k][()]), k
    assert half_life_s("Po214") == pytest.approx(164.3e-6, rel=0.01)


def test_bad_input_errors(tmp_path):
    with pytest.raises(StreamConfigError, match="unknown stream preset"):
        load_stream_config("nope")
    with pytest.raises(StreamConfigError, match="no section 'nope'"):
        load_stream_config(overrides=["muons.nope.x=1"])
    with pytest.raises(StreamConfigError, match="positive"):
        run_stream(load_stream_config(), 0.0, 1, tmp_path / "x.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(StreamConfigError, match="not an HDF5 file"):
        read_stream(bad)


# the file layout of io/stream.py: (dtype, trailing shape) of every column
_EVENT_COLS = {"t_s": ("<f8", ()), "type": ("|i1", ()), "nuclide": ("<i2", ()), "region": ("|i1", ()),
               "detected": ("|i1", ()), "E_MeV": ("<f4", ()), "pos_mm": ("<f4", (3,)), "true_E_MeV": ("<f4", ()),
               "true_pos_mm": ("<f4", (3,)), "muon": ("<i8", ()), "parent": ("<i8", ())}
_MUON_COLS = {"t_s": ("<f8", ()), "entry_mm": ("<f4", (3,)), "dir": ("<f4", (3,)), "length_mm": ("<f4", ()),
              "impact_mm": ("<f4", ()), "showering": ("|i1", ()), "edep_MeV": ("<f4", ()), "n_neutrons": ("<i4", ()),
              "reco_entry_mm": ("<f4", (3,)), "reco_dir": ("<f4", (3,)), "shower_offsets": ("<i8", ()),
              "shower_s_mm": ("<f4", ()), "shower_E_MeV": ("<f4", ())}


def test_stream_file_owner_reads_v1_files(tmp_path):
    """io/stream.py owns the stream format: a file written before the sim/stream split still loads.

    tests/data/stream_v1.h5 (126 kB) was written by the single-module sim/stream.py: 0.05 days, seed 11,
    chunk_days=0.025, enriched Xe spallation, film U, XeLS Th and IBD so that every family is present."""
    import scintnet.sim.stream as sim_stream
    from scintnet.io import stream as io_stream

    path = DATA / "stream_v1.h5"
    s = io_stream.read_stream(path)
    assert s.days == 0.05 and int(s.attrs["seed"]) == 11 and s.attrs["format"] == io_stream.FORMAT
    assert s.config.chunk_days == 0.025 and s.config.ibd.rate_per_day == 300
    assert json.loads(s.attrs["event_types"]) == EVENT_TYPES and json.loads(s.attrs["regions"]) == REGIONS
    assert tuple(json.loads(s.attrs["nuclides"])) == io_stream.NUCLIDES
    for tab, cols in ((s.events, _EVENT_COLS), (s.muons, _MUON_COLS)):
        assert set(tab) == set(cols)
        for k, (dt, shape) in cols.items():
            assert tab[k].dtype.str == dt and tab[k].shape[1:] == shape, k
    with h5py.File(path, "r") as f:  # read_stream gives the stored tables unchanged
        for g, tab in (("events", s.events), ("muons", s.muons)):
            for k, v in tab.items():
                assert np.array_equal(f[g][k][()], v), (g, k)
    ev = s.events
    assert ev["t_s"].size == 676 and s.muons["t_s"].size == 912
    assert s.of_type("bi214").sum() == s.of_type("po214").sum() == 35 and s.of_type("ibd_prompt").sum() == 14
    assert s.of_type("spall_xe").sum() == 2
    po = np.flatnonzero(s.of_type("po214", "po212"))
    assert np.all(ev["parent"][po] >= 0) and np.all(ev["t_s"][ev["parent"][po]] <= ev["t_s"][po])
    assert np.all(ev["muon"][s.of_type("neutron")] >= 0)
    # the writer round-trips the tables, and the old import path re-exports the same objects
    out = tmp_path / "w.h5"
    io_stream.write_stream(out, s.events, s.muons, days=s.days, seed=int(s.attrs["seed"]), config_json=s.attrs["config"])
    t = sim_stream.read_stream(out)
    assert t.config == s.config and t.days == s.days
    for a, b in ((s.events, t.events), (s.muons, t.muons)):
        assert all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    assert sim_stream.read_stream is io_stream.read_stream and sim_stream.Stream is io_stream.Stream
    assert sim_stream.EVENT_TYPES is io_stream.EVENT_TYPES and sim_stream.StreamConfig is io_stream.StreamConfig
