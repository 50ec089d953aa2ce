"""The accelerator toy of seed 003 (an optional extra, ``pip install 'scintnet[accel]'``): a Cheetah beamline,
an operating history drawn from a few operating modes, GAN simulators of it (plain, and in a VAE's latent
space) and the metrics and figure that show mode collapse and its cure.

``beamline`` imports Cheetah only if it is installed; building a beamline without it raises a one-line
:class:`scintnet.errors.ScintnetError` naming the extra (:func:`require_cheetah`).
"""

from .beamline import (N_SETTINGS, OUTPUT_NAMES, Beamline, BeamlineConfig, ModeConfig, OperatingHistory,
                       apply_settings, build_beamline, require_cheetah, sample_operating_history, setting_names,
                       track_settings)
from .gan import (AccelBenchConfig, AccelBenchResult, GanConfig, LatentGan, PlainGan, Standardizer, accel_bench,
                  classifier_auc, evaluate_samples, mode_occupancy, mode_radii, modes_recovered_fraction,
                  physics_residual, train_latent_gan, train_plain_gan, wasserstein_columns)
from .plot import plot_bench

__all__ = ["N_SETTINGS", "OUTPUT_NAMES", "Beamline", "BeamlineConfig", "ModeConfig", "OperatingHistory",
           "apply_settings", "build_beamline", "require_cheetah", "sample_operating_history", "setting_names",
           "track_settings", "AccelBenchConfig", "AccelBenchResult", "GanConfig", "LatentGan", "PlainGan",
           "Standardizer", "accel_bench", "classifier_auc", "evaluate_samples", "mode_occupancy", "mode_radii",
           "modes_recovered_fraction", "physics_residual", "train_latent_gan", "train_plain_gan",
           "wasserstein_columns", "plot_bench"]
