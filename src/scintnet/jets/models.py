"""Jet taggers of seed 004's table on the shared model zoo (``models.pointcloud`` building blocks).

Inputs (:func:`jet_inputs`): per constituent ``x`` [B, N, 13] -- d_eta, d_phi to the jet axis, ln pT,
ln E, ln(pT/pT_jet), ln(E/E_jet), Delta R, charge and five particle-type flags (charged hadron, electron,
muon, photon, neutral hadron) -- and the four-momenta ``p4`` [B, N, 4] = (E, px, py, pz) in GeV for the
Lorentz models (their invariants enter through psi(x) = sign(x) ln(1 + |x|), as in LorentzNet; in units
of 100 GeV the pair invariants of collinear constituents were ~1e-3 and the Lorentz models did not learn);
``mask`` [B, N].

* ``pfn``: Particle-Flow Network / Deep Sets (Komiske, Metodiev, Thaler, JHEP 01 (2019) 121);
* ``particlenet_lite``, ``particlenet``: EdgeConv on (d_eta, d_phi), then on learned features (Qu & Gouskos,
  PRD 101 (2020) 056019), our ``models.pointcloud.EdgeConv``;
* ``part``: Particle Transformer with the pairwise interaction features ln Delta, ln kT, ln z, ln m^2 as
  attention biases (Qu, Li, Qian, ICML 2022), our ``ParTBlock``;
* ``lorentznet``: Lorentz-group-equivariant message passing on four-vectors (Gong et al., JHEP 07 (2022)
  030): messages from the invariants <x_i, x_j> and |x_i - x_j|^2, four-vectors updated as linear
  combinations of four-vectors;
* ``lorentz_moments``: our rotation-invariant PMT design (``RotInvLayer``) with SO(3) replaced by the
  Lorentz group: the all-pairs aggregation through learned moments D_k = <w_jk p_j>, Q_k = <w_jk p_j p_j^T>
  contracted with the Minkowski metric, O(N K) instead of O(N^2), plus kNN messages in the invariant
  pair mass; invariant under every Lorentz transformation of the constituents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..models.pointcloud import AttentionPool, EdgeConv, ParTBlock, gather_neighbours, knn, masked_mean, mlp, \
    pairwise_sqdist

N_FEATURES = 13
P4_SCALE_GeV = 1.0  # GeV: psi() then maps collinear pair invariants (~1-100 GeV^2) to O(1)
_METRIC = (1.0, -1.0, -1.0, -1.0)


def jet_inputs(sample, n_max: int) -> dict[str, np.ndarray]:
    """Dense network inputs of a :class:`scintnet.io.jets.JetSample` (``n_max`` leading constituents)."""
    from ..io.jets import to_padded

    c, mask = to_padded(sample, n_max)
    j = sample.jets
    deta = np.where(mask, c["eta"] - j["eta"][:, None], 0.0)
    dphi = np.where(mask, (c["phi"] - j["phi"][:, None] + np.pi) % (2 * np.pi) - np.pi, 0.0)
    pt, e = np.maximum(c["pt_GeV"], 1e-3), np.maximum(c["e_GeV"], 1e-3)
    jet_e = np.sqrt((j["pt_GeV"] * np.cosh(j["eta"])) ** 2 + j["mass_GeV"] ** 2)
    apid = np.abs(c["pid"])
    charged = c["charge"] != 0
    flags = [charged & (apid != 11) & (apid != 13), apid == 11, apid == 13, apid == 22, ~charged & (apid != 22)]
    x = np.stack([deta, dphi, np.log(pt), np.log(e), np.log(pt / j["pt_GeV"][:, None]), np.log(e / jet_e[:, None]),
                  np.hypot(deta, dphi), c["charge"].astype(float)] + [f.astype(float) for f in flags], -1)
    x = np.where(mask[..., None], x, 0.0).astype(np.float32)
    p4 = np.stack([e, pt * np.cos(c["phi"]), pt * np.sin(c["phi"]), pt * np.sinh(c["eta"])], -1) / P4_SCALE_GeV
    p4 = np.where(mask[..., None], p4, 0.0).astype(np.float32)
    return {"x": x, "p4": p4, "mask": mask, "label": j["label"].astype(np.float32)}


def minkowski(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """<a, b> = a0 b0 - a.b over the last axis (broadcasting)."""
    g = torch.tensor(_METRIC, dtype=a.dtype, device=a.device)
    return (a * b * g).sum(-1)


def psi(x: torch.Tensor) -> torch.Tensor:
    """sign(x) ln(1 + |x|): invariants span many decades."""
    return torch.sign(x) * torch.log1p(x.abs())


@dataclass(frozen=True)
class JetModelConfig:
    kind: str = "pfn"
    n_max: int = 100
    dim: int = 64
    layers: int = 3
    k: int = 16
    heads: int = 4
    fc: int = 128
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class _JetModel(nn.Module):
    def __init__(self, cfg: JetModelConfig):
        super().__init__()
        self.cfg = cfg
        self.last_attribution: torch.Tensor | None = None


def _head(c_in: int, fc: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c_in, fc), nn.GELU(), nn.Dropout(dropout), nn.Linear(fc, 1))


class PFN(_JetModel):
    def __init__(self, cfg: JetModelConfig):
        super().__init__(cfg)
        self.phi = mlp([N_FEATURES, 100, 100, 128])
        self.f = nn.Sequential(mlp([128, 100, 100]), nn.Linear(100, 1))

    def forward(self, x, p4, mask):
        h = torch.where(mask.unsqueeze(-1), self.phi(x), torch.zeros((), dtype=x.dtype))
        self.last_attribution = h.norm(dim=-1).detach()
        return self.f(h.sum(1)).squeeze(-1)


class ParticleNetJets(_JetModel):
    def __init__(self, cfg: JetModelConfig, blocks: tuple[tuple[int, ...], ...]):
        super().__init__(cfg)
        self.embed = nn.Sequential(nn.Linear(N_FEATURES, blocks[0][0]), nn.GELU())
        convs, c = [], blocks[0][0]
        for w in blocks:
            convs.append(EdgeConv(c, w))
            c = w[-1]
        self.convs = nn.ModuleList(convs)
        self.pool = AttentionPool(c)
        self.head = _head(2 * c, cfg.fc, cfg.dropout)

    def forward(self, x, p4, mask):
        h = self.embed(x)
        pts = x[..., 0:2]  # first graph in (d_eta, d_phi), later ones in feature space
        for conv in self.convs:
            idx, valid = knn(pairwise_sqdist(pts), mask, self.cfg.k)
            h = conv(h, idx, valid)
            pts = h
        pooled, w = self.pool(h, mask)
        self.last_attribution = w.detach()
        return self.head(torch.cat([pooled, masked_mean(h, mask, 1)], -1)).squeeze(-1)


def interaction_features(p4: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """ParT's pair features [B, N, N, 4]: ln Delta, ln kT, ln z, ln m^2 (Delta = Delta R_ij)."""
    deta = x[..., 0].unsqueeze(-1) - x[..., 0].unsqueeze(-2)
    dphi = x[..., 1].unsqueeze(-1) - x[..., 1].unsqueeze(-2)
    delta = torch.sqrt(deta**2 + dphi**2 + 1e-8)
    pt = torch.exp(x[..., 2])
    ptmin = torch.minimum(pt.unsqueeze(-1), pt.unsqueeze(-2))
    z = ptmin / (pt.unsqueeze(-1) + pt.unsqueeze(-2))
    s = p4.unsqueeze(2) + p4.unsqueeze(1)
    m2 = (minkowski(s, s) / 1e4).clamp_min(1e-8)  # in (100 GeV)^2
    return torch.stack([torch.log(delta), torch.log((ptmin * delta).clamp_min(1e-8)), torch.log(z.clamp_min(1e-8)),
                        torch.log(m2)], -1)


