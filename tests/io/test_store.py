import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.io.outputs import OutputError
from scintnet.io.store import EventFile, EventFileError, describe
from scintnet.sim.run import SimConfig, run_simulation


def _sim(n=300, chunk=100, seed=7, source="Xe136_0vbb", **kw):
    cfg = load_config("klz800")
    return SimConfig.for_detector(cfg, source, n, seed, chunk_size=chunk, **kw)


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def test_roundtrip_and_streaming(tmp_path):
    sim = _sim()
    res = run_simulation(sim, tmp_path / "a.h5")
    assert res["n_events"] == 300
    with EventFile(tmp_path / "a.h5") as f:
        assert f.n_events == 300
        assert f.run["seed"] == 7 and f.run["source"] == "Xe136_0vbb"
        assert json.loads(f.detector_json)["name"] == "klz800"
        whole = f.read()
        parts = list(f.iter_chunks(64, truth_detail=True))
        assert sum(p.n_events for p in parts) == 300
        assert max(p.n_events for p in parts) == 64
        np.testing.assert_array_equal(np.concatenate([p.hit_time_ns for p in parts]), whole.hit_time_ns)
        # truth: deposited energy per event equals the sum of stored deposits
        dep = np.add.reduceat(whole.dep_edep_MeV.astype(float), whole.dep_offsets[:-1])
        np.testing.assert_allclose(dep, whole.edep_MeV, rtol=1e-5)
        assert np.all(whole.label == 1)
        assert not (tmp_path / "a.h5.chunks").exists()


