"""Double-pulse identification: a delayed second flash (⁹⁰Zr isomer γ, Bi–Po pile-up) in one event."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from scintnet.detector.config import load_config
from scintnet.detector.pmts import build_pmt_array
from scintnet.evaluate.metrics import rejection_at_acceptance
from scintnet.reco.pileup import DoublePulse, apply_cut, cut_for_signal_loss, second_pulse_fraction
from scintnet.reco.timing import build_time_pdf_table
from scintnet.reco.vertex import fit_vertices
from scintnet.validate.common import simulate_events


def _pile_up(a, b, delay_ns: float, window_ns: tuple[float, float]):
    """Event i of ``a`` and event i of ``b`` (``delay_ns`` later) as one readout: per PMT the earlier
    first-hit time and the summed charge, hits outside the readout window dropped (what the
    digitiser records for two flashes in one trigger)."""
    off, pmt, t, q = [0], [], [], []
    for e in range(a.n_events):
        sa, sb = slice(a.hit_offsets[e], a.hit_offsets[e + 1]), slice(b.hit_offsets[e], b.hit_offsets[e + 1])
        p = np.concatenate([a.hit_pmt[sa], b.hit_pmt[sb]])
        tt = np.concatenate([a.hit_time_ns[sa], b.hit_time_ns[sb] + delay_ns])
        qq = np.concatenate([a.hit_charge_pe[sa], b.hit_charge_pe[sb]])
        o = np.lexsort((tt, p))
        p, tt, qq = p[o], tt[o], qq[o]
        first = np.r_[True, p[1:] != p[:-1]]
        qsum = np.add.reduceat(qq, np.flatnonzero(first))
        p, tt = p[first], tt[first]
        keep = (tt >= window_ns[0]) & (tt < window_ns[1])
        pmt.append(p[keep])
        t.append(tt[keep])
        q.append(qsum[keep])
        off.append(off[-1] + int(keep.sum()))
    return SimpleNamespace(hit_offsets=np.array(off), hit_pmt=np.concatenate(pmt), hit_time_ns=np.concatenate(t),
                           hit_charge_pe=np.concatenate(q), vertex_mm=a.vertex_mm, n_events=a.n_events)


@pytest.fixture(scope="module")
def flashes():
    cfg = load_config("klz800")
    pmts = build_pmt_array(cfg)
    n = 150
    single = simulate_events(cfg, "klz800", "electron", n, 1, vertex="sphere:1500", energy_MeV=2.4)
    prompt = simulate_events(cfg, "klz800", "electron", n, 2, vertex="sphere:1500", energy_MeV=1.3)
    late = simulate_events(cfg, "klz800", "gamma", n, 3, vertex="sphere:1500", energy_MeV=1.13)
    late.vertex_mm[:] = prompt.vertex_mm  # the second flash comes from the same nucleus
    table = build_time_pdf_table(cfg)
    v = cfg.scintillator.group_velocity_mm_per_ns

    def frac(ch):
        fit = fit_vertices(ch, pmts.pos_mm, pmts.type_index, table, v, ch.vertex_mm)
        return second_pulse_fraction(ch.hit_offsets, ch.hit_pmt, ch.hit_time_ns, fit["vertex_mm"], fit["t0_ns"],
                                     pmts.pos_mm, v), fit["t0_ns"]

    frac.pmts, frac.table, frac.v = pmts, table, v
    return cfg, single, prompt, late, frac


def test_second_flash_100ns_later_is_found_at_1_percent_signal_loss(flashes):
    cfg, single, prompt, late, frac = flashes
    f_single, t0_single = frac(single)
    piled = _pile_up(prompt, late, 100.0, cfg.pmts.readout_window_ns)
    f_piled, t0_piled = frac(piled)
    cut = cut_for_signal_loss(f_single, 0.01)
    # single flashes only put the tail of the scintillation pulse and dark hits after 30 ns
    assert np.nanmedian(f_single) < 0.1
    assert np.nanmedian(f_piled) > 2 * np.nanmedian(f_single)  # ~half the PMTs already hit by flash 1
    assert np.mean(~(f_piled <= cut)) > 0.95
    # the vertex fit's start time follows the first flash, not the charge-weighted mean of both
    assert abs(np.nanmedian(t0_piled) - np.nanmedian(t0_single)) < 3.0


def test_flashes_closer_than_the_scintillation_pulse_are_not_separable(flashes):
    cfg, single, prompt, late, frac = flashes
    f_single, _ = frac(single)
    f_close, _ = frac(_pile_up(prompt, late, 3.0, cfg.pmts.readout_window_ns))
    cut = cut_for_signal_loss(f_single, 0.01)
    assert np.mean(~(f_close <= cut)) < 0.15  # physics limit: one merged pulse


def test_kernel_matches_brute_force():
    rng = np.random.default_rng(0)
    n_ev, n_pmt = 40, 50
    pos = rng.normal(size=(n_pmt, 3)) * 1000.0
    nh = rng.integers(0, 30, n_ev)
    off = np.r_[0, np.cumsum(nh)]
    pmt = rng.integers(0, n_pmt, off[-1])
    t = rng.uniform(-50, 300, off[-1])
    vtx = rng.normal(size=(n_ev, 3)) * 100.0
    t0 = rng.normal(size=n_ev)
    cfg = DoublePulse(delay_min_ns=20.0, window_ns=15.0)
    got = second_pulse_fraction(off, pmt, t, vtx, t0, pos, 200.0, cfg)
    for e in range(n_ev):
        s = slice(off[e], off[e + 1])
        r = t[s] - np.linalg.norm(pos[pmt[s]] - vtx[e], axis=1) / 200.0 - t0[e]
        if r.size == 0:
            assert np.isnan(got[e])
            continue
        best = max([np.sum((r >= x) & (r < x + 15.0)) for x in r[r >= 20.0]], default=0)
        assert got[e] == pytest.approx(best / r.size)


def test_cut_counts_acceptance_over_all_signal_events():
    rng = np.random.default_rng(1)
    s, b = rng.normal(1, 1, 20000), rng.normal(0, 1, 20000)
    fs, fb = rng.uniform(0, 0.1, 20000), np.where(rng.random(20000) < 0.5, 0.5, rng.uniform(0, 0.1, 20000))
    cut = cut_for_signal_loss(fs, 0.01)
    assert np.mean(fs > cut) == pytest.approx(0.01, abs=0.002)
    s2, b2 = apply_cut(s, fs, cut), apply_cut(b, fb, cut)
    # threshold at 90 % of *all* signal: cut failures (score -1) count as lost signal
    thr = np.quantile(s2, 0.1)
    assert np.mean(s2 >= thr) == pytest.approx(0.9, abs=0.002)
    r_score, r_both = rejection_at_acceptance(s, b), rejection_at_acceptance(s2, b2)
    # half the background fails the cut; the rest is rejected like before at a slightly looser threshold
    assert r_both == pytest.approx(0.5 + 0.5 * r_score, abs=0.02)
    with pytest.raises(ValueError):
        cut_for_signal_loss(fs, 0.0)
    with pytest.raises(ValueError):
        apply_cut(s, fs[:10], cut)


def _interior_charge(ch, frac, spec):
    """Fraction of each event's map charge inside the time window (not in the under/overflow edge bins)."""
    from scintnet.features.maps import fill_maps, pmt_cells

    fit = fit_vertices(ch, frac.pmts.pos_mm, frac.pmts.type_index, frac.table, frac.v, ch.vertex_mm)
    cell = pmt_cells(frac.pmts.pos_mm, spec)
    n = ch.hit_offsets.size - 1
    out = np.zeros((n, spec.n_cells), np.float32)
    lo, hi = spec.gate
    fill_maps(out, np.arange(n), np.asarray(ch.hit_offsets, np.int64), ch.hit_pmt, ch.hit_time_ns, ch.hit_charge_pe,
              fit["vertex_mm"], frac.pmts.pos_mm, cell, 1.0 / frac.v, fit["t0_ns"], lo, hi, spec.t_min_ns, spec.dt_ns,
              spec.n_t, spec.n_angle)
    m = out.reshape(n, spec.n_t, -1).sum(2)
    return m[:, 1:-1].sum(1) / m.sum(1)


