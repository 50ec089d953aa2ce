"""Jet tagging extra: the HDF5 jet format, the generator's physics, Lorentz symmetry of the models."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from scintnet.io.jets import JetFileError, JetSample, read_jets, to_padded, write_jets
from scintnet.jets.models import JET_MODELS, build_jet_model, minkowski


def _toy_sample(n=6, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, 9, n)
    m = int(counts.sum())
    const = {"pt_GeV": rng.uniform(1, 100, m).astype(np.float32), "eta": rng.normal(0, 0.3, m).astype(np.float32),
             "phi": rng.normal(0, 0.3, m).astype(np.float32), "e_GeV": rng.uniform(1, 200, m).astype(np.float32),
             "charge": rng.integers(-1, 2, m).astype(np.int8), "pid": rng.choice([211, 22, 130, 11], m).astype(np.int32)}
    jets = {"pt_GeV": rng.uniform(550, 650, n).astype(np.float32), "eta": rng.normal(0, 1, n).astype(np.float32),
            "phi": rng.uniform(-3, 3, n).astype(np.float32), "mass_GeV": rng.uniform(20, 200, n).astype(np.float32),
            "label": (np.arange(n) % 2).astype(np.int8)}
    return JetSample(jets, np.concatenate([[0], np.cumsum(counts)]), const)


def test_jet_file_round_trip_and_one_line_errors(tmp_path):
    s = _toy_sample()
    p = tmp_path / "j.h5"
    write_jets(p, s, {"x": 1}, 7)
    r, meta = read_jets(p)
    assert meta["seed"] == 7 and meta["config"] == {"x": 1}
    assert np.array_equal(r.offsets, s.offsets) and np.allclose(r.constituents["pt_GeV"], s.constituents["pt_GeV"])
    sub = s.take(np.array([3, 1]))
    assert np.allclose(sub.constituents["eta"], np.concatenate([s.constituents["eta"][s.offsets[3]:s.offsets[4]],
                                                               s.constituents["eta"][s.offsets[1]:s.offsets[2]]]))
    padded, mask = to_padded(s, 4)
    assert mask.shape == (6, 4) and mask.sum() == np.minimum(np.diff(s.offsets), 4).sum()
    (tmp_path / "t.txt").write_text("not hdf5")
    for bad in (tmp_path / "t.txt", tmp_path / "missing.h5"):
        with pytest.raises(JetFileError):
            read_jets(bad)
    import h5py

    with h5py.File(p, "a") as h5:
        h5["constituents/offsets"][2] = 10**6  # non-monotonic offsets
    with pytest.raises(JetFileError, match="inconsistent"):
        read_jets(p)


def _random_lorentz(rng):
    """A random boost (rapidity up to 1.5) composed with a random rotation, as a 4x4 matrix."""
    from scipy.spatial.transform import Rotation

    r = np.eye(4)
    r[1:, 1:] = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    n = rng.normal(size=3)
    n /= np.linalg.norm(n)
    y = rng.uniform(0.2, 1.5)
    b = np.eye(4)
    b[0, 0] = np.cosh(y)
    b[0, 1:] = b[1:, 0] = np.sinh(y) * n
    b[1:, 1:] += (np.cosh(y) - 1) * np.outer(n, n)
    return b @ r


@pytest.mark.parametrize("name", ["lorentznet", "lorentz_moments"])
def test_lorentz_models_are_invariant_under_boosts_and_rotations(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    cfg = JET_MODELS[name]
    model = build_jet_model(cfg).double().eval()
    B, N = 3, 12
    p3 = rng.normal(0, 1, (B, N, 3))
    m = rng.uniform(0.0, 0.3, (B, N))
    p4 = np.concatenate([np.sqrt((p3**2).sum(-1) + m**2)[..., None], p3], -1)
    x = np.zeros((B, N, 13))
    x[..., 7] = rng.integers(-1, 2, (B, N))
    mask = np.ones((B, N), bool)
    mask[0, 9:] = False
    lam = _random_lorentz(rng)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    with torch.no_grad():
        a = model(t(x), t(p4), t(mask))
        b = model(t(x), t(p4 @ lam.T), t(mask))
    assert torch.allclose(minkowski(t(p4), t(p4)), minkowski(t(p4 @ lam.T), t(p4 @ lam.T)), atol=1e-9)
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_pfn_and_particlenet_are_permutation_invariant():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.normal(size=(2, 10, 13)).astype(np.float32))
    p4 = torch.from_numpy(np.abs(rng.normal(size=(2, 10, 4))).astype(np.float32))
    mask = torch.ones(2, 10, dtype=torch.bool)
    perm = torch.from_numpy(rng.permutation(10))
    for name in ("pfn", "particlenet_lite", "part"):
        torch.manual_seed(0)
        model = build_jet_model(JET_MODELS[name]).eval()
        with torch.no_grad():
            assert torch.allclose(model(x, p4, mask), model(x[:, perm], p4[:, perm], mask[:, perm]), atol=1e-5)


needs_generator = pytest.mark.skipif(
    importlib.util.find_spec("pythia8mc") is None or importlib.util.find_spec("fastjet") is None,
    reason="the jets extra (pythia8mc, fastjet) is not installed")


@pytest.fixture(scope="module")
def generated():
    from scintnet.jets.generate import JetGenConfig, generate_chunk

    return {p: generate_chunk(p, 40, 101 + k, JetGenConfig()) for k, p in enumerate(("top", "qcd"))}


@needs_generator
def test_generated_jets_have_the_top_mass_and_the_selection(generated):
    top, qcd = generated["top"], generated["qcd"]
    assert 150 < np.median(top.jets["mass_GeV"]) < 200  # m_t = 172.5 GeV, smeared
    assert np.median(qcd.jets["mass_GeV"]) < 130
    for s in (top, qcd):
        assert np.all((s.jets["pt_GeV"] > 550) & (s.jets["pt_GeV"] < 650) & (np.abs(s.jets["eta"]) < 2))
        o, c = s.offsets, s.constituents
        px = np.add.reduceat(c["pt_GeV"] * np.cos(c["phi"]), o[:-1])
        py = np.add.reduceat(c["pt_GeV"] * np.sin(c["phi"]), o[:-1])
        assert np.allclose(np.hypot(px, py), s.jets["pt_GeV"], rtol=1e-4)  # constituents make the jet
        assert np.all(np.diff(c["pt_GeV"][o[0]:o[1]]) <= 0)  # pT-ordered
    assert top.jets["label"].min() == 1 and qcd.jets["label"].max() == 0


@needs_generator
def test_generate_is_seeded_resumable_and_refuses_to_overwrite(tmp_path):
    from scintnet.jets.generate import run_generate

    a = run_generate(tmp_path / "a.h5", 12, 12, seed=3, chunk_jets=6)
    assert a["n_jets"] == 24
    # a killed run leaves finished chunks: the re-run reuses them and gives the same file
    chunks = tmp_path / ".b.h5.chunks-3-6"
    chunks.mkdir()
    from scintnet.jets.generate import JetGenConfig, _chunk_task

    _chunk_task(("top", 0, 6, 3, json.dumps(JetGenConfig().to_dict()), str(chunks / "top_00000_6.h5")))
    run_generate(tmp_path / "b.h5", 12, 12, seed=3, chunk_jets=6)
    ra, rb = read_jets(tmp_path / "a.h5")[0], read_jets(tmp_path / "b.h5")[0]
    assert np.array_equal(ra.constituents["pt_GeV"], rb.constituents["pt_GeV"])
    assert not chunks.exists()
    with pytest.raises(FileExistsError):
        run_generate(tmp_path / "a.h5", 12, 12, seed=3, chunk_jets=6)


@needs_generator
def test_cli_jets_bench_json_keys(tmp_path, generated):
    from typer.testing import CliRunner

    from scintnet.cli import app

    p = tmp_path / "jets.h5"
    write_jets(p, JetSample.concat([generated["top"], generated["qcd"]]), {}, 1)
    r = CliRunner().invoke(app, ["jets", "bench", "--data", str(p), "--models", "pfn,lorentz_moments", "--epochs", "1",
                                 "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    for row in res["models"]:
        assert {"model", "params", "flops_per_jet", "accuracy", "auc", "inv_eb_at_0.5", "inv_eb_at_0.3",
                "train_s"} <= set(row)
    assert res["floors"]["jet_mass"]["auc"] > 0.8  # the top mass alone separates
    bad = CliRunner().invoke(app, ["jets", "bench", "--data", str(tmp_path / "nope.h5")])
    assert bad.exit_code == 2


def test_integrated_gradients_complete_and_permutation_equivariant():
    """Integrated gradients: a jet's attributions add up to logit(jet) - logit(empty jet) (completeness, to the
    quadrature error) for the smooth models, and permuting the constituents permutes their attributions."""
    from scintnet.jets.explain import integrated_gradients

    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(3, 12, 13)).astype(np.float32))
    p4 = torch.from_numpy((np.abs(rng.normal(size=(3, 12, 4))) * 20).astype(np.float32))
    p4[..., 0] = p4[..., 1:].norm(dim=-1) + 1.0  # time-like four-momenta
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[0, 9:] = False
    perm = torch.from_numpy(rng.permutation(12))
    for name in ("pfn", "part"):
        torch.manual_seed(1)
        model = build_jet_model(JET_MODELS[name]).double()
        xd, pd = x.double(), p4.double()
        attr, err = integrated_gradients(model, xd, pd, mask, steps=64)
        with torch.no_grad():
            spread = (model(xd, pd, mask) - model(torch.zeros_like(xd), torch.zeros_like(pd), mask)).abs().max().item()
        assert spread > 1e-3 and np.abs(err).max() < 0.02 * spread + 1e-6, (name, err, spread)
        assert np.all(attr[0, 9:] == 0)  # padding gets none
        a2, _ = integrated_gradients(model, xd[1:, perm], pd[1:, perm], mask[1:, perm], steps=64)
        assert np.allclose(a2, attr[1:, perm.numpy()], atol=1e-8)


@needs_generator
def test_cli_jets_explain(tmp_path, generated):
    from typer.testing import CliRunner

    from scintnet.cli import app

    p = tmp_path / "jets.h5"
    write_jets(p, JetSample.concat([generated["top"], generated["qcd"]]), {}, 1)
    r = CliRunner().invoke(app, ["jets", "explain", "--data", str(p), "--models", "pfn,part", "--epochs", "1",
                                 "--jets", "16", "--steps", "8", "--threads", "1", "--out", str(tmp_path / "ex"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    for name in ("pfn", "part"):
        m = res["models"][name]
        assert (tmp_path / "ex" / f"explain_{name}.png").stat().st_size > 10_000
        for cls in ("top", "qcd"):
            sh = m["summary"][cls]["share_by_pt_rank"]
            assert 0 < sum(sh) <= 1 + 1e-6 and 0 <= m["summary"][cls]["share_within_0.2_of_leading"] <= 1
    assert res["models"]["part"]["pair_attention"]["heads"] == JET_MODELS["part"].heads
    assert res["models"]["pfn"]["pair_attention"] is None
