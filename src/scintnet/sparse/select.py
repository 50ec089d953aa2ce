"""Readout selection: which ``k`` of ``C`` channels to keep, learned from training showers / events.

Every method takes the training signals ``x`` ``[n, C]`` and targets ``y`` ``[n]`` (what the readout must
preserve, e.g. the energy) and returns a boolean mask with exactly ``k`` channels:

* ``random``: uniform, seeded (the seed's baseline);
* ``occupancy``: the channels hit most often (signal > 0) in the training sample;
* ``qr``: column-pivoted QR of the standardised data matrix (the sensor placement of Manohar et al.,
  IEEE Control Syst. 38 (2018) 63, which python-sensors wraps; we call LAPACK's geqp3 through SciPy directly
  because the data matrix itself, not a truncated basis, is small enough here);
* ``greedy``: forward selection on the linear energy estimate, adding in blocks the channels that most
  reduce the residual after orthogonalisation to those already kept (orthogonal matching pursuit);
* ``learned``: a straight-through top-k selector trained jointly with the energy regressor (see
  :class:`TopKSelector`), then frozen.
"""

from __future__ import annotations

import numpy as np

METHODS = ("random", "occupancy", "qr", "greedy", "learned")


def n_keep(n_channels: int, reduction: float) -> int:
    """Channels kept at a data reduction of ``reduction`` (0.34 = 34 % fewer channels)."""
    if not 0.0 <= reduction < 1.0:
        raise ValueError(f"reduction must be in [0, 1), not {reduction}")
    return max(1, int(round(n_channels * (1.0 - reduction))))


def _mask(idx: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros(n, bool)
    m[idx] = True
    return m


def select_random(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _mask(rng.choice(x.shape[1], k, replace=False), x.shape[1])


def select_occupancy(x: np.ndarray, y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    occ = (x > 0).mean(0) + 1e-9 * x.mean(0)  # ties (never hit) broken by the mean signal
    return _mask(np.argsort(-occ, kind="stable")[:k], x.shape[1])


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    live = x.std(0) > 0
    z = x[:, live].astype(np.float64)
    z -= z.mean(0)
    z /= z.std(0)
    return z, np.flatnonzero(live)


def select_qr(x: np.ndarray, y: np.ndarray, k: int, seed: int = 0, max_rows: int | None = None) -> np.ndarray:
    from scipy.linalg import qr

    z, live = _standardise(x)
    rng = np.random.default_rng(seed)
    rows = max(k + 200, 2000) if max_rows is None else max_rows
    if len(z) > rows:
        z = z[rng.choice(len(z), rows, replace=False)]
    _, _, piv = qr(z, mode="economic", pivoting=True)
    chosen = list(live[piv[:k]])
    if len(chosen) < k:  # fewer live channels than the budget: fill with the dead ones (signal-free)
        dead = np.setdiff1d(np.arange(x.shape[1]), live)
        chosen += list(dead[: k - len(chosen)])
    return _mask(np.asarray(chosen[:k]), x.shape[1])


def select_greedy(x: np.ndarray, y: np.ndarray, k: int, seed: int = 0, n_blocks: int = 40,
                  max_rows: int = 8000) -> np.ndarray:
    z, live = _standardise(x)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(z), min(len(z), max_rows), replace=False)
    z = z[rows].astype(np.float32)
    r = (np.asarray(y, np.float64)[rows] - np.mean(np.asarray(y)[rows])).astype(np.float32)
    chosen: list[int] = []
    free = np.ones(z.shape[1], bool)
    block = max(1, int(np.ceil(min(k, z.shape[1]) / n_blocks)))
    while len(chosen) < min(k, z.shape[1]):
        norm2 = (z * z).sum(0)
        gain = np.where(free & (norm2 > 1e-6 * len(z)), (z.T @ r) ** 2 / np.maximum(norm2, 1e-12), -1.0)
        take = np.argsort(-gain, kind="stable")[: min(block, k - len(chosen))]
        take = take[gain[take] >= 0]
        if len(take) == 0:
            break  # the rest is in the span already: any further channel adds no information
        q, _ = np.linalg.qr(z[:, take])
        z -= q @ (q.T @ z)  # remove the new directions from every candidate
        r -= q @ (q.T @ r)
        free[take] = False
        chosen += list(take)
    picked = list(live[np.asarray(chosen, int)]) if chosen else []
    if len(picked) < k:  # fill with the most occupied of the rest
        occ = np.argsort(-((x > 0).mean(0)), kind="stable")
        have = set(picked)
        rest = [c for c in occ if c not in have]
        picked += rest[: k - len(picked)]
    return _mask(np.asarray(picked[:k]), x.shape[1])


class TopKSelector:
    """Factory for a straight-through top-k channel selector (torch module, built lazily)."""

    def __new__(cls, n_channels: int, k: int, seed: int = 0):
        import torch
        from torch import nn

        class _Selector(nn.Module):
            """Forward: hard top-k of (logits + annealed Gumbel noise); backward: the sigmoid relaxation."""

            def __init__(self):
                super().__init__()
                g = torch.Generator().manual_seed(seed)
                self.logits = nn.Parameter(0.01 * torch.randn(n_channels, generator=g))
                self.k = k
                self._gen = torch.Generator().manual_seed(seed + 1)

            def forward(self, x: torch.Tensor, progress: float) -> torch.Tensor:
                tau = 1.0 * (0.05 / 1.0) ** progress  # temperature 1 -> 0.05
                u = torch.rand(self.logits.shape, generator=self._gen).clamp(1e-6, 1 - 1e-6)
                s = self.logits + (1.0 - progress) * (-torch.log(-torch.log(u)))
                thr = torch.topk(s.detach(), self.k).values[-1]
                soft = torch.sigmoid((s - thr) / tau)
                hard = (s >= thr).to(x.dtype)
                return x * (hard + soft - soft.detach())

            def mask(self) -> np.ndarray:
                idx = torch.topk(self.logits.detach(), self.k).indices.numpy()
                return _mask(idx, n_channels)

        return _Selector()


def select(method: str, x: np.ndarray, y: np.ndarray, k: int, seed: int, regressor_cfg=None) -> np.ndarray:
    """The mask of ``method`` (one of :data:`METHODS`) with exactly ``k`` channels."""
    if method == "random":
        return select_random(x, y, k, seed)
    if method == "occupancy":
        return select_occupancy(x, y, k, seed)
    if method == "qr":
        return select_qr(x, y, k, seed)
    if method == "greedy":
        return select_greedy(x, y, k, seed)
    if method == "learned":
        from .regress import RegressorConfig, fit_calibration

        sel = TopKSelector(x.shape[1], k, seed)
        fit_calibration(x, y, np.ones(x.shape[1], bool), seed, regressor_cfg or RegressorConfig(), selector=sel)
        return sel.mask()
    raise ValueError(f"unknown selection method {method!r} (one of {', '.join(METHODS)})")
