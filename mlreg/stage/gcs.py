"""GCS uploads through gcsfs's request functions (as its ``put_file``: one request below
``GCS_SIMPLE``, else a resumable upload in parts of ``GCS_PART``), hashed as they are sent.

Each part is a request whose body aiohttp streams from the file, 64 KiB at a time
(:class:`_Region`): memory holds a piece, not the part, whatever its size. Parts are as
large as ``put_file``'s: GCS answers each with a round trip, and some servers (the
emulator the tests use among them) rewrite everything received so far on each part.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any, Callable

GCS_PART = 50 * 1024 * 1024  # gcsfs's put_file chunk; a multiple of 256 KiB, as GCS requires
GCS_SIMPLE = 5 * 1024 * 1024  # below this gcsfs's put_file sends one request


class _Hashed:
    """A sha256 of a file fed in file order, each byte once: a part sent again (a retried
    request, the rest of a part the server did not take) hashes only what is new."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.upto = 0
        self._lock = threading.Lock()  # aiohttp reads a body from its executor's threads

    def add(self, offset: int, data: bytes) -> None:
        with self._lock:
            end = offset + len(data)
            if end <= self.upto:
                return
            if offset > self.upto:
                raise RuntimeError(f"bytes from {offset} read before those from {self.upto}")
            self.hash.update(memoryview(data)[self.upto - offset:])
            self.upto = end


class _Region(io.RawIOBase):
    """Bytes ``[start, start + length)`` of a file opened for reading, as a request body:
    read in order (``os.pread``: the file's position is not shared), each piece hashed
    the first time. ``close`` leaves it usable: aiohttp closes a body once sent, and a
    retried request seeks back to its start and sends it again."""

    def __init__(self, fd: int, start: int, length: int, hashed: _Hashed):
        super().__init__()
        self._fd, self._start, self._end, self._pos = fd, start, start + length, start
        self._hashed = hashed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        self._pos = min(max(base + offset, self._start), self._end)
        return self._pos - self._start

    def read(self, size: int | None = -1) -> bytes:
        left = self._end - self._pos
        n = left if size is None or size < 0 else min(size, left)
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        if len(data) < n:
            raise OSError(f"the file ended at {self._pos + len(data)} bytes while it was uploaded")
        self._hashed.add(self._pos, data)
        self._pos += n
        return data

    def close(self) -> None:
        pass  # the caller owns the file descriptor


async def _send_part(fs: Any, location: Any, fd: int, offset: int, length: int, size: int,
                     hashed: _Hashed) -> None:
    """One part of a resumable upload (as gcsfs's ``upload_chunk``: the part's bytes the server
    says it did not take are sent again)."""
    if not isinstance(location, str):
        # a zonal bucket's gRPC writer (gcsfs's experimental ExtendedGcsFileSystem): its own
        # upload_chunk, given the part's bytes
        from gcsfs.core import upload_chunk

        data = os.pread(fd, length, offset)
        if len(data) < length:
            raise OSError(f"the file ended at {offset + len(data)} bytes while it was uploaded")
        hashed.add(offset, data)
        await upload_chunk(fs, location, data, offset, size, "application/octet-stream")
        return
    while length > 0:
        head = {"Content-Range": f"bytes {offset}-{offset + length - 1}/{size}",
                "Content-Type": "application/octet-stream", "Content-Length": str(length)}
        headers, _body = await fs._call("POST", location, headers=head, data=_Region(fd, offset, length, hashed))
        if "Range" not in headers:
            return
        end = int(headers["Range"].split("-")[1])
        shortfall = offset + length - 1 - end
        offset, length = end + 1, shortfall


def upload(fs: Any, src: Path, key: str, advance: Callable[[int], None]) -> tuple[str, int]:
    """Copy the local file ``src`` to ``key``; returns (sha256, size) of what was sent."""
    from fsspec.asyn import sync
    from gcsfs.core import initiate_upload, simple_upload

    bucket, name, _generation = fs.split_path(key)
    with open(src, "rb") as f:
        before = os.fstat(f.fileno())
        size = before.st_size
        if size < GCS_SIMPLE:
            data = f.read()
            sync(fs.loop, simple_upload, fs, bucket, name, data)
            fs.invalidate_cache(key)  # as put_file: a listing cached before must not hide it
            advance(len(data))
            return hashlib.sha256(data).hexdigest(), len(data)
        location = sync(fs.loop, initiate_upload, fs, bucket, name)
        hashed = _Hashed()
        try:
            for offset in range(0, size, GCS_PART):
                length = min(GCS_PART, size - offset)
                sync(fs.loop, _send_part, fs, location, f.fileno(), offset, length, size, hashed)
                advance(length)
        except BaseException:
            try:  # cancel the resumable upload: nothing is committed until its last part
                sync(fs.loop, fs._call, "DELETE", location.replace("&ifGenerationMatch=0", ""))
            except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
                pass
            raise
        after = os.fstat(f.fileno())
    fs.invalidate_cache(key)
    if (after.st_size, after.st_mtime_ns) != (size, before.st_mtime_ns) or hashed.upto != size:
        raise OSError(f"{src} changed while it was uploaded")
    return hashed.hash.hexdigest(), size
