"""Top-vs-QCD jet samples generated locally (Pythia 8 + FastJet), with a simple parametrised detector.

No pip package ships the public top-tagging data set (Kasieczka et al., SciPost Phys. 7 (2019) 014), so
we generate its equivalent: pp at 14 TeV, p^_T 500-700 GeV; hadronic ttbar (signal) and QCD dijets
(background); anti-kT R = 0.8 jets with 550 < pT < 650 GeV and |eta| < 2; a top jet must contain its top
(Delta R < 0.8) and all three of its decay quarks (b q q').  Up to 200 constituents per jet are kept.

Detector (``Smearing``, switch off for generator level): a simplified ATLAS-like response after the
Delphes ATLAS card -- tracks (|eta| < 2.5, pT > 0.5 GeV) with sigma(pT)/pT = 1.3 % (+) 0.036 % pT/GeV;
photons summed in ECAL cells of 0.025 x 0.025 with 10 %/sqrt(E) (+) 0.7 %; neutral hadrons (and charged
particles outside the tracker) in HCAL cells of 0.1 x 0.1 with 50 %/sqrt(E) (+) 3 %; cell thresholds
0.5 / 1 GeV (tuning choices).  Cells become massless constituents at the cell centre.

Seeding: a chunk's Pythia seed is derived from (seed, process, chunk index), so a sample depends only on
(seed, chunk size) and not on the number of workers; finished chunks are kept and reused on a re-run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import ConfigError
from ..io.jets import JetSample, read_jets, write_jets

PROCESSES = {"top": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
             "qcd": ("HardQCD:all = on",)}
NEUTRINOS = (12, 14, 16)


class JetConfigError(ConfigError):
    """Invalid jet-generation settings."""


@dataclass(frozen=True)
class Smearing:
    enabled: bool = True
    track_eta_max: float = 2.5
    track_pt_min_GeV: float = 0.5
    track_res_const: float = 0.013
    track_res_per_GeV: float = 3.6e-4
    ecal_cell: float = 0.025
    ecal_stochastic: float = 0.10
    ecal_constant: float = 0.007
    ecal_threshold_GeV: float = 0.5
    hcal_cell: float = 0.1
    hcal_stochastic: float = 0.50
    hcal_constant: float = 0.03
    hcal_threshold_GeV: float = 1.0
    eta_max: float = 4.9


@dataclass(frozen=True)
class JetGenConfig:
    sqrt_s_GeV: float = 14000.0
    pthat_min_GeV: float = 500.0
    pthat_max_GeV: float = 700.0
    jet_r: float = 0.8
    pt_min_GeV: float = 550.0
    pt_max_GeV: float = 650.0
    eta_max: float = 2.0
    max_constituents: int = 200
    batch_events: int = 100
    smearing: Smearing = field(default_factory=Smearing)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name != "smearing" and (not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0):
                raise JetConfigError(f"jets.{f.name} must be a finite positive number, not {v!r}")
        if not (self.pthat_min_GeV < self.pthat_max_GeV and self.pt_min_GeV < self.pt_max_GeV):
            raise JetConfigError("need pthat_min < pthat_max and pt_min < pt_max")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _pythia(process: str, cfg: JetGenConfig, seed: int):
    import pythia8mc

    py = pythia8mc.Pythia("", False)
    for s in (f"Beams:eCM = {cfg.sqrt_s_GeV}", f"PhaseSpace:pTHatMin = {cfg.pthat_min_GeV}",
              f"PhaseSpace:pTHatMax = {cfg.pthat_max_GeV}", "Random:setSeed = on", f"Random:seed = {seed}",
              "Print:quiet = on", *PROCESSES[process]):
        if not py.readString(s):
            raise JetConfigError(f"Pythia rejected the setting {s!r}")
    if not py.init():
        raise JetConfigError(f"Pythia failed to initialise for {process}")
    return py


def chunk_seed(seed: int, process: str, chunk: int) -> int:
    """Pythia seed (1..900,000,000) of one chunk."""
    h = hashlib.sha256(f"{seed}:{process}:{chunk}".encode()).digest()
    return 1 + int.from_bytes(h[:8], "little") % 899_999_999


def _eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-12)), np.arctan2(py, px)


def detector_candidates(ev, px, py, pz, e, pid, charge, sm: Smearing, rng: np.random.Generator):
    """Reconstructed candidates (flat, grouped by event) from final-state particles.

    Returns ``(ev, px, py, pz, e, pid, charge)``; without smearing the particles themselves.
    """
    if not sm.enabled:
        return ev, px, py, pz, e, pid, charge
    pt, eta, phi = _eta_phi(px, py, pz)
    keep = np.abs(eta) < sm.eta_max
    track = keep & (charge != 0) & (np.abs(eta) < sm.track_eta_max) & (pt > sm.track_pt_min_GeV)
    photon = keep & ~track & (pid == 22)
    hadron = keep & ~track & ~photon & ~((charge != 0) & (pt <= sm.track_pt_min_GeV) & (np.abs(eta) < sm.track_eta_max))
    # tracks: momentum scaled by the smeared pT
    s = 1.0 + np.hypot(sm.track_res_const, sm.track_res_per_GeV * pt[track]) * rng.standard_normal(track.sum())
    s = np.maximum(s, 0.05)
    t_px, t_py, t_pz = px[track] * s, py[track] * s, pz[track] * s
    m2 = np.maximum(e[track] ** 2 - px[track] ** 2 - py[track] ** 2 - pz[track] ** 2, 0.0)
    t_e = np.sqrt(t_px**2 + t_py**2 + t_pz**2 + m2)
    parts = [(ev[track], t_px, t_py, t_pz, t_e, pid[track], charge[track])]
    for sel, cell, a, b, thr, code in ((photon, sm.ecal_cell, sm.ecal_stochastic, sm.ecal_constant,
                                        sm.ecal_threshold_GeV, 22),
                                       (hadron, sm.hcal_cell, sm.hcal_stochastic, sm.hcal_constant,
                                        sm.hcal_threshold_GeV, 130)):
        if not sel.any():
            continue
        ie = np.floor(eta[sel] / cell).astype(np.int64)
        ip = np.floor((phi[sel] + np.pi) / cell).astype(np.int64)
        key = (ev[sel].astype(np.int64) * 100_000 + (ie + 50_000)) * 100_000 + ip
        uk, inv = np.unique(key, return_inverse=True)
        ecell = np.bincount(inv, weights=e[sel])
        ecell = ecell * (1.0 + np.sqrt(a * a / np.maximum(ecell, 1e-9) + b * b) * rng.standard_normal(len(ecell)))
        ok = ecell > thr
        uk, ecell = uk[ok], ecell[ok]
        c_ev = uk // 10_000_000_000
        c_eta = ((uk // 100_000) % 100_000 - 50_000 + 0.5) * cell
        c_phi = (uk % 100_000 + 0.5) * cell - np.pi
        c_pt = ecell / np.cosh(c_eta)
        parts.append((c_ev, c_pt * np.cos(c_phi), c_pt * np.sin(c_phi), c_pt * np.sinh(c_eta), ecell,
                      np.full(len(ecell), code, np.int32), np.zeros(len(ecell), np.int8)))
    cat = [np.concatenate([p[i] for p in parts]) for i in range(7)]
    order = np.argsort(cat[0], kind="stable")
    return tuple(c[order] for c in cat)


_BANNER_DONE = False


def _silence_fastjet_banner() -> None:
    """FastJet prints its banner to stdout at the first clustering of a process: do that one with the
    stdout descriptor pointed at /dev/null, so ``--json`` output stays clean."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    import os
    import sys

    import awkward as ak
    import fastjet

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            p = ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 2.0}]], with_name="Momentum4D")
            fastjet.ClusterSequence(p, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)).inclusive_jets()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_DONE = True


