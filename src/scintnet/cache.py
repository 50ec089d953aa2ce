"""Where derived tables (energy calibrations, optical light tables, analysis templates) are cached."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$SCINTNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/scintnet``, else ``~/.cache/scintnet``."""
    if os.environ.get("SCINTNET_CACHE_DIR"):
        return Path(os.environ["SCINTNET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scintnet"
