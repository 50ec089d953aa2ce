"""Upper limits on the signal rate: profile likelihood (Wilks), Feldman–Cousins with toys,
Bayesian (emcee, flat prior) and background-only sensitivity bands.

All toy studies go through :func:`scintnet.executor.get_executor`; each toy is seeded from
``SeedSequence([seed, stream, grid index, toy index])`` so results do not depend on the
number of workers.  Toys whose fits do not converge are counted and treated
conservatively (test statistic +∞, i.e. "less compatible than the data"); they never
disappear silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from ..executor import get_executor
from .likelihood import BinnedLikelihood, FitResult, LikelihoodError

# The fits work on ~24 × 2,000 matrices: a multi-threaded BLAS only adds synchronisation (and
# oversubscribes the cores when toys run in parallel processes), so the entry points below run
# with one BLAS thread — 4–6× faster fits on a loaded 2-core machine.
one_blas_thread = threadpool_limits.wrap(limits=1, user_api="blas")


def wilks_threshold(cl: float = 0.9, one_sided: bool = False) -> float:
    """Δχ² threshold: two-sided convention χ²₁(cl) (2.706 for 90 %, as KamLAND-Zen uses) or
    the one-sided χ²₁(2cl − 1)."""
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    return float(chi2_dist.ppf(2 * cl - 1 if one_sided else cl, 1))


# --- profile likelihood ------------------------------------------------------------------
class Profiler:
    """Δχ²(s) = χ²(s, profiled nuisances) − min over s ≥ 0, with the refit rule."""

    def __init__(self, lik: BinnedLikelihood, n_starts: int = 3):
        self.lik = lik
        self.n_starts = n_starts
        self.best = lik.fit(n_starts=n_starts)
        self.n_refits = 0
        self.n_failed = 0 if self.best.valid else 1

    def conditional(self, s: float) -> FitResult:
        lik = self.lik
        start = self.best.array(lik.names)
        start[lik.i_signal] = s
        r = lik.fit(fixed={lik.signal: float(s)}, start=start, n_starts=self.n_starts)
        if getattr(lik, "minimizer", "newton") == "minuit":
            # MIGRAD can stop early on these 24-parameter profiles (Δχ² 0.2 too high at the 90 % limit of a
            # test toy, depending on its start): restart it from its own result and keep the better point
            r2 = lik.fit(fixed={lik.signal: float(s)}, start=r.array(lik.names), n_starts=1)
            if r2.chi2 < r.chi2:
                r = r2
        if not r.valid:
            self.n_failed += 1
        if r.chi2 < self.best.chi2 - 1e-6:
            # the constrained fit beat the free one: the free fit missed the minimum; refit from here
            self.n_refits += 1
            g = lik.fit(start=r.array(lik.names), n_starts=self.n_starts)
            self.best = g if g.chi2 < r.chi2 else FitResult(dict(r.values), r.chi2, r.valid, r.nfcn)
        return r

    def delta(self, s: float) -> float:
        return self.conditional(s).chi2 - self.best.chi2

    def scan(self, grid: np.ndarray) -> np.ndarray:
        vals = np.array([self.conditional(s).chi2 for s in grid])
        return vals - self.best.chi2  # best may have improved during the scan: use the final one

    def upper_limit(self, threshold: float = wilks_threshold(0.9), s_max: float | None = None) -> float:
        """Largest s with Δχ²(s) ≤ threshold (s ≥ ŝ), by bracketing and Brent's method.

        A conditional fit that beats the global one moves the minimum (a refit) while the root is being
        searched, so Δχ² changed under Brent's method: the search is then repeated from the new minimum."""
        for _ in range(4):
            before = self.n_refits
            ul = self._upper_limit_once(threshold, s_max)
            if self.n_refits == before:
                return ul
        return ul

    def _upper_limit_once(self, threshold: float, s_max: float | None) -> float:
        s_hat = self.best.values[self.lik.signal]
        f = lambda s: self.delta(s) - threshold  # noqa: E731
        lo = s_hat
        step = s_max or max(3.0, 2.0 * np.sqrt(max(self.lik.n.sum(), 1.0)) * 0.1, s_hat)
        hi = s_hat + step
        for _ in range(60):
            if f(hi) > 0:
                break
            lo, hi = hi, hi + step
            step *= 2
        else:
            raise LikelihoodError("Δχ² never reaches the threshold: the signal is unconstrained")
        return float(brentq(f, lo, hi, xtol=1e-4 * max(1.0, hi), rtol=1e-6))


