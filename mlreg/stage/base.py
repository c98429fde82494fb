"""The stage interface: where model packages live.

A stage folder is ``<stage url>/<DATABASE_NAME>/``; a package is a directory named by the
model ID. Several registries may share one folder (two homes with the same database name
and stage): what proves which registry wrote a package is its owner, the registry ID
(``MetadataStore.registry_id()``) in the package's manifest, and in the name of a
temporary directory (``.tmp-<id>-<random>.<registry ID without dashes>``). ``gc`` removes
only entries whose owner is its own registry (see :meth:`Stage.owner`). The registry code
only talks to this interface; a local directory and fsspec URLs (s3://, gs://, ...)
implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

CHUNK = 8 * 1024 * 1024
TMP_PREFIX = ".tmp-"
#: the most a stage reads of a manifest to find its owner
MANIFEST_MAX_BYTES = 16 * 1024 * 1024


def owner_tag(registry_id: str) -> str:
    """How a registry ID appears in a temporary name: lower-case, no dashes."""
    return registry_id.replace("-", "").lower()


def temp_name(package_id: str, owner: str | None) -> str:
    """A fresh temporary name for a package being written, tagged with its owner."""
    import uuid

    return f"{TMP_PREFIX}{package_id}-{uuid.uuid4().hex[:8]}" + (f".{owner_tag(owner)}" if owner else "")


def temp_owner(name: str) -> str | None:
    """The owner tag of a temporary name (None for a name from before registry IDs)."""
    if not name.startswith(TMP_PREFIX) or "." not in name[len(TMP_PREFIX):]:
        return None
    tag = name.rsplit(".", 1)[1]
    return tag if tag and all(c in "0123456789abcdef" for c in tag) else None


def manifest_owner(package_id: str, raw: bytes | None) -> str | None:
    """The registry ID a package's manifest records, when the manifest is one of an mlreg
    package of that ID; None otherwise (not a package, or written before registry IDs)."""
    import json

    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(manifest, dict) or manifest.get("id") != package_id:
        return None
    owner = manifest.get("registry_id")
    return owner if isinstance(owner, str) and owner else None


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
    def begin(self, package_id: str, owner: str | None = None) -> Path:
        """A fresh local directory into which the package is written before publish.
        ``owner``: the registry ID of the registry writing it (tagged on a temporary
        directory left on the stage, so that only that registry's ``gc`` removes it)."""

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

    @abstractmethod
    def read_manifest(self, package_id: str) -> bytes | None:
        """The manifest of the entry ``package_id`` as stored (None when the entry holds
        no regular manifest file of at most MANIFEST_MAX_BYTES); for :meth:`owner`."""

    def owner(self, entry: StageEntry) -> str | None:
        """The owner tag (registry ID without dashes) of an entry, when the entry proves
        it: a temporary name tagged with it, or the manifest of a package of that ID.
        None for anything else: not a package (``.git``, a folder of other data), or a
        package or temporary from before registry IDs. ``gc`` never touches those."""
        if entry.name.startswith(TMP_PREFIX):
            return temp_owner(entry.name)
        if entry.name.startswith(".") or not entry.name:
            return None
        owner = manifest_owner(entry.name, self.read_manifest(entry.name))
        return owner_tag(owner) if owner else None
