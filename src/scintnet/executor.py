"""One small executor interface for embarrassingly parallel work.

Simulation chunks, toy Monte Carlo and bootstrap models all go through
:func:`get_executor`.  ``LocalExecutor`` runs tasks in local worker processes (or in
process when ``workers == 1``); an engine such as Ray or Dask can be plugged in by
implementing ``map_unordered`` with the same contract.  Results never depend on the
number of workers because every task carries its own seed.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Protocol


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(item))`` as tasks finish (any order)."""
        ...


def _die_with_parent() -> None:
    """Worker initializer: on Linux, ask the kernel to kill this worker when its parent dies (a ``kill -9``
    of the command must not leave idle workers behind)."""
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass


class LocalExecutor:
    """Local processes (spawned, so Numba/torch state is clean in each worker)."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        items = list(items)
        if self.workers == 1 or len(items) <= 1:
            for it in items:
                yield it, fn(it)
            return
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_die_with_parent) as pool:
            pending: dict[Future, Any] = {}
            queue = iter(items)
            # keep at most 2 tasks per worker in flight: bounded memory for huge task lists
            for it in queue:
                pending[pool.submit(fn, it)] = it
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    it = pending.pop(f)
                    yield it, f.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt)] = nxt


def get_executor(workers: int = 1, engine: str = "local") -> Executor:
    if engine != "local":
        raise ValueError(f"unknown executor engine {engine!r} (available: local)")
    return LocalExecutor(workers)
