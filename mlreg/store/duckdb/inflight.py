"""In-flight markers of a DuckDB registry: one ``flock``-ed file per package being
published, in ``<home>/.inflight/``. The lock dies with its process, so a crashed log
leaves a stale file that no one holds (``clear_stale``); a process that is merely
stopped keeps holding it, and ``gc`` leaves its package alone."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def marked(directory: Path, package_id: str) -> Iterator[None]:
    """Hold the marker of ``package_id`` for the length of the block."""
    if not directory.is_dir():
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = directory / f"{package_id}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # `clear_stale` unlinks stale lock files while holding their lock: make sure ours
        # is still the file at that path, else a concurrent gc could not see it
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        try:
            path.unlink()
        except OSError:
            pass
        os.close(fd)


def is_marked(directory: Path, package_id: str) -> bool:
    try:
        fd = os.open(directory / f"{package_id}.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def clear_stale(directory: Path) -> None:
    """Delete the marker files that crashed logs left behind (no one holds them)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        path = directory / name
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()  # unlinked while locked: see marked()
        except OSError:
            pass
        finally:
            os.close(fd)
