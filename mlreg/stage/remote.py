"""Remote stages through fsspec: ``s3://``, ``gs://``, ``az://``/``abfs://``, ``sftp://``, ``file://``.

Publishing on an object store. Object stores have no rename, and a server-side copy
of a large package would double its upload time, so a package is uploaded straight
to its final keys and becomes *published* only when its commit marker is written::

    <stage>/<id>/MANIFEST.json, model/..., ...   data files, streamed and hashed on the fly
    <stage>/<id>/.mlreg-commit.json              written last: {"files": {path: {sha256, size}}}

``exists(id)`` is true only when the marker exists, so an upload that stopped half way
never looks published. ``entries()`` reports a ``<id>/`` prefix without a marker as
*temporary*, which is what ``gc`` removes; ``delete`` removes the marker first, so a
half-deleted package is never taken for a whole one, and ``delete_entry`` re-checks a
temporary entry so that ``gc`` spares an upload that completed after it listed the stage.
A retried publish of the same ID first clears that ID's leftovers.

On SFTP the same layout is plain files and directories. Downloads go to the sha256-keyed
cache of ``mlreg.stage.cache``; ``local_dir`` returns a directory of verified cached
files. Credentials come from where the filesystem library looks for them (environment,
AWS profile, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING, ~/.ssh, ...)
or from ``stage_options``; they are never recorded in the registry or shown in a message.
What differs per scheme is in ``mlreg.stage.backends``; how a failure reads, in
``mlreg.stage.failures``.
"""

from __future__ import annotations

import functools
import json
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from mlreg import _faults
from mlreg.errors import AlreadyExists, IntegrityError, InvalidInput, MissingDependency, MlregError
from mlreg.package import MANIFEST
from mlreg.redaction import secrets_of, url_without_password
from mlreg.stage import failures, progress, transfer
from mlreg.stage.backends import BACKENDS, DIRECTORIES, backend, import_backend, make_filesystem
from mlreg.stage.base import MANIFEST_MAX_BYTES, TMP_PREFIX, Stage, StageEntry
from mlreg.stage.cache import Cache

COMMIT = ".mlreg-commit.json"


def open_remote_stage(url: str, options: Mapping[str, Any]) -> Stage:
    """The stage at an fsspec URL; ``options`` (``stage_options``) go to the filesystem."""
    shown = url_without_password(url)
    if "://" not in url:
        raise InvalidInput(f"stage URL {shown!r} is not of the form scheme://location")
    scheme = url.split("://", 1)[0].lower()
    fsspec = import_backend(scheme, f"stage {shown}")
    if scheme not in BACKENDS and scheme not in fsspec.available_protocols():
        raise InvalidInput(f"unsupported stage URL scheme {scheme}:// (use s3, gs, az, abfs, sftp or file)")
    secrets = secrets_of(options, url)
    if backend(scheme).container and not urlsplit(url).netloc.rpartition("@")[2]:
        raise InvalidInput(f"stage URL {shown} names no {backend(scheme).container}")
    stage = RemoteStage(None, "", shown, scheme, secrets)
    try:
        with stage._errors("connecting to the stage"):
            fs, path = make_filesystem(fsspec, scheme, url, options)
            stage._reconnect = lambda: make_filesystem(fsspec, scheme, url, options)[0]
    except ImportError as exc:
        extra = backend(scheme).extra
        if extra:
            raise MissingDependency(f"stage {shown}", extra) from None
        raise MlregError(f"stage {shown} needs a package that is not installed: {exc}") from None
    except (TypeError, ValueError) as exc:
        detail = failures.first_line(stage._redact(str(exc))) or type(exc).__name__
        raise InvalidInput(f"bad stage_options or URL for stage {shown}: {detail}") from None
    stage.fs, stage.root = fs, str(path).rstrip("/")
    if backend(scheme).container and not stage.root.split("/", 1)[0]:
        raise InvalidInput(f"stage URL {shown} names no {backend(scheme).container}")
    return stage


