"""Typed evaluation results (evaluate.results): the figure names are spelled once, evaluation.json
entries of every version read back and write out unchanged, model summaries keep their layout."""

import pytest

from scintnet.evaluate.bootstrap import summarise_models
from scintnet.evaluate.results import ENERGY, FIGURES, PLAIN, VERTEX, Figure, SourceResult


def test_figure_keys_are_the_evaluation_json_names():
    assert [f.key for f in FIGURES] == [
        "rejection_at_90", "rejection_at_90_energy_matched", "rejection_at_90_vertex_matched",
        "rejection_at_90_double_pulse_cut", "rejection_at_90_energy_matched_double_pulse_cut",
        "rejection_at_90_vertex_matched_double_pulse_cut"]
    assert Figure.of(energy_matched=True, vertex_matched=True) == VERTEX and Figure.of() == PLAIN
    assert PLAIN.models_std_key == "rejection_at_90_bootstrap_std"
    assert ENERGY.models_std_key == "rejection_at_90_energy_matched_models_std"
    assert VERTEX.unavailable_key == "vertex_matching_unavailable" and PLAIN.unavailable_key is None
    with pytest.raises(ValueError, match="matching"):
        Figure("position")


def _row(r, e=0.3, v=0.25, dp=True):
    d = {"n_events": 100, "auc": 0.7, "rejection_at_90": r, "rejection_at_90_bootstrap_mean": r,
         "rejection_at_90_bootstrap_std": 0.02}
    if e is None:
        d.update(rejection_at_90_energy_matched=None, energy_matching_unavailable="no reconstructed energies")
    else:
        d.update(rejection_at_90_energy_matched=e, rejection_at_90_vertex_matched=v, vertex_matched_signal_n_eff=80.0)
    if dp:
        d.update(double_pulse_cut_rejection=0.05, rejection_at_90_double_pulse_cut=r + 0.01,
                 rejection_at_90_energy_matched_double_pulse_cut=None if e is None else e + 0.01,
                 rejection_at_90_vertex_matched_double_pulse_cut=None if e is None else v + 0.01)
    return d


@pytest.mark.parametrize("d", [_row(0.4), _row(0.4, e=None), _row(0.4, dp=False),
                               {"n_events": 5, "auc": 0.5, "rejection_at_90": 0.1}])
def test_entries_round_trip_in_order(d):
    back = SourceResult.from_dict(d).to_dict()
    assert back == d and list(back) == list(d)


def test_model_summary_means_spreads_and_unavailable_figures():
    s = summarise_models([_row(0.4, 0.30, 0.20), _row(0.5, 0.34, 0.26)])
    assert s["rejection_at_90"] == pytest.approx(0.45) and s["rejection_at_90_per_model"] == [0.4, 0.5]
    assert s["rejection_at_90_bootstrap_std"] == pytest.approx(0.0707107, rel=1e-5)  # model-to-model sd
    assert s["rejection_at_90_energy_matched"] == pytest.approx(0.32)
    assert s["rejection_at_90_vertex_matched_double_pulse_cut_per_model"] == pytest.approx([0.21, 0.27])
    assert list(s)[:6] == ["n_events", "auc", "auc_models_std", "rejection_at_90", "rejection_at_90_bootstrap_std",
                           "rejection_at_90_per_model"]
    s = summarise_models([_row(0.4), _row(0.5, e=None)])  # one model could not form the matched figures
    assert s["rejection_at_90_energy_matched"] is None and "energies" in s["energy_matching_unavailable"]
    assert s["rejection_at_90_vertex_matched"] is None
    assert "rejection_at_90_energy_matched_double_pulse_cut" not in s