@one_blas_thread
def profile_scan(lik: BinnedLikelihood, grid: np.ndarray) -> dict:
    pr = Profiler(lik)
    d = pr.scan(np.asarray(grid, float))
    return {"grid": np.asarray(grid, float), "delta_chi2": d, "s_hat": pr.best.values[lik.signal],
            "chi2_min": pr.best.chi2, "n_refits": pr.n_refits, "n_failed": pr.n_failed}


@one_blas_thread
def wilks_upper_limit(lik: BinnedLikelihood, cl: float = 0.9) -> dict:
    """90 % C.L. limit where the profile Δχ² crosses χ²₁(cl) = 2.706 (KamLAND-Zen's convention)."""
    pr = Profiler(lik)
    ul = pr.upper_limit(wilks_threshold(cl))
    return {"upper_limit": ul, "s_hat": pr.best.values[lik.signal], "threshold": wilks_threshold(cl),
            "n_refits": pr.n_refits, "n_failed": pr.n_failed, "best": pr.best.values}


@one_blas_thread
def scan_2d(lik: BinnedLikelihood, p1: str, grid1: np.ndarray, p2: str, grid2: np.ndarray) -> dict:
    """Δχ²(p1, p2) with every other parameter profiled (e.g. 0νββ vs Xe-spallation rate)."""
    for p in (p1, p2):
        if p not in lik.names:
            raise LikelihoodError(f"unknown parameter {p!r}")
    best = lik.fit()
    out = np.empty((len(grid1), len(grid2)))
    nfail = 0
    start = best.array(lik.names)
    for i, a in enumerate(grid1):
        for j, b in enumerate(grid2):
            st = start.copy()
            st[lik.names.index(p1)], st[lik.names.index(p2)] = a, b
            r = lik.fit(fixed={p1: float(a), p2: float(b)}, start=st, n_starts=2)
            nfail += not r.valid
            out[i, j] = r.chi2
            if r.chi2 < best.chi2:
                best = FitResult(dict(r.values), r.chi2, r.valid, r.nfcn)
    return {"p1": p1, "p2": p2, "grid1": np.asarray(grid1), "grid2": np.asarray(grid2),
            "delta_chi2": out - best.chi2, "n_failed": nfail}


# --- toys --------------------------------------------------------------------------------
def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, stream)]))


def _t_stat(lik: BinnedLikelihood, s: float, truth: np.ndarray) -> tuple[float, bool]:
    """Δχ²(s) for the data currently in ``lik`` (fits start from the toy's truth)."""
    i = lik.i_signal
    free = lik.fit(start=truth, n_starts=2)
    st = truth.copy()
    st[i] = s
    cond = lik.fit(fixed={lik.signal: float(s)}, start=st, n_starts=2)
    if cond.chi2 < free.chi2 - 1e-6:  # free fit missed the minimum: refit from the conditional point
        free2 = lik.fit(start=cond.array(lik.names), n_starts=2)
        free = free2 if free2.chi2 < cond.chi2 else cond
    ok = free.valid and cond.valid
    return (max(cond.chi2 - free.chi2, 0.0) if ok else np.inf), ok


@dataclass(frozen=True)
class _ToyTask:
    lik: BinnedLikelihood
    truth: np.ndarray  # generating parameters
    s_test: float  # signal value the statistic tests
    seed: int
    stream: int
    first: int
    count: int


