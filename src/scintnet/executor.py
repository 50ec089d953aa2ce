"""One small executor interface for embarrassingly parallel work.

Simulation chunks, toy Monte Carlo and bootstrap models all go through
:func:`get_executor`.  ``LocalExecutor`` runs tasks in local worker processes (or in
process when ``workers == 1``); an engine such as Ray or Dask can be plugged in by
implementing ``map_unordered`` with the same contract.  Results never depend on the
number of workers because every task carries its own seed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Protocol


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(item))`` as tasks finish (any order)."""
        ...


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: on Linux, ask the kernel to kill this worker when its parent dies (a ``kill -9``
    of the command must not leave idle workers behind); a parent that died while this worker was still
    starting (the signal is not sent retroactively) ends the worker at once."""
    import os
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


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
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
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


class DaskExecutor:
    """Tasks on a Dask cluster: ``address`` of a running scheduler (``tcp://host:8786``, e.g. one started by
    dask-jobqueue on SLURM / HTCondor / SGE / PBS), or a local cluster of ``workers`` single-threaded worker
    processes started for the call.  Same contract as :class:`LocalExecutor`: every task carries its own
    seed, so the results are identical to the local executor's (tests/test_executor.py checks file contents
    and limits bit for bit)."""

    def __init__(self, workers: int = 1, address: str | None = None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers, self.address = workers, address

    def _client(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            from .errors import ScintnetError

            raise ScintnetError("--executor dask needs the 'distributed' package: pip install 'scintnet[dask]'") from None
        if self.address:
            try:
                return Client(self.address, timeout="20s"), None
            except (OSError, TimeoutError) as exc:
                from .errors import ScintnetError

                raise ScintnetError(f"cannot reach the Dask scheduler at {self.address} ({exc})") from None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        items = list(items)
        if not items:
            return
        client, cluster = self._client()
        try:
            slots = 2 * max(self.workers, sum(client.nthreads().values()) if self.address else self.workers)
            queue = iter(items)
            pending: dict[Any, Any] = {}
            done = as_completed()
            for it in queue:  # bounded in flight, as the local executor
                f = client.submit(fn, it, pure=False)
                pending[f] = it
                done.add(f)
                if len(pending) >= slots:
                    break
            for f in done:
                it = pending.pop(f)
                yield it, f.result()
                nxt = next(queue, None)
                if nxt is not None:
                    g = client.submit(fn, nxt, pure=False)
                    pending[g] = nxt
                    done.add(g)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


ENGINES = ("local", "dask")
_DEFAULT: dict[str, Any] = {"engine": "local", "address": None}


def set_default_executor(engine: str = "local", address: str | None = None) -> None:
    """The engine that :func:`get_executor` uses when a caller names none (the CLI's ``--executor``)."""
    if engine not in ENGINES:
        from .errors import ScintnetError

        raise ScintnetError(f"unknown executor {engine!r} (available: {', '.join(ENGINES)})")
    if address is not None and engine != "dask":
        from .errors import ScintnetError

        raise ScintnetError("--address needs --executor dask")
    _DEFAULT.update(engine=engine, address=address)


def get_executor(workers: int = 1, engine: str | None = None, address: str | None = None) -> Executor:
    """The executor for ``workers`` parallel tasks: ``engine`` "local" (processes here) or "dask"
    (default: :func:`set_default_executor`, itself "local" unless the CLI says otherwise)."""
    engine = engine or _DEFAULT["engine"]
    if engine == "dask":
        return DaskExecutor(workers, address or _DEFAULT["address"])
    if engine != "local":
        raise ValueError(f"unknown executor engine {engine!r} (available: {', '.join(ENGINES)})")
    return LocalExecutor(workers)


# ----------------------------------------------------------------------------- progress of long work

import os as _os
import sys as _sys
import time as _time


def _fmt_s(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class LogProgress:
    """Progress as periodic one-line messages (for logs: stderr not a terminal).

    The same small API as a tqdm bar (``update``, ``set_postfix``, iteration, context manager): one line
    ``[progress] DESC: N/TOTAL UNIT (P %), R UNIT/s, ETA T`` at most every ``interval_s`` seconds (default
    30, env ``SCINTNET_PROGRESS_S``), and a last line when it ends.
    """

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
                 interval_s: float | None = None, stream=None, **_: object):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        if interval_s is None:
            try:
                interval_s = float(_os.environ.get("SCINTNET_PROGRESS_S", 30))
            except ValueError:
                interval_s = 30.0  # an unreadable setting must not stop the work it reports on
        self.interval_s = interval_s
        self.stream = stream or _sys.stderr
        self.t0 = self._last = _time.monotonic()
        self.postfix = ""
        self._last_n = 0

    def _line(self) -> str:
        dt = max(_time.monotonic() - self.t0, 1e-9)
        rate = self.n / dt
        s = f"[progress] {self.desc}: {self.n}"
        if self.total:
            s += f"/{self.total} {self.unit} ({100 * self.n / self.total:.0f} %)"
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            s += f", {rate:.3g} {self.unit}/s, ETA {_fmt_s(eta) if eta < 1e7 else '?'}"
        else:
            s += f" {self.unit}, {rate:.3g} {self.unit}/s, {_fmt_s(dt)} elapsed"
        return s + (f", {self.postfix}" if self.postfix else "")

    def _emit(self) -> None:
        print(self._line(), file=self.stream, flush=True)
        self._last, self._last_n = _time.monotonic(), self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        if _time.monotonic() - self._last >= self.interval_s:
            self._emit()

    def set_postfix(self, **kw: object) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def __iter__(self):
        for x in self.iterable:
            yield x
            self.update(1)

    def close(self) -> None:
        if self.n != self._last_n and _time.monotonic() - self.t0 >= self.interval_s:
            self._emit()  # the final state, only for work long enough to have reported

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silent(LogProgress):
    def _emit(self) -> None:
        pass


def progress_bar(iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
                 enabled: bool = True, leave: bool = True):
    """A tqdm bar on a terminal, :class:`LogProgress` lines when stderr is a file or pipe, nothing if not enabled."""
    if not enabled:
        return _Silent(iterable, total=total, desc=desc, unit=unit)
    if _sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave)
    return LogProgress(iterable, total=total, desc=desc, unit=unit)
