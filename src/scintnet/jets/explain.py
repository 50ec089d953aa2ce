"""Interpretability of the jet taggers (issue 22 item 4): attributions over constituents, ParT's pair attention.

* **Integrated gradients** (Sundararajan, Taly, Yan, ICML 2017) per constituent: the path from an empty
  jet (every constituent's features and four-momentum zero, the mask unchanged) to the jet, midpoint rule
  in ``steps``; a constituent's attribution is the sum over its features and four-momentum components.
  Completeness — the attributions of a jet add up to logit(jet) − logit(empty) — holds to the quadrature
  error for the smooth models (PFN, ParT, the Lorentz models); it does not for ParticleNet, whose kNN
  graph changes along the path (reported, not hidden: ``completeness_error``).
* Aggregates a physicist reads: the share of |attribution| by constituent pT rank, the attribution image in
  (Δη, Δφ) to the jet axis for top and QCD jets, and the share of |attribution| within ΔR < 0.2 of the
  leading constituent (a top jet's information is spread over its three prongs, a QCD jet's is in its core).
* **ParT pair attention**: the learned interaction bias U_ij (one map per head, from ln Δ, ln kT, ln z,
  ln m²) averaged in bins of ΔR_ij and of the pair's invariant mass, top vs QCD (a pair of two constituents
  has a few tens of GeV at most: the W and top masses are built over many pairs, not seen in one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..plotting import pyplot, save


def integrated_gradients(model: torch.nn.Module, x: torch.Tensor, p4: torch.Tensor, mask: torch.Tensor,
                         steps: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per-constituent attributions [B, N] (zero at padding) and the completeness error [B]:
    sum(attributions) − (logit(x) − logit(empty))."""
    model.eval()
    tot_x = torch.zeros_like(x)
    tot_p = torch.zeros_like(p4)
    for k in range(steps):
        a = (k + 0.5) / steps
        xa = (a * x).detach().requires_grad_(True)
        pa = (a * p4).detach().requires_grad_(True)
        out = model(xa, pa, mask).sum()
        gx, gp = torch.autograd.grad(out, (xa, pa), allow_unused=True)  # PFN does not use the four-momenta
        tot_x += gx
        if gp is not None:
            tot_p += gp
    attr = ((x * tot_x).sum(-1) + (p4 * tot_p).sum(-1)) / steps
    attr = torch.where(mask, attr, torch.zeros((), dtype=attr.dtype))
    with torch.no_grad():
        full = model(x, p4, mask)
        empty = model(torch.zeros_like(x), torch.zeros_like(p4), mask)
    err = attr.sum(1) - (full - empty)
    return attr.detach().numpy(), err.detach().numpy()


def attribution_summary(attr: np.ndarray, x: np.ndarray, mask: np.ndarray, label: np.ndarray,
                        max_rank: int = 30) -> dict[str, Any]:
    """Share of |attribution| per pT rank (constituents are pT-ordered), per class, and the core share."""
    a = np.abs(np.where(mask, attr, 0.0))
    tot = np.maximum(a.sum(1, keepdims=True), 1e-12)
    share = a / tot
    out: dict[str, Any] = {}
    deta = x[..., 0] - x[:, :1, 0]
    dphi = x[..., 1] - x[:, :1, 1]
    core = (np.hypot(deta, dphi) < 0.2) & mask
    for name, cls in (("top", 1), ("qcd", 0)):
        s = label == cls
        r = share[s, :max_rank].mean(0)
        out[name] = {"share_by_pt_rank": [float(v) for v in r],
                     "share_top3": float(share[s, :3].sum(1).mean()),
                     "share_within_0.2_of_leading": float((share[s] * core[s]).sum(1).mean()),
                     "n_jets": int(s.sum())}
    return out