@one_blas_thread
def _run_toys(task: _ToyTask) -> tuple[np.ndarray, int]:
    lik = task.lik.copy()
    out = np.empty(task.count)
    nfail = 0
    for j in range(task.count):
        data, aux = lik.sample(task.truth, _rng(task.seed, task.stream, task.first + j))
        lik.set_data(data, aux)
        t, ok = _t_stat(lik, task.s_test, task.truth)
        out[j] = t
        nfail += not ok
    return out, nfail


def _toy_range_tasks(lik: BinnedLikelihood, truth: np.ndarray, s_test: float, seed: int, stream: int, start: int,
                     stop: int, chunk: int) -> list[_ToyTask]:
    """Tasks for toys ``start .. stop - 1`` of one seed stream.  A toy's random numbers depend
    only on (seed, stream, toy index), so toys added later (adaptive FC) extend a stream without
    changing the ones already drawn, and the chunking never matters."""
    return [_ToyTask(lik, truth, float(s_test), seed, stream, first, min(chunk, stop - first))
            for first in range(start, stop, chunk)]


def _toy_tasks(lik: BinnedLikelihood, truths: list[np.ndarray], s_tests: list[float], n_toys: int, seed: int,
               chunk: int) -> list[_ToyTask]:
    tasks = []
    for g, (tr, s) in enumerate(zip(truths, s_tests)):
        tasks += _toy_range_tasks(lik, tr, s, seed, g, 0, n_toys, chunk)
    return tasks