class ParTJets(_JetModel):
    def __init__(self, cfg: JetModelConfig):
        super().__init__(cfg)
        d = cfg.dim
        self.embed = mlp([N_FEATURES, d, d], final_act=False)
        self.pair = mlp([4, 32, 32, cfg.heads], final_act=False)
        self.blocks = nn.ModuleList(ParTBlock(d, cfg.heads, 2, cfg.dropout) for _ in range(cfg.layers))
        self.cls_block = ParTBlock(d, cfg.heads, 2, cfg.dropout)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.norm = nn.LayerNorm(d)
        self.head = _head(d, cfg.fc, cfg.dropout)

    def forward(self, x, p4, mask):
        h = self.embed(x)
        pm = mask.unsqueeze(-1) & mask.unsqueeze(-2)
        bias = self.pair(interaction_features(p4, x))
        bias = torch.where(pm.unsqueeze(-1), bias, torch.zeros((), dtype=bias.dtype)).permute(0, 3, 1, 2)
        for blk in self.blocks:
            h, _ = blk(h, None, mask, bias)
        c, w = self.cls_block(self.cls.repeat(h.shape[0], 1, 1), h, mask)
        self.last_attribution = w.mean(1)[:, 0].detach()
        self.last_pair_attention = bias.detach()
        return self.head(self.norm(c[:, 0])).squeeze(-1)


