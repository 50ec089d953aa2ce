"""Energy calibration by regression from the channels that are read out, and its resolution.

The same regressor serves every readout pattern, so methods differ only in the channels they keep:
``E = w.x + MLP(x)`` (a linear calibration plus a non-linear correction for leakage at the module edges),
trained on the relative error ((E_hat - E)/E)^2 because sigma/E is the figure of merit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RegressorConfig:
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.15


def _net(n_in: int, hidden: int):
    import torch
    from torch import nn

    class EnergyRegressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(n_in, 1)
            self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (self.linear(x) + self.mlp(x)).squeeze(-1)

    return EnergyRegressor()


class Calibration:
    """A trained regressor with the channel mask and input scale it was trained with."""

    def __init__(self, mask: np.ndarray, net, scale: float):
        self.mask, self.net, self.scale = mask, net, scale

    def predict_GeV(self, signal: np.ndarray, batch: int = 4096) -> np.ndarray:
        import torch

        x = signal.reshape(len(signal), -1)[:, self.mask]
        self.net.eval()
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                outs.append(self.net(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])) / self.scale).numpy())
        return np.concatenate(outs) if outs else np.zeros(0)


def fit_calibration(signal: np.ndarray, energy_GeV: np.ndarray, mask: np.ndarray, seed: int,
                    cfg: RegressorConfig = RegressorConfig(), selector=None) -> Calibration:
    """Train the regressor on the masked channels (``selector``: optional learnable mask module, see select)."""
    import torch

    x_all = signal.reshape(len(signal), -1)
    x = np.ascontiguousarray(x_all[:, mask] if selector is None else x_all, dtype=np.float32)
    y = np.asarray(energy_GeV, np.float32)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # inputs in GeV-like units: the mean total signal per GeV of the training showers
    scale = float(max(x.sum(1).mean() / y.mean(), 1e-6))
    perm = torch.randperm(len(x), generator=gen).numpy()
    n_val = max(1, int(cfg.val_fraction * len(x)))
    val, tr = perm[:n_val], perm[n_val:]
    xt, yt = torch.from_numpy(x[tr]) / scale, torch.from_numpy(y[tr])
    xv, yv = torch.from_numpy(x[val]) / scale, torch.from_numpy(y[val])
    net = _net(x.shape[1], cfg.hidden)
    with torch.no_grad():  # start from the unit calibration E = sum(x) / scale
        net.linear.weight.fill_(1.0)
        net.linear.bias.zero_()
        net.mlp[-1].weight.mul_(0.1)
    groups = [{"params": list(net.parameters()), "lr": cfg.lr}]
    if selector is not None:  # the mask logits move on an O(1) scale: a larger step (tuning choice)
        groups.append({"params": list(selector.parameters()), "lr": 20 * cfg.lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * max(1, (len(tr) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps,
                                                pct_start=0.1)
    best, best_state = np.inf, None
    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(order), cfg.batch_size):
            b = order[i:i + cfg.batch_size]
            xb = xt[b] if selector is None else selector(xt[b], epoch / max(1, cfg.epochs - 1))
            loss = (((net(xb) - yt[b]) / yt[b]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if selector is not None:
            continue  # the mask is still moving: select the last epoch
        net.eval()
        with torch.no_grad():
            v = float((((net(xv) - yv) / yv) ** 2).mean())
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return Calibration(mask if selector is None else np.ones(x.shape[1], bool), net, scale)


def resolution(pred_GeV: np.ndarray, true_GeV: np.ndarray, n_boot: int = 200, seed: int = 0) -> dict[str, float]:
    """sigma/E (RMS of E_hat/E) and bias (mean E_hat/E - 1) at one energy, with bootstrap errors."""
    ratio = np.asarray(pred_GeV, float) / np.asarray(true_GeV, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ratio), (n_boot, len(ratio)))
    boot = ratio[idx]
    s = boot.std(axis=1) / boot.mean(axis=1)
    return {"sigma_over_e": float(ratio.std() / ratio.mean()), "sigma_over_e_err": float(s.std()),
            "bias": float(ratio.mean() - 1.0), "bias_err": float(boot.mean(axis=1).std())}


def fit_stochastic_constant(energy_GeV: np.ndarray, sigma_over_e: np.ndarray, err: np.ndarray) -> dict[str, float]:
    """Fit sigma/E = a/sqrt(E) (+) b (in quadrature); returns a, b (fractions) and their errors."""
    from scipy.optimize import curve_fit

    e = np.asarray(energy_GeV, float)
    if len(e) < 3:
        raise ValueError("the a/sqrt(E) (+) b fit needs >= 3 energies")

    def model(e, a, b):
        return np.sqrt(a * a / e + b * b)

    p, cov = curve_fit(model, e, sigma_over_e, p0=[0.15, 0.01], sigma=np.maximum(err, 1e-6), absolute_sigma=True)
    chi2 = float((((model(e, *p) - sigma_over_e) / np.maximum(err, 1e-6)) ** 2).sum())
    return {"stochastic": float(abs(p[0])), "stochastic_err": float(np.sqrt(cov[0, 0])),
            "constant": float(abs(p[1])), "constant_err": float(np.sqrt(cov[1, 1])), "chi2": chi2,
            "ndf": int(len(e) - 2)}