def _collect(results, n_grid: int, n_toys: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.empty((n_grid, n_toys))
    fails = np.zeros(n_grid, int)
    for task, (vals, nf) in results:
        t[task.stream, task.first:task.first + task.count] = vals
        fails[task.stream] += nf
    return t, fails


@dataclass
class FCResult:
    """Feldman–Cousins interval on the signal (in the signal parameter's units, e.g. decays).

    ``frac_below`` is the toy fraction F(s) with a Δχ² below the data's; the data are accepted
    at s when F(s) < cl, i.e. when Δχ²_data(s) lies below the cl-quantile ``t_crit(s)``.  The
    limits are where F(s) crosses cl, interpolated linearly (on the scale Φ⁻¹((1 + F)/2)) between
    the bracketing grid points; ``*_limit_err`` is their Monte Carlo standard error, which does not
    include the grid resolution.  A limit at the grid's end has a NaN error (the interval may
    extend beyond it: widen the grid); the ``extra`` dict holds the local-slope errors and the
    edge points still within the noise at ``max_toys`` (``unresolved_edge_points``).
    """

    grid: np.ndarray
    t_data: np.ndarray  # Δχ²(s) of the data on the grid
    t_crit: np.ndarray  # cl-quantile of the toy Δχ² at each grid point
    upper_limit: float
    lower_limit: float
    n_toys: int  # toys per grid point before the adaptive additions
    n_failed: np.ndarray  # non-converged toys per grid point (counted as +∞)
    cl: float
    extra: dict = field(default_factory=dict)
    upper_limit_err: float = float("nan")  # Monte Carlo standard error (bootstrap), units of the limit
    lower_limit_err: float = float("nan")
    t_crit_err: np.ndarray | None = None  # standard error of t_crit (order-statistic spread), Δχ² units
    frac_below: np.ndarray | None = None  # toy fraction with Δχ² < Δχ²_data at each grid point
    n_toys_grid: np.ndarray | None = None  # toys actually run at each grid point (adaptive: ≥ n_toys)

    def summary(self) -> dict:
        n_grid = self.n_toys_grid if self.n_toys_grid is not None else np.full(self.grid.size, self.n_toys)
        return {"upper_limit": self.upper_limit, "lower_limit": self.lower_limit,
                "upper_limit_err": self.upper_limit_err, "lower_limit_err": self.lower_limit_err,
                "n_toys": self.n_toys, "n_toys_total": int(n_grid.sum()), "n_toys_max": int(n_grid.max()),
                "n_grid": int(self.grid.size), "n_failed_toys": int(self.n_failed.sum()), "cl": self.cl}


@one_blas_thread
def feldman_cousins(lik: BinnedLikelihood, grid: np.ndarray, n_toys: int = 1000, cl: float = 0.9,
                    seed: int = 0, workers: int = 1, chunk: int = 100, tie_tol: float = 1e-3,
                    adaptive: bool = True, max_toys: int | None = None, edge_sigmas: float = 2.0,
                    n_boot: int = 400) -> FCResult:
    """Neyman construction with likelihood-ratio ordering (Feldman & Cousins, PRD 57, 3873).

    At every signal value s of ``grid`` the nuisances are set to their conditional best fit to
    the data (profile construction), toys are drawn (Poisson bins and auxiliary measurements)
    and the data are accepted where Δχ²_data(s) is below the cl-quantile of the toy Δχ²(s),
    i.e. where the toy fraction F(s) ranked ahead of the data (lower Δχ²) is below cl.  The
    limits are where F(s) crosses cl, interpolated linearly between the grid points that bracket
    them.  (Interpolating Δχ²_data − t_crit instead gives, with discrete data, whose toys tie
    with the data, the last accepted grid point: toy noise biases that outwards.)

    Parameters
    ----------
    lik : BinnedLikelihood
        Model holding the data.
    grid : ndarray
        Increasing signal values ≥ 0 (signal units, e.g. decays).  The limits are interpolated
        between grid points; where the acceptance jumps (discrete counting data) the grid
        spacing bounds their accuracy.
    n_toys : int
        Toys per grid point (seed streams 0 .. n_toys − 1).
    cl : float
        Confidence level.
    seed, workers, chunk
        Toy ``j`` at grid point ``g`` is seeded from (seed, g, j): the result does not depend
        on ``workers`` or ``chunk``.
    tie_tol : float
        Δχ² margin by which a toy must fall below the data to rank ahead of it (absorbs
        minimiser noise where discrete data make the two exactly equal).
    adaptive : bool
        Where a grid point that could move a limit (one bracketing an edge, or a rejected one
        outside the interval) has F within ``edge_sigmas`` binomial errors of cl, double its
        toys (new toy indices, so the first ``n_toys`` are unchanged) up to ``max_toys``, and
        repeat until no such point is left.
    max_toys : int, optional
        Cap on the toys per grid point; default ``4 * n_toys`` (halves the Monte Carlo error
        there; at most 4× the cost, usually far less: only points at the edges are refined).
    edge_sigmas : float
        How many binomial errors of F from cl count as "within the noise".
    n_boot : int
        Bootstrap replicas for the limits' Monte Carlo errors (0: local-slope errors only).

    Returns
    -------
    FCResult
        Limits with their Monte Carlo errors, per-point critical values and toy counts.
    """
    grid = np.asarray(grid, float)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0) or grid[0] < 0:
        raise ValueError("grid must be increasing, non-negative, with >= 2 points")
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    max_toys = (4 * n_toys if max_toys is None else max(int(max_toys), n_toys)) if adaptive else n_toys
    pr = Profiler(lik)
    conds = [pr.conditional(s) for s in grid]
    t_data = np.array([c.chi2 for c in conds]) - pr.best.chi2
    truths = [c.array(lik.names) for c in conds]
    ex = get_executor(workers)
    t = np.full((grid.size, max_toys), np.nan)
    fails = np.zeros(grid.size, int)
    have = np.zeros(grid.size, int)
    want = np.full(grid.size, n_toys)
    rounds = 0
    while True:
        tasks = [task for g in np.nonzero(want > have)[0]
                 for task in _toy_range_tasks(lik, truths[g], grid[g], seed, g, have[g], want[g], chunk)]
        for task, (vals, nf) in ex.map_unordered(_run_toys, tasks):
            t[task.stream, task.first:task.first + task.count] = vals
            fails[task.stream] += nf
        have = want.copy()
        # F(s): toys ranked strictly ahead of the data (FC accept the data iff F < cl).  Failed
        # toys (+∞) never rank ahead: conservative, they widen the interval.
        frac = np.array([np.mean(t[g, :have[g]] < t_data[g] - tie_tol) for g in range(grid.size)])
        # The edge is sought in F rather than in Δχ²_data − t_crit: with discrete data t_crit
        # jumps between the Δχ² values of neighbouring counts (ties with the data), so
        # t_data − t_crit is a step function with nothing to interpolate, while F(s) is the
        # Poisson mass ranked ahead of the data, piecewise smooth in s.  F's error is binomial:
        # the order-statistic error of the toy quantile (ranks n·cl ± √(n·cl(1−cl))) on the
        # probability scale, needing no estimate of the toy density.
        if not adaptive:
            break
        nxt = _refine(frac, have, cl, edge_sigmas, max_toys)
        if nxt is None:
            break
        want = nxt
        rounds += 1
    z, z_err = _zscale(frac, have)
    ul, ll, ul_loc, ll_loc, bracket = _edges(grid, z - _zscale(cl), z_err)
    # Monte Carlo error: parametric bootstrap of the whole procedure, adaptive additions included,
    # with the measured fractions as the truth and binomial toy counts (no refits needed).
    # Where the edge is well resolved this agrees with the local-slope propagation (ul_loc); with
    # discrete data the acceptance stays marginal over several grid points (n0 = 5, b = 3:
    # F − cl ≈ +0.006..0.01 on s = 7.0..7.45), and only the bootstrap counts the chance that
    # another point becomes the edge.
    boot = _bootstrap_limits(grid, frac, cl, n_toys, max_toys if adaptive else 0, edge_sigmas, n_boot,
                             _rng(seed, 0xB0075))
    ul_err = _boot_err(boot[:, 0], ul_loc)
    ll_err = _boot_err(boot[:, 1], ll_loc)
    f_err = np.sqrt(cl * (1 - cl) / have)
    unresolved = [int(i) for i in bracket if abs(frac[i] - cl) < edge_sigmas * f_err[i]]
    t_crit = np.array([np.quantile(t[g, :have[g]], cl, method="higher") for g in range(grid.size)])
    t_crit_err = np.array([_quantile_err(t[g, :have[g]], cl) for g in range(grid.size)])
    return FCResult(grid, t_data, t_crit, ul, ll, n_toys, fails, cl,
                    {"s_hat": pr.best.values[lik.signal], "adaptive_rounds": rounds,
                     "upper_limit_err_local": ul_loc, "lower_limit_err_local": ll_loc,
                     "unresolved_edge_points": unresolved},
                    upper_limit_err=ul_err, lower_limit_err=ll_err, t_crit_err=t_crit_err,
                    frac_below=frac, n_toys_grid=have)


