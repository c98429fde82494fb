"""The parts of a GCS upload (``mlreg.stage.gcs``): streamed from the file a piece at a time
and hashed once, whatever a server takes of a part or a retried request sends again. The
emulator takes every part whole; these are the answers real GCS may give."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from mlreg.stage import gcs


def _file(tmp_path: Path, n: int) -> tuple[Path, bytes]:
    data = os.urandom(n)
    path = tmp_path / "part.bin"
    path.write_bytes(data)
    return path, data


def test_a_region_is_read_again_after_a_retry_and_close_and_hashed_once(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 300_000)
    hashed = gcs._Hashed()
    with open(path, "rb") as f:
        first = gcs._Region(f.fileno(), 0, 100_000, hashed)
        assert first.read(65_536) == data[:65_536]
        assert first.seek(0) == 0  # a retried request sends the body again from its start
        assert first.read() == data[:100_000] and first.read(10) == b""
        first.close()  # aiohttp closes a body once sent; a retry reads it all the same
        first.seek(0)
        assert first.read(10) == data[:10]
        second = gcs._Region(f.fileno(), 100_000, 200_000, hashed)
        assert b"".join(iter(lambda: second.read(65_536), b"")) == data[100_000:]
    assert hashed.upto == len(data)
    assert hashed.hash.hexdigest() == hashlib.sha256(data).hexdigest()


def test_bytes_read_past_a_gap_are_refused_and_a_shrunk_file_raises(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 1_000)
    with open(path, "rb") as f:
        with pytest.raises(RuntimeError, match="bytes from 500 read before those from 0"):
            gcs._Region(f.fileno(), 500, 500, gcs._Hashed()).read()
        with pytest.raises(OSError, match="the file ended at 1000 bytes while it was uploaded"):
            gcs._Region(f.fileno(), 0, 2_000, gcs._Hashed()).read()


class _Server:
    """A resumable upload's answers: the first request breaks after 1,000 bytes and is sent
    again (as aiohttp retries it), then the server keeps only ``takes`` bytes of it and says
    so in its Range header; later requests are taken whole."""

    def __init__(self, takes: int):
        self.takes = takes
        self.got = bytearray()
        self.ranges: list[str] = []

    async def _call(self, method: str, location: str, headers: dict[str, str], data: Any) -> tuple[dict, bytes]:
        assert (method, location) == ("POST", "https://upload/1")
        start, end = (int(x) for x in headers["Content-Range"].split()[1].split("/")[0].split("-"))
        assert start == len(self.got) and int(headers["Content-Length"]) == end - start + 1
        self.ranges.append(headers["Content-Range"])
        if len(self.ranges) == 1:
            data.read(1_000)
            data.close()
            data.seek(0)
            body = data.read()[:self.takes]
        else:
            body = b"".join(iter(lambda: data.read(65_536), b""))
        self.got += body
        return ({"Range": f"bytes=0-{len(self.got) - 1}"} if len(self.ranges) == 1 else {}), b""


def test_the_bytes_of_a_part_the_server_did_not_take_are_sent_on(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 250_000)
    server, hashed = _Server(takes=70_000), gcs._Hashed()
    with open(path, "rb") as f:
        asyncio.run(gcs._send_part(server, "https://upload/1", f.fileno(), 0, 200_000, 250_000, hashed))
        asyncio.run(gcs._send_part(server, "https://upload/1", f.fileno(), 200_000, 50_000, 250_000, hashed))
    assert server.ranges == ["bytes 0-199999/250000", "bytes 70000-199999/250000", "bytes 200000-249999/250000"]
    assert bytes(server.got) == data
    assert hashed.hash.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_zonal_buckets_writer_gets_the_part_through_gcsfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gcsfs's experimental zonal buckets answer ``initiate_upload`` with a gRPC writer, not a
    URL: its parts go through gcsfs's own ``upload_chunk`` as bytes (no such server here, so
    only the hand-over is checked)."""
    import gcsfs.core

    path, data = _file(tmp_path, 120_000)
    sent: list[tuple[Any, bytes, int, int]] = []

    async def upload_chunk(fs: Any, location: Any, chunk: bytes, offset: int, size: int, content_type: str) -> None:
        sent.append((location, bytes(chunk), offset, size))

    monkeypatch.setattr(gcsfs.core, "upload_chunk", upload_chunk)
    writer, hashed = object(), gcs._Hashed()
    with open(path, "rb") as f:
        asyncio.run(gcs._send_part(None, writer, f.fileno(), 0, 100_000, 120_000, hashed))
        asyncio.run(gcs._send_part(None, writer, f.fileno(), 100_000, 20_000, 120_000, hashed))
    assert sent == [(writer, data[:100_000], 0, 120_000), (writer, data[100_000:], 100_000, 120_000)]
    assert hashed.hash.hexdigest() == hashlib.sha256(data).hexdigest()
