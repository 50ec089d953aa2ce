"""The hardened input boundary: property-based fuzzing of every config loader and ``--set``, byte-mutation
fuzzing of the readers, and the CLI's one-line errors (issue 20).

Each generated case must end in the loader's own error (a ``ScintnetError``) or in a valid result; any other
exception fails the test.
"""

import json
import math
import os
import tomllib
from dataclasses import fields, is_dataclass
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scintnet.analysis.model import AnalysisConfigError, load_analysis_config
from scintnet.cli import app
from scintnet.config import ConfigError, apply_overrides, build
from scintnet.detector.config import config_from_dict, load_config
from scintnet.errors import ScintnetError
from scintnet.sim.stream import StreamConfigError, load_stream_config
from scintnet.tagging.config import TagConfigError, load_tag_config
from scintnet.train.config import RunConfig
from scintnet.validate.fuzz import fuzz_event_file, fuzz_run_dir, fuzz_stream_file, make_fuzz_inputs

# SCINTNET_FUZZ_EXAMPLES=2000 for a long pass (the closing note's figures); CI runs 150 per property
N_EXAMPLES = int(os.environ.get("SCINTNET_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


def _paths(d, prefix=""):
    """Every dotted path of a nested dict/list (the keys ``--set`` can address)."""
    out = []
    items = d.items() if isinstance(d, dict) else enumerate(d)
    for k, v in items:
        p = f"{prefix}{k}"
        out.append(p)
        if isinstance(v, (dict, list)):
            out += _paths(v, p + ".")
    return out


def _all_finite(obj) -> bool:
    """Every float in a (nested) dataclass is finite."""
    if is_dataclass(obj):
        return all(_all_finite(getattr(obj, f.name)) for f in fields(obj))
    if isinstance(obj, (list, tuple)):
        return all(_all_finite(x) for x in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return True


DETECTOR_DATA = tomllib.loads(resources.files("scintnet.detector").joinpath("presets", "klz400-fast.toml").read_text())
DETECTOR_KEYS = _paths(DETECTOR_DATA) + ["nope", "geometry.nope", "pmts.types.7.count", "pmts.types.x.count",
                                         "geometry..pmt_radius_mm", "scintillator.decay_times_ns.9"]
VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "0", "1e300", "abc", "true", "[]", "[1, 2]",
                     "[nan, 1]", "{a = 1}", '"x"', "", "=", "1_000", "0x10", "[[1]]", "-0.0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.text(max_size=12),
)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(DETECTOR_KEYS), VALUES), min_size=1, max_size=3))
def test_detector_set_gives_config_or_config_error(sets):
    overrides = [f"{k}={v}" for k, v in sets]
    try:
        cfg = load_config("klz400-fast", overrides=overrides)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert _all_finite(cfg)
    assert cfg.scintillator.light_yield_per_MeV > 0 and cfg.geometry.pmt_radius_mm > 0
    w0, w1 = cfg.pmts.readout_window_ns
    assert w1 > w0


def _mutate_tree(data, rng_draw):
    """A copy of a parsed TOML tree with one leaf replaced, deleted or given a new sibling."""
    import copy

    d = copy.deepcopy(data)
    paths = _paths(d)
    path, action, value = rng_draw
    parts = paths[path % len(paths)].split(".")
    node = d
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if action == "delete":
        del node[last]
    elif action == "add" and isinstance(node, dict):
        node["unexpected_field"] = value
    else:
        node[last] = value
    return d


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                        st.text(max_size=8), st.lists(st.floats(allow_nan=True), max_size=3),
                        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
TREE_EDIT = st.tuples(st.integers(0, 10**6), st.sampled_from(["replace", "delete", "add"]), JSON_VALUES)


@FUZZ
@given(TREE_EDIT)
def test_detector_dict_gives_config_or_config_error(edit):
    try:
        cfg = config_from_dict(_mutate_tree(DETECTOR_DATA, edit))
    except ConfigError:
        return
    assert _all_finite(cfg)


STREAM_DATA = tomllib.loads(resources.files("scintnet.sim").joinpath("stream_presets", "klz800.toml").read_text())


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(_paths(STREAM_DATA) + ["x.y", "muons.9"]), VALUES), min_size=1,
                max_size=3))
