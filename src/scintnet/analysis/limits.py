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
        """Largest s with Δχ²(s) ≤ threshold (s ≥ ŝ), by bracketing and Brent's method."""
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


def _toy_tasks(lik: BinnedLikelihood, truths: list[np.ndarray], s_tests: list[float], n_toys: int, seed: int,
               chunk: int) -> list[_ToyTask]:
    tasks = []
    for g, (tr, s) in enumerate(zip(truths, s_tests)):
        for first in range(0, n_toys, chunk):
            tasks.append(_ToyTask(lik, tr, float(s), seed, g, first, min(chunk, n_toys - first)))
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
    grid: np.ndarray
    t_data: np.ndarray  # Δχ²(s) of the data on the grid
    t_crit: np.ndarray  # cl-quantile of the toy Δχ² at each grid point
    upper_limit: float
    lower_limit: float
    n_toys: int
    n_failed: np.ndarray  # non-converged toys per grid point (counted as +∞)
    cl: float
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {"upper_limit": self.upper_limit, "lower_limit": self.lower_limit, "n_toys": self.n_toys,
                "n_grid": int(self.grid.size), "n_failed_toys": int(self.n_failed.sum()), "cl": self.cl}


@one_blas_thread
def feldman_cousins(lik: BinnedLikelihood, grid: np.ndarray, n_toys: int = 1000, cl: float = 0.9,
                    seed: int = 0, workers: int = 1, chunk: int = 100, tie_tol: float = 1e-3) -> FCResult:
    """Neyman construction with likelihood-ratio ordering (Feldman & Cousins, PRD 57, 3873).

    At every signal value s of ``grid`` the nuisances are set to their conditional best fit to
    the data (profile construction), toys are drawn (Poisson bins and auxiliary measurements)
    and the cl-quantile of Δχ²(s) is the critical value; the interval is
    {s : Δχ²_data(s) ≤ t_crit(s) + tie_tol}, with linear interpolation between grid points
    (``tie_tol`` absorbs minimiser noise where discrete data make the two exactly equal).
    """
    grid = np.asarray(grid, float)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0) or grid[0] < 0:
        raise ValueError("grid must be increasing, non-negative, with >= 2 points")
    pr = Profiler(lik)
    conds = [pr.conditional(s) for s in grid]
    t_data = np.array([c.chi2 for c in conds]) - pr.best.chi2
    truths = [c.array(lik.names) for c in conds]
    tasks = _toy_tasks(lik, truths, list(grid), n_toys, seed, chunk)
    t, fails = _collect(get_executor(workers).map_unordered(_run_toys, tasks), grid.size, n_toys)
    t_crit = np.quantile(t, cl, axis=1, method="higher")
    ul, ll = _interval(grid, t_data - t_crit - tie_tol)
    return FCResult(grid, t_data, t_crit, ul, ll, n_toys, fails, cl, {"s_hat": pr.best.values[lik.signal]})


def _interval(grid: np.ndarray, diff: np.ndarray) -> tuple[float, float]:
    """Accepted region {diff ≤ 0}; edges by linear interpolation of diff between grid points."""
    acc = diff <= 0
    if not acc.any():
        return float("nan"), float("nan")
    idx = np.nonzero(acc)[0]
    i1 = idx[-1]
    if i1 == grid.size - 1:
        ul = float(grid[-1])  # interval reaches the end of the grid: extend the grid
    else:
        a, b = diff[i1], diff[i1 + 1]
        ul = float(grid[i1] + (grid[i1 + 1] - grid[i1]) * (0 - a) / (b - a)) if np.isfinite(b) else float(grid[i1])
    i0 = idx[0]
    if i0 == 0:
        lo = float(grid[0])
    else:
        a, b = diff[i0 - 1], diff[i0]
        lo = float(grid[i0 - 1] + (grid[i0] - grid[i0 - 1]) * (0 - a) / (b - a)) if np.isfinite(a) else float(grid[i0])
    return ul, lo


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
