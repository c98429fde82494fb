"""Write a package directory, hashing every file (sha256 and BLAKE3) as it is written."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO

from mlreg import _faults
from mlreg.errors import InvalidInput
from mlreg.package import MANIFEST, fileio
from mlreg.package.hashing import (
    BLAKE3, NotRegularFile, blake3_path, new_hasher, open_regular, sha256_path, update_overlapped,
)

LARGE_WRITE = 8 * 1024 * 1024
"""A write of at least this many bytes (a large array's data, which the pickler hands
over in one piece) is hashed in a second thread while this one writes it to the file."""


class _Hashes:
    """sha256 and BLAKE3 of the same bytes, fed together."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.blake3 = new_hasher(BLAKE3)

    def update(self, data: Any) -> None:
        self.sha256.update(data)
        self.blake3.update(data)


class _HashingFile:
    """A write-only binary file that hashes what passes through it."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self._h = _Hashes()
        self._written = 0

    def write(self, data: Any) -> int:
        view = data.raw() if isinstance(data, pickle.PickleBuffer) else memoryview(data)
        if view.nbytes >= LARGE_WRITE and view.c_contiguous and hasattr(self._f, "fileno"):
            return self._write_large(view.cast("B"))
        self._h.update(data)
        n = self._f.write(data)
        if _faults.ARMED:  # crash tests: die mid-file, once some bytes are on disk
            self._fault_check(n)
        return n

    def _fault_check(self, n: int) -> None:
        self._written += n
        if self._written > 1 << 20:
            self._f.flush()
            _faults.checkpoint("log:serialize")

    def _write_large(self, view: memoryview) -> int:
        """Write the caller's memory (a large array's data, no copy of it is made) with
        ``fileio.write_all`` (around the page cache, straight to the disk) while a second
        thread hashes the same memory: hashing, writing and the disk overlap, and the fsync
        before publishing finds little left to do. Returns when all is written and hashed."""
        self._f.flush()
        fd = self._f.fileno()
        start = os.lseek(fd, 0, os.SEEK_CUR)

        def after(pos: int) -> None:  # crash tests: die mid-file, once some bytes are on disk
            if self._written + pos > 1 << 20:
                _faults.checkpoint("log:serialize")

        armed = after if _faults.ARMED else None
        update_overlapped(self._h, view, lambda: fileio.write_all(fd, view, start, armed))
        self._f.seek(start + view.nbytes)  # keep the buffered file's idea of the position
        self._written += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._f.flush()

    def __enter__(self) -> "_HashingFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()

    @property
    def hexdigest(self) -> str:
        return self._h.sha256.hexdigest()

    @property
    def blake3_hexdigest(self) -> str:
        return self._h.blake3.hexdigest()


class PackageWriter:
    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, str] = {}  # relative path -> sha256
        self.blake3: dict[str, str] = {}  # relative path -> BLAKE3-256

    def _target(self, relpath: str) -> Path:
        p = Path(relpath)
        if p.is_absolute() or ".." in p.parts:
            raise InvalidInput(f"package path {relpath!r} escapes the package")
        target = self.root / p
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def open(self, relpath: str) -> "_Recorder":
        return _Recorder(self, relpath, open(self._target(relpath), "wb"))

    def path(self, relpath: str) -> Path:
        """A path for a framework to save to; call :meth:`add_file` afterwards."""
        return self._target(relpath)

    def add_file(self, relpath: str) -> None:
        rel = Path(relpath).as_posix()
        self.files[rel] = sha256_path(self.root / relpath)
        self.blake3[rel] = blake3_path(self.root / relpath)

    def add_tree(self, relpath: str) -> None:
        """Record every file a framework wrote under ``relpath``."""
        base = self.root / relpath
        for dirpath, _dirs, names in os.walk(base):
            for name in names:
                full = Path(dirpath) / name
                self.add_file(full.relative_to(self.root).as_posix())

    def write_text(self, relpath: str, text: str) -> None:
        with self.open(relpath) as f:
            f.write(text.encode("utf-8"))

    def copy_tree(self, src: Path, dest: str) -> None:
        """Copy a directory (or file) into the package. Symlinks are refused: a link could
        smuggle files from outside the tree the user named."""
        src = Path(src)
        if src.is_symlink():
            raise InvalidInput(f"code path {src} is a symbolic link; name the real directory")
        if src.is_file():
            self._copy_file(src, f"{dest}/{src.name}" if dest else src.name)
            return
        if not src.is_dir():
            raise InvalidInput(f"code path {src} does not exist")
        for dirpath, dirs, names in os.walk(src):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for d in dirs:
                if (Path(dirpath) / d).is_symlink():
                    raise InvalidInput(f"code path {src} contains a symbolic link: {Path(dirpath) / d}")
            for name in names:
                full = Path(dirpath) / name
                if full.is_symlink():
                    raise InvalidInput(f"code path {src} contains a symbolic link: {full}")
                if name.endswith(".pyc"):
                    continue
                rel = full.relative_to(src).as_posix()
                self._copy_file(full, f"{dest}/{rel}")

    def _copy_file(self, src: Path, relpath: str) -> None:
        try:
            fd = open_regular(src)  # a FIFO or a device would block, or never end
        except NotRegularFile as exc:
            raise InvalidInput(f"code path file {src} is a {exc.kind}, not a regular file") from None
        with open(fd, "rb") as fin, self.open(relpath) as fout:
            while chunk := fin.read(1024 * 1024):
                fout.write(chunk)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest = dict(manifest, files=dict(sorted(self.files.items())), blake3=dict(sorted(self.blake3.items())))
        text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=True)
        self.write_text(MANIFEST, text + "\n")


class _Recorder(_HashingFile):
    def __init__(self, writer: PackageWriter, relpath: str, f: BinaryIO):
        super().__init__(f)
        self._writer = writer
        self._relpath = Path(relpath).as_posix()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._writer.files[self._relpath] = self.hexdigest
        self._writer.blake3[self._relpath] = self.blake3_hexdigest
