"""Streaming transfers between local files and an fsspec filesystem, hashed on the fly.

Memory stays flat whatever the file size: an upload holds at most ``SINGLE_PUT`` bytes or
``MAX_IN_FLIGHT`` parts of ``PART`` bytes (fewer if s3fs's ``max_concurrency`` stage option
is lower), on GCS a piece of 64 KiB; a download holds one ``CHUNK`` (on GCS one
``GCS_READ``). Azure uploads stage blocks of their own (``mlreg.stage.azure``), several at once.

GCS too gets its own upload (``mlreg.stage.gcs``), through gcsfs's request functions (as its
``put_file``), each part streamed from the file and hashed as it is sent.

S3 gets its own paths through s3fs's request function, because s3fs's file objects
buffer each part twice and issue one ranged GET per read:
  - upload: a multipart upload whose parts are read and hashed while earlier parts are
    still on the wire (files up to ``SINGLE_PUT`` go in one PUT, held in memory);
  - download: one streaming GET, resumed with a Range header after a broken connection.
SFTP goes through sshfs's ``put_file``/``get_file`` (asyncssh keeps many requests in
flight), the file hashed beside the upload and after the download. Other filesystems use
their fsspec file objects, in parts of ``PART`` bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterator

from mlreg.stage.base import CHUNK

PART = 8 * 1024 * 1024
# GCS: each ranged read is a request of its own, and holds one part (uploads: mlreg.stage.gcs)
GCS_READ = 50 * 1024 * 1024
SINGLE_PUT = 96 * 1024 * 1024  # up to this size one PUT beats a multipart upload (as s3fs: < 2 x 50 MiB)
MAX_IN_FLIGHT = 4  # at most s3fs's ``max_concurrency`` (a stage option); 1 suits a server on loopback
MAX_PARTS = 9_000  # S3 allows 10,000; keep a margin
DOWNLOAD_RETRIES = 3

Advance = Callable[[int], None]


def is_s3(fs: Any) -> bool:
    return hasattr(fs, "_call_s3") and hasattr(fs, "split_path") and hasattr(fs, "loop")


def is_gcs(fs: Any) -> bool:
    return type(fs).__module__.startswith("gcsfs")


def upload(fs: Any, src: Path, key: str, advance: Advance) -> tuple[str, int]:
    """Copy a local file to ``key``; returns (sha256, size) of what was sent."""
    if is_s3(fs):
        return _s3_upload(fs, src, key, advance)
    if is_gcs(fs):
        from mlreg.stage import gcs

        return gcs.upload(fs, src, key, advance)
    if _is_sftp(fs):
        return _sftp_upload(fs, src, key, advance)
    from mlreg.stage import azure

    if azure.is_azure(fs):
        return azure.upload(fs, src, key, advance)
    return _file_upload(fs, src, key, advance)


def downloads_whole_files(fs: Any) -> bool:
    """Whether ``download`` beats streaming ``chunks`` on this filesystem (then the caller
    hashes the file once it is down)."""
    return _is_sftp(fs)


def download(fs: Any, key: str, dest: Path, advance: Advance) -> None:
    """Copy ``key`` to the local file ``dest`` (see ``downloads_whole_files``): sshfs's
    ``get_file``, whose requests asyncssh keeps many of in flight (a file object's reads
    wait for each answer; a 256 MiB download took 2.9 s through them, 1.9 s with the hash
    after ``get_file``)."""
    fs.get_file(key, str(dest), callback=_Progress(advance))


def chunks(fs: Any, key: str) -> Iterator[bytes]:
    """The bytes of ``key``, in order, a chunk at a time."""
    if is_s3(fs):
        return _s3_stream(fs, key)
    return _file_stream(fs, key)


def read_small(fs: Any, key: str) -> bytes:
    """A small object in one request (s3fs's ``cat_file`` asks for its size first)."""
    if is_s3(fs):
        return b"".join(_s3_stream(fs, key))
    return fs.cat_file(key)


# -- S3 ------------------------------------------------------------------------------------------
def _s3_upload(fs: Any, src: Path, key: str, advance: Advance) -> tuple[str, int]:
    from fsspec.asyn import sync

    bucket, name, _version = fs.split_path(key)
    size = os.path.getsize(src)
    part_size = max(PART, math.ceil(size / MAX_PARTS))
    h = hashlib.sha256()
    with open(src, "rb") as f:
        if size <= max(part_size, SINGLE_PUT):
            data = f.read()
            h.update(data)
            sync(fs.loop, fs._call_s3, "put_object", Bucket=bucket, Key=name, Body=data)
            advance(len(data))
            return h.hexdigest(), len(data)
        upload_id = sync(fs.loop, fs._call_s3, "create_multipart_upload", Bucket=bucket, Key=name)["UploadId"]
        common = {"Bucket": bucket, "Key": name, "UploadId": upload_id}
        in_flight = max(1, min(MAX_IN_FLIGHT, int(getattr(fs, "max_concurrency", MAX_IN_FLIGHT))))

        def send(number: int, data: bytes) -> Future:
            call = fs._call_s3("upload_part", PartNumber=number, Body=data, **common)
            return asyncio.run_coroutine_threadsafe(call, fs.loop)

        try:
            answers, sent = send_in_flight(f, part_size, h, in_flight, send, advance)
            parts = [{"PartNumber": number, "ETag": answer["ETag"]} for number, answer in enumerate(answers, 1)]
            _complete(fs, common, parts, sent)
        except BaseException:
            try:
                sync(fs.loop, fs._call_s3, "abort_multipart_upload", **common)
            except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
                pass  # the server may be why we are here; the prefix stays unpublished anyway
            raise
    return h.hexdigest(), sent


def send_in_flight(f: Any, part_size: int, h: Any, in_flight: int, send: Callable[[int, bytes], Future],
                   advance: Advance) -> tuple[list[Any], int]:
    """Read ``f`` part after part (numbered from 1), hash each into ``h`` and hand it to
    ``send``, which starts its request and returns its future, while at most ``in_flight``
    earlier ones are unanswered. Returns every answer in order and the bytes sent; on an
    error the requests still pending are cancelled."""
    pending: deque[tuple[int, Future]] = deque()
    answers: list[Any] = []
    sent = 0

    def finish() -> None:
        length, future = pending.popleft()
        answers.append(future.result())
        advance(length)

    try:
        number = 0
        while data := f.read(part_size):
            h.update(data)
            number += 1
            sent += len(data)
            pending.append((len(data), send(number, data)))
            del data  # only the parts in flight hold memory
            while len(pending) >= in_flight:
                finish()
        while pending:
            finish()
    except BaseException:
        for _length, future in pending:
            future.cancel()
        raise
    return answers, sent


def _complete(fs: Any, common: dict[str, Any], parts: list[dict[str, Any]], size: int) -> None:
    from fsspec.asyn import sync

    try:
        sync(fs.loop, fs._call_s3, "complete_multipart_upload", MultipartUpload={"Parts": parts}, **common)
    except Exception:
        # assembling a large object can outlast the read timeout; the retried request then
        # fails although the first one completed: believe the object if it is all there
        try:
            head = sync(fs.loop, fs._call_s3, "head_object", Bucket=common["Bucket"], Key=common["Key"])
        except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
            head = {}
        if head.get("ContentLength") != size:
            raise


def _s3_stream(fs: Any, key: str) -> Iterator[bytes]:
    from fsspec.asyn import sync

    bucket, name, _version = fs.split_path(key)

    async def open_at(offset: int) -> Any:
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        return (await fs._call_s3("get_object", Bucket=bucket, Key=name, **extra))["Body"]

    async def read(body: Any) -> bytes:
        parts, got = [], 0
        while got < CHUNK:
            data = await body.read(CHUNK - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    async def close(body: Any) -> None:
        body.close()

    offset, failures = 0, 0
    body = sync(fs.loop, open_at, 0)
    try:
        while True:
            try:
                chunk = sync(fs.loop, read, body)
            except Exception:
                failures += 1
                if failures > DOWNLOAD_RETRIES:
                    raise
                try:
                    sync(fs.loop, close, body)
                except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
                    pass
                body = sync(fs.loop, open_at, offset)
                continue
            if not chunk:
                return
            offset += len(chunk)
            yield chunk
    finally:
        try:
            sync(fs.loop, close, body)
        except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
            pass


# -- any fsspec filesystem -------------------------------------------------------------------------
def _is_sftp(fs: Any) -> bool:
    return type(fs).__module__.startswith("sshfs")


class _Progress:
    """An fsspec callback (what sshfs's transfers report to) that advances a progress bar."""

    def __init__(self, advance: Advance):
        self._advance = advance
        self._done = 0

    def set_size(self, size: int) -> None:
        pass

    def absolute_update(self, value: int) -> None:
        if value > self._done:
            self._advance(value - self._done)
            self._done = value


def _sftp_upload(fs: Any, src: Path, key: str, advance: Advance) -> tuple[str, int]:
    """sshfs's ``put_file`` (asyncssh keeps many write requests in flight; a file object
    waits for each: 1.5 s against 1.1 s for 256 MiB), the file hashed meanwhile by a
    thread of its own. It is a file of the package being published, which nothing else
    writes; a change of its size or time while it was sent is refused all the same."""
    before = os.stat(src)
    h = hashlib.sha256()
    failed: list[BaseException] = []

    def hash_file() -> None:
        try:
            with open(src, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            failed.append(exc)

    hasher = threading.Thread(target=hash_file, name="mlreg-sftp-hash", daemon=True)
    hasher.start()
    try:
        fs.put_file(str(src), key, callback=_Progress(advance))
    finally:
        hasher.join()
    if failed:
        raise failed[0]
    after = os.stat(src)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise OSError(f"{src} changed while it was uploaded")
    return h.hexdigest(), after.st_size


def _file_upload(fs: Any, src: Path, key: str, advance: Advance) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    out = fs.open(key, "wb", block_size=PART)
    try:
        with open(src, "rb") as fin:
            while chunk := fin.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
                advance(len(chunk))
    except BaseException:
        _drop(out)
        raise
    out.close()
    return h.hexdigest(), size


def _drop(out: Any) -> None:
    """Abandon a half-written remote file without committing it."""
    try:
        out.discard()
    except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
        pass
    try:
        out.closed = True  # fsspec buffered files would otherwise flush when collected
    except AttributeError:
        try:
            out.close()
        except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
            pass


def _file_stream(fs: Any, key: str) -> Iterator[bytes]:
    part = GCS_READ if is_gcs(fs) else PART
    opened = fs.open(key, "rb") if _is_sftp(fs) else fs.open(key, "rb", block_size=part, cache_type="none")
    with opened as f:
        while chunk := f.read(max(CHUNK, part)):
            yield chunk
