"""scintnet: simulation, reconstruction, deep learning and analysis for spherical
liquid-scintillator detectors such as KamLAND-Zen.

Units used throughout: length in mm (``_mm``), time in ns (``_ns``), energy in MeV
(``_MeV``) unless a name or docstring says otherwise.
"""

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("scintnet")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "default_cache_dir"]


def default_cache_dir() -> Path:
    """Where derived tables are cached (energy calibrations, optical light tables, analysis templates):
    ``$SCINTNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/scintnet``, else ``~/.cache/scintnet``."""
    if os.environ.get("SCINTNET_CACHE_DIR"):
        return Path(os.environ["SCINTNET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scintnet"