def test_stream_set_gives_config_or_error(sets):
    try:
        cfg = load_stream_config("klz800", overrides=[f"{k}={v}" for k, v in sets])
    except StreamConfigError as exc:
        assert str(exc)
        return
    assert _all_finite(cfg) and cfg.chunk_days > 0


@FUZZ
@given(TREE_EDIT)
def test_stream_dict_gives_config_or_error(edit):
    from scintnet.sim.stream import stream_config_from_dict

    try:
        cfg = stream_config_from_dict(_mutate_tree(STREAM_DATA, edit))
    except StreamConfigError:
        return
    assert _all_finite(cfg)


TAG_TEXT = resources.files("scintnet.tagging").joinpath("presets", "klz800.toml").read_text()


@FUZZ
@given(st.integers(0, len(TAG_TEXT)), st.integers(0, 20), st.text(max_size=6))
def test_tagging_toml_text_gives_config_or_error(tmp_path_factory, pos, cut, insert):
    p = tmp_path_factory.mktemp("t") / "t.toml"
    p.write_text(TAG_TEXT[:pos] + insert + TAG_TEXT[pos + cut:])
    try:
        cfg = load_tag_config(path=p)
    except TagConfigError:
        return
    assert _all_finite(cfg)


ANALYSIS_FIELDS = ["xe_mass_kg", "livetime_yr", "n_volume_bins", "n_energy_bins", "energy_range_MeV", "roi_MeV",
                   "signal", "datasets", "components", "response", "fit_radius_mm", "enrichment", "nope"]


@settings(max_examples=max(N_EXAMPLES // 3, 20), deadline=None)
@given(st.sampled_from(ANALYSIS_FIELDS), JSON_VALUES)
def test_analysis_overrides_give_config_or_error(key, value):
    try:
        cfg = load_analysis_config(overrides={key: value})
    except AnalysisConfigError:
        return
    assert _all_finite(cfg)


RUN_FIELDS = [f.name for f in fields(RunConfig)] + ["nope"]


@FUZZ
@given(st.dictionaries(st.sampled_from(RUN_FIELDS), JSON_VALUES, max_size=3))
def test_run_config_gives_config_or_error(d):
    try:
        cfg = RunConfig.from_dict(d)
    except ConfigError:
        return
    assert cfg.epochs >= 1 and cfg.batch_size >= 1 and _all_finite(cfg)


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=3))
def test_apply_overrides_never_crashes(items):
    data = json.loads(json.dumps(DETECTOR_DATA))
    try:
        apply_overrides(data, items)
    except ConfigError:
        pass


def test_build_checks_types_and_finiteness():
    from scintnet.detector.config import Region

    with pytest.raises(ConfigError, match=r"r\.outer_radius_mm: expected a finite number"):
        build(Region, {"name": "a", "outer_radius_mm": float("nan"), "material": "LS", "scintillating": True}, "r")
    with pytest.raises(ConfigError, match="expected true or false"):
        build(Region, {"name": "a", "outer_radius_mm": 1.0, "material": "LS", "scintillating": 1}, "r")
    r = build(Region, {"name": "a", "outer_radius_mm": 2, "material": "LS", "scintillating": True}, "r")
    assert isinstance(r.outer_radius_mm, float) and r.outer_radius_mm == 2.0


# ----------------------------------------------------------------------------- readers: byte mutation


