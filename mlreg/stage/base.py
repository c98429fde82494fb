"""The stage interface: where model packages live.

A stage is scoped to one registry (``<stage url>/<DATABASE_NAME>/``) so that `gc`
of one registry never touches another's packages. A package is a directory named
by the model ID. The registry code only talks to this interface; a local
directory and fsspec URLs (s3://, gs://, ...) implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

CHUNK = 8 * 1024 * 1024
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class StageEntry:
    """A top-level entry of the stage: a published package or a leftover temporary."""

    name: str  # the model ID, or a temporary name starting with TMP_PREFIX
    uri: str
    temporary: bool
    size: int | None = None


def sha256_file(path: Path) -> str:
    """The sha256 of a local file (reading overlapped with hashing for large ones)."""
    from mlreg.package.hashing import sha256_path

    return sha256_path(path)


class Stage(ABC):
    """Where packages are stored. Implementations must make ``publish`` atomic:
    a package is either entirely visible under its ID or not at all."""

    url: str

    @abstractmethod
    def uri(self, package_id: str) -> str:
        """The URI recorded in the registry for a package."""

    @abstractmethod
    def begin(self, package_id: str) -> Path:
        """A fresh local directory into which the package is written before publish."""

    @abstractmethod
    def publish(self, package_id: str, local_dir: Path, files: dict[str, str]) -> None:
        """Make the package visible under its ID, all or nothing. ``files`` maps each
        relative path to its sha256 (computed while writing) for the stage to check."""

    @abstractmethod
    def abort(self, package_id: str, local_dir: Path) -> None:
        """Throw away an unpublished package."""

    @abstractmethod
    def exists(self, package_id: str) -> bool:
        """Whether a published package of that ID is present."""

    @abstractmethod
    def local_dir(self, package_id: str, files: dict[str, str], blake3: Mapping[str, str] | None = None) -> Path:
        """A local directory holding the package's files (the package itself for a local
        stage; a verified cache copy for a remote one: files already cached are checked
        with their BLAKE3 where ``blake3`` names them, else their sha256). Callers verify
        before use."""

    @abstractmethod
    def hashes(self, package_id: str, blake3: Mapping[str, str] | None = None) -> dict[str, str]:
        """The checksum of every file the stage holds for the package (for `verify`): its
        BLAKE3 when ``blake3`` (the package's recorded BLAKE3 digests) names the file, its
        sha256 otherwise."""

    @abstractmethod
    def delete(self, package_id: str) -> None:
        """Remove a package (published or temporary). Missing is not an error."""

    @abstractmethod
    def entries(self) -> Iterable[StageEntry]:
        """Every top-level entry, published or temporary (for `gc`)."""

    def delete_entry(self, entry: StageEntry) -> None:
        self.delete(entry.name)
