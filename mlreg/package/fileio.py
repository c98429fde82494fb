"""Low-level file I/O for large package files: writing around the page cache (or with early
writeback), reading into fresh memory with several threads."""

from __future__ import annotations

import errno
import mmap
import os
import sys
import threading
from typing import Any, Callable, Sequence

WRITE_CHUNK = 4 * 1024 * 1024

_libc: Any = None  # None: not looked up yet; False: not available


def _libc_function(name: str, *argtypes: Any) -> Callable[..., None] | None:
    """A function of the C library (Linux), raising OSError on failure; None if missing."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _libc = ctypes.CDLL(None, use_errno=True)
            except OSError:
                pass
    fn = getattr(_libc, name, None) if _libc else None
    if fn is None:
        return None
    import ctypes

    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int

    def call(*args: Any) -> None:
        if fn(*args) != 0:
            raise OSError(ctypes.get_errno(), name)

    return call


def _lookup_sync_file_range() -> Callable[[int, int, int], None] | bool:
    import ctypes

    fn = _libc_function("sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    if fn is None:
        return False
    SYNC_FILE_RANGE_WRITE = 2
    return lambda fd, offset, nbytes: fn(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)


_sync_file_range: Callable[[int, int, int], None] | None | bool = None  # None: not looked up yet
_fallocate: Callable[..., None] | None | bool = None


def preallocate(fd: int, offset: int, nbytes: int) -> None:
    """Reserve the disk blocks of a range about to be written (Linux ``fallocate``), so
    that the filesystem allocates them once rather than write by write. Only a hint: never
    emulated by writing zeros (as ``posix_fallocate`` may), does nothing where refused."""
    global _fallocate
    if _fallocate is None:
        import ctypes

        _fallocate = _libc_function("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64) or False
    if _fallocate is False:
        return
    try:
        _fallocate(fd, 0, offset, nbytes)  # type: ignore[operator]
    except OSError:
        pass  # not supported here, or no room: the write itself will say


def start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Ask the kernel to start writing a just-written range to disk, without waiting.

    Only a hint, so that the ``fsync`` before publishing finds the data (mostly) written
    instead of starting then: writing a large file and syncing it at the end takes about
    twice as long on Linux, whose page cache otherwise holds the dirty data back. Durability
    still comes from that ``fsync``. Does nothing where the call is missing or refused."""
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = _lookup_sync_file_range()
    if _sync_file_range is False:
        return
    try:
        _sync_file_range(fd, offset, nbytes)  # type: ignore[operator]
    except OSError:
        _sync_file_range = False  # a filesystem that does not support it: stop asking


ALIGN = 4096  # the largest logical block size of common disks: what O_DIRECT needs
DIRECT_CHUNK = 8 * 1024 * 1024
DIRECT_MIN = 32 * 1024 * 1024


def write_all(fd: int, data: memoryview, offset: int, after_chunk: Callable[[int], None] | None = None) -> None:
    """Write ``data`` (a 1-D byte view) to the file ``fd`` at ``offset``, which must be its
    current position; the position is after the data on return.

    A large write goes around the page cache (O_DIRECT, Linux) where the filesystem allows:
    the disk reads the data from two small aligned buffers in turn, so the write costs
    neither a copy into 1 GiB of fresh page cache nor the memory, and the disk works from
    the first chunk on instead of from the ``fsync``. The unaligned ends, and everything
    where O_DIRECT is refused, are written normally with the writeback started at once.
    ``after_chunk(bytes_written)`` is called from this thread as the write advances."""
    total = len(data)
    done = 0
    if total >= DIRECT_MIN and hasattr(os, "O_DIRECT"):
        head = min((-offset) % ALIGN, total)
        body = (total - head) // ALIGN * ALIGN
        preallocate(fd, offset + head, body)
        _write_buffered(fd, data[:head], offset, None)
        done = head + _write_direct(fd, data[head:head + body], offset + head, after_chunk, head)
    _write_buffered(fd, data[done:], offset + done, after_chunk, done)
    os.lseek(fd, offset + total, os.SEEK_SET)


def _write_buffered(fd: int, data: memoryview, offset: int, after_chunk: Callable[[int], None] | None,
                    base: int = 0) -> None:
    pos, total = 0, len(data)
    while pos < total:
        n = os.pwrite(fd, data[pos:pos + WRITE_CHUNK], offset + pos)
        start_writeback(fd, offset + pos, n)
        pos += n
        if after_chunk is not None:
            after_chunk(base + pos)