def _zscale(frac, n=None):
    """Gaussian-equivalent significance z = Φ⁻¹((1 + F)/2) of a toy fraction F (F clipped half
    a toy inside [0, 1]) and, with toy counts ``n``, its binomial error; ``_zscale(cl)``: the
    critical z (1.645 for 90 %).  Asymptotically z(s) = √Δχ²_data(s), linear in s, so linear
    interpolation between grid points is accurate where F itself saturates like a CDF (shaped
    test model, 10-event grid step, 200 toys: 0.9 events from the fine-grid limit in z, 1.3 in
    Δχ²_data − t_crit, 2.9 in F)."""
    if n is None:
        return float(norm.ppf((1 + frac) / 2))
    f = np.clip(frac, 0.5 / n, 1 - 0.5 / n)
    z = norm.ppf((1 + f) / 2)
    return z, np.sqrt(f * (1 - f) / n) / (2 * norm.pdf(z))


def _refine(frac: np.ndarray, have: np.ndarray, cl: float, edge_sigmas: float, max_toys: int) -> np.ndarray | None:
    """Toy counts for the next adaptive round, or None when no point needs more.

    Refines every point whose acceptance is within ``edge_sigmas`` binomial errors of the edge
    and would move a limit if it flipped: the points bracketing each edge and the rejected ones
    outside the interval (a noisy acceptance there would become the new outermost edge).  Points
    strictly inside the interval cannot move its outermost edges.  Their toys are doubled.
    """
    acc = np.nonzero(frac < cl)[0]
    movable = np.ones(frac.size, bool)
    if acc.size:
        movable[acc[0] + 1:acc[-1]] = False
    f_err = np.sqrt(cl * (1 - cl) / have)
    near = movable & (np.abs(frac - cl) < edge_sigmas * f_err) & (have < max_toys)
    if not near.any():
        return None
    return np.where(near, np.minimum(2 * have, max_toys), have)


