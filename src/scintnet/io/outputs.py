"""Output files: checked before any work, never overwritten unless asked, one writer at a time.

Every command that writes a file or a run folder calls :func:`check_output` first (a folder where a file
should go, a missing parent folder, an existing result without ``--overwrite``: one-line
:class:`OutputError` before a single event is simulated) and holds :func:`output_lock` while it works, so a
second run on the same output is refused instead of deleting the first one's chunks.  Temporary files of
killed writers (``.NAME.tmp-PID``) are removed on the next run.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ScintnetError


class OutputError(ScintnetError):
    """An output path that cannot or must not be written (message names it)."""


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _remove_stale(folder: Path, pattern: str) -> list[Path]:
    removed = []
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(pattern):
        pid_text = tmp.name.rsplit(".tmp-", 1)[-1].split(".")[0]
        if pid_text.isascii() and pid_text.isdigit() and len(pid_text) < 10 and not _pid_alive(int(pid_text)):
            try:
                if tmp.is_dir():
                    import shutil

                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def clean_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove ``.NAME.tmp-PID*`` next to ``path`` whose writer process is gone; returns what was removed."""
    path = Path(path)
    return _remove_stale(path.parent, f".{path.name}.tmp-*")


def clean_stale_in(folder: str | Path) -> list[Path]:
    """Remove every ``.*.tmp-PID*`` in ``folder`` whose writer process is gone (a resumable job's chunks)."""
    return _remove_stale(Path(folder), ".*.tmp-*")


def check_output(path: str | Path, overwrite: bool = False, kind: str = "file") -> Path:
    """Check that ``path`` may be written, before any work is done.

    ``kind``: "file" (an existing folder there is an error) or "dir" (a run folder; an existing file there is
    an error).  The parent folder must exist (it is not created: a typo in a
    path should not create a tree).  Stale temporary files of killed writers are cleaned up.
    """
    p = Path(path)
    if str(p) in ("", "."):
        raise OutputError("no output path given")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"{p}: the folder {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise OutputError(f"{p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{p}: the folder {parent} is not writable")
    if kind == "file":
        if p.is_dir():
            raise OutputError(f"{p} is a folder; give a file name")
        if p.exists() and not overwrite:
            raise OutputError(f"{p} exists; pass --overwrite to replace it (or choose another --out)")
    elif p.exists() and not p.is_dir():
        raise OutputError(f"{p} exists and is not a folder")
    clean_stale_temporaries(p)
    return p


@contextmanager
def output_lock(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``.NAME.lock`` next to ``path`` while writing ``path``.

    A second writer gets :class:`OutputError` naming the holder's PID; the kernel releases the lock when its
    holder dies (``kill -9`` included), so there is no stale lock to take over and no race in doing so
    (NFS v4 extends the lock to other hosts).  The small lock file stays: removing it would let a second
    writer lock a new file while a first one still holds the old.
    """
    import fcntl

    p = Path(path)
    lock = p.with_name(f".{p.name}.lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            except OSError:
                holder = "?"
            raise OutputError(f"{p} is being written by another scintnet process (pid {holder}); wait for it or "
                              "choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield lock
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield ``.NAME.tmp-PID[suffix]`` next to ``path``; rename it onto ``path`` only when the block succeeds.

    The one atomic-write primitive of the package at and above ``io`` (a killed writer leaves the old file
    or none, never half a file; :func:`clean_stale_temporaries` knows the name).  ``suffix`` for writers
    that append an extension (``np.save``).  The two modules below ``io`` (optics tables, plotting) use the
    same temporary-name convention.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path`: never a half-written file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_bytes_atomic` of UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))
