"""Stream configuration: the shipped presets and their loading.

The schema (:class:`StreamConfig` and its sections) and its validation live with the file format in
:mod:`scintnet.io.stream` (a stream file stores its config, and a reader needs nothing above ``io``); they are
re-exported here.  Presets are the TOML files in ``scintnet/sim/stream_presets`` (each number cited there).
"""

from __future__ import annotations

from pathlib import Path

from ...config import ConfigError, apply_overrides, list_presets, preset_text, read_toml
from ...io.stream import (
    _SECTIONS,
    IBD,
    Convection,
    Muons,
    Neutrons,
    Radioactivity,
    Response,
    Singles,
    Spallation,
    StreamConfig,
    StreamConfigError,
    StreamGeometry,
    XeIsotope,
    _stream_error,
    stream_config_from_dict,
)

__all__ = [
    "DAY_S",
    "IBD",
    "YEAR_S",
    "_SECTIONS",
    "Convection",
    "Muons",
    "Neutrons",
    "Radioactivity",
    "Response",
    "Singles",
    "Spallation",
    "StreamConfig",
    "StreamConfigError",
    "StreamGeometry",
    "XeIsotope",
    "list_stream_presets",
    "load_stream_config",
    "stream_config_from_dict",
]

DAY_S = 86400.0
YEAR_S = 365.25 * DAY_S

# the presets stay in the package scintnet.sim (pyproject package-data: sim/stream_presets/*.toml)
_PRESET_PACKAGE, _PRESET_FOLDER = "scintnet.sim", "stream_presets"


def list_stream_presets() -> list[str]:
    return list_presets(_PRESET_PACKAGE, _PRESET_FOLDER)


def load_stream_config(preset: str = "klz800", path: str | Path | None = None,
                       overrides: list[str] | None = None) -> StreamConfig:
    """Load a shipped stream preset (or a TOML file when ``path`` is given).

    ``overrides`` are ``section.field=value`` strings (TOML values), e.g.
    ``spallation.xe_roi_per_year=2000`` for a spallation-enriched training stream.
    """
    try:
        if path is not None:
            data = read_toml(path, what="stream config")
        else:
            data = read_toml(text=preset_text(_PRESET_PACKAGE, _PRESET_FOLDER, preset, "stream preset"),
                             what="stream preset")
        apply_overrides(data, overrides)
    except ConfigError as exc:
        raise _stream_error(exc) from None
    return stream_config_from_dict(data)