class LGEB(nn.Module):
    """LorentzNet's Lorentz group equivariant block (scalars h, four-vectors v)."""

    def __init__(self, dim: int, c_weight: float = 1e-3):
        super().__init__()
        # phi_e's first layer on [h_i, h_j, <v_i, v_j>, |v_i - v_j|^2] applied per node and broadcast
        # (W [h_i, h_j, s] = W1 h_i + W2 h_j + W3 s, the EdgeConv factorisation): same function, ~4x fewer FLOPs
        self.e_i = nn.Linear(dim, dim)
        self.e_j = nn.Linear(dim, dim, bias=False)
        self.e_s = nn.Linear(2, dim, bias=False)
        self.phi_e = mlp([dim, dim])
        self.phi_m = nn.Sequential(nn.Linear(dim, 1), nn.Sigmoid())
        self.phi_x = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1, bias=False))
        self.phi_h = mlp([2 * dim, dim, dim], final_act=False)
        self.c_weight = c_weight
        self.norm = nn.LayerNorm(dim)

    def forward(self, h, v, mask):
        pm = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).to(h.dtype)
        dot = psi(minkowski(v.unsqueeze(2), v.unsqueeze(1)))
        dv = v.unsqueeze(2) - v.unsqueeze(1)
        d2 = psi(minkowski(dv, dv))
        m = nn.functional.gelu(self.e_i(h).unsqueeze(2) + self.e_j(h).unsqueeze(1)
                               + self.e_s(torch.stack([dot, d2], -1)))
        m = self.phi_e(m)
        w = self.phi_m(m) * pm.unsqueeze(-1)
        nv = mask.sum(1).clamp_min(1).to(h.dtype)[:, None, None]
        # four-vectors: v_i += c * mean_j phi_x(m_ij) (v_i - v_j) -- a combination of four-vectors
        v = v + self.c_weight * (self.phi_x(m) * pm.unsqueeze(-1) * dv).sum(2) / nv
        agg = (w * m).sum(2) / nv
        h = self.norm(h + self.phi_h(torch.cat([h, agg], -1)))
        return h, v


class LorentzNetJets(_JetModel):
    def __init__(self, cfg: JetModelConfig):
        super().__init__(cfg)
        self.embed = nn.Linear(7, cfg.dim)  # Lorentz scalars only: mass^2, charge, the five type flags
        self.blocks = nn.ModuleList(LGEB(cfg.dim) for _ in range(cfg.layers))
        self.head = _head(cfg.dim, cfg.fc, cfg.dropout)

    def forward(self, x, p4, mask):
        m2 = psi(minkowski(p4, p4))
        h = self.embed(torch.cat([m2.unsqueeze(-1), x[..., 7:13]], -1))
        v = p4
        for blk in self.blocks:
            h, v = blk(h, v, mask)
        h = torch.where(mask.unsqueeze(-1), h, torch.zeros((), dtype=h.dtype))
        self.last_attribution = h.norm(dim=-1).detach()
        return self.head(masked_mean(h, mask, 1)).squeeze(-1)


