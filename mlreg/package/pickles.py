"""Pickles whose large buffers (NumPy arrays, ...) load without a copy.

The file is an ordinary protocol-5 pickle with its buffers in-band, so ``pickle.load``
(any version of mlreg, or any tool) reads it as before. After the pickle's STOP, which
``pickle.load`` does not read past, comes an index of where the data of each large
buffer lies in the file::

    <pickle ... STOP> <index: JSON> <len(index): 8 bytes LE> <INDEX_MAGIC: 16 bytes>

``load`` reads each indexed buffer once, straight into memory of its own (several threads
share the page faults), and unpickles the rest of the stream with that buffer passed
out-of-band (``pickle.loads(..., buffers=...)``), so the array is a view of it: one
read, no second copy, peak memory about the size of the model. A file without an index
(written before, or with no large buffer) is read by ``pickle.load``.

``read_verified`` (``verify_dir(..., keep=True)``) goes one step further for a caller about
to load: it reads the buffers into that memory while a second thread hashes them, and
keeps the checked bytes for the ``load`` that follows, which then reads nothing.

Only data the pickler wrote in-band from a ``pickle.PickleBuffer`` (the protocol-5
buffers of NumPy, pandas, ...) is indexed: such an object's reconstructor accepts any
buffer in place of the in-band ``bytes``/``bytearray`` (PEP 574). The index is checked
against the opcode in front of each buffer before it is used; anything unexpected falls
back to ``pickle.load``. The index is covered by the file's sha256 like the rest.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import threading
from pathlib import Path
from typing import Any

from mlreg.package import fileio, hashing, unpickling

INDEX_MAGIC = b"\x00mlreg-buffers1\n"
INDEX_MIN = 1024 * 1024
"""Buffers of at least this many bytes are indexed (smaller ones are not worth a mapping)."""

_BYTEARRAY8 = 0x96  # writable buffer: b"\x96" + u64 length
_BINBYTES = 0x42  # read-only buffer under 4 GiB: b"B" + u32 length
_BINBYTES8 = 0x8E  # read-only buffer from 4 GiB: b"\x8e" + u64 length
_NEXT_BUFFER = b"\x97"
_READONLY_BUFFER = b"\x98"
_TRAILER = struct.Struct("<Q16s")


def _header(nbytes: int, readonly: bool) -> bytes:
    """The opcode and length the C pickler writes in front of an in-band buffer."""
    if not readonly:
        return bytes([_BYTEARRAY8]) + struct.pack("<Q", nbytes)
    if nbytes <= 0xFFFFFFFF:
        return bytes([_BINBYTES]) + struct.pack("<I", nbytes)
    return bytes([_BINBYTES8]) + struct.pack("<Q", nbytes)


class _Indexer:
    """Passes writes on to ``f``, noting where the data of each large PickleBuffer lands."""

    def __init__(self, f: Any):
        self._f = f
        self.pos = 0
        self._tail = b""  # the last bytes written: the opcode in front of a buffer
        self.buffers: list[list[int]] = []

    def write(self, data: Any) -> int:
        with data.raw() if isinstance(data, pickle.PickleBuffer) else memoryview(data) as view:
            size = view.nbytes
            if isinstance(data, pickle.PickleBuffer) and size >= INDEX_MIN:
                # the C pickler flushes the buffer's opcode and length, then writes the
                # data itself in one call (no copy); anything else is not indexed
                header = _header(size, view.readonly)
                if self._tail.endswith(header):
                    self.buffers.append([self.pos, size, len(header)])
            if not view.c_contiguous:
                tail = b""
            elif size >= 16:
                tail = view.cast("B")[-16:].tobytes()
            else:
                tail = self._tail + view.cast("B").tobytes()
        n = self._f.write(data)
        self._tail = tail[-16:]
        self.pos += size
        return n

    def flush(self) -> None:
        if hasattr(self._f, "flush"):
            self._f.flush()


def dump(obj: Any, f: Any) -> None:
    """Pickle ``obj`` (cloudpickle, protocol 5) to the binary file ``f``, then its index."""
    import cloudpickle

    out = _Indexer(f)
    cloudpickle.dump(obj, out, protocol=5)
    if out.buffers:
        index = json.dumps({"stop": out.pos, "buffers": out.buffers}, separators=(",", ":")).encode()
        f.write(index + _TRAILER.pack(len(index), INDEX_MAGIC))


def _read_index(f: Any, size: int) -> dict[str, Any] | None:
    if size < _TRAILER.size:
        return None
    f.seek(size - _TRAILER.size)
    length, magic = _TRAILER.unpack(f.read(_TRAILER.size))
    if magic != INDEX_MAGIC or length > min(size - _TRAILER.size, 64 * 1024 * 1024):
        return None
    f.seek(size - _TRAILER.size - length)
    try:
        index = json.loads(f.read(length))
        stop = index["stop"]
        buffers = [(int(o), int(n), int(h)) for o, n, h in index["buffers"]]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(stop, int) or stop != size - _TRAILER.size - length:
        return None
    end = 0
    for offset, nbytes, header in buffers:
        if header not in (5, 9) or offset - header < end or nbytes < 1 or offset + nbytes > stop:
            return None
        end = offset + nbytes
    return {"stop": stop, "buffers": buffers}


def load(path: str | Path) -> Any:
    """Unpickle a file written by :func:`dump` (or any pickle). When ``verify_dir(...,
    keep=True)`` has just read and checked this file, its bytes are used as they were read.
    A pickle that cannot be read here is an ``unpickling.UnreadableModel`` error that says
    why (a module not installed, another library or Python version, a truncated file)."""
    what = f"model file {path}"
    kept = _take(path)
    if kept is not None:
        stream, buffers = kept
        return unpickling.load(io.BytesIO(stream), what, buffers=buffers)
    with open(hashing.open_regular(path), "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        index = _read_index(f, size)
        layout = _layout(f, index) if index is not None else None
        if layout is not None:
            stream, buffers, jobs, _pieces = layout
            fileio.fill(f.fileno(), jobs)
            del jobs, _pieces
            return unpickling.load(io.BytesIO(stream), what, buffers=buffers)
        f.seek(0)
        return unpickling.load(io.BufferedReader(f, 1024 * 1024), what)


# -- a model saved whole ----------------------------------------------------------------------
MODEL_FILE = "model/model.pkl"
"""Where a package keeps a model saved whole with cloudpickle (custom models, scikit-learn,
Snowpark ML, and the fallback of the XGBoost, LightGBM and MLflow handlers)."""


def dump_model(model: Any, writer: Any) -> None:
    """Write ``model`` to ``MODEL_FILE`` of the package ``writer`` is building."""
    # protocol 5 hands a large buffer (a numpy array's data) to the file in one piece, from
    # the array's own memory; the writer hashes it while writing it
    with writer.open(MODEL_FILE) as f:
        dump(model, f)


def load_model(package_dir: str | Path) -> Any:
    """The model :func:`dump_model` wrote into the package at ``package_dir``."""
    # each large buffer is read once into memory of its own and the arrays are views of it
    return load(Path(package_dir) / MODEL_FILE)


# -- read once, verify and load -------------------------------------------------------------------
KEEP_MIN = 16 * 1024 * 1024
"""Pickles at least this large with an index are read by buffers (no copy) by
``read_verified``; any other pickle is read whole, once."""
PICKLE_SUFFIXES = (".pkl", ".pt", ".pth")
"""Files of a package that are unpickled (cloudpickle, ``torch.load``): ``read_verified``
keeps the bytes it checked for the load, so that nothing changes between check and load."""

_kept: dict[str, tuple[bytearray, list[Any]]] = {}
_kept_lock = threading.Lock()


def read_verified(path: Path, expected: str, algorithm: str = hashing.SHA256) -> str | None:
    """The ``algorithm`` digest (sha256 or BLAKE3) of a pickle file with an index, read in one pass: each large buffer
    straight into memory of its own while a second thread hashes what is read. When the
    checksum is ``expected``, the bytes are kept for the :func:`load` that follows, which
    then reads nothing (and unpickles exactly the bytes that were checked). None for any
    other file (no index, or small): the caller hashes it as usual."""
    with open(hashing.open_regular(path), "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        index = _read_index(f, size) if size >= KEEP_MIN else None
        layout = _layout(f, index) if index is not None else None
        if layout is None:
            if Path(path).suffix not in PICKLE_SUFFIXES:
                return None  # not unpickled by mlreg: read again by its library
            # a pickle without an index: read whole, hash, and unpickle these very bytes
            data = _read(f, 0, size)
            hasher = hashing.new_hasher(algorithm)
            hasher.update(data)
            digest = hasher.hexdigest()
            if digest == expected:
                with _kept_lock:
                    _kept[_key(path)] = (data, [])
            return digest
        assert index is not None
        stream, buffers, _jobs, pieces = layout
        pieces.append(_read(f, index["stop"], size - index["stop"]))  # the index itself
        digest = hashing.fill_and_hash(f.fileno(), pieces, algorithm)
    del pieces, _jobs
    if digest == expected:
        with _kept_lock:
            _kept[_key(path)] = (stream, buffers)
    return digest


def kept_stream(path: str | Path) -> io.BytesIO | None:
    """The bytes :func:`read_verified` just checked for ``path``, as a stream (for a
    library's own unpickler, e.g. ``torch.load``), or None."""
    kept = _take(path)
    if kept is None:
        return None
    stream, buffers = kept
    if buffers:  # read by buffers: not a plain stream; put it back for ``load``
        with _kept_lock:
            _kept[_key(path)] = kept
        return None
    return io.BytesIO(stream)


def drop_kept() -> None:
    """Forget the bytes kept by :func:`read_verified` (only one load is ever pending)."""
    with _kept_lock:
        _kept.clear()


def _take(path: str | Path) -> tuple[bytearray, list[Any]] | None:
    if not _kept:
        return None
    with _kept_lock:
        return _kept.pop(_key(path), None)


def _key(path: str | Path) -> str:
    return os.path.abspath(path)


def _layout(f: Any, index: dict[str, Any]) -> tuple[bytearray, list[Any], list[tuple[memoryview, int]], list[Any]] | None:
    """The pickle stream with each indexed buffer's opcode and data replaced by
    NEXT_BUFFER (and READONLY_BUFFER); a fresh buffer for each, where in the file its data
    is, and the file up to the index as pieces in order (bytes read, or a (view, offset) to
    fill). None when an opcode in front of a buffer is not the one the index says."""
    stream = bytearray()
    found = []
    pieces: list[Any] = []
    pos = 0
    for offset, nbytes, header_len in index["buffers"]:
        part = _read(f, pos, offset - pos)
        header = bytes(part[-header_len:])
        readonly = header[:1] != bytes([_BYTEARRAY8])
        if header != _header(nbytes, readonly):
            return None
        pieces.append(part)
        stream += memoryview(part)[:-header_len]
        stream += _NEXT_BUFFER + (_READONLY_BUFFER if readonly else b"")
        found.append((offset, nbytes))
        pieces.append(len(found) - 1)
        pos = offset + nbytes
    part = _read(f, pos, index["stop"] - pos)
    stream += part
    pieces.append(part)
    buffers = [fileio.fresh_buffer(nbytes) for _offset, nbytes in found]
    jobs = [(memoryview(buf), offset) for buf, (offset, _n) in zip(buffers, found)]
    pieces = [jobs[p] if isinstance(p, int) else p for p in pieces]
    return stream, buffers, jobs, pieces


def _read(f: Any, offset: int, nbytes: int) -> bytearray:
    out = bytearray(nbytes)
    if nbytes:
        fileio.read_exactly(f, offset, memoryview(out))
    return out
