"""GAN simulators of the toy linac's operating history (seed 003) and the metrics that show mode collapse.

The "simulator" of seed 003 generates the machine's joint distribution of (settings, beam outputs), the
operating history, so that a controller can be pre-trained on it.  Two simulators, both on standardized
columns (each column minus its training mean, over its training standard deviation):

* :func:`train_plain_gan`: an MLP generator from Gaussian noise to the 47-d vector and an MLP discriminator
  (the non-saturating GAN loss).  On a few well-separated modes it tends to collapse onto some of them.
* :func:`train_latent_gan`: a VAE (MLP encoder and decoder) on the same vectors, then a GAN whose samples
  are the VAE's latent means; generated vectors are the decoder's image of the GAN's latent samples.

Metrics (:func:`evaluate_samples`), all on standardized columns: the share of generated samples in each
operating mode (nearest mode centre in settings space, within ``radius_factor`` times the mode's real RMS
distance, else "off-mode") and the fraction of modes recovered, the per-column 1-d Wasserstein distance
(mean and max), a real-vs-generated classifier AUC (XGBoost, trained on one half, scored on the other;
0.5 = indistinguishable) with its bootstrap error, and the physics residual: the generated outputs against
what Cheetah tracks for the generated settings (median over samples of the RMS over the output columns).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy.stats import wasserstein_distance
from torch import nn

from ..errors import ScintnetError
from ..metrics import auc, bootstrap_metric
from .beamline import N_SETTINGS, ModeConfig, OperatingHistory, build_beamline, sample_operating_history, \
    track_settings


@dataclass(frozen=True)
class GanConfig:
    """Network sizes and training lengths (small defaults: each simulator trains in ~15-25 s on one CPU
    thread).  A 2-d latent space: with 4 or 8 latent dimensions the latent GAN dropped more modes (3000
    training rows, 8000 steps: 4-5 of 6 on seeds 0-2, where the 2-d one recovered 6, 6 and 4)."""

    noise_dim: int = 8
    hidden: int = 128
    steps: int = 6000            # GAN updates (one discriminator and one generator step each)
    batch_size: int = 128
    lr: float = 2e-4
    latent_dim: int = 2
    vae_steps: int = 5000
    vae_lr: float = 1e-3
    kl_weight: float = 0.05      # beta of the beta-VAE: reconstruction (sum of squares) + beta * KL


@dataclass
class Standardizer:
    """Per-column affine map fitted on training data: ``(x - mean) / std``."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardizer":
        std = x.std(axis=0)
        # a column constant in the training data would divide by ~0: leave it in its own units
        return cls(mean=x.mean(axis=0), std=np.where(std > 0, std, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean


def _mlp(n_in: int, n_out: int, hidden: int, act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, n_out))


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self):
        super().__init__(0.2)


