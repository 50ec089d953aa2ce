"""Jet tagging (seed 004): top vs QCD jets generated locally, the architectures of the seed's table on
the shared model zoo.  An optional extra: ``pip install scintnet[jets]`` (Pythia 8, FastJet)."""
