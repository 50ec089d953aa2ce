"""scintnet: simulation, reconstruction, deep learning and analysis for spherical
liquid-scintillator detectors such as KamLAND-Zen.

Units used throughout: length in mm (``_mm``), time in ns (``_ns``), energy in MeV
(``_MeV``) unless a name or docstring says otherwise.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scintnet")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
