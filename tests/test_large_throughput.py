"""The large-model data path (workload 5): a large array is written from its own memory
while a second thread hashes it, and read back once into memory of its own, the array a
view of it. These tests check what that must not change: the bytes, the checksums, the
file a plain ``pickle.load`` reads, old packages, and the refusal of a changed package.
No test here asserts a time."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct

import numpy as np
import pytest

from mlreg.errors import IntegrityError
from mlreg.package import fileio, hashing, pickles
from mlreg.package.writer import LARGE_WRITE, PackageWriter

MiB = 1 << 20


class ArrayModel:
    def __init__(self, **arrays):
        self.__dict__.update(arrays)

    def predict(self, rows):
        return np.asarray(rows, dtype="float64").sum(axis=1, keepdims=True)


def arrays() -> dict[str, object]:
    rng = np.random.default_rng(0)
    big = rng.standard_normal((3 * MiB) // 8 * 4)  # 12 MiB: a write above LARGE_WRITE
    return {
        "big": big,
        "same": big,  # the same object twice: pickled once, a memo reference after
        "readonly": np.frombuffer(rng.bytes(2 * MiB + 3), np.uint8),  # in-band as bytes
        "fortran": np.asfortranarray(rng.standard_normal((512, 600))),
        "strided": big[::3],  # not contiguous: pickled as a copy, not indexed
        "small": np.arange(10),
        "records": np.zeros(100_000, dtype=[("x", "f8"), ("y", "i4")]),
        "text": "x" * (2 * MiB),
        "blob": b"y" * (2 * MiB),
    }


def assert_same(loaded: dict, original: dict, flags: bool = True) -> None:
    """Equal values; and each array with the flags a plain unpickling gives it."""
    plain = pickle.loads(pickle.dumps(original, protocol=5))
    for key, value in original.items():
        got = loaded[key]
        if isinstance(value, np.ndarray):
            assert type(got) is np.ndarray and got.dtype == value.dtype and got.shape == value.shape, key
            assert np.array_equal(got, value), key
            for flag in ("writeable", "c_contiguous", "f_contiguous") if flags else ():
                assert getattr(got.flags, flag) == getattr(plain[key].flags, flag), (key, flag)
        else:
            assert type(got) is type(value) and got == value, key
    assert loaded["same"] is loaded["big"]


def write_pickle(tmp_path, obj) -> tuple:
    writer = PackageWriter(tmp_path / "pkg")
    with writer.open("model/model.pkl") as f:
        pickles.dump(obj, f)
    path = tmp_path / "pkg" / "model" / "model.pkl"
    return writer, path


# -- the file format ------------------------------------------------------------------------------
def test_pickle_with_index_round_trips_and_reads_with_plain_pickle(tmp_path):
    obj = arrays()
    writer, path = write_pickle(tmp_path, obj)
    data = path.read_bytes()
    # the writer's checksum, computed while writing, is the file's
    assert writer.files["model/model.pkl"] == hashlib.sha256(data).hexdigest() == hashing.sha256_path(path)
    # an index follows the pickle: the large in-band buffers, not the strided copy
    with open(path, "rb", buffering=0) as f:
        index = pickles._read_index(f, len(data))
    assert index is not None and len(index["buffers"]) == 4
    assert data.endswith(pickles.INDEX_MAGIC)
    # any reader of pickles reads it as before (pickle stops at STOP)
    assert_same(pickle.loads(data), obj)
    assert_same(pickle.load(io.BytesIO(data)), obj)
    # and the loader gives the same, each large array a view of memory of its own
    loaded = pickles.load(path)
    assert_same(loaded, obj)
    assert loaded["big"].base is not None and not np.shares_memory(loaded["big"], loaded["fortran"])
    loaded["big"][0] = 42.0  # writable, as an unpickled array is
    assert loaded["same"][0] == 42.0


def test_small_pickles_get_no_index(tmp_path):
    import cloudpickle

    obj = {"a": np.ones(1000), "b": b"x" * 100}
    _writer, path = write_pickle(tmp_path, obj)
    assert path.read_bytes() == cloudpickle.dumps(obj, protocol=5)  # exactly as before
    assert pickles.load(path)["b"] == b"x" * 100


def test_a_plain_pickle_loads(tmp_path):
    """Packages written before the index (a plain cloudpickle file) load as before."""
    import cloudpickle

    obj = arrays()
    path = tmp_path / "old.pkl"
    path.write_bytes(cloudpickle.dumps(obj, protocol=5))
    assert_same(pickles.load(path), obj)
    path.write_bytes(cloudpickle.dumps(obj, protocol=4))
    assert_same(pickles.load(path), obj, flags=False)  # protocol 4 has no read-only buffers


@pytest.mark.parametrize("damage", ["offset", "length", "stop", "json", "magic", "header"])
def test_a_wrong_index_falls_back_to_a_plain_load(tmp_path, damage):
    """The index is checked against the opcodes it points at; a wrong one is not used
    (a changed package never gets this far: its checksum no longer matches)."""
    obj = {"big": np.arange(MiB, dtype="f8"), "x": 1}
    _writer, path = write_pickle(tmp_path, obj)
    data = path.read_bytes()
    tail = pickles._TRAILER.size
    (length, _magic) = pickles._TRAILER.unpack(data[-tail:])
    body, index = data[: -tail - length], json.loads(data[-tail - length: -tail])
    if damage == "offset":
        index["buffers"][0][0] += 8
    elif damage == "length":
        index["buffers"][0][1] -= 8
    elif damage == "stop":
        index["stop"] -= 1
    elif damage == "header":
        index["buffers"][0][2] = 5
    raw = json.dumps(index).encode()
    if damage == "json":
        raw = b"{not json"
    trailer = struct.pack("<Q16s", len(raw), pickles.INDEX_MAGIC if damage != "magic" else b"x" * 16)
    path.write_bytes(body + raw + trailer)
    loaded = pickles.load(path)
    assert np.array_equal(loaded["big"], obj["big"]) and loaded["x"] == 1


# -- the writer -------------------------------------------------------------------------------------
def test_large_writes_are_hashed_and_positioned_like_small_ones(tmp_path):
    rng = np.random.default_rng(1)
    big = rng.standard_normal(LARGE_WRITE // 8 + 12345)
    fortran = np.asfortranarray(rng.standard_normal((700, 2000)))  # > LARGE_WRITE
    pieces = [b"head", pickle.PickleBuffer(big), b"mid" * 1000, memoryview(fortran.T),  # C-contiguous
              pickle.PickleBuffer(fortran), memoryview(np.ascontiguousarray(big[::2])), bytearray(b"tail")]
    expected = hashlib.sha256()
    writer = PackageWriter(tmp_path / "pkg")
    with writer.open("data.bin") as f:
        for piece in pieces:
            raw = piece.raw() if isinstance(piece, pickle.PickleBuffer) else memoryview(piece)
            assert f.write(piece) == raw.nbytes
            expected.update(raw)
    data = (tmp_path / "pkg" / "data.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == expected.hexdigest() == writer.files["data.bin"]


def test_buffered_position_after_a_large_write(tmp_path):
    writer = PackageWriter(tmp_path / "pkg")
    big = np.ones(LARGE_WRITE // 8 + 1)
    with writer.open("f.bin") as f:
        f.write(b"abc")
        f.write(pickle.PickleBuffer(big))
        assert f._f.tell() == 3 + big.nbytes
        f.write(b"xyz")
    data = (tmp_path / "pkg" / "f.bin").read_bytes()
    assert len(data) == 6 + big.nbytes and data[:3] == b"abc" and data[-3:] == b"xyz"


@pytest.mark.parametrize("size", [0, 1, hashing.CHUNK - 1, hashing.CHUNK, 3 * hashing.CHUNK, 3 * hashing.CHUNK + 7])
def test_sha256_path(tmp_path, size):
    data = np.random.default_rng(size).bytes(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hashing.sha256_path(path) == hashlib.sha256(data).hexdigest()


def test_fill_splits_reads_and_reports_a_short_file(tmp_path):
    data = np.random.default_rng(2).bytes(40 * MiB + 16)
    path = tmp_path / "f"
    path.write_bytes(data)
    bufs = [fileio.fresh_buffer(n) for n in (3, 30 * MiB, 10 * MiB)]
    offsets = [0, 7, 30 * MiB + 7]
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        fileio.fill(fd, [(memoryview(b), o) for b, o in zip(bufs, offsets)])
        for b, o in zip(bufs, offsets):
            assert bytes(b) == data[o:o + len(b)]
        with pytest.raises(EOFError):
            fileio.fill(fd, [(memoryview(fileio.fresh_buffer(40 * MiB)), 100)])
    finally:
        os.close(fd)


@pytest.mark.parametrize("algorithm", [hashing.SHA256, hashing.BLAKE3])
def test_fill_and_hash_fills_every_block_and_hashes_in_order(tmp_path, monkeypatch, algorithm):
    import os
    import threading

    monkeypatch.setattr(hashing, "FILL_BLOCK", 1 * MiB + 5)  # many blocks, none aligned
    data = np.random.default_rng(3).bytes(9 * MiB)
    path = tmp_path / "f"
    path.write_bytes(data)
    views = [memoryview(fileio.fresh_buffer(n)) for n in (4 * MiB + 3, 3 * MiB)]
    offsets = [11, 5 * MiB]
    pieces = [b"head", (views[0], offsets[0]), b"middle", (views[1], offsets[1]), b"tail"]
    expected = hashing.new_hasher(algorithm)
    expected.update(b"head" + data[11:11 + 4 * MiB + 3] + b"middle" + data[5 * MiB:8 * MiB] + b"tail")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert hashing.fill_and_hash(fd, pieces, algorithm) == expected.hexdigest()
        assert bytes(views[0]) == data[11:11 + 4 * MiB + 3] and bytes(views[1]) == data[5 * MiB:8 * MiB]
        # the file ends inside the last block: EOFError, and no reader is left behind
        with pytest.raises(EOFError, match="bytes early"):
            hashing.fill_and_hash(fd, [(memoryview(fileio.fresh_buffer(6 * MiB)), 4 * MiB)], algorithm)
        assert not [t for t in threading.enumerate() if t.name == "mlreg-read"]
    finally:
        os.close(fd)


# -- through the registry ------------------------------------------------------------------------------
def test_log_and_load_a_large_model(registry):
    model = ArrayModel(**arrays())
    mid = registry.log_model(model, "big", "1", sample_input_data=np.ones((2, 3)))
    pkl = registry.stage.root / mid / "model" / "model.pkl"
    assert pkl.read_bytes().endswith(pickles.INDEX_MAGIC)
    assert [r.ok for r in registry.verify()] == [True]
    loaded = registry.load_model("big", "1")
    assert_same(loaded.__dict__, model.__dict__)


def test_a_package_written_without_the_index_still_loads(registry, monkeypatch):
    """A package logged by an earlier mlreg (a plain cloudpickle file) loads as before."""
    import cloudpickle

    def old_dump(model, writer):
        with writer.open(pickles.MODEL_FILE) as f:
            cloudpickle.dump(model, f, protocol=5)

    monkeypatch.setattr(pickles, "dump_model", old_dump)
    model = ArrayModel(**arrays())
    mid = registry.log_model(model, "old", "1", sample_input_data=np.ones((2, 3)))
    assert not (registry.stage.root / mid / "model" / "model.pkl").read_bytes().endswith(pickles.INDEX_MAGIC)
    monkeypatch.undo()
    assert_same(registry.load_model("old", "1").__dict__, model.__dict__)


@pytest.mark.parametrize("where", ["payload", "index", "pickle"])
def test_a_changed_large_package_is_refused(registry, where):
    model = ArrayModel(**arrays())
    mid = registry.log_model(model, "big", "1", sample_input_data=np.ones((2, 3)))
    pkl = registry.stage.root / mid / "model" / "model.pkl"
    data = bytearray(pkl.read_bytes())
    at = {"payload": len(data) // 2, "index": len(data) - pickles._TRAILER.size - 3, "pickle": 20}[where]
    data[at] ^= 0x01
    pkl.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"changed: model/model.pkl"):
        registry.load_model("big", "1")


# -- verify and load in one read (verify_dir(keep=True)) -------------------------------------------------
def test_verify_keep_then_load_reads_the_file_once_and_unpickles_the_checked_bytes(tmp_path, monkeypatch):
    from mlreg.package.verify import verify_dir

    obj = {"big": np.arange(3 * MiB, dtype="f8"), "x": "y"}
    writer, path = write_pickle(tmp_path, obj)
    pkg = tmp_path / "pkg"
    verify_dir(pkg, writer.files, "m/1", keep=True)
    # the file changes after it was checked: the load still gets what was checked, and
    # does not read the file again
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setattr(fileio, "fill", lambda *a: pytest.fail("the file was read again"))
    loaded = pickles.load(path)
    assert np.array_equal(loaded["big"], obj["big"]) and loaded["x"] == "y"
    assert loaded["big"].flags.writeable
    # kept once: a second load reads the (now changed) file again
    monkeypatch.undo()
    assert not np.array_equal(pickles.load(path)["big"], obj["big"])


def test_verify_keep_refuses_a_changed_file_and_keeps_nothing(tmp_path):
    from mlreg.package.verify import verify_dir

    obj = {"big": np.arange(3 * MiB, dtype="f8")}
    writer, path = write_pickle(tmp_path, obj)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="changed: model/model.pkl"):
        verify_dir(tmp_path / "pkg", writer.files, "m/1", keep=True)
    assert not pickles._kept


def test_verify_keep_keeps_nothing_when_another_file_fails(tmp_path):
    from mlreg.package.verify import verify_dir

    writer, _path = write_pickle(tmp_path, {"big": np.arange(3 * MiB, dtype="f8")})
    expected = dict(writer.files, **{"env/requirements.txt": "0" * 64})
    with pytest.raises(IntegrityError, match="missing: env/requirements.txt"):
        verify_dir(tmp_path / "pkg", expected, "m/1", keep=True)
    assert not pickles._kept


def test_verify_keep_hashes_every_kind_of_file(tmp_path):
    """keep=True gives the same verdicts: plain files, small pickles, pickles without an index."""
    import cloudpickle

    from mlreg.package.verify import verify_dir

    writer = PackageWriter(tmp_path / "pkg")
    with writer.open("model/model.pkl") as f:
        pickles.dump({"big": np.arange(3 * MiB, dtype="f8")}, f)
    with writer.open("model/old.pkl") as f:
        f.write(cloudpickle.dumps({"big": np.arange(3 * MiB, dtype="f8")}, protocol=5))
    writer.write_text("env/requirements.txt", "numpy\n")
    verify_dir(tmp_path / "pkg", writer.files, "m/1", keep=True)
    pickles.drop_kept()


def test_the_crash_checkpoint_fires_during_a_large_write(tmp_path, monkeypatch):
    """The crash tests kill `mlreg log` "while serializing, after the first MiB": a large
    write (here one going around the page cache) reaches that checkpoint too."""
    from mlreg import _faults
    from mlreg.package import writer as writer_mod

    seen = []
    monkeypatch.setattr(_faults, "ARMED", "log:serialize")
    monkeypatch.setattr(_faults, "checkpoint", lambda name: seen.append(name))
    big = np.random.default_rng(3).bytes(fileio.DIRECT_MIN + 3 * fileio.DIRECT_CHUNK + 123)
    w = PackageWriter(tmp_path / "pkg")
    with w.open("f.bin") as f:
        f.write(b"x" * 5)
        f.write(big)
    assert seen and set(seen) == {"log:serialize"}
    assert (tmp_path / "pkg" / "f.bin").read_bytes() == b"x" * 5 + big
    assert w.files["f.bin"] == hashlib.sha256(b"x" * 5 + big).hexdigest()
    assert writer_mod.LARGE_WRITE <= fileio.DIRECT_MIN


@pytest.mark.parametrize("offset", [0, 1, 4097])
@pytest.mark.parametrize("refuse_direct", [False, True])
def test_write_all_at_any_offset_with_or_without_o_direct(tmp_path, monkeypatch, offset, refuse_direct):
    import errno
    import fcntl
    import os

    if refuse_direct:  # a filesystem that takes the O_DIRECT flag but refuses the writes
        real = os.pwrite

        def pwrite(fd, data, at):
            if hasattr(os, "O_DIRECT") and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                raise OSError(errno.EINVAL, "refused")
            return real(fd, data, at)

        monkeypatch.setattr(fileio.os, "pwrite", pwrite)
    data = np.random.default_rng(offset).bytes(fileio.DIRECT_MIN + fileio.DIRECT_CHUNK + 777)
    path = tmp_path / "f.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"h" * offset)
        fileio.write_all(fd, memoryview(data), offset)
        assert os.lseek(fd, 0, os.SEEK_CUR) == offset + len(data)
        os.write(fd, b"END")
        assert not (hasattr(os, "O_DIRECT") and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"h" * offset + data + b"END"