class RemoteStage(Stage):
    def __init__(self, fs: Any, root: str, url: str, scheme: str, secrets: Iterable[str] = ()):
        self._fs = fs
        self.root = root
        self.url = url
        self.scheme = scheme
        self._secrets = list(secrets)
        self._cache: Cache | None = None
        self._unreachable = False  # the last failure: the service could not be reached
        self._reconnect: Callable[[], Any] | None = None  # a new filesystem after a lost connection

    @property
    def fs(self) -> Any:
        if self._fs is None and self._reconnect is not None:
            self._fs = self._reconnect()
        return self._fs

    @fs.setter
    def fs(self, value: Any) -> None:
        self._fs = value

    def __repr__(self) -> str:
        return f"RemoteStage({self.url!r})"

    # -- names -----------------------------------------------------------------------------
    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache()
        return self._cache

    def _check_id(self, package_id: str) -> str:
        if not package_id or "/" in package_id or "\\" in package_id or (
            package_id.startswith(".") and not package_id.startswith(TMP_PREFIX)
        ):
            raise InvalidInput(f"invalid package id {package_id!r}")
        return package_id

    def _key(self, package_id: str, rel: str = "") -> str:
        base = f"{self.root}/{self._check_id(package_id)}"
        return f"{base}/{rel}" if rel else base

    @staticmethod
    def _check_rel(rel: str) -> str:
        p = PurePosixPath(rel)
        if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel or rel == COMMIT:
            raise IntegrityError(f"invalid file name {rel!r} in a model package")
        return p.as_posix()

    def uri(self, package_id: str) -> str:
        return f"{self.url}/{self._check_id(package_id)}"

    # -- errors -----------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except MlregError:
            raise
        except Exception as exc:
            if self._fs is None and self._reconnect is None and isinstance(exc, (TypeError, ValueError, ImportError)):
                raise  # bad stage_options: open_remote_stage says so
            error = self._translate(exc, action)
            self._unreachable = getattr(error, "unreachable", False)
            if self._unreachable and self._reconnect is not None:
                self._fs = None  # an SFTP connection, once lost, stays lost: open a new one next time
            raise error from exc

    @property
    def _container(self) -> str | None:
        if not backend(self.scheme).container or not self.root:
            return None
        return self.root.split("/", 1)[0]

    def _container_exists(self) -> bool | None:
        """Whether the bucket or container exists; None when that cannot be told."""
        if self._fs is None:
            return None
        try:
            self._fs.info(self._container)
        except FileNotFoundError:
            return False
        except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
            return None  # the original error stands
        return True

    def _translate(self, exc: BaseException, action: str) -> MlregError:
        parts = urlsplit(self.url)
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        where = failures.Where(url=self.url, host=host, container=self._container,
                               container_kind=backend(self.scheme).container,
                               credentials=backend(self.scheme).credentials, redact=self._redact,
                               container_exists=self._container_exists)
        return failures.translate(exc, action, where)

    # -- listing --------------------------------------------------------------------------------
    def _find(self, path: str) -> dict[str, int]:
        """Every file under ``path`` -> size (missing path -> empty)."""
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(path, detail=True)
        except FileNotFoundError as exc:
            text = str(exc).lower()
            if self._container and ("bucket" in text or "container" in text):
                raise
            return {}
        prefix = path.rstrip("/") + "/"
        return {
            name: int(info.get("size") or 0)
            for name, info in found.items()
            if name.startswith(prefix) and info.get("type", "file") != "directory"
        }

    def _marker(self, package_id: str) -> dict[str, Any] | None:
        try:
            raw = transfer.read_small(self.fs, self._key(package_id, COMMIT))
        except FileNotFoundError:
            return None
        try:
            marker = json.loads(raw)
            files = {self._check_rel(rel): (str(v["sha256"]), int(v["size"])) for rel, v in marker["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise IntegrityError(f"the commit marker of model package {self.uri(package_id)} is corrupt") from None
        return {"files": files}

    def exists(self, package_id: str) -> bool:
        # one GET of the small marker: ``fs.exists`` costs s3fs a HEAD and a LIST
        with self._errors("checking a package"):
            try:
                transfer.read_small(self.fs, self._key(package_id, COMMIT))
            except FileNotFoundError:
                return False
            return True

    def entries(self) -> Iterable[StageEntry]:
        with self._errors("listing the stage"):
            found = self._find(self.root)
            if not found and self._container and self._container_exists() is False:
                kind = backend(self.scheme).container
                raise MlregError(f"{kind} {self._container!r} of stage {self.url} does not exist")
        groups: dict[str, dict[str, int]] = {}
        for name, size in found.items():
            top, _, rest = name[len(self.root) + 1 :].partition("/")
            groups.setdefault(top, {})[rest] = size
        out = []
        for top, files in sorted(groups.items()):
            published = "" not in files and COMMIT in files
            temporary = top.startswith(TMP_PREFIX) or ("" not in files and not published)
            out.append(StageEntry(name=top, uri=f"{self.url}/{top}", temporary=temporary, size=sum(files.values())))
        return out

    # -- writing ----------------------------------------------------------------------------------
    def begin(self, package_id: str, owner: str | None = None) -> Path:
        # the temporary directory is local: on the stage, an upload under way is the
        # package's folder without its commit marker, owned through its manifest (uploaded first)
        self._check_id(package_id)
        local = self.cache.tmp_dir() / f"{TMP_PREFIX}{package_id}-{uuid.uuid4().hex[:8]}"
        local.mkdir()
        return local

    def publish(self, package_id: str, local_dir: Path, files: dict[str, str]) -> None:
        local_dir = Path(local_dir)
        paths = sorted(p for p in local_dir.rglob("*") if p.is_file())
        rels = {p.relative_to(local_dir).as_posix(): p for p in paths}
        # the manifest first: it says which registry owns the package (for gc) from the
        # moment anything of it is on the stage
        rels = dict(sorted(rels.items(), key=lambda item: (item[0] != MANIFEST, item[0])))
        for rel in rels:
            self._check_rel(rel)
        absent = sorted(set(files) - set(rels))
        if absent:
            raise IntegrityError(f"package {package_id} lost files before upload: {', '.join(absent[:5])}")
        uploaded: dict[str, tuple[str, int]] = {}
        self._unreachable = False
        with self._errors("uploading a package"):
            if self.exists(package_id):
                raise AlreadyExists(f"model package {self.uri(package_id)} is already on the stage")
            self._remove(package_id)  # leftovers of an earlier attempt with this ID
            total = sum(p.stat().st_size for p in paths)
            with progress.transfer(f"uploading {package_id}", total) as advance:
                for rel, path in rels.items():
                    uploaded[rel] = self._upload(path, self._key(package_id, rel), advance)
                    _faults.checkpoint("log:upload")
                    if rel in files and uploaded[rel][0] != files[rel]:
                        raise IntegrityError(f"file {rel} of package {package_id} changed while it was being uploaded")
            marker = {"format": 1, "files": {r: {"sha256": h, "size": n} for r, (h, n) in uploaded.items()}}
            if self.scheme in DIRECTORIES:
                self.fs.makedirs(self._key(package_id), exist_ok=True)
            self.fs.pipe_file(self._key(package_id, COMMIT), json.dumps(marker, sort_keys=True).encode())
        for rel, (sha, _size) in uploaded.items():
            self.cache.adopt(sha, rels[rel])
        shutil.rmtree(local_dir, ignore_errors=True)

    def _upload(self, src: Path, key: str, advance: Callable[[int], None]) -> tuple[str, int]:
        if self.scheme in DIRECTORIES:
            self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        return transfer.upload(self.fs, src, key, advance)

    def abort(self, package_id: str, local_dir: Path) -> None:
        shutil.rmtree(local_dir, ignore_errors=True)
        if self._unreachable:
            return  # another round of retries would fail the same way; gc removes what is left
        try:  # best effort: the server may be the reason we are aborting
            if not self.exists(package_id):
                self._remove(package_id)
        except Exception:  # noqa: BLE001 - best-effort cleanup: the original error stands
            pass

    # -- reading ------------------------------------------------------------------------------------
    def _chunks(self, key: str, advance: Callable[[int], None]) -> Iterator[bytes]:
        for chunk in transfer.chunks(self.fs, key):
            advance(len(chunk))
            yield chunk

    def local_dir(self, package_id: str, files: dict[str, str], blake3: Mapping[str, str] | None = None) -> Path:
        uri = self.uri(package_id)
        with self._errors("downloading a package"):
            marker = self._marker(package_id)
            if marker is None:
                raise IntegrityError(f"model package {uri} is missing from the stage")
            wanted = {self._check_rel(r): s for r, s in files.items()} or {r: s for r, (s, _n) in marker["files"].items()}
            blobs: dict[str, Path] = {}
            todo = []
            for rel, sha in sorted(wanted.items()):
                cached = self.cache.lookup(sha, (blake3 or {}).get(rel))
                if cached is None:
                    todo.append((rel, sha))
                else:
                    blobs[rel] = cached
            total = sum(marker["files"].get(rel, ("", 0))[1] for rel, _ in todo)
            with progress.transfer(f"downloading {package_id}", total) as advance:
                for rel, sha in todo:
                    what = f"file {rel} of model package {uri}"
                    key = self._key(package_id, rel)
                    try:
                        if transfer.downloads_whole_files(self.fs):
                            fetch = functools.partial(transfer.download, self.fs, key, advance=advance)
                            blobs[rel] = self.cache.store_file(sha, fetch, what)
                        else:
                            blobs[rel] = self.cache.store(sha, self._chunks(key, advance), what)
                    except FileNotFoundError:
                        raise IntegrityError(f"{what} is missing from the stage") from None
        view = self.cache.view(package_id, blobs)
        self.cache.evict(keep=blobs.values())
        return view

    def read_manifest(self, package_id: str) -> bytes | None:
        if package_id.startswith(".") or "/" in package_id or not package_id:
            return None
        with self._errors("reading a manifest"):
            try:
                raw = transfer.read_small(self.fs, self._key(package_id, MANIFEST))
            except (FileNotFoundError, IsADirectoryError):
                return None
        return raw if len(raw) <= MANIFEST_MAX_BYTES else None

    def hashes(self, package_id: str, blake3: Mapping[str, str] | None = None) -> dict[str, str]:
        from mlreg.package.hashing import BLAKE3, SHA256, new_hasher

        out: dict[str, str] = {}
        base = self._key(package_id) + "/"
        with self._errors("reading a package"):
            found = {k: n for k, n in self._find(self._key(package_id)).items() if k != base + COMMIT}
            with progress.transfer(f"hashing {package_id}", sum(found.values())) as advance:
                for key in sorted(found):
                    rel = key[len(base):]
                    h = new_hasher(BLAKE3 if blake3 and rel in blake3 else SHA256)
                    for chunk in self._chunks(key, advance):
                        h.update(chunk)
                    out[rel] = h.hexdigest()
        return out

    # -- deleting ------------------------------------------------------------------------------------
    def _remove(self, package_id: str) -> None:
        base = self._key(package_id)
        keys = sorted(self._find(base))
        marker = f"{base}/{COMMIT}"
        if marker in keys:  # unpublish first
            self.fs.rm_file(marker)
            keys.remove(marker)
        if keys:
            self.fs.rm(keys)
        if self.scheme in DIRECTORIES:
            try:
                self.fs.rm(base, recursive=True)
            except FileNotFoundError:
                pass

    def delete(self, package_id: str) -> None:
        with self._errors("deleting a package"):
            self._remove(package_id)

    def delete_entry(self, entry: StageEntry) -> None:
        if entry.temporary and not entry.name.startswith(TMP_PREFIX) and self.exists(entry.name):
            return  # the upload completed after the stage was listed: it is not a leftover
        self.delete(entry.name)
