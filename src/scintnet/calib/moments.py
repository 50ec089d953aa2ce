"""Classical per-tube calibration by the method of moments (the baseline every learned method must beat).

Each tube's statistics in data are compared with the same statistics in the nominal simulation, whose
tubes all have their type's values ``p0``; the difference is attributed to the tube:

* dark rate: hits before any light (residual < ``PRE_LIGHT_RES_NS``) per ns of open window;
* QE: hits after the light's start per expected p.e. (dark hits subtracted), data / simulation times ``qe0``
  (all of them, not only the prompt ones: a window would couple the count to the tube's offset and TTS);
* time offset: median prompt residual, data minus simulation;
* TTS: width of the prompt peak's leading half (median minus 16 % quantile: the trailing half is the
  scintillator's decay), ``s^2 = s0^2 + w_data^2 - w_sim^2``;
* single-p.e. width: charge variance of hits expecting little light (mostly one p.e.),
  ``s^2 = s0^2 + var_data / mean_data - var_sim / mean_sim`` (compound Poisson).

The approximations (no first-hit bias, no threshold loss, the emission profile inside the width) are
what a shift crew's first calibration makes; ``calib.response`` removes them.
"""

from __future__ import annotations

import numpy as np

from .samples import PRE_LIGHT_RES_NS, HitTable, PMTParams

PROMPT_NS = (-8.0, 12.0)  # residual window of the prompt light (direct photons, TTS and the ~7 ns decay)
SINGLE_PE_LAM = 0.15  # hits with this expectation are one p.e. in >= 93 % of cases (Poisson)


def _per_tube(stat, pmt: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """``stat`` of ``x`` grouped by tube (NaN where a tube has fewer than 5 entries)."""
    order = np.argsort(pmt, kind="stable")
    p, xs = pmt[order], x[order]
    bounds = np.searchsorted(p, np.arange(n + 1))
    out = np.full(n, np.nan)
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        if b - a >= 5:
            out[i] = stat(xs[a:b])
    return out


def _width(x: np.ndarray) -> float:
    q16, q50 = np.percentile(x, [16, 50])
    return q50 - q16


def tube_statistics(t: HitTable) -> dict[str, np.ndarray]:
    """The moments of every tube in ``t`` (see the module docstring)."""
    n = t.n_pmt
    pre = t.t_res_ns < PRE_LIGHT_RES_NS
    dark_per_ns = np.bincount(t.pmt[pre], minlength=n) / np.maximum(t.pre_open_ns, 1e-30)
    prompt = (t.t_res_ns >= PROMPT_NS[0]) & (t.t_res_ns < PROMPT_NS[1])
    # dark hits after the light's start: the rate times the rest of the window (t_lo_res is per hit; the
    # mean window length after PRE_LIGHT over events is the full window minus the pre-light exposure)
    w0, w1 = t.window_ns
    after_ns = (w1 - w0) * t.n_events - t.pre_open_ns
    n_light = np.bincount(t.pmt[~pre], minlength=n) - dark_per_ns * after_ns
    single = t.lam < SINGLE_PE_LAM
    return {
        "dark_per_ns": dark_per_ns,
        "pe_per_expected": n_light / np.maximum(t.lam_sum, 1e-30),
        "median_ns": _per_tube(np.median, t.pmt[prompt], t.t_res_ns[prompt], n),
        "width_ns": _per_tube(_width, t.pmt[prompt], t.t_res_ns[prompt], n),
        "q_mean": _per_tube(np.mean, t.pmt[single], t.q_pe[single], n),
        "q_var": _per_tube(np.var, t.pmt[single], t.q_pe[single], n),
    }


def _type_mean(x: np.ndarray, type_index: np.ndarray) -> np.ndarray:
    """Per tube, the mean of ``x`` over the tubes of its type (the simulation's tubes of a type are equal)."""
    out = np.empty_like(x, dtype=float)
    for t in np.unique(type_index):
        m = type_index == t
        out[m] = np.nanmean(x[m])
    return out


def moments_calibration(data: HitTable, sim: HitTable, nominal: PMTParams,
                        type_index: np.ndarray | None = None) -> PMTParams:
    """Per-tube parameters of ``data`` from its moments against the nominal simulation ``sim``.

    Ratios and differences are taken against the simulation's average over tubes of the same type (its
    tubes of a type are identical), so the simulation's per-tube counting noise is not added to the data's;
    ``type_index`` defaults to grouping tubes by their nominal (QE, TTS, width, dark rate)."""
    if type_index is None:
        _, type_index = np.unique(np.stack([nominal.qe, nominal.tts_sigma_ns, nominal.spe_sigma,
                                            nominal.dark_rate_hz], 1), axis=0, return_inverse=True)
    d, s = tube_statistics(data), tube_statistics(sim)
    s = {k: _type_mean(v, type_index) for k, v in s.items()}
    fill = lambda x, default: np.where(np.isfinite(x), x, default)  # noqa: E731  (tubes without hits)
    qe = nominal.qe * np.clip(d["pe_per_expected"], 0, None) / np.maximum(s["pe_per_expected"], 1e-30)
    dark = nominal.dark_rate_hz * d["dark_per_ns"] / np.maximum(s["dark_per_ns"], 1e-30)
    dark = np.where(s["dark_per_ns"] > 0, dark, d["dark_per_ns"] * 1e9)
    offset = fill(d["median_ns"] - s["median_ns"], 0.0) + nominal.time_offset_ns
    tts2 = nominal.tts_sigma_ns**2 + fill(d["width_ns"] ** 2 - s["width_ns"] ** 2, 0.0)
    # compound Poisson: var(Q) / E(Q) = s^2 + 1 for a Poisson p.e. number; the difference drops the 1
    spe2 = nominal.spe_sigma**2 + fill(d["q_var"] / d["q_mean"] - s["q_var"] / s["q_mean"], 0.0)
    return PMTParams(qe=qe, time_offset_ns=offset, tts_sigma_ns=np.sqrt(np.clip(tts2, 0, None)),
                     spe_sigma=np.sqrt(np.clip(spe2, 0, None)), dark_rate_hz=dark)