def test_same_content_whatever_workers(tmp_path):
    sim = _sim(n=250, chunk=50, seed=3)
    run_simulation(sim, tmp_path / "w1.h5", workers=1)
    run_simulation(sim, tmp_path / "w2.h5", workers=2)
    a, b = _datasets(tmp_path / "w1.h5"), _datasets(tmp_path / "w2.h5")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_resume_after_kill(tmp_path):
    """Kill a run mid-way; re-running finishes it with exactly the uninterrupted content."""
    sim = _sim(n=400, chunk=50, seed=11)
    run_simulation(sim, tmp_path / "ref.h5")
    out = tmp_path / "killed.h5"
    # simulate a kill: keep only some finished chunks and a half-written temp file
    run_simulation(sim, out, keep_chunks=True)
    out.unlink()
    chunks = sorted((tmp_path / "killed.h5.chunks").glob("chunk_*.h5"))
    for c in chunks[3:]:
        c.unlink()
    (tmp_path / "killed.h5.chunks" / "chunk_000005.h5").write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    res = run_simulation(sim, out)
    assert res["resumed_events"] == 150
    a, b = _datasets(tmp_path / "ref.h5"), _datasets(out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_resume_refuses_other_run(tmp_path):
    out = tmp_path / "x.h5"
    run_simulation(_sim(n=100, chunk=50, seed=1), out, keep_chunks=True)
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        run_simulation(_sim(n=100, chunk=50, seed=2), out)
    out.unlink()  # the chunks stay: a different run must not reuse them
    with pytest.raises(ValueError, match="different run"):
        run_simulation(_sim(n=100, chunk=50, seed=2), out)


def test_bad_files_give_one_line_errors(tmp_path):
    run_simulation(_sim(n=100, chunk=50), tmp_path / "good.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(EventFileError, match="not an HDF5 file"):
        EventFile(tmp_path / "text.h5")
    with pytest.raises(EventFileError, match="no such file"):
        EventFile(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(EventFileError, match="not a scintnet event file"):
        EventFile(tmp_path / "other.h5")
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFileError):
        EventFile(tmp_path / "trunc.h5")
    import shutil

    shutil.copy(tmp_path / "good.h5", tmp_path / "schema.h5")
    with h5py.File(tmp_path / "schema.h5", "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(EventFileError, match="schema version 99"):
        EventFile(tmp_path / "schema.h5")
    # the CLI prints one line and exits 2, no traceback
    r = subprocess.run([sys.executable, "-m", "scintnet.cli", "info", str(tmp_path / "trunc.h5")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_describe_is_what_info_prints(tmp_path):
    run_simulation(_sim(n=60, chunk=30), tmp_path / "a.h5")
    d = describe(tmp_path / "a.h5")
    with EventFile(tmp_path / "a.h5") as f:
        c = f.read()
        assert {k: d[k] for k in f.info().to_dict()} == f.info().to_dict()
        assert d["n_pmts"] == f.n_pmts == len(f.pmt_positions_mm())
    assert d["n_events"] == 60 and d["n_signal"] == int((c.label == 1).sum())
    assert d["mean_nhit"] == pytest.approx(float(np.diff(c.hit_offsets).mean()))
    assert json.loads(json.dumps(d)) == d  # plain JSON types (scintnet info --json)
    with pytest.raises(EventFileError, match="no such file"):
        describe(tmp_path / "missing.h5")


def test_cli_simulate_and_info_json(tmp_path):
    out = tmp_path / "g.h5"
    r = subprocess.run([sys.executable, "-m", "scintnet.cli", "simulate", "--source", "gamma", "--energy", "1.0",
                        "--vertex", "center", "-n", "50", "--chunk-size", "25", "--out", str(out), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n_events"] == 50
    r = subprocess.run([sys.executable, "-m", "scintnet.cli", "info", str(out), "--json"], capture_output=True, text=True)
    info = json.loads(r.stdout)
    assert info["n_events"] == 50 and info["run"]["source"] == "gamma" and info["run"]["energy_MeV"] == 1.0
    r = subprocess.run([sys.executable, "-m", "scintnet.cli", "simulate", "--source", "electron", "-n", "5",
                        "--out", str(tmp_path / "e.h5")], capture_output=True, text=True)
    assert r.returncode == 2 and "energy" in r.stderr


def test_no_deposits_option(tmp_path):
    sim = _sim(n=60, chunk=30, store_deposits=False)
    run_simulation(sim, tmp_path / "nd.h5")
    with EventFile(tmp_path / "nd.h5") as f:
        c = f.read()
        assert c.dep_offsets.size == 61 and c.dep_offsets[-1] == 0
        assert c.n_events == 60 and c.hit_offsets[-1] > 0


def test_concat_offsets_joins_ragged_arrays():
    from scintnet.io.events import concat_offsets

    a, b, empty = np.array([0, 2, 5]), np.array([0, 0, 3]), np.array([0])
    assert concat_offsets([a, empty, b]).tolist() == [0, 2, 5, 5, 8]
    assert concat_offsets([empty]).tolist() == [0]


def test_scores_file_owner_reads_old_and_new_files(tmp_path):
    """io/scores.py owns scores.h5: files of the old writer (no checksums, no optional datasets) still load."""
    from scintnet.io.scores import ScoresFileError, read_scores, write_scores

    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as f:  # the layout evaluate wrote before io/scores.py
        f.attrs["signal_source"] = "Xe136_0vbb"
        for name, n in (("Xe136_0vbb", 5), ("C10", 4)):
            g = f.create_group(name)
            g["score"] = np.linspace(0, 1, n).astype(np.float32)
            g["label"] = np.full(n, int(name != "C10"), np.int8)
            g["energy_MeV"] = np.full(n, 2.5, np.float32)
            g["radius_mm"] = np.zeros(n, np.float32)
    s = read_scores(old)
    assert s.signal == "Xe136_0vbb" and s.groups["C10"]["score"].shape == (4,)
    with pytest.raises(ScoresFileError, match="second_pulse_fraction"):
        s.field("second_pulse_fraction")
    new = write_scores(tmp_path / "new.h5", {g: {**d, "second_pulse_fraction": np.zeros(len(d["score"]))}
                                             for g, d in s.groups.items()}, "Xe136_0vbb")
    t = read_scores(new)
    assert np.array_equal(t.groups["Xe136_0vbb"]["score"], s.groups["Xe136_0vbb"]["score"])
    assert set(t.field("second_pulse_fraction")) == {"Xe136_0vbb", "C10"}
    with h5py.File(new, "r") as f:
        assert f["C10/score"].fletcher32
    with h5py.File(old, "r+") as f:
        f["C10/score"][0] = np.nan
    with pytest.raises(ScoresFileError, match="non-finite"):
        read_scores(old)
    with pytest.raises(ScoresFileError, match="not among the groups"):
        write_scores(tmp_path / "x.h5", {"C10": {"score": np.zeros(2)}}, "Xe136_0vbb")


def test_event_files_of_schema_1_keep_loading(tmp_path):
    """tests/data/events_schema1.h5: 4 klz400-fast 0νββ events (seed 7, with deposits) written by scintnet 0.1.0
    (schema 1, 2026-12-02); it must read back — and read back without the text checksum older writers lacked."""
    import shutil
    from pathlib import Path

    src = Path(__file__).parents[1] / "data" / "events_schema1.h5"
    with EventFile(src) as f:
        assert (f.n_events, f.n_hits, f.info().schema_version) == (4, 1548, 1)
        ev = f.read()
        assert ev.hit_offsets[-1] == 1548 and np.all(np.diff(ev.hit_offsets) > 0)
        assert ev.dep_offsets[-1] > 0 and np.all((ev.evis_MeV > 0.5) & (ev.evis_MeV < 3.0))
        assert f.detector_config().n_pmts == f.n_pmts == len(f.pmt_positions_mm())
    old = tmp_path / "no_checksum.h5"
    shutil.copy(src, old)
    with h5py.File(old, "r+") as h5:
        del h5.attrs["text_sha256"]
    with EventFile(old) as f:
        np.testing.assert_array_equal(f.read().hit_pmt, ev.hit_pmt)
