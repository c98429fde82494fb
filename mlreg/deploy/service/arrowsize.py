"""How large an Arrow IPC body becomes once decoded, read from its messages' metadata
before anything is decompressed: a few KB of zstd can stand for gigabytes of zeros.

Each record batch (and dictionary batch) message lists its body buffers (offset and
length); in a compressed body each buffer starts with its uncompressed length (int64,
-1: stored as is). The metadata is a FlatBuffer (Arrow's ``Message.fbs``); the few fields
needed are read here by hand, with every offset checked against the buffer's size.
"""

from __future__ import annotations

import struct
from typing import Any

_HEADER_DICTIONARY_BATCH = 2
_HEADER_RECORD_BATCH = 3


class _Corrupt(ValueError):
    pass


def _unpack(fmt: str, data: bytes, offset: int) -> Any:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise _Corrupt("an offset outside the message metadata")
    return struct.unpack_from(fmt, data, offset)[0]


def _field(data: bytes, table: int, index: int) -> int:
    """The position of field ``index`` of the table at ``table``, or 0 when absent."""
    vtable = table - _unpack("<i", data, table)
    size = _unpack("<H", data, vtable)
    slot = 4 + 2 * index
    if slot + 2 > size:
        return 0
    offset = _unpack("<H", data, vtable + slot)
    return table + offset if offset else 0


def _table_at(data: bytes, position: int) -> int:
    return position + _unpack("<I", data, position)


def _batch_size(data: bytes, batch: int, body: bytes) -> int:
    """The decoded size of the buffers of one RecordBatch table."""
    buffers_at = _field(data, batch, 2)
    compressed = _field(data, batch, 3) != 0
    if not buffers_at:
        return 0
    vector = _table_at(data, buffers_at)
    count = _unpack("<I", data, vector)
    total = 0
    for i in range(count):
        offset = _unpack("<q", data, vector + 4 + 16 * i)
        length = _unpack("<q", data, vector + 4 + 16 * i + 8)
        if offset < 0 or length < 0:
            raise _Corrupt("a negative buffer offset or length")
        if compressed and length >= 8:
            raw = _unpack("<q", body, offset)
            total += length - 8 if raw < 0 else raw
        else:
            total += length
    return total


def decoded_size(body: bytes, file_format: bool = False) -> int | None:
    """The bytes the Arrow IPC ``body`` holds once decoded (buffers of every batch), or
    None when its metadata cannot be read this way (the reader then says what is wrong)."""
    import pyarrow as pa

    data = memoryview(body)[8:] if file_format and bytes(body[:6]) == b"ARROW1" else memoryview(body)
    try:
        reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(data))
        total = 0
        while True:
            try:
                message = reader.read_next_message()
            except StopIteration:
                return total
            if message is None:
                return total
            meta = message.metadata.to_pybytes()
            root = _unpack("<I", meta, 0)
            header_type = _unpack("<B", meta, _field(meta, root, 1)) if _field(meta, root, 1) else 0
            if header_type not in (_HEADER_RECORD_BATCH, _HEADER_DICTIONARY_BATCH):
                continue
            header = _table_at(meta, _field(meta, root, 2))
            batch = header if header_type == _HEADER_RECORD_BATCH else _table_at(meta, _field(meta, header, 1))
            total += _batch_size(meta, batch, message.body.to_pybytes() if message.body is not None else b"")
    except (_Corrupt, pa.ArrowException, OSError, ValueError):
        return None