def pair_attention_summary(model: torch.nn.Module, x: torch.Tensor, p4: torch.Tensor, mask: torch.Tensor,
                           label: np.ndarray) -> dict[str, Any] | None:
    """ParT's learned pair bias per head, averaged in bins of ΔR_ij and of the pair mass m_ij (GeV)."""
    if not hasattr(model, "pair"):
        return None
    from .models import interaction_features

    with torch.no_grad():
        f = interaction_features(p4, x)  # [B, N, N, 4]: ln Δ, ln kT, ln z, ln m² (100 GeV)²
        bias = model.pair(f).numpy()  # [B, N, N, H]
    f = f.numpy()
    pm = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).numpy()
    iu = np.triu(np.ones(pm.shape[1:], bool), 1)
    sel = pm & iu[None]
    dr = np.exp(f[..., 0])[sel]
    m = 100.0 * np.exp(0.5 * f[..., 3])[sel]
    cls = np.broadcast_to(label[:, None, None], pm.shape)[sel]
    b = bias[sel]  # [P, H]
    dr_edges = np.linspace(0.0, 1.2, 25)
    m_edges = np.linspace(0.0, 60.0, 31)  # two constituents: masses of a few tens of GeV
    out: dict[str, Any] = {"dr_edges": dr_edges.tolist(), "m_edges_GeV": m_edges.tolist(), "heads": int(b.shape[1])}
    for name, c in (("top", 1), ("qcd", 0)):
        s = cls == c
        for key, v, edges in (("vs_dr", dr[s], dr_edges), ("vs_mass", m[s], m_edges)):
            i = np.clip(np.digitize(v, edges) - 1, 0, len(edges) - 2)
            cnt = np.bincount(i, minlength=len(edges) - 1)
            mean = np.stack([np.bincount(i, b[s, h], len(edges) - 1) / np.maximum(cnt, 1) for h in range(b.shape[1])])
            out[f"{name}_{key}"] = np.where(cnt[None] > 20, mean, np.nan).tolist()
    return out


def explain_model(model: torch.nn.Module, inputs: dict[str, np.ndarray], idx: np.ndarray, n_max: int,
                  steps: int = 32, batch: int = 64) -> dict[str, Any]:
    """Attributions of ``model`` on the jets ``idx`` of ``inputs`` (from :func:`~.models.jet_inputs`)."""
    x = torch.from_numpy(np.ascontiguousarray(inputs["x"][idx, :n_max]))
    p4 = torch.from_numpy(np.ascontiguousarray(inputs["p4"][idx, :n_max]))
    mask = torch.from_numpy(np.ascontiguousarray(inputs["mask"][idx, :n_max]))
    label = inputs["label"][idx].astype(int)
    attrs, errs = [], []
    for i in range(0, len(idx), batch):
        a, e = integrated_gradients(model, x[i:i + batch], p4[i:i + batch], mask[i:i + batch], steps)
        attrs.append(a)
        errs.append(e)
    attr = np.concatenate(attrs)
    err = np.concatenate(errs)
    with torch.no_grad():
        logit = torch.cat([model(x[i:i + 256], p4[i:i + 256], mask[i:i + 256]) for i in range(0, len(idx), 256)]).numpy()
    res = {"n_jets": int(len(idx)), "steps": steps,
           "completeness_error_median": float(np.median(np.abs(err))),
           "logit_spread": float(np.std(logit)),
           "summary": attribution_summary(attr, x.numpy(), mask.numpy(), label)}
    res["pair_attention"] = pair_attention_summary(model, x[:256], p4[:256], mask[:256], label[:256])
    res["_arrays"] = {"attr": attr, "x": x.numpy(), "mask": mask.numpy(), "label": label}
    return res