def _write_direct(fd: int, data: memoryview, offset: int, after_chunk: Callable[[int], None] | None,
                  base: int) -> int:
    """Write ``data`` (a multiple of ALIGN long, ``offset`` aligned) with O_DIRECT, from two
    threads (one copies its next chunk while the other's is on its way to the disk).
    Returns how many bytes from the start are written: all of them, or fewer (then the
    caller writes the rest normally) when the filesystem refuses O_DIRECT."""
    import fcntl

    total = len(data)
    if not total:
        return 0
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:
        return 0  # tmpfs and others: no O_DIRECT
    chunks = [(pos, min(DIRECT_CHUNK, total - pos)) for pos in range(0, total, DIRECT_CHUNK)]
    written = [False] * len(chunks)
    errors: list[BaseException] = []
    refused = threading.Event()

    def worker(first: int, report: Callable[[int], None] | None) -> None:
        buf = mmap.mmap(-1, DIRECT_CHUNK)  # page-aligned, as O_DIRECT needs
        view = memoryview(buf)
        try:
            for k in range(first, len(chunks), 2):
                if errors or refused.is_set():
                    return
                pos, n = chunks[k]
                view[:n] = data[pos:pos + n]
                done = 0
                while done < n:
                    try:
                        w = os.pwrite(fd, view[done:n], offset + pos + done)
                    except OSError as e:
                        if e.errno == errno.EINVAL:  # alignment or filesystem: fall back
                            refused.set()
                            return
                        raise
                    if w <= 0:
                        raise OSError(errno.EIO, "short write")
                    done += w
                written[k] = True
                if report is not None:
                    report(base + pos + n)
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(e)
        finally:
            view.release()
            buf.close()

    helper = threading.Thread(target=worker, args=(1, None), name="mlreg-write", daemon=True)
    helper.start()
    try:
        worker(0, after_chunk)
    finally:
        helper.join()
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    if errors:
        raise errors[0]
    done = 0
    for (pos, n), ok in zip(chunks, written):
        if not ok:
            break
        done = pos + n
    return done


def fresh_buffer(nbytes: int) -> Any:
    """Writable zeroed memory of ``nbytes`` (> 0) of its own, for a large array to live in:
    a private anonymous mapping (not shared with a forked child), page-aligned, returned
    to the system when the last view of it goes. (Transparent huge pages were tried: in a
    VM their first touch cost more than the 4 KiB page faults they save.)"""
    if hasattr(mmap, "MAP_PRIVATE"):
        return mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, nbytes)


_PARALLEL_FILL = 32 * 1024 * 1024


def fill(fd: int, jobs: Sequence[tuple[memoryview, int]]) -> None:
    """Fill each ``(view, offset)``: ``view`` from the file ``fd`` at ``offset``. Large
    fills are split between threads (``os.preadv`` releases the GIL), so that the page
    faults of fresh memory and the copies run on every core. EOFError if the file ends
    first."""
    total = sum(len(v) for v, _ in jobs)
    workers = min(os.cpu_count() or 1, 4) if total >= _PARALLEL_FILL and hasattr(os, "preadv") else 1
    if workers == 1:
        for view, offset in jobs:
            pread_exactly(fd, view, offset)
        return
    # cut the jobs into ``workers`` runs of about equal size (in whole pages)
    share = (-(-total // workers) + 4095) // 4096 * 4096
    runs: list[list[tuple[memoryview, int]]] = [[]]
    room = share
    for view, offset in jobs:
        while len(view):
            if room == 0:
                runs.append([])
                room = share
            take = min(room, len(view))
            runs[-1].append((view[:take], offset))
            view, offset, room = view[take:], offset + take, room - take
    errors: list[BaseException] = []

    def run(part: list[tuple[memoryview, int]]) -> None:
        try:
            for v, o in part:
                pread_exactly(fd, v, o)
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(part,), name="mlreg-read", daemon=True) for part in runs[1:]]
    for t in threads:
        t.start()
    try:
        run(runs[0])
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def pread_exactly(fd: int, view: memoryview, offset: int) -> None:
    """Fill ``view`` from the file ``fd`` at ``offset``; EOFError if the file ends first."""
    pos, total = 0, len(view)
    while pos < total:
        n = os.preadv(fd, [view[pos:]], offset + pos) if hasattr(os, "preadv") else _pread_into(fd, view[pos:], offset + pos)
        if not n:
            raise EOFError(f"file ends {total - pos} bytes early")
        pos += n


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    data = os.pread(fd, min(len(view), 64 * 1024 * 1024), offset)
    view[:len(data)] = data
    return len(data)


def read_exactly(f: Any, offset: int, into: memoryview) -> None:
    """Fill ``into`` from the file ``f`` (unbuffered) at ``offset``; EOFError if it ends first."""
    f.seek(offset)
    pos, total = 0, len(into)
    while pos < total:
        n = f.readinto(into[pos:])
        if not n:
            raise EOFError(f"file ends {total - pos} bytes early")
        pos += n
