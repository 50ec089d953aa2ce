"""Validation of the simulation and reconstruction against published figures."""