def _flat(arr, name: str) -> np.ndarray:
    """A record field of a jagged awkward array, flattened to NumPy (raw field: no vector dispatch)."""
    import awkward as ak

    return ak.to_numpy(ak.flatten(arr[name], axis=None))


def _top_truth(prt) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat arrays over the tops of a batch: event, (eta, phi) of the top, and (eta, phi) of its three
    decay quarks [n_top, 3, 2] (NaN where a quark is missing)."""
    import awkward as ak

    q = prt[(prt.status == -23) & (abs(prt.id) <= 5)]
    mid = prt.id[q.mother1]
    is_b = (abs(q.id) == 5) & (abs(mid) == 6)
    top_i = q.mother1[is_b]
    tp = prt.p[top_i]
    t_ev = np.repeat(np.arange(len(prt)), ak.to_numpy(ak.num(top_i)))
    _, t_eta, t_phi = _eta_phi(_flat(tp, "px"), _flat(tp, "py"), _flat(tp, "pz"))
    t_sign = np.sign(ak.to_numpy(ak.flatten(prt.id[top_i])))
    q_ev = np.repeat(np.arange(len(prt)), ak.to_numpy(ak.num(q)))
    _, q_eta, q_phi = _eta_phi(_flat(q.p, "px"), _flat(q.p, "py"), _flat(q.p, "pz"))
    q_sign = np.sign(ak.to_numpy(ak.flatten(mid)))  # t -> b W+, W+ -> q qbar': all "positive"
    quarks = np.full((len(t_ev), 3, 2), np.nan)
    for k in range(len(t_ev)):
        mine = np.flatnonzero((q_ev == t_ev[k]) & (q_sign == t_sign[k]))[:3]
        quarks[k, : len(mine), 0], quarks[k, : len(mine), 1] = q_eta[mine], q_phi[mine]
    return t_ev, t_eta, t_phi, quarks


def _dr(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def generate_chunk(process: str, n_jets: int, seed: int, cfg: JetGenConfig) -> JetSample:
    """``n_jets`` accepted jets of ``process`` ('top' or 'qcd') from one seeded Pythia run."""
    import awkward as ak
    import fastjet

    if process not in PROCESSES:
        raise JetConfigError(f"unknown process {process!r} (top or qcd)")
    _silence_fastjet_banner()
    py = _pythia(process, cfg, seed)
    rng = np.random.default_rng(seed)
    charge_of: dict[int, int] = {}
    jd = fastjet.JetDefinition(fastjet.antikt_algorithm, cfg.jet_r)
    jets_out: dict[str, list] = {k: [] for k in ("pt_GeV", "eta", "phi", "mass_GeV")}
    consts: dict[str, list] = {k: [] for k in ("pt_GeV", "eta", "phi", "e_GeV", "charge", "pid")}
    counts: list[int] = []
    while len(counts) < n_jets:
        prt = py.nextBatch(cfg.batch_events).prt
        fs = prt[(prt.status > 0) & (abs(prt.id) != 12) & (abs(prt.id) != 14) & (abs(prt.id) != 16)]
        n_per = ak.to_numpy(ak.num(fs))
        ev = np.repeat(np.arange(len(fs)), n_per)
        px, pyy, pz, e = (ak.to_numpy(ak.flatten(getattr(fs.p, c))) for c in ("px", "py", "pz", "e"))
        pid = ak.to_numpy(ak.flatten(fs.id)).astype(np.int32)
        for u in np.unique(pid):
            if int(u) not in charge_of:
                charge_of[int(u)] = int(round(py.particleData.charge(int(u))))
        charge = np.array([charge_of[int(i)] for i in pid], np.int8) if len(pid) else np.zeros(0, np.int8)
        cev, cpx, cpy, cpz, ce, cpid, cq = detector_candidates(ev, px, pyy, pz, e, pid, charge, cfg.smearing, rng)
        cnt = np.bincount(cev, minlength=len(fs))
        p4 = ak.unflatten(ak.zip({"px": cpx, "py": cpy, "pz": cpz, "E": ce}, with_name="Momentum4D"), cnt)
        cs = fastjet.ClusterSequence(p4, jd)
        jets = cs.inclusive_jets(min_pt=cfg.pt_min_GeV)
        cidx = cs.constituent_index(min_pt=cfg.pt_min_GeV)
        j_ev = np.repeat(np.arange(len(fs)), ak.to_numpy(ak.num(jets)))
        jpx, jpy, jpz, je = (_flat(jets, c) for c in ("px", "py", "pz", "E"))
        jpt, jeta, jphi = _eta_phi(jpx, jpy, jpz)
        jm = np.sqrt(np.maximum(je**2 - jpx**2 - jpy**2 - jpz**2, 0.0))
        per_jet = ak.flatten(cidx, axis=1)
        c_off = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(per_jet)))])
        c_flat = ak.to_numpy(ak.flatten(per_jet, axis=None)).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(cnt)])
        sel = (jpt > cfg.pt_min_GeV) & (jpt < cfg.pt_max_GeV) & (np.abs(jeta) < cfg.eta_max)
        if process == "top":
            t_ev, t_eta, t_phi, quarks = _top_truth(prt)
            for j in np.flatnonzero(sel):
                tops = np.flatnonzero(t_ev == j_ev[j])
                sel[j] = any(_dr(jeta[j], jphi[j], t_eta[t], t_phi[t]) < cfg.jet_r
                             and np.all(_dr(jeta[j], jphi[j], quarks[t, :, 0], quarks[t, :, 1]) < cfg.jet_r)
                             for t in tops)  # NaN (missing quark) compares False
        for j in np.flatnonzero(sel)[: n_jets - len(counts)]:
            idx = starts[j_ev[j]] + c_flat[c_off[j]:c_off[j + 1]]
            cpt, ceta, cphi = _eta_phi(cpx[idx], cpy[idx], cpz[idx])
            order = np.argsort(-cpt, kind="stable")[: cfg.max_constituents]
            idx = idx[order]
            for k, v in (("pt_GeV", cpt[order]), ("eta", ceta[order]), ("phi", cphi[order]), ("e_GeV", ce[idx]),
                         ("charge", cq[idx]), ("pid", cpid[idx])):
                consts[k].append(v)
            for k, v in (("pt_GeV", jpt[j]), ("eta", jeta[j]), ("phi", jphi[j]), ("mass_GeV", jm[j])):
                jets_out[k].append(v)
            counts.append(len(idx))
    label = 1 if process == "top" else 0
    jets_arr = {k: np.asarray(v, np.float32) for k, v in jets_out.items()}
    jets_arr["label"] = np.full(len(counts), label, np.int8)
    return JetSample(jets_arr, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     {k: np.concatenate(v) if v else np.zeros(0) for k, v in consts.items()})


def _chunk_task(task: tuple) -> str:
    process, chunk, n, seed, cfg_json, path = task
    cfg = config_from_dict(json.loads(cfg_json))
    s = chunk_seed(seed, process, chunk)
    write_jets(path, generate_chunk(process, n, s, cfg), cfg.to_dict(), s)
    return path


def config_from_dict(d: dict[str, Any]) -> JetGenConfig:
    d = dict(d)
    sm = Smearing(**d.pop("smearing", {}))
    return JetGenConfig(**d, smearing=sm)


def run_generate(out: str | Path, n_top: int, n_qcd: int, seed: int = 1, workers: int = 1,
                 chunk_jets: int = 2000, cfg: JetGenConfig = JetGenConfig(), overwrite: bool = False,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate ``n_top`` top and ``n_qcd`` QCD jets into ``out`` (resumable: finished chunks are reused)."""
    import time

    from ..executor import get_executor

    out = Path(out)
    step = log or (lambda m: None)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass --overwrite to replace it)")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: no such folder")
    if n_top < 0 or n_qcd < 0 or n_top + n_qcd == 0 or chunk_jets < 1:
        raise JetConfigError("need n_top, n_qcd >= 0 (not both 0) and chunk_jets >= 1")
    chunks_dir = out.with_name(f".{out.name}.chunks-{seed}-{chunk_jets}")
    chunks_dir.mkdir(exist_ok=True)
    cfg_json = json.dumps(cfg.to_dict())
    tasks = []
    for process, n in (("top", n_top), ("qcd", n_qcd)):
        for c in range((n + chunk_jets - 1) // chunk_jets):
            size = min(chunk_jets, n - c * chunk_jets)
            tasks.append((process, c, size, seed, cfg_json, str(chunks_dir / f"{process}_{c:05d}_{size}.h5")))
    todo = [t for t in tasks if not Path(t[5]).exists()]
    step(f"jets: {len(tasks)} chunks, {len(tasks) - len(todo)} already done")
    t0 = time.perf_counter()
    for k, (task, _) in enumerate(get_executor(workers).map_unordered(_chunk_task, todo)):
        el = time.perf_counter() - t0
        step(f"jets: chunk {task[0]} {task[1]} done ({k + 1}/{len(todo)}, {el:.0f} s, "
             f"ETA {el / (k + 1) * (len(todo) - k - 1):.0f} s)")
    sample = JetSample.concat([read_jets(t[5])[0] for t in tasks])
    write_jets(out, sample, cfg.to_dict(), seed)
    shutil.rmtree(chunks_dir)
    return {"out": str(out), "n_top": int(n_top), "n_qcd": int(n_qcd), "n_jets": len(sample),
            "seconds": time.perf_counter() - t0, "workers": workers,
            "mean_constituents": float(np.diff(sample.offsets).mean())}
