"""Binned Poisson likelihood, linear in the component normalisations, minimised with iminuit.

Expected counts in bin i (bins are datasets × volume × energy [× score], flattened)::

    μ_i = Σ_k θ_k (T_ki + Σ_j α_j D_kji)

θ_k: number of decays of component k in the exposure (T_k: probability per decay to land in
bin i, so Σ_i T_ki is the selection efficiency); α_j: detector-response nuisances (energy
scale, resolution, non-linearity) in units of their 1σ, entering through first-order template
morphing D = ∂T/∂α so that the gradient stays analytic.

The objective is χ² = −2 ln(L/L_saturated) + Gaussian constraints (``errordef = 1``).
Where μ_i approaches zero the Poisson term is continued below ``eps`` by its second-order
expansion, so the NLL and its gradient stay finite and continuous (no hard wall).

Minimisers: ``"newton"`` (default) is a projected Newton method with the exact Hessian, which
is cheap here because μ is bilinear in (θ, α): H = Jᵀ diag(∂²χ²/∂μ²) J + the θ–α cross term
Σ_i w_i D_kji.  It converges in ~5–10 iterations where MIGRAD needs ~200 gradient calls (the
toy-heavy Feldman–Cousins band is ~10× faster); any fit it does not bring to convergence is
redone with MIGRAD, and ``"minuit"`` uses MIGRAD only (also whenever errors are requested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import ScintnetError
from iminuit import Minuit
from scipy.linalg import cho_solve


class LikelihoodError(ScintnetError, ValueError):
    """Invalid model or data (the message names the offending item)."""


MINIMIZERS = ("newton", "minuit")


@dataclass(frozen=True)
class Component:
    """One rate component.

    Parameters
    ----------
    name : parameter name (e.g. ``"Xe136_0vbb"``)
    template : per-decay probability per bin, shape = data shape (sum = efficiency ≤ 1)
    expected : nominal number of decays in the exposure (start value; toys' truth)
    constraint : (mean, sigma) in decays for a Gaussian constraint, or None (free)
    morph : ∂template/∂α_j for each shape nuisance, shape (n_nuisance, *data shape) or None
    """

    name: str
    template: np.ndarray
    expected: float
    constraint: tuple[float, float] | None = None
    morph: np.ndarray | None = None


@dataclass
class FitResult:
    values: dict[str, float]
    chi2: float
    valid: bool
    nfcn: int
    fixed: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)

    def array(self, names: Sequence[str]) -> np.ndarray:
        return np.array([self.values[n] for n in names])


class BinnedLikelihood:
    """χ²-like objective over flattened bins; picklable (no Minuit object kept)."""

    def __init__(self, data: np.ndarray, components: Sequence[Component], signal: str,
                 nuisances: Sequence[str] = (), eps: float = 1e-6, aux: dict[str, float] | None = None,
                 minimizer: str = "newton"):
        if minimizer not in MINIMIZERS:
            raise LikelihoodError(f"unknown minimizer {minimizer!r}; choose from {', '.join(MINIMIZERS)}")
        self.minimizer = minimizer
        data = np.asarray(data, float)
        if data.size == 0:
            raise LikelihoodError("data histogram is empty")
        if np.any(data < 0) or not np.all(np.isfinite(data)):
            raise LikelihoodError("data histogram has negative or non-finite bins")
        if not components:
            raise LikelihoodError("no components given")
        names = [c.name for c in components]
        if len(set(names)) != len(names):
            raise LikelihoodError(f"duplicate component names: {names}")
        if signal not in names:
            raise LikelihoodError(f"signal {signal!r} is not among the components ({', '.join(names)})")
        nj = len(nuisances)
        T = np.empty((len(components), data.size))
        D = np.zeros((len(components), nj, data.size))
        for k, c in enumerate(components):
            t = np.asarray(c.template, float)
            if t.shape != data.shape:
                raise LikelihoodError(f"template {c.name!r} has binning {t.shape}, data has {data.shape}")
            if not np.all(np.isfinite(t)) or np.any(t < 0):
                raise LikelihoodError(f"template {c.name!r} has negative or non-finite bins")
            if t.sum() <= 0:
                raise LikelihoodError(f"template {c.name!r} is empty (no expected events in any bin)")
            if not c.expected >= 0:
                raise LikelihoodError(f"component {c.name!r}: expected decays must be >= 0, got {c.expected}")
            if c.constraint is not None and not c.constraint[1] > 0:
                raise LikelihoodError(f"component {c.name!r}: constraint sigma must be > 0")
            T[k] = t.ravel()
            if c.morph is not None:
                m = np.asarray(c.morph, float)
                if m.shape != (nj, *data.shape):
                    raise LikelihoodError(f"morph of {c.name!r} has shape {m.shape}, expected {(nj, *data.shape)}")
                D[k] = m.reshape(nj, -1)
        self.shape = data.shape
        self.n = data.ravel().copy()
        self.components = list(components)
        self.rate_names = names
        self.nuisances = list(nuisances)
        self.names = names + self.nuisances
        self.signal = signal
        self.i_signal = names.index(signal)
        self.T, self.D = T, D
        self.has_morph = bool(nj) and bool(np.any(D))
        # D as one (K*nj, N) matrix: μ's morph part is (θ⊗α) @ G and both gradients come from one
        # G @ w, so an evaluation reads G twice and never builds the (K, N) effective templates.
        # Only the (component, nuisance) rows that are not identically zero are kept (e.g. the
        # tag-efficiency nuisance touches only spallation components).
        G = D.reshape(len(components) * nj, data.size)
        self._gi = np.flatnonzero(np.abs(G).max(axis=1) > 0) if G.size else np.zeros(0, int)
        self._G = np.ascontiguousarray(G[self._gi])
        # for the Newton Hessian: D with the nuisance axis first (α @ D_j = Σ_j α_j D_j, all k at
        # once) and with the component axis first (θ @ D_k = Σ_k θ_k D_k, all j at once)
        self._D_j = np.ascontiguousarray(D.transpose(1, 0, 2).reshape(nj, len(components) * data.size))
        self._D_k = D.reshape(len(components), nj * data.size)
        self.eps = float(eps)
        # Gaussian constraints: index, centre (the auxiliary measurement), sigma
        self.c_idx = np.array([k for k, c in enumerate(components) if c.constraint is not None], int)
        self.c_sig = np.array([components[k].constraint[1] for k in self.c_idx], float)
        self.c_mean = np.array([components[k].constraint[0] for k in self.c_idx], float)
        if aux:
            for k, v in aux.items():
                self.c_mean[list(self.rate_names[i] for i in self.c_idx).index(k)] = v
        self._nlogn = self._n_log_n(self.n)
        self._cache: tuple | None = None
        self.n_newton_fallbacks = 0  # Newton fits handed to MIGRAD (reported by benchmarks)

    # -- data ------------------------------------------------------------------------------
    @staticmethod
    def _n_log_n(n: np.ndarray) -> float:
        nz = n > 0
        return float(np.sum(n[nz] * np.log(n[nz]) - n[nz]))

    def set_data(self, data: np.ndarray, aux_means: np.ndarray | None = None) -> None:
        d = np.asarray(data, float)
        if d.shape != self.shape:
            raise LikelihoodError(f"data binning {d.shape} does not match the templates {self.shape}")
        if not np.isfinite(d).all() or (d < 0).any():
            raise LikelihoodError("data histogram has negative or non-finite counts")
        self.n = d.ravel().copy()
        self._nlogn = self._n_log_n(self.n)
        self._cache = None
        if aux_means is not None:
            self.c_mean = np.asarray(aux_means, float).copy()

    def nominal(self) -> np.ndarray:
        return np.array([c.expected for c in self.components] + [0.0] * len(self.nuisances))

    # -- model -----------------------------------------------------------------------------
    def _split(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(self.rate_names)
        return p[:k], p[k:]

    def effective_templates(self, alpha: np.ndarray) -> np.ndarray:
        if not self.has_morph:
            return self.T
        return self.T + np.einsum("j,kji->ki", alpha, self.D)

    def _mu(self, th: np.ndarray, al: np.ndarray) -> np.ndarray:
        mu = th @ self.T
        if self.has_morph:
            mu += np.outer(th, al).ravel()[self._gi] @ self._G
        return mu

    def expected(self, p: np.ndarray) -> np.ndarray:
        """Expected counts per (flattened) bin."""
        th, al = self._split(np.asarray(p, float))
        return self._mu(th, al)

    def component_counts(self, p: np.ndarray) -> np.ndarray:
        """Expected counts per component per bin, shape (n_components, *data shape)."""
        th, al = self._split(np.asarray(p, float))
        return (th[:, None] * self.effective_templates(al)).reshape(len(th), *self.shape)

    # -- objective -------------------------------------------------------------------------
    def _poisson(self, mu: np.ndarray) -> tuple[float, np.ndarray]:
        """Σ 2(μ − n ln μ) + 2Σ(n ln n − n) and dχ²/dμ, continued quadratically below eps."""
        n, e = self.n, self.eps
        low = mu < e
        if not low.any():
            return 2.0 * float(np.sum(mu - n * np.log(mu)) + self._nlogn), 2.0 * (1.0 - n / mu)
        m = np.where(low, e, mu)
        f = mu - n * np.log(m)
        g = 1.0 - n / m
        d = mu - e
        curv = np.maximum(n / e**2, 1.0 / e)  # true curvature n/e²; n = 0 bins get a mild wall at μ < 0
        f = np.where(low, e - n * np.log(e) + (1 - n / e) * d + 0.5 * curv * d * d, f)
        g = np.where(low, (1 - n / e) + curv * d, g)
        return 2.0 * (float(f.sum()) + self._nlogn), 2.0 * g

    def _eval(self, p: np.ndarray) -> tuple[float, np.ndarray]:
        """χ² and its gradient together (Minuit asks for both at the same point: cache it)."""
        p = np.asarray(p, float)
        key = p.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        k = len(self.rate_names)
        th, al = p[:k], p[k:]
        val, w = self._poisson(self._mu(th, al))
        g = np.empty_like(p)
        g[:k] = self.T @ w
        if self.has_morph:
            M = np.zeros(k * al.size)
            M[self._gi] = self._G @ w
            M = M.reshape(k, al.size)  # Σ_i D_kji w_i
            g[:k] += M @ al
        if self.c_idx.size:
            r = (th[self.c_idx] - self.c_mean) / self.c_sig
            val += float(r @ r)
            g[self.c_idx] += 2.0 * r / self.c_sig
        if al.size:
            val += float(al @ al)
            g[k:] = 2.0 * al
            if self.has_morph:
                g[k:] += th @ M
        self._cache = (key, val, g)
        return val, g

    def chi2(self, p: np.ndarray) -> float:
        return self._eval(p)[0]

    def grad(self, p: np.ndarray) -> np.ndarray:
        return self._eval(p)[1].copy()

    def chi2_batch(self, P: np.ndarray) -> np.ndarray:
        """χ² for many parameter vectors at once (rows of ``P``; used by emcee)."""
        P = np.atleast_2d(np.asarray(P, float))
        k = len(self.rate_names)
        th, al = P[:, :k], P[:, k:]
        if self.has_morph:
            mu = th @ self.T + (th[:, :, None] * al[:, None, :]).reshape(len(P), -1)[:, self._gi] @ self._G
        else:
            mu = th @ self.T
        n, e = self.n, self.eps
        m = np.maximum(mu, e)
        d = mu - e
        curv = np.maximum(n / e**2, 1.0 / e)
        f = np.where(mu < e, e - n * np.log(e) + (1 - n / e) * d + 0.5 * curv * d * d, mu - n * np.log(m))
        val = 2.0 * (f.sum(axis=1) + self._nlogn)
        if self.c_idx.size:
            val += np.sum(((th[:, self.c_idx] - self.c_mean) / self.c_sig) ** 2, axis=1)
        return val + np.sum(al * al, axis=1)

    # -- fitting ---------------------------------------------------------------------------
    def _minuit(self, start: np.ndarray, fixed: dict[str, float]) -> Minuit:
        m = Minuit(self.chi2, start, grad=self.grad, name=self.names)
        m.errordef = Minuit.LEAST_SQUARES
        m.print_level = 0
        m.strategy = 0
        m.tol = 0.05
        k = len(self.rate_names)
        for i, nme in enumerate(self.names):
            if i < k:
                m.limits[nme] = (0.0, None)
                m.errors[nme] = max(np.sqrt(max(start[i], 0.0)), 1.0) * 0.5
            else:
                m.errors[nme] = 0.5
        for nme, v in fixed.items():
            m.values[nme] = v
            m.fixed[nme] = True
        return m

    def _starts(self, start: np.ndarray, n_starts: int) -> list[np.ndarray]:
        """Deterministic alternative starts: the given one, nominal, then scaled rates."""
        out = [start, self.nominal()]
        k = len(self.rate_names)
        for f in (0.5, 2.0, 0.8, 1.25)[: max(0, n_starts - 2)]:
            s = start.copy()
            s[:k] = np.maximum(s[:k] * f, 0.0)
            out.append(s)
        return out[:max(1, n_starts)]

    def fit(self, fixed: dict[str, float] | None = None, start: np.ndarray | None = None,
            n_starts: int = 3, errors: bool = False, method: str | None = None) -> FitResult:
        """Minimise χ² (rates ≥ 0) with ``method`` (default: the likelihood's ``minimizer``).

        Newton fits that do not converge, and all fits with ``errors=True``, go to MIGRAD, which
        falls back to further starts and strategy 1 when invalid.
        """
        method = self.minimizer if method is None else method
        if method not in MINIMIZERS:
            raise LikelihoodError(f"unknown minimizer {method!r}; choose from {', '.join(MINIMIZERS)}")
        fixed = dict(fixed or {})
        for nme in fixed:
            if nme not in self.names:
                raise LikelihoodError(f"unknown parameter {nme!r} to fix")
        s0 = self.nominal() if start is None else np.asarray(start, float).copy()
        k = len(self.rate_names)
        s0[:k] = np.maximum(s0[:k], 0.0)
        if method == "newton" and not errors:
            r = self._newton(s0, fixed)
            if r.valid:
                return r
            self.n_newton_fallbacks += 1
        best: Minuit | None = None
        nfcn = 0
        for s in self._starts(s0, n_starts):
            for strategy in (0, 1):
                m = self._minuit(s, fixed)
                m.strategy = strategy
                m.migrad(ncall=20000)
                nfcn += m.nfcn
                if best is None or (m.valid and (not best.valid or m.fval < best.fval - 1e-6)):
                    best = m
                if m.valid:
                    break
            if best.valid and n_starts <= 1:
                break
            if best.valid:
                break
        assert best is not None
        if errors and best.valid:
            best.hesse()
        vals = {n: float(v) for n, v in zip(self.names, best.values)}
        errs = {n: float(v) for n, v in zip(self.names, best.errors)} if errors else {}
        return FitResult(vals, float(best.fval), bool(best.valid), nfcn, fixed, errs)

    # -- Newton minimiser --------------------------------------------------------------------
    def _value(self, p: np.ndarray) -> float:
        """χ² only (line searches)."""
        k = len(self.rate_names)
        th, al = p[:k], p[k:]
        val = self._poisson(self._mu(th, al))[0]
        if self.c_idx.size:
            r = (th[self.c_idx] - self.c_mean) / self.c_sig
            val += float(r @ r)
        return val + float(al @ al)

    def _eval_hess(self, p: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """χ², gradient and exact Hessian.

        J = ∂μ/∂p has rows T_k + Σ_j α_j D_kj (rates) and Σ_k θ_k D_kj (nuisances); the
        Hessian is Jᵀ diag(∂²χ²/∂μ²) J plus the bilinear cross term ∂²μ/∂θ_k∂α_j = D_kj
        weighted by ∂χ²/∂μ, plus the Gaussian constraint curvatures.
        """
        k = len(self.rate_names)
        th, al = p[:k], p[k:]
        nj = al.size
        nbin = self.n.size
        if self.has_morph:  # two matrix-vector products over the dense D (K·nj·N)
            E = self.T + (al @ self._D_j).reshape(k, nbin)
            C = (th @ self._D_k).reshape(nj, nbin)
        else:
            E, C = self.T, np.zeros((nj, nbin))
        mu = th @ E
        val, w = self._poisson(mu)
        n, e = self.n, self.eps
        low = mu < e
        v = np.where(low, 2.0 * np.maximum(n / e**2, 1.0 / e), 2.0 * n / np.where(low, e, mu) ** 2)
        Jt = np.vstack([E, C]) if nj else E
        g = Jt @ w
        H = (Jt * v) @ Jt.T
        if self.has_morph:
            M = np.zeros(k * nj)
            M[self._gi] = self._G @ w
            M = M.reshape(k, nj)
            H[:k, k:] += M
            H[k:, :k] += M.T
        if self.c_idx.size:
            r = (th[self.c_idx] - self.c_mean) / self.c_sig
            val += float(r @ r)
            g[self.c_idx] += 2.0 * r / self.c_sig
            H[self.c_idx, self.c_idx] += 2.0 / self.c_sig**2
        if nj:
            val += float(al @ al)
            g[k:] += 2.0 * al
            H[k:, k:] += 2.0 * np.eye(nj)
        return val, g, H

    def _newton(self, start: np.ndarray, fixed: dict[str, float], max_iter: int = 60,
                edm_tol: float = 1e-6) -> FitResult:
        """Projected Newton (Bertsekas 1982): rates at zero whose gradient points outwards are
        held there, the others take a Newton step (Jacobi-scaled Cholesky, Levenberg damping
        when the Hessian is not positive definite), projected back onto θ ≥ 0 with an Armijo
        backtracking search.  Converged when EDM = ½ gᵀH⁻¹g over the free set < ``edm_tol``
        (MIGRAD's default target is 1e-4)."""
        k = len(self.rate_names)
        p = start.astype(float).copy()
        free = np.ones(p.size, bool)
        for nme, val in fixed.items():
            i = self.names.index(nme)
            p[i] = val
            free[i] = False
        is_rate = np.arange(p.size) < k
        p[:k] = np.maximum(p[:k], 0.0)
        f, g, H = self._eval_hess(p)
        nfcn, valid, edm = 1, False, np.inf
        for _ in range(max_iter):
            idx = np.flatnonzero(free & ~(is_rate & (p <= 0.0) & (g > 0.0)))
            if idx.size == 0:
                valid, edm = True, 0.0
                break
            gv, Hv = g[idx], H[np.ix_(idx, idx)]
            dg = np.diag(Hv)
            sc = 1.0 / np.sqrt(np.where(dg > 0, dg, 1.0))
            A = Hv * sc[:, None] * sc[None, :]
            d = None
            for lam in (0.0, 1e-6, 1e-4, 1e-2, 1.0, 1e2):
                try:
                    L = np.linalg.cholesky(A + lam * np.eye(idx.size))
                except np.linalg.LinAlgError:
                    continue
                d = -sc * cho_solve((L, True), sc * gv, check_finite=False)
                break
            if d is None:  # cannot happen for a finite Hessian (lam = 100 on unit diagonal)
                break
            edm = -0.5 * float(gv @ d)
            if edm < edm_tol:
                valid = True
                break
            t, accepted = 1.0, False
            while t > 1e-12:
                q = p.copy()
                q[idx] += t * d
                q[:k] = np.maximum(q[:k], 0.0)
                fq = self._value(q)
                nfcn += 1
                if fq <= f + 1e-4 * min(float(g @ (q - p)), 0.0):
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                valid = edm < 1e-4  # no further decrease possible at MIGRAD's own tolerance
                break
            p = q
            f, g, H = self._eval_hess(p)
            nfcn += 1
        vals = {nme: float(v) for nme, v in zip(self.names, p)}
        return FitResult(vals, float(f), bool(valid and np.isfinite(f)), nfcn, dict(fixed))

    def sample(self, p: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A pseudo-experiment at ``p``: Poisson bin counts and re-drawn auxiliary measurements."""
        mu = np.maximum(self.expected(p), 0.0)
        data = rng.poisson(mu).astype(float).reshape(self.shape)
        th, _ = self._split(np.asarray(p, float))
        aux = th[self.c_idx] + self.c_sig * rng.standard_normal(self.c_idx.size)
        return data, aux

    def copy(self) -> "BinnedLikelihood":
        new = object.__new__(BinnedLikelihood)
        new.__dict__.update(self.__dict__)
        new.n = self.n.copy()
        new.c_mean = self.c_mean.copy()
        new._cache = None
        return new
