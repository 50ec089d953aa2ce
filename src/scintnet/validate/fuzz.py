"""Byte-mutation fuzzing of the input boundary: every damaged file must end in a clean error or a result.

Each case copies a valid file (an event file, a stream file, a training run's ``run.json`` / ``model.pt``),
damages it (random bytes overwritten, a block zeroed or randomised, the file truncated) and hands it to the
reader in a forked child under a time limit.  The outcome of each case is one of

* ``clean``: a :class:`scintnet.errors.ScintnetError` (the one-line error a user sees),
* ``accepted``: the reader returned (the damage hit bytes that do not matter, or data values the format
  cannot tell from real ones),
* ``internal``: any other exception (what would have been a traceback), with its message kept,
* ``hang``: the child did not finish within the time limit and was killed.

The boundary is sound when ``internal == 0`` and ``hang == 0`` (``scintnet validate-inputs``; the tests run
a small number of cases of each kind).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ScintnetError
from ..io.rundir import MODEL, RUN_JSON


@dataclass
class Tally:
    """Counts of the outcomes of one fuzz target, and the first messages of the bad ones."""

    target: str
    cases: int = 0
    clean: int = 0
    accepted: int = 0
    internal: int = 0
    hang: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def add(self, outcome: str, msg: str) -> None:
        self.cases += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome in ("internal", "hang", "accepted") and len(self.examples) < 8:
            self.examples.append(f"{outcome}: {msg}")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_isolated(fn: Callable[[], Any], timeout_s: float = 30.0) -> tuple[str, str]:
    """Run ``fn()`` in a forked child; returns (outcome, message) as described in the module docstring."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        code, msg = 0, ""
        try:
            fn()
        except ScintnetError as exc:
            code, msg = 1, str(exc)
        except BaseException as exc:  # noqa: BLE001 - classifying every escape is the point
            code, msg = 2, f"{type(exc).__name__}: {exc}"
        try:
            os.write(w, " ".join(msg.split())[:500].encode(errors="replace"))
        finally:
            os._exit(code)
    os.close(w)
    t0 = time.monotonic()
    status = None
    while time.monotonic() - t0 < timeout_s:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.005)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        return "hang", f"no result after {timeout_s:g} s"
    chunks = []
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    msg = b"".join(chunks).decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    return {0: "accepted", 1: "clean", 2: "internal"}.get(code, "internal"), msg or f"exit code {code}"


def mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random damage of ``data``: a few bytes, a block, or a truncation (with a description)."""
    b = bytearray(data)
    n = len(b)
    kind = rng.choice(["bytes", "block", "truncate", "header"], p=[0.4, 0.25, 0.15, 0.2])
    if kind == "truncate":
        k = int(rng.integers(0, n))
        return bytes(b[:k]), f"truncated to {k} of {n} bytes"
    if kind == "block":
        a = int(rng.integers(0, n))
        m = int(rng.integers(16, 4097))
        fill = rng.integers(0, 256, m, dtype=np.uint8).tobytes() if rng.random() < 0.5 else bytes(m)
        b[a:a + m] = fill[: max(0, min(m, n - a))]
        return bytes(b[:n]), f"{m} bytes at {a} overwritten"
    lo, hi = (0, min(n, 4096)) if kind == "header" else (0, n)  # the superblock and root object header
    k = int(rng.integers(1, 17))
    pos = rng.integers(lo, hi, k)
    for p in pos:
        b[int(p)] = int(rng.integers(0, 256))
    return bytes(b), f"{k} bytes at {sorted(int(p) for p in pos)[:4]}... changed"


def _read_event_file(path: Path) -> None:
    from ..io.store import EventFile

    with EventFile(path) as f:
        f.info()
        f.detector_config()
        for _ in f.iter_chunks(10_000, truth_detail=True):
            pass


def _read_stream_file(path: Path) -> None:
    from ..io.stream import read_stream

    read_stream(path)


def _load_run(path: Path) -> None:
    from ..train.harness import load_trained

    load_trained(path)


def _fuzz_file(target: str, src: Path, consume: Callable[[Path], None], n: int, seed: int, timeout_s: float,
               member: str | None = None) -> Tally:
    """``n`` damaged copies of ``src`` (a file, or ``member`` of the folder ``src``) through ``consume``."""
    tally = Tally(target)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scintnet-fuzz-") as tmp:
        for i in range(n):
            if member is None:
                dst = Path(tmp) / f"case{i}{src.suffix}"
                data = src.read_bytes()
                bad, what = mutate_bytes(data, rng)
                dst.write_bytes(bad)
            else:
                dst = Path(tmp) / f"case{i}"
                shutil.copytree(src, dst)
                names = [member] if member != "*" else [RUN_JSON, MODEL]
                name = names[int(rng.integers(0, len(names)))]
                bad, what = mutate_bytes((dst / name).read_bytes(), rng)
                (dst / name).write_bytes(bad)
                what = f"{name}: {what}"
            outcome, msg = run_isolated(lambda: consume(dst), timeout_s)
            if outcome == "accepted":
                msg = f"read without error after: {what}"
            tally.add(outcome, msg)
            if member is None:
                dst.unlink(missing_ok=True)
            else:
                shutil.rmtree(dst, ignore_errors=True)
    tally.seconds = time.perf_counter() - t0
    return tally


def fuzz_event_file(path: str | Path, n: int = 200, seed: int = 1, timeout_s: float = 30.0) -> Tally:
    """Byte-mutation fuzz of an event file through the reader (open, metadata, every event)."""
    return _fuzz_file("event_file", Path(path), _read_event_file, n, seed, timeout_s)


def fuzz_stream_file(path: str | Path, n: int = 100, seed: int = 2, timeout_s: float = 30.0) -> Tally:
    """Byte-mutation fuzz of a stream file through :func:`scintnet.io.stream.read_stream`."""
    return _fuzz_file("stream_file", Path(path), _read_stream_file, n, seed, timeout_s)


def fuzz_run_dir(path: str | Path, n: int = 100, seed: int = 3, timeout_s: float = 60.0) -> Tally:
    """Byte-mutation fuzz of a training run folder (``run.json`` or ``model.pt``) through ``load_trained``."""
    return _fuzz_file("run_dir", Path(path), _load_run, n, seed, timeout_s, member="*")


def make_fuzz_inputs(work: Path, seed: int = 1) -> dict[str, Path]:
    """Small valid inputs to damage: two event files (klz400-fast), a 0.2-day stream, a 1-epoch tiny run."""
    from ..detector.config import load_config
    from ..sim.run import SimConfig, run_simulation
    from ..sim.stream import load_stream_config, run_stream
    from ..train.config import RunConfig
    from ..train.harness import train_run

    work.mkdir(parents=True, exist_ok=True)
    cfg = load_config("klz400-fast")
    files = {}
    for k, src in enumerate(("Xe136_0vbb", "C10")):
        p = work / f"{src}.h5"
        if not p.exists():
            run_simulation(SimConfig.for_detector(cfg, src, 400, seed + k, chunk_size=200, store_deposits=k == 0), p)
        files[src] = p
    s = work / "stream.h5"
    if not s.exists():
        run_stream(load_stream_config("klz800"), 0.2, seed, s)
    files["stream"] = s
    run = work / "run"
    if not (run / MODEL).exists():
        train_run(RunConfig(model="kamnet", preset="tiny", signal=[str(files["Xe136_0vbb"])],
                            background=[str(files["C10"])], epochs=1, seed=seed), run, progress=False,
                  log=lambda m: None)
    files["run"] = run
    return files


def fuzz_all(work: str | Path, n_events: int = 200, n_stream: int = 100, n_run: int = 100, seed: int = 1,
             timeout_s: float = 30.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Make the inputs in ``work`` and fuzz each reader; returns the tallies and their sum."""
    files = make_fuzz_inputs(Path(work), seed)
    res: dict[str, Any] = {}
    for name, fn, p, n in (("event_file", fuzz_event_file, files["Xe136_0vbb"], n_events),
                           ("stream_file", fuzz_stream_file, files["stream"], n_stream),
                           ("run_dir", fuzz_run_dir, files["run"], n_run)):
        if log:
            log(f"fuzzing {name}: {n} damaged copies of {p}")
        res[name] = fn(p, n, seed, timeout_s).to_dict()
    tot = {k: sum(r[k] for r in res.values()) for k in ("cases", "clean", "accepted", "internal", "hang")}
    res["total"] = tot
    return res
