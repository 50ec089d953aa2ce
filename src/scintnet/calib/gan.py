"""The talk's approach done so it works (seed 001): an adversarial network that maps simulated hits to
data-like hits, trained in minutes on unpaired samples.

Seed 001's Graph U-Net generated whole events from truth maps (an L1 term on paired truth and data, which
real data never has) and "took a few days to reach the equilibrium"; its CycleGAN variant for unpaired data
"does start learning features" after days.  What makes it work here:

* the generator does not create events: it transforms the hits of a zero-TTS template simulation, tube by
  tube -- a residual network on (tube embedding, residual, charge, expected light, noise) that starts as
  the identity, so it only has to learn the detector's deviations (offset, spread, charge width), not
  scintillation physics;
* occupancy differences (QE, dark rate) are importance weights from the tube embedding (one for light hits,
  one for hits before the light), self-normalised per batch so the adversarial game stays one between
  probability distributions (unnormalised weights make the GAN value monotonic in the total weight); the
  absolute scale is the data's hits per event, one number;
* the discriminator sees single hits with its own tube embedding (per-tube distributions, not events), so a
  batch of a few thousand hits carries information on every tube and training converges in ~10^3 steps.

Per-tube parameters (for the same scores as the other methods) are read off the trained generator:
QE and dark rate from the weights, offset and TTS from the mean and spread of the time shifts it applies,
the single-p.e. width from the spread of the charges it generates for faint tubes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .samples import PRE_LIGHT_RES_NS, HitTable, PMTParams

R_SCALE_NS = 20.0  # residuals enter the networks in units of 20 ns


@dataclass(frozen=True)
class GanConfig:
    steps: int = 2000
    batch: int = 16384
    emb_dim: int = 16
    hidden: int = 64
    lr_g: float = 2e-3
    lr_d: float = 1e-3
    d_steps: int = 2
    seed: int = 0


def _mlp(n_in: int, hidden: int, n_out: int, layers: int = 3) -> nn.Sequential:
    mods: list[nn.Module] = []
    for k in range(layers):
        mods += [nn.Linear(n_in if k == 0 else hidden, hidden), nn.LeakyReLU(0.2)]
    mods.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*mods)


def _features(r: torch.Tensor, q: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    # the prompt light at ns resolution (where offsets and TTS show), the rest compressed
    rp = r.clamp(-20, 40) / 4.0
    return torch.stack([rp, torch.asinh(r / R_SCALE_NS), q.clamp(0, 10) - 1.0, torch.log(lam.clamp_min(1e-4))], 1)


class HitGenerator(nn.Module):
    """Template hit -> data-like hit: a network from the tube embedding to the tube's response (time shift,
    time spread applied to the zero-TTS template, charge-width scale, light and dark weights)."""

    def __init__(self, n_pmt: int, emb_dim: int, hidden: int, tts0_ns: np.ndarray):
        super().__init__()
        self.emb = nn.Embedding(n_pmt, emb_dim)
        nn.init.normal_(self.emb.weight, std=0.1)
        self.head = _mlp(emb_dim, hidden, 5, layers=2)
        nn.init.zeros_(self.head[-1].weight)  # the nominal response at the start
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("log_tts0", torch.log(torch.as_tensor(tts0_ns, dtype=torch.float32)))

    def response(self, pmt: torch.Tensor) -> torch.Tensor:
        """[k, 5]: shift (ns), log TTS (ns), log charge-width scale, log light weight, log dark weight."""
        o = self.head(self.emb(pmt))
        return torch.stack([o[:, 0], o[:, 1] + self.log_tts0[pmt], o[:, 2], o[:, 3], o[:, 4]], 1)

    def forward(self, pmt, r, q, lam, z):
        o = self.response(pmt)
        r2 = r + o[:, 0] + o[:, 1].exp() * z[:, 0]
        q2 = 1.0 + (q - 1.0) * o[:, 2].exp()  # the template's single-p.e. spread, rescaled
        log_w = torch.where(r < PRE_LIGHT_RES_NS, o[:, 4], o[:, 3])
        return r2, q2, log_w


class HitDiscriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018): ``psi(x) + e_tube . phi(x)`` -- every tube's
    embedding gets its own gradient from each of its hits, which a concatenated embedding does not."""

    def __init__(self, n_pmt: int, emb_dim: int, hidden: int):
        super().__init__()
        self.emb = nn.Embedding(n_pmt, hidden)
        nn.init.zeros_(self.emb.weight)
        self.phi = _mlp(4, hidden * 2, hidden)
        self.psi = nn.Linear(hidden, 1)

    def forward(self, pmt, r, q, lam):
        h = nn.functional.leaky_relu(self.phi(_features(r, q, lam)), 0.2)
        return self.psi(h)[:, 0] + (self.emb(pmt) * h).sum(1)


@dataclass
class GanResult:
    generator: HitGenerator
    params: PMTParams
    scale: float  # data hits per event / template hits per event (the weights' absolute normalisation)
    wall_s: float
    history: dict[str, list[float]]


def _as(t: HitTable):
    return (torch.as_tensor(t.pmt, dtype=torch.long), torch.as_tensor(t.t_res_ns), torch.as_tensor(t.q_pe),
            torch.as_tensor(t.lam))


