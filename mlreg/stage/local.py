"""A stage directory on a local (or mounted) filesystem."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Iterable, Mapping

from mlreg import _faults
from mlreg.errors import IntegrityError, InvalidInput
from mlreg.fsutil import fsync_dir, mkdirs, no_world_write
from mlreg.package.verify import is_bytecode_cache
from mlreg.package.hashing import NotRegularFile, blake3_path, sha256_path
from mlreg.stage.base import MANIFEST_MAX_BYTES, TMP_PREFIX, Stage, StageEntry, temp_name


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                no_world_write(fd, os.fstat(fd).st_mode)
                os.fsync(fd)
            finally:
                os.close(fd)
        no_world_write(dirpath, os.stat(dirpath).st_mode)
        fsync_dir(Path(dirpath))


class LocalStage(Stage):
    def __init__(self, root: str | Path):
        root = Path(str(root).removeprefix("file://")).expanduser()
        self.root = root
        self.url = str(root)

    def _path(self, package_id: str) -> Path:
        if not package_id or "/" in package_id or package_id.startswith(".") and not package_id.startswith(TMP_PREFIX):
            raise InvalidInput(f"invalid package id {package_id!r}")
        return self.root / package_id

    def uri(self, package_id: str) -> str:
        return str(self._path(package_id))

    def begin(self, package_id: str, owner: str | None = None) -> Path:
        try:
            mkdirs(self.root)
        except OSError as exc:
            raise InvalidInput(f"cannot create stage directory {self.root}: {exc.strerror}") from None
        tmp = self.root / temp_name(package_id, owner)
        tmp.mkdir()
        no_world_write(tmp, tmp.stat().st_mode)
        return tmp

    def publish(self, package_id: str, local_dir: Path, files: dict[str, str]) -> None:
        # the files were hashed as they were written; fsync before the rename makes
        # the rename the single moment the package appears, complete.
        _fsync_tree(local_dir)
        final = self._path(package_id)
        _faults.checkpoint("log:publish")
        os.rename(local_dir, final)
        fsync_dir(self.root)

    def abort(self, package_id: str, local_dir: Path) -> None:
        shutil.rmtree(local_dir, ignore_errors=True)

    def exists(self, package_id: str) -> bool:
        return self._path(package_id).is_dir()

    def local_dir(self, package_id: str, files: dict[str, str], blake3: Mapping[str, str] | None = None) -> Path:
        path = self._path(package_id)
        if not path.is_dir():
            raise IntegrityError(f"model package {path} is missing from the stage")
        return path

    def hashes(self, package_id: str, blake3: Mapping[str, str] | None = None) -> dict[str, str]:
        root = self._path(package_id)
        out: dict[str, str] = {}
        if not root.is_dir():
            return out
        for dirpath, dirs, filenames in os.walk(root):
            # a symbolic link in a package is never what was logged (the writer refuses
            # them): report it as a file of its own that matches no recorded checksum
            for name in filenames + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
                full = Path(dirpath) / name
                if is_bytecode_cache(full):
                    continue  # written by Python when a loaded model imported its code paths
                rel = full.relative_to(root).as_posix()
                if full.is_symlink():
                    out[rel] = f"symlink:{os.readlink(full)}"
                    continue
                try:
                    out[rel] = blake3_path(full) if blake3 and rel in blake3 else sha256_path(full)
                except NotRegularFile as exc:  # a FIFO or a device: never read (it could block)
                    out[rel] = f"special:{exc.kind}"
        return out

    def delete(self, package_id: str) -> None:
        path = self._path(package_id)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()

    def read_manifest(self, package_id: str) -> bytes | None:
        from mlreg.package import MANIFEST

        entry = self.root / package_id
        if "/" in package_id or package_id.startswith(".") or entry.is_symlink() or not entry.is_dir():
            return None
        try:
            # O_NOFOLLOW and O_NONBLOCK: a link or a FIFO named like a manifest is not one
            fd = os.open(entry / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MANIFEST_MAX_BYTES:
                return None
            with os.fdopen(fd, "rb", closefd=False) as f:
                return f.read()
        except OSError:
            return None
        finally:
            os.close(fd)

    def entries(self) -> Iterable[StageEntry]:
        if not self.root.is_dir():
            return []
        out = []
        for child in sorted(self.root.iterdir()):
            out.append(
                StageEntry(
                    name=child.name,
                    uri=str(child),
                    temporary=child.name.startswith(TMP_PREFIX),
                )
            )
        return out
