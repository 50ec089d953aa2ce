"""Sparse sensing (seed 003): which channels to read out, and what a reduced readout costs.

``ecal``: a Geant-free Si-W sampling calorimeter; ``select``: readout-selection methods at a fixed data
budget; ``regress``: the energy calibration by regression and its resolution; ``bench``: the comparison of
the methods (``scintnet sparse bench``); ``pmt``: the same question for the PMTs of a KamLAND-like detector.
"""