def explain_plots(name: str, res: dict[str, Any], out_dir: str | Path) -> list[str]:
    """Attribution by pT rank, attribution images (top, QCD) and, for ParT, the pair bias vs ΔR and mass."""
    plt = pyplot()
    arr = res["_arrays"]
    attr, x, mask, label = arr["attr"], arr["x"], arr["mask"], arr["label"]
    pa = res.get("pair_attention")
    ncol = 4 if pa else 3
    fig, ax = plt.subplots(1, ncol, figsize=(4.2 * ncol, 4.0))
    s = res["summary"]
    for nm, col in (("top", "C3"), ("qcd", "C0")):
        r = s[nm]["share_by_pt_rank"]
        ax[0].plot(np.arange(1, len(r) + 1), r, "o-", ms=3, color=col,
                   label=f"{nm} (ΔR<0.2 of leading: {100 * s[nm]['share_within_0.2_of_leading']:.0f} %)")
    ax[0].set(xlabel="constituent pT rank", ylabel="share of |attribution|", yscale="log",
              title=f"{name}: integrated gradients")
    ax[0].legend(fontsize=8)
    edges = np.linspace(-0.8, 0.8, 33)
    share = np.abs(attr) / np.maximum(np.abs(attr).sum(1, keepdims=True), 1e-12)
    for k, (nm, cls) in enumerate((("top", 1), ("qcd", 0))):
        sel = (label == cls)[:, None] & mask
        h, _, _ = np.histogram2d(x[..., 0][sel], x[..., 1][sel], bins=[edges, edges], weights=share[sel])
        h /= max(int((label == cls).sum()), 1)
        im = ax[1 + k].imshow(np.log10(np.maximum(h.T, 1e-5)), origin="lower", extent=[-0.8, 0.8, -0.8, 0.8],
                              cmap="viridis", vmin=-4, vmax=-0.5)
        ax[1 + k].set(xlabel="Δη to the jet axis", ylabel="Δφ to the jet axis", title=f"{nm} jets: mean |attribution| share")
        fig.colorbar(im, ax=ax[1 + k], fraction=0.046, label="log10 share per cell")
    if pa:
        mc = 0.5 * (np.asarray(pa["m_edges_GeV"][1:]) + np.asarray(pa["m_edges_GeV"][:-1]))
        for h in range(pa["heads"]):
            ax[3].plot(mc, np.asarray(pa["top_vs_mass"])[h], "-", color=f"C{h}", label=f"head {h} top")
            ax[3].plot(mc, np.asarray(pa["qcd_vs_mass"])[h], ":", color=f"C{h}")
        ax[3].set(xlabel="pair invariant mass m_ij [GeV]", ylabel="learned pair bias U_ij",
                  title="ParT pair attention (solid top, dotted QCD)")
        ax[3].legend(fontsize=7, ncol=2)
    return [save(fig, Path(out_dir) / f"explain_{name}.png")]


def jets_explain(sample, models: tuple[str, ...], cfg, out_dir: str | Path, n_explain: int = 1000, steps: int = 32,
                 log=None) -> dict[str, Any]:
    """Train each model of ``models`` with the bench harness (``cfg``: a ``JetBenchConfig``) and explain it on
    ``n_explain`` test jets; writes ``explain_<model>.png`` and returns the figures."""
    from .bench import split, train_one
    from .models import JET_MODELS, jet_inputs

    step = log or (lambda m: None)
    bad = [m for m in models if m not in JET_MODELS]
    if bad:
        raise ValueError(f"unknown jet model(s) {bad} (one of {', '.join(JET_MODELS)})")
    parts = split(len(sample), cfg.split, cfg.seed)
    n_max = max(JET_MODELS[m].n_max for m in models)
    inputs = jet_inputs(sample, n_max)
    idx = parts[2][:n_explain]
    out: dict[str, Any] = {"n_jets": len(sample), "n_explained": int(len(idx)), "models": {}}
    for name in models:
        row, model = train_one(name, inputs, parts, cfg, cfg.seed, step, return_model=True)
        res = explain_model(model, inputs, idx, JET_MODELS[name].n_max, steps)
        res["plots"] = explain_plots(name, res, out_dir)
        res.pop("_arrays")
        res["auc"] = row["auc"]
        res["epochs_run"] = row["epochs_run"]
        out["models"][name] = res
        sm = res["summary"]
        step(f"jets explain {name}: AUC {row['auc']:.4f}, |attribution| within 0.2 of the leading constituent "
             f"top {100 * sm['top']['share_within_0.2_of_leading']:.0f} % / QCD "
             f"{100 * sm['qcd']['share_within_0.2_of_leading']:.0f} %, completeness error "
             f"{res['completeness_error_median']:.3g} (logit spread {res['logit_spread']:.2f})")
    return out
