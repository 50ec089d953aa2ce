"""Classifier metrics: re-exported from :mod:`scintnet.metrics` (which the training harness uses
too, so the metrics sit below every stage that needs them)."""

from ..metrics import (auc, bootstrap_metric, effective_sample_size, energy_matching_weights,  # noqa: F401
                       matching_weights, rejection_at_acceptance, roc_curve, threshold_at_acceptance,
                       vertex_matching_weights, weighted_rejection_at_acceptance)
