"""Checksums of package files: sha256 and BLAKE3, fast for large files.

Every file of a package is recorded with its sha256 (the registry's ``files``) and, for
packages logged since BLAKE3 was added, its BLAKE3-256 digest too (the manifest's
``blake3``). Verification uses BLAKE3 where it is recorded (several times faster: SIMD
and every core; see README, Performance) and sha256 otherwise. Both are 256-bit digests
with 128-bit collision resistance: a changed file is caught either way.

``hashlib`` releases the GIL while it hashes a buffer of more than 2 KiB, so reading the
next chunk of a file (or writing the data on, see ``writer``) runs on another core while
the current one is hashed: a large file takes the time of the hashing alone.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import threading
from pathlib import Path
from typing import Any

CHUNK = 4 * 1024 * 1024
SHA256 = "sha256"
BLAKE3 = "blake3"
_BLAKE3_MMAP_MIN = 1 << 20  # from here, a memory map hashed by every core beats reads


class _Blake3:
    """BLAKE3-256 with hashlib's ``update`` (any contiguous buffer) and ``hexdigest``."""

    def __init__(self) -> None:
        import blake3  # only where packages are written or verified (startup)

        self.h = blake3.blake3(max_threads=blake3.blake3.AUTO)  # every core on large inputs

    def update(self, data: Any) -> None:
        view = data.raw() if isinstance(data, pickle.PickleBuffer) else memoryview(data)
        if view.format != "B" or view.ndim != 1:  # blake3 takes bytes-shaped buffers only
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        self.h.update(view)

    def hexdigest(self) -> str:
        return str(self.h.hexdigest())


def new_hasher(algorithm: str = SHA256) -> Any:
    """A hashlib-like object (``update``, ``hexdigest``) for ``algorithm``."""
    if algorithm == BLAKE3:
        return _Blake3()
    return hashlib.sha256()


def blake3_path(path: str | Path) -> str:
    """The BLAKE3-256 digest of a file's contents (multi-threaded for large files)."""
    h = _Blake3()
    with open(open_regular(path), "rb") as f:  # NotRegularFile for a FIFO or a device: never read
        if os.fstat(f.fileno()).st_size >= _BLAKE3_MMAP_MIN:
            h.h.update_mmap(os.fspath(path))
        else:
            h.update(f.read())
    return h.hexdigest()


def digest_path(path: str | Path, algorithm: str) -> str:
    return blake3_path(path) if algorithm == BLAKE3 else sha256_path(path)
_PIPELINE_MIN = 3 * CHUNK  # below this the second thread does not pay for itself


class NotRegularFile(OSError):
    """A path that is not a regular file (a FIFO, a device, a socket, a directory): never
    opened for reading, as reading a FIFO or a device can block forever."""

    def __init__(self, path: str | Path, kind: str):
        super().__init__(f"{path} is a {kind}, not a regular file")
        self.kind = kind


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return kind
    return "regular file" if stat.S_ISREG(mode) else "special file"


def open_regular(path: str | Path) -> int:
    """A descriptor of ``path`` open for reading, refusing anything but a regular file
    (NotRegularFile) before a read could block: the open itself does not wait for a FIFO's
    writer (O_NONBLOCK), and the type is checked on what was opened (no race)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, file_kind(mode))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def sha256_path(path: str | Path) -> str:
    """The sha256 of a regular file's contents (NotRegularFile for anything else)."""
    with open(open_regular(path), "rb", buffering=0) as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        if size < _PIPELINE_MIN:
            h = hashlib.sha256()
            buf = bytearray(min(max(size, 1), CHUNK) + 1)  # one read more sees the end
            view = memoryview(buf)
            while n := f.readinto(buf):
                h.update(view[:n])
            return h.hexdigest()
        _advise_sequential(fd)
        return _pipelined(f)


def _advise_sequential(fd: int) -> None:
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)  # a larger readahead from disk
    except (AttributeError, OSError):
        pass


def _pipelined(f: Any) -> str:
    """Read chunk n+1 while a second thread hashes chunk n (three buffers in turn)."""
    import queue

    h = hashlib.sha256()
    free: Any = queue.SimpleQueue()
    full: Any = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(CHUNK))

    def hasher() -> None:
        while (item := full.get()) is not None:
            buf, n = item
            h.update(memoryview(buf)[:n])
            free.put(buf)

    thread = threading.Thread(target=hasher, name="mlreg-sha256", daemon=True)
    thread.start()
    try:
        while True:
            buf = free.get()
            n = f.readinto(buf)
            if not n:
                break
            full.put((buf, n))
    finally:
        full.put(None)
        thread.join()
    return h.hexdigest()


def update_overlapped(h: Any, data: memoryview, work: Any) -> None:
    """``h.update(data)`` in a second thread while ``work()`` runs in this one; returns
    when both are done (``work``'s exception, if any, is raised after the hash is done)."""
    thread = threading.Thread(target=h.update, args=(data,), name="mlreg-sha256", daemon=True)
    thread.start()
    try:
        work()
    finally:
        thread.join()


FILL_BLOCK = 16 * 1024 * 1024
"""The unit in which :func:`fill_and_hash` fills memory from a file and hashes it."""


def fill_and_hash(fd: int, pieces: list[Any], algorithm: str = SHA256) -> str:
    """The ``algorithm`` digest of ``pieces`` in order, each either bytes already read or a
    ``(view, offset)`` to fill from the file ``fd`` first. The views are filled block by
    block by one thread per core (up to 4: ``os.preadv`` releases the GIL, so the page
    faults of fresh memory and the copies run on every core) while this thread hashes
    each block, in order, as soon as it is filled. EOFError if the file ends early."""
    from mlreg.package import fileio

    h = new_hasher(algorithm)
    blocks: list[tuple[memoryview, int]] = []
    order: list[Any] = []  # what to hash, in order: bytes read, or the number of a block
    for piece in pieces:
        if not isinstance(piece, tuple):
            order.append(memoryview(piece))
            continue
        view, offset = piece
        for pos in range(0, len(view), FILL_BLOCK):
            order.append(len(blocks))
            blocks.append((view[pos:pos + FILL_BLOCK], offset + pos))
    filled = [threading.Event() for _ in blocks]
    errors: list[BaseException] = []
    stop = threading.Event()

    def filler(first: int, step: int) -> None:
        try:
            for k in range(first, len(blocks), step):
                if stop.is_set():
                    return
                fileio.pread_exactly(fd, *blocks[k])
                filled[k].set()
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(e)
            stop.set()
            for event in filled:
                event.set()

    workers = max(1, min(os.cpu_count() or 1, 4, len(blocks)))
    threads = [threading.Thread(target=filler, args=(i, workers), name="mlreg-read", daemon=True)
               for i in range(workers if blocks else 0)]
    for t in threads:
        t.start()
    try:
        for item in order:
            if isinstance(item, int):
                filled[item].wait()
                if errors:
                    break
                item = blocks[item][0]
            h.update(item)
    finally:
        stop.set()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return h.hexdigest()
