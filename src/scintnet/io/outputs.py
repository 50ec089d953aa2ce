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
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
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

    ``kind``: "file" (an existing folder there is an error) or "dir" (a run folder; an existing non-empty
    folder is refused unless ``overwrite``).  The parent folder must exist (it is not created: a typo in a
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
    """Hold ``.NAME.lock`` next to ``path`` (the holder's PID inside) while writing ``path``.

    A second writer gets :class:`OutputError`; a lock left by a killed process (its PID gone) is taken over.
    """
    p = Path(path)
    lock = p.with_name(f".{p.name}.lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and _pid_alive(pid) and pid != os.getpid():
                raise OutputError(f"{p} is being written by another scintnet process (pid {pid}); wait for it "
                                  f"or choose another --out") from None
            try:
                lock.unlink()  # stale: its writer is gone
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise OutputError(f"{p}: cannot take the lock {lock}")
    try:
        yield lock
    finally:
        try:
            if lock.read_text().strip() == str(os.getpid()):
                lock.unlink()
        except OSError:
            pass


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` under ``.NAME.tmp-PID``, then rename: never a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_bytes_atomic` of UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))
