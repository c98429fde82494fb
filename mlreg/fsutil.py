"""Filesystem helpers shared by the store and the local stage."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def no_world_write(target: int | str | Path, mode: int | None = None) -> None:
    """Take world-write off a file or directory (a path or an open fd). Files are
    created with the user's umask; a umask of 000 must still not leave them writable by
    every local user."""
    if mode is None:
        mode = os.fstat(target).st_mode if isinstance(target, int) else os.stat(target).st_mode
    if mode & stat.S_IWOTH:
        os.chmod(target, stat.S_IMODE(mode) & ~stat.S_IWOTH)


def mkdirs(path: Path) -> None:
    """``mkdir -p`` that takes world-write off the directories it creates (only those)."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        no_world_write(d)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a file created, renamed or removed in it) durable; best
    effort where the filesystem cannot sync a directory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