def test_gated_t0_keeps_the_first_flash_in_the_map_window(flashes):
    from scintnet.features.maps import CPU_MAP, MapSpec

    cfg, single, prompt, late, frac = flashes
    gated = MapSpec(n_t=CPU_MAP.n_t, n_theta=CPU_MAP.n_theta, n_phi=CPU_MAP.n_phi, t0_gate_ns=(-20.0, 30.0))
    piled = _pile_up(prompt, late, 100.0, cfg.pmts.readout_window_ns)
    s_eq2, s_gate = _interior_charge(single, frac, CPU_MAP), _interior_charge(single, frac, gated)
    p_eq2, p_gate = _interior_charge(piled, frac, CPU_MAP), _interior_charge(piled, frac, gated)
    # single flashes: the gate changes little (it only drops the slow tail and dark hits from T0); ~20 % of the
    # charge is later than the window (scintillation tail, scattered and re-emitted light: 0.79 measured)
    assert np.median(s_gate) == pytest.approx(np.median(s_eq2), abs=0.05) and np.median(s_eq2) > 0.75
    # two flashes 100 ns apart: eq. 2 puts T0 between them and empties the window; the gated T0 keeps
    # the first flash (~55 % of the light) inside it and sends the second to the overflow bin
    assert np.median(p_eq2) < 0.2
    assert np.median(p_gate) > 0.4
    with pytest.raises(ValueError, match="t0_gate_ns"):
        MapSpec(t0_gate_ns=(5.0, -5.0))
