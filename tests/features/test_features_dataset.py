"""Datasets and representations: selection, Nhit matching, splits, maps, point clouds, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scintnet.detector.config import load_config
from scintnet.features.dataset import (CPU_MAP, PAPER_MAP, EventSet, KamNetMap, PointCloud, Selection, TimeSpectrum,
                                       load_event_set, make_loaders, nhit_match, RandomRotation, rotate_events)
from scintnet.features.maps import MapSpec, proper_times, select_pmts
from scintnet.io.events import EventChunk
from scintnet.io.store import EventFile, write_events

N = 400


@pytest.fixture(scope="module")
def files(simulate, calibration):
    out = {"cache": calibration("klz800")}  # small, fast calibration for the tests
    for name, src, seed in (("sig", "Xe136_0vbb", 11), ("bkg", "C10", 12)):
        out[name] = simulate("klz800", src, N, seed, preset="klz800", vertex="sphere:1700", chunk_size=N,
                             store_deposits=False)
    return out


@pytest.fixture(scope="module")
def sets(files):
    sig = load_event_set(files["sig"], label=1, cache_dir=files["cache"], log=None)
    bkg = load_event_set(files["bkg"], label=0, cache_dir=files["cache"], log=None)
    return sig, bkg


def test_selection_uses_reco_and_cuts(files, sets):
    sig, _ = sets
    assert 0 < len(sig) < N  # the 1.7 m sphere and the energy window both remove events
    assert np.all((sig.energy_MeV >= 2.0) & (sig.energy_MeV < 3.0))
    assert np.all(np.linalg.norm(sig.vertex_mm, axis=1) < 1570.0)
    # reconstructed, not truth: vertices differ from the true ones by the resolution (cm scale)
    d = np.linalg.norm(sig.vertex_mm - sig.true_vertex_mm, axis=1)
    assert 10.0 < np.median(d) < 400.0
    wide = load_event_set(files["sig"], label=1, selection=Selection(0.0, 10.0, 3000.0), cache_dir=files["cache"],
                          log=None)
    assert len(wide) > len(sig)
    truth = load_event_set(files["sig"], selection=Selection(use_reco=False), log=None)
    assert np.array_equal(truth.vertex_mm, truth.true_vertex_mm)
    assert np.all(truth.labels == 1)  # file truth label of 0nbb
    sub = load_event_set(files["sig"], label=1, max_events=50, seed=3, cache_dir=files["cache"], log=None)
    assert len(sub) == 50 and np.unique(sub.event_index).size == 50


def test_nhit_matching_equalises_histograms(sets):
    sig, bkg = sets
    ns, nb = sig.nhit(), bkg.nhit()
    a, b = nhit_match(sig, bkg, seed=5)
    assert a.size == b.size > 0
    assert np.unique(a).size == a.size and np.unique(b).size == b.size  # without replacement
    assert np.array_equal(np.sort(ns[a]), np.sort(nb[b]))
    top = max(ns.max(), nb.max()) + 1
    assert a.size == np.minimum(np.bincount(ns, minlength=top), np.bincount(nb, minlength=top)).sum()
    a2, _ = nhit_match(sig, bkg, seed=6)
    assert not np.array_equal(a, a2)  # the seed picks which events
    ab, bb = nhit_match(sig, bkg, seed=5, bootstrap=True)
    assert np.array_equal(np.sort(ns[ab]), np.sort(nb[bb]))


def test_nhit_is_paper_occupancy(sets):
    sig, _ = sets
    # 2.0-3.0 MeV 0nbb in the 28x38x38 map of the 17-inch tubes: the paper quotes ~350
    assert 250 < sig.nhit().mean() < 450
    assert np.all(sig.nhit() <= np.diff(sig.hit_offsets))


def test_splits_deterministic_and_disjoint(sets):
    sig, bkg = sets
    rep = TimeSpectrum()
    l1 = make_loaders(sig, bkg, rep, batch_size=16, seed=1)
    l2 = make_loaders(sig, bkg, rep, batch_size=16, seed=1)
    l3 = make_loaders(sig, bkg, rep, batch_size=16, seed=2)
    idx = {k: l1[k].dataset.index for k in l1}
    for k in idx:
        assert np.array_equal(idx[k], l2[k].dataset.index)
    assert not np.array_equal(idx["train"], l3["train"].dataset.index)
    assert not (set(idx["train"]) & set(idx["val"])) and not (set(idx["val"]) & set(idx["test"]))
    y = l1["train"].dataset.y
    assert abs(y.mean() - 0.5) < 0.02  # Nhit matching gives balanced classes
    ys = torch.cat([yb for _, yb in l1["val"]])
    assert np.array_equal(ys.numpy(), l1["val"].dataset.y)


def test_loader_workers_match_in_process(sets):
    sig, bkg = sets
    rep = KamNetMap(CPU_MAP)
    a = make_loaders(sig, bkg, rep, batch_size=32, seed=3, num_workers=0)["test"]
    b = make_loaders(sig, bkg, rep, batch_size=32, seed=3, num_workers=1)["test"]
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa["x"], xb["x"]) and torch.equal(ya, yb)
        assert xa["x"].shape[1:] == CPU_MAP.shape and xa["x"].dtype == torch.float32


def test_map_conserves_fast_tube_charge_and_matches_eq1(sets):
    sig, _ = sets
    idx = np.arange(min(20, len(sig)))
    x = KamNetMap(PAPER_MAP)(sig, idx)["x"].numpy()
    assert x.shape == (idx.size, 28, 38, 38)
    fast = sig.pmt_mask(None)
    for i in idx:
        a, b = sig.hit_offsets[i], sig.hit_offsets[i + 1]
        q = sig.hit_charge_pe[a:b][fast[sig.hit_pmt[a:b]]].sum()
        assert x[i].sum() == pytest.approx(q, rel=1e-5)
    # the time spectrum is the map summed over angles (same tau, eq. 1-2)
    ts = TimeSpectrum(n_bins=28)(sig, idx)["x"].numpy()
    assert np.allclose(ts, x.sum(axis=(2, 3)), rtol=1e-5, atol=1e-4)
    # per-hit tau against the chunk-level implementation of eq. 1-2
    ch = EventChunk(sig.hit_offsets[:idx.size + 1], sig.hit_pmt[:sig.hit_offsets[idx.size]],
                    sig.hit_time_ns[:sig.hit_offsets[idx.size]], sig.hit_charge_pe[:sig.hit_offsets[idx.size]],
                    sig.true_vertex_mm[idx], sig.true_evis_MeV[idx], sig.true_evis_MeV[idx], np.zeros(idx.size),
                    np.zeros(idx.size, np.int8))
    chf = select_pmts(ch, fast)
    tau = proper_times(chf, sig.pmt_pos_mm, sig.vertex_mm[idx], sig.v_mm_per_ns)
    pc = PointCloud(n_max=2000, pmt_types=sig.fast_types)(sig, idx)
    got = np.sort(pc["x"][pc["mask"]][:, 3].numpy())
    assert np.allclose(got, np.sort(tau), atol=1e-3)


def _toy_set(times_ns, charges, n_max_pmt=10) -> EventSet:
    """One event at the centre hit on PMTs on the sphere (all TOF equal)."""
    cfg = load_config("klz800")
    R = cfg.geometry.pmt_radius_mm
    m = len(times_ns)
    pos = np.zeros((n_max_pmt, 3))
    pos[:, 2] = R
    pos[1::2, 2] = -R
    return EventSet(np.array([0, m]), np.arange(m, dtype=np.int16), np.asarray(times_ns, np.float32),
                    np.asarray(charges, np.float32), np.zeros((1, 3)), np.ones(1), np.zeros(1), np.zeros((1, 3)),
                    np.ones(1), np.ones(1, np.int8), np.zeros(1, np.int16), np.zeros(1, np.int32), np.zeros(1, np.int64),
                    ["toy"], ["toy"], pos, np.zeros(n_max_pmt, np.int16), np.array([1.0]), 169.5)


def test_under_and_overflow_go_to_edge_bins():
    # equal charges: T0 = mean of the corrected times (eq. 2), so taus are -200, 0, +200, 0 ns
    es = _toy_set([0.0, 200.0, 400.0, 200.0], [1.0, 1.0, 1.0, 1.0])
    spec = MapSpec(n_t=28)
    x = KamNetMap(spec, pmt_types=(0,))(es, np.array([0]))["x"].numpy()[0]
    per_t = x.sum(axis=(1, 2))
    assert per_t[0] == 1.0 and per_t[-1] == 1.0
    assert per_t[int((0.0 - spec.t_min_ns) // spec.dt_ns)] == 2.0
    assert per_t.sum() == 4.0


def test_point_cloud_mask_and_truncation(sets):
    sig, _ = sets
    idx = np.arange(min(16, len(sig)))
    nh = np.diff(sig.hit_offsets)[idx]
    pc = PointCloud(n_max=2000)(sig, idx)
    assert np.array_equal(pc["mask"].sum(1).numpy(), nh)
    assert torch.all(pc["x"][~pc["mask"]] == 0)
    dirs = pc["x"][pc["mask"]][:, :3].numpy()
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-5)
    small = PointCloud(n_max=100)(sig, idx)
    assert torch.all(small["mask"].sum(1) == 100)
    for i in range(idx.size):
        full_tau = pc["x"][i][pc["mask"][i]][:, 3]
        kept = small["x"][i][:, 3]
        # the 100 kept hits are the earliest 100
        assert torch.allclose(torch.sort(kept).values, torch.sort(full_tau).values[:100])


def test_bad_events_counted_and_skipped(tmp_path, files):
    with EventFile(files["sig"]) as f:
        ch = f.read(0, 60, truth_detail=False)
        cfg_json, pos, typ = f.detector_json, f.pmt_positions_mm(), f.pmt_types()
        run = f.run
    o = ch.hit_offsets
    ch.hit_time_ns = ch.hit_time_ns.copy()
    ch.hit_pmt = ch.hit_pmt.astype(np.int16).copy()
    ch.hit_time_ns[o[1] + 3] = np.nan  # event 1: NaN time
    ch.hit_pmt[o[2] + 1] = 30000  # event 2: PMT id outside the layout
    keep = np.ones(o[-1], bool)
    keep[o[3]:o[4]] = False  # event 3: no hits
    nh = np.diff(o)
    nh[3] = 0
    ch = EventChunk(np.concatenate([[0], np.cumsum(nh)]), ch.hit_pmt[keep], ch.hit_time_ns[keep],
                    ch.hit_charge_pe[keep], ch.vertex_mm, ch.edep_MeV, ch.evis_MeV, ch.npe, ch.label,
                    dep_offsets=np.zeros(61, np.int64), prim_offsets=np.zeros(61, np.int64))  # writer needs them
    p = tmp_path / "bad.h5"
    write_events(p, [ch], run, cfg_json, "klz800", pos, typ)
    lines = []
    es = load_event_set(p, label=1, selection=Selection(0.0, 100.0, 1e5), cache_dir=files["cache"], log=lines.append)
    assert es.skipped.get("nan_hit") == 1 and es.skipped.get("bad_pmt_id") == 1 and es.skipped.get("no_hits") == 1
    assert not {1, 2, 3} & set(es.event_index.tolist())
    assert len(lines) == 1 and "3 skipped" in lines[0]
    assert np.isfinite(es.hit_time_ns).all() and es.hit_pmt.max() < pos.shape[0]


def test_mapspec_configurable():
    s = MapSpec.from_dt(3.0, n_theta=16, n_phi=16)
    assert s.n_t == 14 and s.dt_ns == pytest.approx(3.0)
    assert CPU_MAP.n_cells < PAPER_MAP.n_cells == 28 * 38 * 38
    with pytest.raises(ValueError):
        MapSpec(n_t=0)
    with pytest.raises(ValueError):
        MapSpec(grid="hexagons")
    # equal-area grid: PMTs spread evenly over cells (uniform layout), theta-phi grid crowds the poles
    from scintnet.detector.pmts import build_pmt_array
    from scintnet.features.maps import pmt_cells

    pos = build_pmt_array(load_config("klz800")).pos_mm
    ea = np.bincount(pmt_cells(pos, MapSpec(n_theta=8, n_phi=8, grid="equal_area")), minlength=64)
    tp = np.bincount(pmt_cells(pos, MapSpec(n_theta=8, n_phi=8)), minlength=64)
    assert ea.std() / ea.mean() < 0.2 < tp.std() / tp.mean()


def test_vertex_frame_point_cloud_geometry_and_joint_rotation(sets):
    """Vertex frame: u_i = (p_i - v)/|p_i - v|, u.v/R, |v|/R; rotating detector and vertex together
    rotates u and leaves every other feature (and a vertex-frame rotinv's output) unchanged."""
    import dataclasses

    from scipy.spatial.transform import Rotation

    from scintnet.models.registry import build_model

    sig, _ = sets
    idx = np.arange(min(12, len(sig)))
    cen = PointCloud(n_max=2000)(sig, idx)
    vtx = PointCloud(n_max=2000, frame="vertex")(sig, idx)
    assert vtx["x"].shape[-1] == 8 and torch.equal(vtx["mask"], cen["mask"])
    # tau, charge, type are the same hits in the same order
    assert torch.equal(vtx["x"][..., 3:6], cen["x"][..., 3:6])
    R = np.linalg.norm(sig.pmt_pos_mm, axis=1).mean()
    for b, e in enumerate(idx):
        pmts = sig.hit_pmt[sig.hit_offsets[e]:sig.hit_offsets[e + 1]]
        v = sig.vertex_mm[e]
        u = sig.pmt_pos_mm[pmts] - v
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        got = vtx["x"][b, :pmts.size].numpy().astype(np.float64)
        assert np.allclose(got[:, :3], u, atol=1e-6)
        assert np.allclose(got[:, 6], u @ v / R, atol=1e-6)
        assert np.allclose(got[:, 7], np.linalg.norm(v) / R, atol=1e-6)
        # off-centre vertex: the light directions differ from the PMT directions seen from the centre
        if np.linalg.norm(v) > 300:
            assert np.abs(got[:, :3] - cen["x"][b, :pmts.size, :3].numpy()).max() > 0.02
    rot = Rotation.random(random_state=3).as_matrix()
    rs = dataclasses.replace(sig, pmt_pos_mm=sig.pmt_pos_mm @ rot.T, vertex_mm=sig.vertex_mm @ rot.T, _nhit=None)
    vr = PointCloud(n_max=2000, frame="vertex")(rs, idx)
    m = vtx["mask"]
    assert np.allclose(vr["x"][m][:, :3].numpy(), vtx["x"][m][:, :3].numpy() @ rot.T, atol=1e-5)
    torch.testing.assert_close(vr["x"][m][:, 3:], vtx["x"][m][:, 3:], rtol=0, atol=2e-4)
    torch.manual_seed(0)
    model = build_model("rotinv", "tiny_vtx").double().eval()
    n = model.cfg.max_hits
    with torch.no_grad():
        y = model(vtx["x"][:, :n].double(), vtx["mask"][:, :n])
        yr = model(vr["x"][:, :n].double(), vr["mask"][:, :n])
    torch.testing.assert_close(yr, y, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="frame"):
        PointCloud(frame="detector")


def test_nhit_weights_equalise_the_weighted_histograms(sets):
    """Weighting is matching's expectation: per Nhit bin both classes weigh min(n_sig, n_bkg) (× one scale)."""
    from scintnet.features.dataset import make_loaders, nhit_weights

    sig, bkg = sets
    ws, wb = nhit_weights(sig, bkg)
    ns, nb = sig.nhit(), bkg.nhit()
    top = int(max(ns.max(), nb.max())) + 1
    hs, hb = np.bincount(ns, ws, minlength=top), np.bincount(nb, wb, minlength=top)
    np.testing.assert_allclose(hs, hb, rtol=1e-5, atol=1e-5)
    assert (ws.sum() + wb.sum()) / (ws.size + wb.size) == pytest.approx(1.0, rel=1e-5)
    k = np.minimum(np.bincount(ns, minlength=top), np.bincount(nb, minlength=top))
    assert np.all(hs[k == 0] == 0) and np.count_nonzero(ws) > nhit_match(sig, bkg, 0)[0].size
    loaders = make_loaders(sig, bkg, TimeSpectrum(n_bins=7), batch_size=16, seed=3, nhit_weighting=True)
    tr = loaders["train"].dataset
    assert tr.w is not None and len(next(iter(loaders["train"]))) == 3 and np.all(tr.w > 0)
    assert loaders["val"].dataset.w is None  # validation stays matched by resampling
    # the weighted training split holds more events than matching would keep
    assert len(tr) > len(make_loaders(sig, bkg, TimeSpectrum(n_bins=7), batch_size=16, seed=3)["train"].dataset)


def _dipole(x, grid="theta_phi"):
    """|sum q d| / sum q of the angular charge maps x [B, theta, phi] (d: pixel centres)."""
    from scintnet.features.maps import pixel_directions

    d = pixel_directions(x.shape[1], x.shape[2], grid)
    q = x.reshape(len(x), -1)
    return np.linalg.norm(q @ d, axis=1) / q.sum(1)


def test_vertex_frame_map_bins_directions_from_the_vertex(sets):
    from scintnet.features.maps import pmt_angle_bins

    sig, _ = sets
    spec = MapSpec(n_t=28, n_theta=12, n_phi=12)
    idx = np.arange(min(40, len(sig)))
    xc = KamNetMap(spec)(sig, idx)["x"].numpy()
    xv = KamNetMap(spec, frame="vertex")(sig, idx)["x"].numpy()
    # only the angular cell changes: the same charges at the same proper times
    assert np.allclose(xv.sum(axis=(2, 3)), xc.sum(axis=(2, 3)), rtol=1e-5, atol=1e-4)
    # each used hit lands in the cell of its direction from the reconstructed vertex
    fast = sig.pmt_mask(None)
    e = int(idx[0])
    a, b = sig.hit_offsets[e], sig.hit_offsets[e + 1]
    p = sig.hit_pmt[a:b]
    keep = fast[p]
    it, ip = pmt_angle_bins(sig.pmt_pos_mm[p[keep]] - sig.vertex_mm[e], spec)
    want = np.zeros((spec.n_theta, spec.n_phi))
    np.add.at(want, (it, ip), sig.hit_charge_pe[a:b][keep])
    assert np.allclose(xv[0].sum(0), want, rtol=1e-5, atol=1e-4)
    # at the centre the two frames agree
    one = sig.subset(idx[:5])
    one.vertex_mm[:] = 0.0
    assert np.array_equal(KamNetMap(spec, frame="vertex")(one, np.arange(5))["x"].numpy(),
                          KamNetMap(spec)(one, np.arange(5))["x"].numpy())
    with pytest.raises(ValueError, match="frame"):
        KamNetMap(spec, frame="detector")


def test_vertex_frame_removes_the_vertex_offset_dipole(sets):
    """Seen from the centre, an off-centre event is brighter towards its vertex; seen from the vertex
    the tubes per solid angle (~d^2) and light per tube (~1/d^2) cancel, so the map is nearly flat."""
    sig, bkg = sets
    spec = MapSpec(n_t=28, n_theta=12, n_phi=12)
    out = {}
    for frame in ("centre", "vertex"):
        d = []
        for es in (sig, bkg):
            r = np.linalg.norm(es.vertex_mm, axis=1)
            idx = np.flatnonzero(r > 1000.0)
            d.append(_dipole(KamNetMap(spec, frame=frame)(es, idx)["x"].numpy().sum(1)))
        out[frame] = np.concatenate(d)
    assert len(out["centre"]) >= 20
    assert np.median(out["vertex"]) < 0.5 * np.median(out["centre"])


def test_energy_matching_equalises_the_energy_histograms(sets):
    from scintnet.features.dataset import ENERGY_MATCH_BIN_MeV, nhit_weights

    sig, bkg = sets
    i, j = nhit_match(sig, bkg, seed=3, match_on="energy")
    assert i.size == j.size > 0
    lo = min(sig.energy_MeV.min(), bkg.energy_MeV.min())  # the bins start at the lowest energy
    bin_of = lambda e: np.floor((e - lo) / ENERGY_MATCH_BIN_MeV).astype(int)  # noqa: E731
    assert np.array_equal(np.sort(bin_of(sig.energy_MeV[i])), np.sort(bin_of(bkg.energy_MeV[j])))
    # mean energies then agree to a fraction of a bin, which the Nhit matching does not promise
    assert abs(sig.energy_MeV[i].mean() - bkg.energy_MeV[j].mean()) < ENERGY_MATCH_BIN_MeV
    ws, wb = nhit_weights(sig, bkg, match_on="energy")
    assert np.isclose(ws.sum(), wb.sum(), rtol=1e-4)
    with pytest.raises(ValueError, match="match_on"):
        nhit_match(sig, bkg, seed=3, match_on="radius")


def test_rotation_augmentation_moves_the_pattern_and_keeps_the_times(sets):
    """Rotating the detector about z by k map cells rolls the centre-frame map by k cells in phi; any
    rotation keeps the proper-time spectrum (times of flight are distances); RandomRotation draws its
    rotation from the batch alone and keeps the charge."""
    sig, _ = sets
    idx = np.arange(min(16, len(sig)))
    spec = MapSpec(n_t=8, n_theta=10, n_phi=12)
    rep = KamNetMap(spec=spec)
    base = rep(sig, idx)["x"]
    phi = 2 * np.pi * 3 / spec.n_phi
    rz = np.array([[np.cos(phi), -np.sin(phi), 0], [np.sin(phi), np.cos(phi), 0], [0, 0, 1]])
    rolled = rep(rotate_events(sig, rz), idx)["x"]
    # phi bins of the equiangular grid: the pattern turns by three cells (PMTs within float rounding
    # of a bin edge may change cell: compare the charge that moved as expected)
    expect = torch.roll(base, shifts=3, dims=-1)
    assert float((rolled - expect).abs().sum()) < 1e-3 * float(base.sum())
    assert float((rolled - base).abs().sum()) > 0.3 * float(base.sum())  # the pattern did move
    from scipy.spatial.transform import Rotation

    ts = TimeSpectrum()
    r = Rotation.random(random_state=5).as_matrix()
    torch.testing.assert_close(ts(rotate_events(sig, r), idx)["x"], ts(sig, idx)["x"], rtol=1e-5, atol=1e-4)
    aug = RandomRotation(rep, seed=1)
    a, b = aug(sig, idx)["x"], aug(sig, idx)["x"]
    assert torch.equal(a, b)  # a function of the batch: resumes and loader workers agree
    other = aug(sig, idx[::-1].copy())["x"]
    assert not torch.allclose(other.flip(0), a)  # another batch, another rotation
    torch.testing.assert_close(a.sum((1, 2, 3)), base.sum((1, 2, 3)), rtol=1e-4, atol=1e-3)
    assert not torch.allclose(a, base)
    with pytest.raises(ValueError, match="rotation"):
        rotate_events(sig, np.diag([1.0, 1.0, -1.0]))