@pytest.fixture(scope="module")
def fuzz_inputs(tmp_path_factory):
    return make_fuzz_inputs(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("target", ["event", "stream", "run"])
def test_damaged_files_give_clean_errors_no_hangs(fuzz_inputs, target):
    fn, path, n = {"event": (fuzz_event_file, fuzz_inputs["Xe136_0vbb"], 40),
                   "stream": (fuzz_stream_file, fuzz_inputs["stream"], 25),
                   "run": (fuzz_run_dir, fuzz_inputs["run"], 12)}[target]
    t = fn(path, n, seed=11, timeout_s=60.0)
    assert t.cases == n
    assert t.internal == 0 and t.hang == 0, t.examples
    assert t.clean >= n // 2  # most damage is detected (checksummed HDF5, model checksum)


def test_event_reader_rejects_non_monotonic_offsets(fuzz_inputs, tmp_path):
    import shutil

    import h5py

    from scintnet.io.store import EventFile, EventFileError

    p = tmp_path / "bad.h5"
    shutil.copy(fuzz_inputs["C10"], p)
    with h5py.File(p, "r+") as h5:
        o = h5["hits/offsets"]
        o[5] = o[6] + 10  # still in range, no longer monotonic
    with pytest.raises(EventFileError, match="offsets do not start at 0 and increase"):
        EventFile(p)
    with h5py.File(p, "r+") as h5:
        del h5["pmts"]
    with pytest.raises(EventFileError, match="pmts/pos_mm"):
        EventFile(p)


def test_probe_rejects_hanging_open(tmp_path, monkeypatch):
    """A file whose metadata walk does not finish is rejected by the time-limited probe, not waited for."""
    import time as _time

    from scintnet.io import store

    p = tmp_path / "x.h5"
    import h5py

    with h5py.File(p, "w") as h5:
        h5.attrs["a"] = 1
    monkeypatch.setattr(store, "_walk_metadata", lambda path: _time.sleep(60))
    store._probed.clear()
    t0 = _time.monotonic()
    with pytest.raises(store.EventFileError, match="did not finish"):
        store.probe_hdf5(p, timeout_s=1.0)
    assert _time.monotonic() - t0 < 10


# ----------------------------------------------------------------------------- the CLI: one line, exit code 2


def _one_line_error(res):
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    return res.exit_code == 2 and lines and lines[-1].startswith("error:") and "internal error" not in res.output


@pytest.mark.parametrize("args", [
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/x.h5", "--set", "scintillator.light_yield_per_MeV=nan"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/x.h5", "--set", "geometry.pmt_radius_mm=1e400"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/x.h5", "--set", "pmts.types.9.quantum_efficiency=0.2"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/x.h5", "--set", "pmts.readout_window_ns=0"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/x.h5", "--vertex", "point:99999,0,0"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/x.h5", "--vertex", "sphere:99999"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}/no/such/dir/x.h5"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{tmp}"],
    ["simulate", "-s", "C10", "-n", "5", "--out", "{sig}"],
    ["simulate", "-s", "gamma", "--energy", "nan", "-n", "5", "--out", "{tmp}/x.h5"],
    ["simulate", "-s", "gamma", "--energy", "inf", "-n", "5", "--out", "{tmp}/x.h5"],
    ["simulate", "-s", "C10", "-n", "0", "--out", "{tmp}/x.h5"],
    ["simulate", "-n", "5", "--out", "{tmp}/x.h5"],
    ["fit", "--signal", "-inf"],
    ["info", "{tmp}"],
    ["info", "{tmp}/missing.h5"],
    ["train", "--signal", "{tmp}/nope.h5", "--background", "{bkg}", "--out", "{tmp}/run"],
    ["train", "--signal", "{sig}", "--background", "{sig}", "--out", "{tmp}/run"],
    ["train", "--signal", "{sig}", "--background", "{bkg}", "--out", "{tmp}/run", "--epochs", "0"],
    ["fit", "--data", "toy:abc"],
    ["evaluate", "{tmp}", "--data", "{sig}"],
    ["sensitivity", "{tmp}"],
])
def test_cli_bad_input_is_one_line(args, fuzz_inputs, tmp_path):
    subs = {"tmp": str(tmp_path), "sig": str(fuzz_inputs["Xe136_0vbb"]), "bkg": str(fuzz_inputs["C10"])}
    args = [a.format(**subs) for a in args]
    before = fuzz_inputs["Xe136_0vbb"].stat().st_mtime_ns
    res = CliRunner().invoke(app, args)
    assert _one_line_error(res), res.output
    assert not (tmp_path / "run").exists()  # a run that cannot start leaves no folder
    assert fuzz_inputs["Xe136_0vbb"].stat().st_mtime_ns == before  # an existing --out is not touched


def test_cli_internal_error_is_one_line_with_debug_hint(monkeypatch):
    import scintnet.physics.sources as sources

    def boom(*a, **k):
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(sources, "get_source", boom)
    res = CliRunner().invoke(app, ["simulate", "-s", "C10", "-n", "5", "--out", "/tmp/never.h5"])
    assert res.exit_code == 2
    assert "internal error RuntimeError: synthetic failure" in res.output and "--debug" in res.output
    assert "Traceback" not in res.output