class LorentzMomentLayer(nn.Module):
    """``RotInvLayer`` for the Lorentz group: kNN messages in pair mass, Minkowski moments globally."""

    def __init__(self, dim: int, moments: int):
        super().__init__()
        self.w = nn.Linear(dim, moments)
        self.msg_self = nn.Linear(dim, dim)
        self.msg_nbr = nn.Linear(dim, dim, bias=False)
        self.msg_edge = nn.Linear(1, dim, bias=False)
        self.msg = nn.Linear(dim, dim)
        self.update = mlp([3 * dim + 2 * moments, dim, dim], final_act=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, h, v, mask, idx, valid, pair_inv):
        m = self.msg_self(h).unsqueeze(2) + gather_neighbours(self.msg_nbr(h), idx) + self.msg_edge(pair_inv.unsqueeze(-1))
        m = masked_mean(self.msg(nn.functional.gelu(m)), valid, 2)
        w = torch.where(mask.unsqueeze(-1), self.w(h), torch.zeros((), dtype=h.dtype))
        g = torch.tensor(_METRIC, dtype=h.dtype, device=h.device)
        D = torch.einsum("bnk,bnc->bkc", w, v)  # sum_j w_jk p_j: a four-vector per moment
        Q = torch.einsum("bnk,bnc,bne->bkce", w, v, v)
        vg = v * g  # lower the index: p_i^mu eta_{mu nu}
        p = psi(torch.einsum("bnc,bkc->bnk", vg, D))
        r = psi(torch.einsum("bnc,bkce,bne->bnk", vg, Q, vg))
        gl = masked_mean(h, mask, 1).unsqueeze(1).expand_as(h)
        return self.norm(h + self.update(torch.cat([h, m, gl, p, r], -1)))


class LorentzMomentsJets(_JetModel):
    def __init__(self, cfg: JetModelConfig, moments: int = 8):
        super().__init__(cfg)
        self.embed = mlp([7, cfg.dim, cfg.dim], final_act=False)
        self.layers = nn.ModuleList(LorentzMomentLayer(cfg.dim, moments) for _ in range(cfg.layers))
        self.pool = AttentionPool(cfg.dim)
        self.head = _head(2 * cfg.dim, cfg.fc, cfg.dropout)

    def forward(self, x, p4, mask):
        m2 = psi(minkowski(p4, p4))
        h = self.embed(torch.cat([m2.unsqueeze(-1), x[..., 7:13]], -1))
        # invariant graph: neighbours are the pairs of smallest invariant mass (collinear / soft)
        s = p4.unsqueeze(2) + p4.unsqueeze(1)
        pair = minkowski(s, s)
        idx, valid = knn(pair, mask, self.cfg.k)
        pair_inv = psi(torch.gather(pair, 2, idx))
        for layer in self.layers:
            h = layer(h, p4, mask, idx, valid, pair_inv)
        pooled, w = self.pool(h, mask)
        self.last_attribution = w.detach()
        return self.head(torch.cat([pooled, masked_mean(h, mask, 1)], -1)).squeeze(-1)


# sizes that train in minutes on 2 CPU cores (the seed's models are 86 k - 2.1 M parameters)
JET_MODELS = {
    "pfn": JetModelConfig("pfn"),
    "particlenet_lite": JetModelConfig("particlenet_lite", k=7),
    "particlenet": JetModelConfig("particlenet", k=16),
    "part": JetModelConfig("part", dim=64, layers=3, heads=4),
    "lorentznet": JetModelConfig("lorentznet", n_max=64, dim=48, layers=3),
    "lorentz_moments": JetModelConfig("lorentz_moments", dim=64, layers=3, k=12),
}


def build_jet_model(cfg: JetModelConfig) -> _JetModel:
    if cfg.kind == "pfn":
        return PFN(cfg)
    if cfg.kind == "particlenet_lite":
        return ParticleNetJets(cfg, ((32, 32, 32), (64, 64, 64)))
    if cfg.kind == "particlenet":
        return ParticleNetJets(cfg, ((64, 64, 64), (128, 128, 128), (256, 256, 256)))
    if cfg.kind == "part":
        return ParTJets(cfg)
    if cfg.kind == "lorentznet":
        return LorentzNetJets(cfg)
    if cfg.kind == "lorentz_moments":
        return LorentzMomentsJets(cfg)
    raise ValueError(f"unknown jet model {cfg.kind!r} (one of {', '.join(JET_MODELS)})")