def _bootstrap_limits(grid: np.ndarray, frac: np.ndarray, cl: float, n_toys: int, max_toys: int,
                      edge_sigmas: float, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(upper, lower) limits of ``n_boot`` replicas of the construction whose toy counts below
    the data are binomial with probabilities ``frac``; ``max_toys`` = 0: not adaptive."""
    p = np.clip(frac, 0.0, 1.0)
    out = np.empty((n_boot, 2))
    for r in range(n_boot):
        have = np.full(frac.size, n_toys)
        k = rng.binomial(have, p)
        while max_toys:
            want = _refine(k / have, have, cl, edge_sigmas, max_toys)
            if want is None:
                break
            k = k + rng.binomial(want - have, p)
            have = want
        z, z_err = _zscale(k / have, have)
        out[r] = _edges(grid, z - _zscale(cl), z_err)[:2]
    return out


def _boot_err(x: np.ndarray, local: float) -> float:
    """Standard deviation of the bootstrap limits ``x`` (replicas without an interval left out);
    NaN where the limit itself has no error (``local`` NaN: the interval hits the grid's end)."""
    x = x[np.isfinite(x)]
    return float(np.std(x)) if np.isfinite(local) and x.size > 1 else float(local)


def _quantile_err(x: np.ndarray, q: float) -> float:
    """Standard error of the sample q-quantile: half the spread of the order statistics at
    ranks n·q ± √(n·q(1−q)) (the binomial error of the rank; distribution free)."""
    n = x.size
    d = np.sqrt(n * q * (1 - q))
    xs = np.sort(x)
    lo = xs[int(np.clip(np.floor(n * q - d), 0, n - 1))]
    hi = xs[int(np.clip(np.ceil(n * q + d) - 1, 0, n - 1))]
    return float((hi - lo) / 2) if np.isfinite(hi) else float("inf")


def _crossing(grid: np.ndarray, diff: np.ndarray, err: np.ndarray, i: int) -> tuple[float, float]:
    """Zero of the straight line through (grid[i], diff[i]) and (grid[i+1], diff[i+1]), and its
    standard error from the errors of the two (independent) diff values."""
    h = grid[i + 1] - grid[i]
    a, b = diff[i], diff[i + 1]
    w = a / (a - b)  # fraction of the step at which the line crosses zero
    # |ds/da| = h (1 − w)/|b − a|, |ds/db| = h w/|b − a|: the diff errors over the local slope
    sd = h / abs(a - b) * np.hypot((1 - w) * err[i], w * err[i + 1])
    return float(grid[i] + h * w), float(sd)


def _edges(grid: np.ndarray, diff: np.ndarray, err: np.ndarray) -> tuple[float, float, float, float, list[int]]:
    """Accepted region {diff < 0} of a grid scan: (upper, lower, upper error, lower error, the
    grid indices bracketing the two edges).  The outermost edges are taken (an acceptance region
    with holes is filled in: conservative), each interpolated linearly between its bracketing points.
    """
    acc = diff < 0
    nan = float("nan")
    if not acc.any():
        return nan, nan, nan, nan, []
    idx = np.nonzero(acc)[0]
    i1, i0 = idx[-1], idx[0]
    bracket: list[int] = []
    if i1 == grid.size - 1:
        ul, ul_err = float(grid[-1]), nan  # interval reaches the end of the grid: extend the grid
    else:
        ul, ul_err = _crossing(grid, diff, err, i1)
        bracket += [i1, i1 + 1]
    if i0 == 0:
        ll, ll_err = float(grid[0]), (0.0 if grid[0] == 0 else nan)
    else:
        ll, ll_err = _crossing(grid, diff, err, i0 - 1)
        bracket += [i0 - 1, i0]
    return ul, ll, ul_err, ll_err, sorted(set(bracket))


@one_blas_thread
def coverage(lik: BinnedLikelihood, s_true: float, t_crit: float, n_toys: int = 500, seed: int = 1,
             workers: int = 1, truth: np.ndarray | None = None, chunk: int = 100) -> dict:
    """Fraction of pseudo-experiments at ``s_true`` whose interval contains it (Δχ²(s_true) ≤ t_crit).

    Toys use an independent seed stream from the band construction; pass the Wilks threshold
    (2.706) or an FC critical value.  Non-converged toys count as not covering.
    """
    if truth is None:
        truth = Profiler(lik).conditional(s_true).array(lik.names)
    tasks = _toy_tasks(lik, [np.asarray(truth, float)], [s_true], n_toys, seed + 7_919, chunk)
    t, fails = _collect(get_executor(workers).map_unordered(_run_toys, tasks), 1, n_toys)
    cov = float(np.mean(t[0] <= t_crit))
    return {"s_true": s_true, "coverage": cov, "stat_error": float(np.sqrt(cov * (1 - cov) / n_toys)),
            "n_toys": n_toys, "n_failed": int(fails[0])}


# --- sensitivity bands -------------------------------------------------------------------
@dataclass(frozen=True)
class _ULTask:
    lik: BinnedLikelihood
    truth: np.ndarray
    seed: int
    first: int
    count: int
    threshold: float


@one_blas_thread
def _run_uls(task: _ULTask) -> tuple[np.ndarray, int]:
    lik = task.lik.copy()
    out = np.empty(task.count)
    nfail = 0
    for j in range(task.count):
        data, aux = lik.sample(task.truth, _rng(task.seed, 0, task.first + j))
        lik.set_data(data, aux)
        try:
            pr = Profiler(lik, n_starts=2)
            out[j] = pr.upper_limit(task.threshold)
            ok = pr.n_failed == 0
        except (LikelihoodError, ValueError):
            out[j], ok = np.inf, False
        if not ok:
            out[j] = np.inf  # conservative: a failed toy counts as the weakest limit
        nfail += not ok
    return out, nfail


@one_blas_thread
def sensitivity_bands(lik: BinnedLikelihood, n_toys: int = 200, cl: float = 0.9, seed: int = 0,
                      workers: int = 1, chunk: int = 25, truth: np.ndarray | None = None) -> dict:
    """Median and ±1σ/±2σ quantiles of the Wilks upper limit over background-only toys.

    ``truth`` defaults to the background-only (s = 0) conditional fit to the data.
    """
    if truth is None:
        truth = Profiler(lik).conditional(0.0).array(lik.names)
    truth = np.asarray(truth, float).copy()
    truth[lik.i_signal] = 0.0
    thr = wilks_threshold(cl)
    tasks = [_ULTask(lik, truth, seed, f, min(chunk, n_toys - f), thr) for f in range(0, n_toys, chunk)]
    uls = np.empty(n_toys)
    nfail = 0
    for task, (vals, nf) in get_executor(workers).map_unordered(_run_uls, tasks):
        uls[task.first:task.first + task.count] = vals
        nfail += nf
    q = np.quantile(uls, [0.02275, 0.15866, 0.5, 0.84134, 0.97725])
    return {"median": float(q[2]), "minus1": float(q[1]), "plus1": float(q[3]), "minus2": float(q[0]),
            "plus2": float(q[4]), "n_toys": n_toys, "n_failed": nfail, "upper_limits": uls}


# --- Bayesian ----------------------------------------------------------------------------
@one_blas_thread
def bayesian_upper_limit(lik: BinnedLikelihood, cl: float = 0.9, n_walkers: int | None = None, n_steps: int = 4000,
                         burn: int = 1000, seed: int = 0) -> dict:
    """Marginal posterior cl-quantile of the signal (flat priors on all rates ≥ 0; the Gaussian
    constraints act as priors), sampled with emcee.

    Walkers start from the Laplace approximation at the best fit (covariance 2H⁻¹ from the exact
    Hessian), so they already span the posterior and the burn-in is short; the proposals are
    differential-evolution moves, whose autocorrelation time is about half the stretch move's
    in these ~25 dimensions (mixed with 20 % stretch moves, which widen the ensemble quickly;
    emcee's DE-snooker move is not used: it biased a 2-parameter test posterior).  ``n_effective`` = kept samples / autocorrelation time is reported
    with the limit: below ~200 the quantile carries a few-per-cent Monte Carlo error.
    """
    import emcee

    if not 0 <= burn < n_steps:
        raise ValueError(f"burn must be in [0, n_steps), got burn={burn}, n_steps={n_steps}")
    best = lik.fit()
    p0 = best.array(lik.names)
    ndim = p0.size
    # DE moves need a population well above the dimension
    n_walkers = max(32, 2 * ndim + 2) if n_walkers is None else n_walkers
    k = len(lik.rate_names)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 424242]))
    _, _, H = lik._eval_hess(p0)
    # A rate fitted at its bound (no signal, say) has a one-sided, possibly zero or huge curvature:
    # its walkers start at |N(0, floor)| instead, and DE proposals (walker differences) can then
    # explore from there.  The others start from the Laplace approximation N(p0, 2H⁻¹).
    floor = np.where(np.arange(ndim) < k, 0.5 * np.sqrt(np.maximum(p0, 1.0)), 0.2)
    at_bound = (np.arange(ndim) < k) & (p0 <= 0)
    z = rng.standard_normal((n_walkers, ndim))
    Hr = H + np.diag(np.where(at_bound, 2.0 / floor**2, 0.0))
    try:
        start = p0 + z @ np.linalg.cholesky(2.0 * np.linalg.inv(Hr)).T
    except np.linalg.LinAlgError:  # not positive definite: a diagonal ball of the curvatures
        dh = np.diag(Hr)
        start = p0 + z * np.where(dh > 0, np.sqrt(2.0 / np.where(dh > 0, dh, 1.0)), floor)
    start[:, at_bound] = z[:, at_bound] * floor[at_bound]
    start[:, :k] = np.abs(start[:, :k])

    def logp(P: np.ndarray) -> np.ndarray:
        out = -0.5 * lik.chi2_batch(P)
        return np.where(np.all(P[:, :k] >= 0, axis=1), out, -np.inf)

    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.StretchMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, ndim, logp, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()  # explicit seed
    sampler.run_mcmc(start, n_steps, progress=False)
    chain = sampler.get_chain(discard=burn, flat=True)
    s = chain[:, lik.i_signal]
    try:
        tau = float(np.max(sampler.get_autocorr_time(discard=burn, quiet=True)))
    except Exception:  # emcee raises for short chains; report NaN rather than fail
        tau = float("nan")
    return {"upper_limit": float(np.quantile(s, cl)), "posterior_mean": float(s.mean()),
            "acceptance": float(np.mean(sampler.acceptance_fraction)), "autocorr_steps": tau,
            "n_effective": float(s.size / tau) if np.isfinite(tau) and tau > 0 else float("nan"),
            "n_samples": int(s.size), "samples": s}