def _train_gan(data: torch.Tensor, cfg: GanConfig, seed: int) -> nn.Module:
    """A generator from ``cfg.noise_dim`` Gaussian noise to the rows of ``data`` (non-saturating GAN loss)."""
    torch.manual_seed(seed)
    dim = data.shape[1]
    gen = _mlp(cfg.noise_dim, dim, cfg.hidden, nn.ReLU)
    disc = _mlp(dim, 1, cfg.hidden, _LeakyReLU)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones = torch.ones(cfg.batch_size, 1)
    zeros = torch.zeros(cfg.batch_size, 1)
    for _ in range(cfg.steps):
        real = data[torch.randint(0, data.shape[0], (cfg.batch_size,))]
        fake = gen(torch.randn(cfg.batch_size, cfg.noise_dim))
        loss_d = bce(disc(real), ones) + bce(disc(fake.detach()), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(disc(fake), ones)  # non-saturating: maximise log D(G(z))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return gen.eval()


class PlainGan:
    """A GAN on the standardized (settings, outputs) vectors."""

    def __init__(self, generator: nn.Module, noise_dim: int):
        self.generator = generator
        self.noise_dim = noise_dim

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` standardized vectors, shape (n, 47)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return self.generator(torch.randn(n, self.noise_dim, generator=g)).double().numpy()


class _Vae(nn.Module):
    def __init__(self, dim: int, latent_dim: int, hidden: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = _mlp(dim, 2 * latent_dim, hidden, nn.ReLU)
        self.decoder = _mlp(latent_dim, dim, hidden, nn.ReLU)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)


def _train_vae(data: torch.Tensor, cfg: GanConfig, seed: int) -> _Vae:
    torch.manual_seed(seed)
    vae = _Vae(data.shape[1], cfg.latent_dim, cfg.hidden)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    for _ in range(cfg.vae_steps):
        x = data[torch.randint(0, data.shape[0], (cfg.batch_size,))]
        mu, logvar = vae.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = ((vae.decoder(z) - x) ** 2).sum(dim=1).mean()
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
        loss = rec + cfg.kl_weight * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vae.eval()


class LatentGan:
    """A VAE on the standardized vectors and a GAN in its latent space; samples are decoded GAN samples."""

    def __init__(self, vae: _Vae, generator: nn.Module, noise_dim: int):
        self.vae = vae
        self.generator = generator
        self.noise_dim = noise_dim

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` standardized vectors, shape (n, 47)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            z = self.generator(torch.randn(n, self.noise_dim, generator=g))
            return self.vae.decoder(z).double().numpy()

    def reconstruction_mse(self, x_std: np.ndarray) -> float:
        """Mean squared error (standardized units, per column) of decoder(encoder mean(x)) against ``x_std``."""
        with torch.no_grad():
            x = torch.as_tensor(x_std, dtype=torch.float32)
            mu, _ = self.vae.encode(x)
            return float(((self.vae.decoder(mu) - x) ** 2).mean())


def train_plain_gan(x_std: np.ndarray, cfg: GanConfig | None = None, seed: int = 0) -> PlainGan:
    """Train the plain GAN on standardized rows ``x_std`` (N, D); seeded by ``seed``."""
    cfg = cfg or GanConfig()
    gen = _train_gan(torch.as_tensor(x_std, dtype=torch.float32), cfg, seed)
    return PlainGan(gen, cfg.noise_dim)


def train_latent_gan(x_std: np.ndarray, cfg: GanConfig | None = None, seed: int = 0) -> LatentGan:
    """Train the VAE on ``x_std``, then a GAN on the latent means of the training rows; seeded by ``seed``."""
    cfg = cfg or GanConfig()
    x = torch.as_tensor(x_std, dtype=torch.float32)
    vae = _train_vae(x, cfg, seed)
    with torch.no_grad():
        z, _ = vae.encode(x)
    gen = _train_gan(z, cfg, seed + 1)
    return LatentGan(vae, gen, cfg.noise_dim)


# --- metrics --------------------------------------------------------------------------------------------

def mode_radii(settings_std: np.ndarray, mode: np.ndarray, centres_std: np.ndarray,
               radius_factor: float = 3.0) -> np.ndarray:
    """Per mode: ``radius_factor`` times the RMS distance (standardized settings) of its real rows to its
    centre: how far a generated sample may lie from a centre and still count for that mode."""
    radii = np.empty(centres_std.shape[0])
    for k in range(centres_std.shape[0]):
        d = np.linalg.norm(settings_std[mode == k] - centres_std[k], axis=1)
        if d.size == 0:
            raise ScintnetError(f"mode {k} has no real rows to set its radius")
        radii[k] = radius_factor * np.sqrt(np.mean(d ** 2))
    return radii


def mode_occupancy(settings_std: np.ndarray, centres_std: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Share of the rows in each mode, shape (n_modes + 1,): a row belongs to its nearest centre if it lies
    within that mode's radius; the last entry is the share off every mode."""
    d = np.linalg.norm(settings_std[:, None, :] - centres_std[None, :, :], axis=2)
    near = d.argmin(axis=1)
    inside = d[np.arange(d.shape[0]), near] <= radii[near]
    counts = np.bincount(near[inside], minlength=centres_std.shape[0]).astype(float)
    n = max(settings_std.shape[0], 1)
    return np.append(counts / n, 1.0 - counts.sum() / n)


def modes_recovered_fraction(occupancy: np.ndarray, weights: np.ndarray, min_share: float = 0.2) -> float:
    """Fraction of the modes that hold at least ``min_share`` of their expected share ``weights`` of the rows
    (``occupancy`` as from :func:`mode_occupancy`, its last, off-mode entry ignored)."""
    occ = np.asarray(occupancy)[: len(weights)]
    return float(np.mean(occ >= min_share * np.asarray(weights)))


def wasserstein_columns(real_std: np.ndarray, gen_std: np.ndarray) -> np.ndarray:
    """1-d Wasserstein distance of each column (standardized units), shape (D,)."""
    return np.array([wasserstein_distance(real_std[:, j], gen_std[:, j]) for j in range(real_std.shape[1])])


def classifier_auc(real: np.ndarray, gen: np.ndarray, seed: int = 0, n_boot: int = 200) -> tuple[float, float]:
    """(AUC, bootstrap standard deviation) of an XGBoost classifier telling generated from real rows:
    trained on the first half of each (in a seeded permutation), scored on the second.  0.5: the classifier
    cannot tell them apart; 1: it always can."""
    import xgboost as xgb  # its native API: the sklearn wrapper needs scikit-learn, not a dependency

    def halves(x):
        p = np.random.default_rng(seed).permutation(x.shape[0])  # equal sizes: the same split for both
        return x[p[: x.shape[0] // 2]], x[p[x.shape[0] // 2:]]

    (r_tr, r_te), (g_tr, g_te) = halves(real), halves(gen)
    if min(len(r_tr), len(r_te), len(g_tr), len(g_te)) < 2:
        raise ScintnetError("the classifier AUC needs at least 4 real and 4 generated rows")
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "nthread": 1, "seed": seed,
              "tree_method": "hist"}
    train = xgb.DMatrix(np.concatenate([r_tr, g_tr]), label=np.r_[np.zeros(len(r_tr)), np.ones(len(g_tr))])
    booster = xgb.train(params, train, num_boost_round=200)
    s_gen = booster.predict(xgb.DMatrix(g_te))
    s_real = booster.predict(xgb.DMatrix(r_te))
    value = auc(s_gen, s_real)
    _, err = bootstrap_metric(s_gen, s_real, auc, n_boot=n_boot, seed=seed)
    return value, err


def physics_residual(beamline, gen_std: np.ndarray, scaler: Standardizer) -> float:
    """Median over rows of the RMS (standardized units, over the output columns) of the generated outputs
    minus Cheetah's outputs for the generated settings: 0 for the real history, large for a simulator
    whose outputs do not follow from its settings."""
    settings = scaler.inverse(gen_std)[:, :N_SETTINGS]
    tracked_std = (track_settings(beamline, settings) - scaler.mean[N_SETTINGS:]) / scaler.std[N_SETTINGS:]
    diff = gen_std[:, N_SETTINGS:] - tracked_std
    rms = np.sqrt(np.mean(diff ** 2, axis=1))
    return float(np.median(rms[np.isfinite(rms)])) if np.isfinite(rms).any() else float("inf")


def evaluate_samples(gen_std: np.ndarray, real_std: np.ndarray, centres_std: np.ndarray, radii: np.ndarray,
                     weights: np.ndarray, scaler: Standardizer | None = None, beamline=None,
                     min_share: float = 0.2, seed: int = 0) -> dict:
    """The metrics of generated rows ``gen_std`` against held-out real rows ``real_std`` (both standardized
    (N, 47)): mode occupancy and modes recovered, Wasserstein mean / max, classifier AUC and error, and the
    physics residual when ``scaler`` and ``beamline`` are given."""
    occ = mode_occupancy(gen_std[:, :N_SETTINGS], centres_std, radii)
    w = wasserstein_columns(real_std, gen_std)
    a, a_err = classifier_auc(real_std, gen_std, seed=seed)
    res = {"modes_recovered_fraction": modes_recovered_fraction(occ, weights, min_share),
           "mode_occupancy": [float(v) for v in occ[:-1]], "off_mode_fraction": float(occ[-1]),
           "wasserstein_mean": float(w.mean()), "wasserstein_max": float(w.max()),
           "classifier_auc": a, "classifier_auc_err": a_err}
    if scaler is not None and beamline is not None:
        res["physics_residual_median"] = physics_residual(beamline, gen_std, scaler)
    return res


# --- the benchmark --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccelBenchConfig:
    """Sizes of the benchmark: ``n_train`` history rows to train on, ``n_test`` held-out real rows (and as
    many generated rows) to evaluate on, the modes and the networks; ``seed`` seeds everything."""

    n_train: int = 3000
    n_test: int = 1000
    n_modes: int = 6
    seed: int = 0
    min_share: float = 0.2
    radius_factor: float = 3.0
    gan: GanConfig = field(default_factory=GanConfig)


@dataclass
class AccelBenchResult:
    """The JSON summary and the arrays the figure needs (standardized settings and the mode centres)."""

    summary: dict
    real_settings_std: np.ndarray
    plain_settings_std: np.ndarray
    latent_settings_std: np.ndarray
    centres_std: np.ndarray
    weights: np.ndarray
    real_occupancy: np.ndarray


def accel_bench(cfg: AccelBenchConfig | None = None, log: Callable[[str], None] = lambda m: None
                ) -> AccelBenchResult:
    """Sample an operating history, train the plain GAN and the latent GAN on it and score both (and a second
    held-out real sample, the floor of each metric at this size) with :func:`evaluate_samples`."""
    cfg = cfg or AccelBenchConfig()
    if cfg.n_train < 10 or cfg.n_test < 8:
        raise ScintnetError(f"need n_train >= 10 and n_test >= 8, not {cfg.n_train} and {cfg.n_test}")
    t0 = time.perf_counter()
    bl = build_beamline()
    hist: OperatingHistory = sample_operating_history(cfg.n_train + 2 * cfg.n_test, seed=cfg.seed,
                                                      modes=ModeConfig(n_modes=cfg.n_modes), beamline=bl)
    x = hist.joint()
    tr, te, te2 = slice(0, cfg.n_train), slice(cfg.n_train, cfg.n_train + cfg.n_test), \
        slice(cfg.n_train + cfg.n_test, None)
    scaler = Standardizer.fit(x[tr])
    x_std = scaler.transform(x)
    centres_std = scaler.transform(np.concatenate([hist.centres, np.zeros((cfg.n_modes, x.shape[1] - N_SETTINGS))],
                                                  1))[:, :N_SETTINGS]
    radii = mode_radii(x_std[tr, :N_SETTINGS], hist.mode[tr], centres_std, cfg.radius_factor)
    log(f"accel: history of {x.shape[0]} rows x {x.shape[1]} columns, {cfg.n_modes} modes "
        f"({time.perf_counter() - t0:.1f} s)")

    def score(gen_std):
        return evaluate_samples(gen_std, x_std[te], centres_std, radii, hist.weights, scaler, bl,
                                cfg.min_share, cfg.seed)

    t = time.perf_counter()
    plain = train_plain_gan(x_std[tr], cfg.gan, cfg.seed)
    plain_gen = plain.sample(cfg.n_test, seed=cfg.seed + 100)
    plain_wall = time.perf_counter() - t
    log(f"accel: plain GAN trained in {plain_wall:.1f} s")
    t = time.perf_counter()
    latent = train_latent_gan(x_std[tr], cfg.gan, cfg.seed)
    latent_gen = latent.sample(cfg.n_test, seed=cfg.seed + 100)
    latent_wall = time.perf_counter() - t
    log(f"accel: VAE + latent GAN trained in {latent_wall:.1f} s")

    res_plain = {**score(plain_gen), "decoder_mse": None, "wall_s": plain_wall}
    res_latent = {**score(latent_gen), "decoder_mse": latent.reconstruction_mse(x_std[te]), "wall_s": latent_wall}
    res_real = {**score(x_std[te2]), "decoder_mse": None, "wall_s": 0.0}
    # the scale of decoder_mse: what a decoder that returns only the mode centres would score
    within = float(np.mean([x_std[tr][hist.mode[tr] == k].var(axis=0).mean() for k in range(cfg.n_modes)
                            if np.any(hist.mode[tr] == k)]))
    summary = {"config": {**{k: v for k, v in asdict(cfg).items() if k != "gan"}, "gan": asdict(cfg.gan),
                          "n_settings": N_SETTINGS, "n_outputs": x.shape[1] - N_SETTINGS},
               "seed": cfg.seed, "within_mode_variance": within, "plain_gan": res_plain, "latent_gan": res_latent,
               "real_holdout": res_real,
               "total_wall_s": time.perf_counter() - t0}
    return AccelBenchResult(summary=summary, real_settings_std=x_std[te, :N_SETTINGS],
                            plain_settings_std=plain_gen[:, :N_SETTINGS],
                            latent_settings_std=latent_gen[:, :N_SETTINGS], centres_std=centres_std,
                            weights=hist.weights,
                            real_occupancy=mode_occupancy(x_std[te, :N_SETTINGS], centres_std, radii))
