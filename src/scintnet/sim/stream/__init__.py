"""Time-ordered event stream: muons, spallation, 136Xe, Bi-Po, IBD and accidental singles.

The stream uses a fast parametrised detector response (Gaussian energy and vertex resolution, Birks-quenched
alpha light) instead of the PMT-level simulation, so a year of KamLAND-Zen 800 is generated in about a
minute.  Rates, yields and multiplicities come from a :class:`StreamConfig` loaded from a TOML preset in
``scintnet/sim/stream_presets`` (each number cited there).

- :mod:`.config`  presets and :func:`load_stream_config` (the schema itself lives in :mod:`scintnet.io.stream`)
- :mod:`.physics` the samplers and :func:`generate_chunk` (one chunk, a pure function of config, seed, chunk)
- :mod:`.driver`  :func:`run_stream` (chunked, resumable, worker-count independent) and the merge
- :mod:`scintnet.io.stream` the file format: :class:`Stream`, :func:`read_stream`, the writers

Readers outside ``sim`` (tagging, validate) import :mod:`scintnet.io.stream` directly; the names are
re-exported here so ``from scintnet.sim.stream import X`` keeps working.
"""

from __future__ import annotations

from ...io.stream import (
                          EVENT_TYPES,
                          FORMAT,
                          NUCLIDES,
                          REGIONS,
                          SPALLATION_TYPES,
                          Stream,
                          read_stream,
                          write_stream,
)
from .config import (
                          DAY_S,
                          IBD,
                          Convection,
                          YEAR_S,
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
                          list_stream_presets,
                          load_stream_config,
                          stream_config_from_dict,
)
from .driver import StreamRun, merge_chunks, run_stream
from .physics import (
                          convection_periods_s,
                          generate_chunk,
                          half_life_s,
                          sample_singles,
                          sample_spectrum_MeV,
                          visible_energy_MeV,
                          xe_isotope_rates_per_day,
)

__all__ = [
                          "DAY_S",
                          "EVENT_TYPES",
                          "FORMAT",
                          "IBD",
                          "NUCLIDES",
                          "REGIONS",
                          "SPALLATION_TYPES",
                          "YEAR_S",
                          "Convection",
                          "Muons",
                          "Neutrons",
                          "Radioactivity",
                          "Response",
                          "Singles",
                          "Spallation",
                          "Stream",
                          "StreamConfig",
                          "StreamConfigError",
                          "StreamGeometry",
                          "StreamRun",
                          "XeIsotope",
                          "convection_periods_s",
                          "generate_chunk",
                          "half_life_s",
                          "list_stream_presets",
                          "load_stream_config",
                          "merge_chunks",
                          "read_stream",
                          "run_stream",
                          "sample_singles",
                          "sample_spectrum_MeV",
                          "stream_config_from_dict",
                          "visible_energy_MeV",
                          "write_stream",
                          "xe_isotope_rates_per_day",
]
