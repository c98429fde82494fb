"""The local download cache of remote stages: files keyed by their sha256.

    <root>/blobs/ab/abcdef...      one file per content hash (the only thing that counts
                                   toward the size cap)
    <root>/packages/<id>-<key>/    a package as a directory of hard links to blobs,
                                   which is what ``Stage.local_dir`` returns
    <root>/tmp/                    downloads in flight and packages being written

``<root>`` is ``$MLREG_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlreg``, else ``~/.cache/mlreg``.
The size cap is ``$MLREG_CACHE_MAX_BYTES`` (default 5 GiB; ``K``/``M``/``G``/``T`` suffixes
are binary multiples); the least recently used blobs go first. A blob is hashed again
every time it is used, and a bad one is dropped and fetched anew, so a cache that was
tampered with or truncated never reaches a model loader.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Mapping

from mlreg.errors import IntegrityError, InvalidInput
from mlreg.package.hashing import blake3_path
from mlreg.stage.base import sha256_file

DEFAULT_MAX_BYTES = 5 * 1024**3
STALE_TMP_SECONDS = 24 * 3600
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("MLREG_CACHE_DIR"):
        return Path(env["MLREG_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mlreg"


def max_bytes(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    raw = env.get("MLREG_CACHE_MAX_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    text = raw.upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    number = text[: len(text) - len(unit)].strip()
    try:
        value = int(float(number) * _UNITS[unit])
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInput(f"MLREG_CACHE_MAX_BYTES must be a size in bytes such as 5368709120 or 5G, not {raw!r}")
    return value


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class Cache:
    def __init__(self, root: Path | None = None, limit: int | None = None):
        self.root = Path(root) if root is not None else cache_root()
        self.limit = max_bytes() if limit is None else limit

    # -- layout -------------------------------------------------------------------------
    def blob_path(self, sha: str) -> Path:
        if not _is_sha256(sha):
            raise IntegrityError(f"invalid sha256 {sha!r} recorded for a package file")
        return self.root / "blobs" / sha[:2] / sha

    def tmp_dir(self) -> Path:
        path = self.root / "tmp"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot create cache directory {path}: {exc.strerror}") from None
        return path

    # -- blobs ----------------------------------------------------------------------------
    def lookup(self, sha: str, blake3: str | None = None) -> Path | None:
        """The blob for ``sha`` if it is cached and still hashes to ``sha`` (checked with
        its BLAKE3 digest instead when the caller knows it: several times faster); else None."""
        path = self.blob_path(sha)
        try:
            if not path.is_file() or path.is_symlink():
                return None
            if (blake3_path(path) != blake3) if blake3 else (sha256_file(path) != sha):
                path.unlink()
                return None
            os.utime(path)  # last use, for LRU eviction
        except OSError:
            return None
        return path

    def store(self, sha: str, chunks: Iterable[bytes], what: str) -> Path:
        """Write ``chunks`` to the blob of ``sha``, hashing as they arrive; a mismatch
        raises IntegrityError and leaves nothing behind."""
        h = hashlib.sha256()

        def write(tmp: Path) -> str:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
            return h.hexdigest()

        return self._fill(sha, write, what)

    def store_file(self, sha: str, fetch: Callable[[Path], None], what: str) -> Path:
        """``fetch(path)`` writes the file to ``path``; then it is hashed and becomes the blob
        of ``sha``, as with ``store`` (a mismatch raises IntegrityError and leaves nothing)."""

        def write(tmp: Path) -> str:
            fetch(tmp)
            return sha256_file(tmp)

        return self._fill(sha, write, what)

    def _fill(self, sha: str, write: Callable[[Path], str], what: str) -> Path:
        """``write(path)`` fills a temporary file and returns its sha256; the file becomes
        the blob of ``sha`` if that is its digest, else IntegrityError and nothing is left."""
        tmp = self.tmp_dir() / f"dl-{uuid.uuid4().hex}"
        try:
            if write(tmp) != sha:
                raise IntegrityError(
                    f"{what} does not match the sha256 recorded when it was logged; "
                    "it was changed on the stage, refusing to use it"
                )
            return self._install(tmp, sha)
        finally:
            tmp.unlink(missing_ok=True)

    def adopt(self, sha: str, path: Path) -> None:
        """Move a local file already known to hash to ``sha`` into the cache (after an
        upload, so that loading right after logging needs no download)."""
        try:
            if not self.blob_path(sha).exists():
                self._install(path, sha)
        except OSError:
            pass  # a cache is an optimisation: never fail a publish over it

    def _install(self, src: Path, sha: str) -> Path:
        dest = self.blob_path(sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(src, 0o444)
        os.replace(src, dest)
        return dest

    # -- package views --------------------------------------------------------------------
    def view(self, package_id: str, blobs: Mapping[str, Path]) -> Path:
        """A directory holding ``{relpath: blob}`` as hard links (copies where links are
        not possible), reused while it still points at the same blobs."""
        key = hashlib.sha256(json.dumps({k: str(v.name) for k, v in sorted(blobs.items())}).encode()).hexdigest()[:12]
        final = self.root / "packages" / f"{package_id}-{key}"
        if self._view_ok(final, blobs):
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        building = self.tmp_dir() / f"view-{uuid.uuid4().hex}"
        for rel, blob in blobs.items():
            target = building / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(blob, target)
            except OSError:
                shutil.copyfile(blob, target)
        if final.exists():
            trash = self.tmp_dir() / f"old-{uuid.uuid4().hex}"
            try:
                os.rename(final, trash)
            except OSError:
                pass
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(building, final)
        except OSError:  # another process built it meanwhile
            shutil.rmtree(building, ignore_errors=True)
            if not self._view_ok(final, blobs):
                raise
        return final

    @staticmethod
    def _view_ok(view: Path, blobs: Mapping[str, Path]) -> bool:
        try:
            return view.is_dir() and all(os.path.samefile(view / rel, blob) for rel, blob in blobs.items())
        except OSError:
            return False

    # -- eviction -------------------------------------------------------------------------
    def evict(self, keep: Iterable[Path] = (), now: float | None = None) -> None:
        """Drop least recently used blobs until the cache fits its cap (never those in
        ``keep``), package views that lost a blob, and downloads abandoned a day ago."""
        now = time.time() if now is None else now
        keep_set = {Path(p) for p in keep}
        blobs = []
        for path in (self.root / "blobs").glob("*/*"):
            try:
                st = path.stat()
            except OSError:
                continue
            blobs.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in blobs)
        for _mtime, size, path in sorted(blobs, key=lambda b: b[0]):
            if total <= self.limit:
                break
            if path in keep_set:
                continue
            try:
                path.unlink()
                total -= size
            except OSError:
                pass
        self._prune_views()
        self._prune_tmp(now)

    def _prune_views(self) -> None:
        views = self.root / "packages"
        if not views.is_dir():
            return
        for view in views.iterdir():
            for dirpath, _dirs, names in os.walk(view):
                # a view file with a single link is no longer backed by a blob
                if any(os.lstat(os.path.join(dirpath, n)).st_nlink == 1 for n in names):
                    shutil.rmtree(view, ignore_errors=True)
                    break

    def _prune_tmp(self, now: float) -> None:
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        for entry in tmp.iterdir():
            try:
                if now - entry.stat().st_mtime < STALE_TMP_SECONDS:
                    continue
            except OSError:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
