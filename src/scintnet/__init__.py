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


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and ``taskset`` set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


_RUNTIME: dict = {}


def configure_runtime(threads: int | None = None) -> dict:
    """The one place that sets the compute threads of torch, Numba and BLAS (and the CPU settings
    the networks need); every command that trains, scores or benchmarks calls it first.

    ``threads`` defaults to the cores of the CPU affinity and is capped at them: torch (intra-op),
    Numba and the BLAS pools get that many, torch's inter-op pool one, and since the three never
    run at the same time in one process, the threads in use never exceed the cores.  (Each
    library alone defaults to every core it sees; two of them, or two jobs, on 2 cores made
    training 30x slower.)  Also sets, once per process: flush-to-zero for denormal floats (a
    gradient of ~1e-39 made the spherical layers' GEMMs 3x slower), and on glibc a malloc that
    keeps freed memory for reuse instead of returning each large tensor to the OS (fresh pages cost
    a page fault each: 3-4x on the memory-bound transforms, measured).  Returns what was set.
    """
    cores = available_cores()
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer, not {threads!r}")
    n = min(threads or cores, cores)
    if not _RUNTIME:
        _RUNTIME.update(_process_settings())
    import contextlib

    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    # settable only before the first parallel region; later calls keep the value first set (1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    torch.set_flush_denormal(True)
    out = {"threads": n, "cores": cores, "torch_interop_threads": torch.get_num_interop_threads()}
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    out["numba_threads"] = numba.get_num_threads()

    _RUNTIME["blas_limits"] = threadpool_limits(n)  # kept alive: the limit holds while referenced
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # for child processes
        os.environ[var] = str(n)
    out.update({k: v for k, v in _RUNTIME.items() if k != "blas_limits"})
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    if threads is None and n > 1 and load >= cores - 0.5:
        # measured (docs/results.md): kamnet:cpu trained at 24 events/s with 2 threads beside a 2-thread
        # job on 2 cores, 94 with --threads 1 (216 with 2 threads on the idle machine)
        out["busy_hint"] = (f"load average {load:.1f} on {cores} cores: if another job is running, "
                            "--threads 1 trains ~4x faster than all cores (docs/results.md)")
    return out


def _process_settings() -> dict:
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return {"malloc_keep_freed": False}
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_MAX = 0: large blocks come from the heap; M_TRIM_THRESHOLD: freed heap is kept
        ok = libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, 2**31 - 1) == 1
    except (OSError, AttributeError):  # not glibc (musl, ...): keep the default allocator
        ok = False
    return {"malloc_keep_freed": ok}
