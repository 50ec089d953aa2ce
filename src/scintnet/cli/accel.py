"""CLI commands for the accelerator toy (seed 003): GAN simulators of a Cheetah beamline's operating history."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import _print_json, err, out

accel_app = typer.Typer(no_args_is_help=True,
                        help="Accelerator toy: GAN simulators and mode collapse (seed 003), an optional extra.")


@accel_app.command("bench")
def bench(
    n_train: int = typer.Option(3000, "--train", min=10, help="operating points to train on"),
    n_test: int = typer.Option(1000, "--test", min=8, help="held-out operating points (and generated samples)"),
    n_modes: int = typer.Option(6, "--modes", min=1, max=64, help="operating modes of the machine"),
    steps: int = typer.Option(6000, "--steps", min=1, help="GAN updates (plain and latent GAN)"),
    vae_steps: int = typer.Option(5000, "--vae-steps", min=1, help="VAE updates"),
    latent_dim: int = typer.Option(2, "--latent-dim", min=1, help="VAE latent dimensions"),
    hidden: int = typer.Option(128, "--hidden", min=1, help="width of every MLP layer"),
    batch_size: int = typer.Option(128, "--batch-size", min=1),
    min_share: float = typer.Option(0.2, "--min-share", min=0.0,
                                    help="a mode counts as recovered with this fraction of its expected share"),
    seed: int = typer.Option(0, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the figure (PNG) here"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Plain GAN vs VAE + latent-space GAN on a toy linac's operating history: modes recovered, Wasserstein
    distances, classifier AUC, decoder MSE (small defaults: about a minute on one thread)."""
    from .. import configure_runtime
    from ..accel import AccelBenchConfig, GanConfig, accel_bench, plot_bench, require_cheetah

    require_cheetah()  # a ScintnetError naming the extra, printed as one line
    used = configure_runtime(threads)
    cfg = AccelBenchConfig(n_train=n_train, n_test=n_test, n_modes=n_modes, seed=seed, min_share=min_share,
                           gan=GanConfig(steps=steps, vae_steps=vae_steps, latent_dim=latent_dim, hidden=hidden,
                                         batch_size=batch_size))
    res = accel_bench(cfg, log=lambda m: err.print(m, highlight=False))
    summary = {**res.summary, "threads": used["threads"]}
    if plot is not None:
        summary["plot"] = plot_bench(res, plot)
    if as_json:
        _print_json(summary)
        return
    out.print(f"{'simulator':12s} {'modes':>6s} {'W1 mean':>8s} {'W1 max':>7s} {'AUC':>13s} {'dec. MSE':>9s} "
              f"{'phys.res':>8s} {'wall s':>7s}", highlight=False)
    for name in ("plain_gan", "latent_gan", "real_holdout"):
        r = summary[name]
        mse = "n/a" if r["decoder_mse"] is None else f"{r['decoder_mse']:.4f}"
        out.print(f"{name:12s} {r['modes_recovered_fraction']:6.2f} {r['wasserstein_mean']:8.3f} "
                  f"{r['wasserstein_max']:7.3f} {r['classifier_auc']:7.3f}±{r['classifier_auc_err']:.3f} "
                  f"{mse:>9s} {r['physics_residual_median']:8.3f} {r['wall_s']:7.1f}", highlight=False)