def test_evaluate_refuses_other_detector_unless_forced(fuzz_inputs, tmp_path):
    from scintnet.evaluate.evaluate import EvaluateError, check_data_detector

    meta = json.loads((fuzz_inputs["run"] / "run.json").read_text())
    check_data_detector(meta, [str(fuzz_inputs["C10"])])  # the training detector: fine
    other = tmp_path / "other.h5"
    from scintnet.sim.run import SimConfig, run_simulation

    cfg = load_config("klz400-fast", overrides=["pmts.types.0.quantum_efficiency=0.2"])
    run_simulation(SimConfig.for_detector(cfg, "C10", 20, 1, chunk_size=20, store_deposits=False), other)
    with pytest.raises(EvaluateError, match="--force"):
        check_data_detector(meta, [str(other)])
    check_data_detector(meta, [str(other)], force=True)


def test_output_lock_refuses_a_second_writer_and_takes_over_stale(tmp_path):
    import os

    from scintnet.io.outputs import OutputError, check_output, output_lock

    import subprocess
    import sys

    out = tmp_path / "x.h5"
    lock = tmp_path / ".x.h5.lock"
    with output_lock(out):
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(OutputError, match=f"another scintnet process \\(pid {os.getpid()}\\)"):
            with output_lock(out):  # a second writer (flock is per open file, so this process counts too)
                pass
    with output_lock(out):  # released on exit
        pass
    # a writer killed while holding the lock: the kernel releases it
    code = ("import os, sys, time; from scintnet.io.outputs import output_lock\n"
            f"with output_lock({str(out)!r}):\n    print('held', flush=True); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code], capture_output=True)
    with output_lock(out):
        pass
    (tmp_path / ".x.h5.tmp-999999999").write_text("half")  # a killed writer's temporary file
    check_output(out)
    assert not (tmp_path / ".x.h5.tmp-999999999").exists()
    out.write_text("precious")
    with pytest.raises(OutputError, match="--overwrite"):
        check_output(out)
    assert out.read_text() == "precious"


def test_scintnet_error_is_the_base_of_every_input_error():
    from scintnet.analysis.likelihood import LikelihoodError
    from scintnet.io.jets import JetFileError
    from scintnet.io.outputs import OutputError
    from scintnet.io.store import EventFileError
    from scintnet.train.harness import TrainError

    for cls in (ConfigError, StreamConfigError, TagConfigError, AnalysisConfigError, EventFileError, TrainError,
                LikelihoodError, JetFileError, OutputError):
        assert issubclass(cls, ScintnetError), cls


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_workers_die_with_a_killed_simulate(tmp_path):
    """kill -9 of `simulate --workers 2` leaves no worker behind (PR_SET_PDEATHSIG in the executor)."""
    import signal
    import subprocess
    import sys
    import time

    def children(pid):
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        fields_ = f.read().rsplit(")", 1)[1].split()
                    if int(fields_[1]) == pid and fields_[0] != "Z":
                        out.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    cmd = [sys.executable, "-m", "scintnet.cli", "simulate", "--preset", "klz400-fast", "-s", "C10", "-n", "50000",
           "--chunk-size", "500", "--workers", "2", "--out", str(tmp_path / "k.h5")]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    for _ in range(200):  # wait until the pool has started
        time.sleep(0.1)
        workers = [c for c in children(p.pid)
                   if b"resource_tracker" not in open(f"/proc/{c}/cmdline", "rb").read()]
        if len(workers) >= 2:
            break
    assert len(workers) >= 2, "the worker pool did not start"
    p.send_signal(signal.SIGKILL)
    p.wait()
    for _ in range(100):
        alive = [w for w in workers if os.path.exists(f"/proc/{w}") and
                 open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"workers {alive} outlived their killed parent"
    # the next run takes over the dead writer's lock and resumes (here: refuses nothing)
    from scintnet.io.outputs import output_lock

    with output_lock(tmp_path / "k.h5"):
        pass


def test_progress_lines_in_logs():
    """Without a terminal, long work prints one [progress] line per interval with counts, rate and ETA."""
    import io

    from scintnet.executor import LogProgress, progress_bar

    buf = io.StringIO()
    with LogProgress(total=10, desc="epoch 0", unit="batch", interval_s=0.0, stream=buf) as bar:
        for _ in range(4):
            bar.update(1)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("[progress] epoch 0: 4/10 batch (40 %)") and "ETA" in lines[-1]
    quiet = io.StringIO()
    with LogProgress(total=10, interval_s=3600.0, stream=quiet) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""  # short work stays silent
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]