def train_gan(data: HitTable, template: HitTable, nominal: PMTParams, cfg: GanConfig = GanConfig(),
              log=None) -> GanResult:
    """Train the hit generator against data hits (unpaired); see the module docstring."""
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n = data.n_pmt
    G, D = HitGenerator(n, cfg.emb_dim, cfg.hidden, nominal.tts_sigma_ns), HitDiscriminator(n, cfg.emb_dim, cfg.hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.9))
    xd, xt = _as(data), _as(template)
    bce = nn.functional.binary_cross_entropy_with_logits
    hist: dict[str, list[float]] = {"step": [], "loss_d": [], "loss_g": []}
    for step in range(cfg.steps):
        frac = step / max(cfg.steps - 1, 1)
        for o in (opt_g, opt_d):  # cosine decay to 10 %
            for grp in o.param_groups:
                grp["lr"] = (cfg.lr_g if o is opt_g else cfg.lr_d) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        i_d = torch.as_tensor(rng.integers(0, data.n_hits, cfg.batch))
        i_t = torch.as_tensor(rng.integers(0, template.n_hits, cfg.batch))
        pd_, rd, qd, ld = (x[i_d] for x in xd)
        pt, rt, qt, lt = (x[i_t] for x in xt)
        z = torch.randn(cfg.batch, 2)
        r2, q2, log_w = G(pt, rt, qt, lt, z)
        w = torch.softmax(log_w, 0) * cfg.batch  # self-normalised importance weights, mean 1
        # discriminator steps (two per generator step: the per-tube signal is weak, D must keep up)
        for _ in range(cfg.d_steps):
            loss_d = bce(D(pd_, rd, qd, ld), torch.ones(cfg.batch)) + \
                (w.detach() * bce(D(pt, r2.detach(), q2.detach(), lt), torch.zeros(cfg.batch), reduction="none")).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        # generator step (non-saturating)
        loss_g = (w * bce(D(pt, r2, q2, lt), torch.ones(cfg.batch), reduction="none")).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 100 == 0 or step == cfg.steps - 1:
            hist["step"].append(step)
            hist["loss_d"].append(float(loss_d.detach()))
            hist["loss_g"].append(float(loss_g.detach()))
            if log and step % 500 == 0:
                log(f"gan: step {step}/{cfg.steps}, loss D {hist['loss_d'][-1]:.4f}, G {hist['loss_g'][-1]:.4f} "
                    f"({time.perf_counter() - t0:.0f} s)")
    G.eval()
    scale = (data.n_hits / data.n_events) / (template.n_hits / template.n_events)
    params = extract_params(G, template, nominal, scale, seed=cfg.seed)
    return GanResult(G, params, scale, time.perf_counter() - t0, hist)


@torch.no_grad()
def generate(G: HitGenerator, template: HitTable, seed: int = 0,
             idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transformed residuals, charges and the per-hit weights (mean 1) of the hits ``idx`` of ``template``
    (all by default; an index given twice gets two independent noise draws)."""
    torch.manual_seed(seed)
    p, r, q, lam = _as(template)
    if idx is not None:
        ii = torch.as_tensor(idx, dtype=torch.long)
        p, r, q, lam = p[ii], r[ii], q[ii], lam[ii]
    out_r, out_q, out_w = [], [], []
    for a in range(0, p.shape[0], 1 << 18):
        sl = slice(a, a + (1 << 18))
        r2, q2, lw = G(p[sl], r[sl], q[sl], lam[sl], torch.randn(r[sl].shape[0], 2))
        out_r.append(r2.numpy())
        out_q.append(q2.numpy())
        out_w.append(lw.numpy())
    lw = np.concatenate(out_w).astype(np.float64)
    w = np.exp(lw - lw.max())
    return np.concatenate(out_r), np.concatenate(out_q), w / w.mean()


@torch.no_grad()
def extract_params(G: HitGenerator, template: HitTable, nominal: PMTParams, scale: float, seed: int = 0) -> PMTParams:
    """Per-tube parameters of the generator's response head; QE and dark rate from the weights (normalised
    over the template's light and dark hits like the training batches) times the data/template hit ratio."""
    n = template.n_pmt
    o = G.response(torch.arange(n)).double().numpy()
    pre = template.t_res_ns < PRE_LIGHT_RES_NS
    n_light = np.bincount(template.pmt[~pre], minlength=n).astype(float)
    n_dark = np.bincount(template.pmt[pre], minlength=n).astype(float)
    w_l, w_d = np.exp(o[:, 3]), np.exp(o[:, 4])
    norm = (n_light + n_dark).sum() / (w_l * n_light + w_d * n_dark).sum()  # weights of mean 1 over hits
    return PMTParams(qe=nominal.qe * scale * norm * w_l, time_offset_ns=o[:, 0], tts_sigma_ns=np.exp(o[:, 1]),
                     spe_sigma=nominal.spe_sigma * np.exp(o[:, 2]), dark_rate_hz=nominal.dark_rate_hz * scale * norm * w_d)


def generated_table(G: HitGenerator, template: HitTable, scale: float, seed: int = 0) -> HitTable:
    """Unweighted data-like hits: the template's hits transformed, resampled by their weights to the data's
    hits per event (``scale`` times the template's)."""
    _, _, w = generate(G, template, seed)
    rng = np.random.default_rng(seed)
    k = rng.poisson(w * scale)  # each template hit appears k times (expectation: its weight times the scale)
    idx = np.repeat(np.arange(template.n_hits), k)
    r2, q2, _ = generate(G, template, seed + 1, idx)  # every copy with its own noise
    return HitTable(template.pmt[idx], r2.astype(np.float32), q2.astype(np.float32), template.lam[idx],
                    template.event[idx], template.t_lo_res_ns[idx], template.lam_sum, template.pre_open_ns,
                    template.lam_events, template.lam_events_sum, template.energy_MeV, template.r_mm,
                    template.window_ns, template.n_pmt)
