"""What differs between remote stage schemes: the filesystem class, default options,
where credentials come from, and how a failure reads in one line.

    s3:// s3a://                 s3fs            mlreg[s3]
    gs:// gcs://                 gcsfs           mlreg[gcs]
    az:// abfs:// abfss:// adl://  adlfs         mlreg[azure]
    sftp:// ssh://               sshfs (asyncssh) mlreg[sftp]
    file:// local:// memory://   fsspec itself

gcsfs's default class asks a gRPC control plane for every bucket's layout before using
it (zonal and hierarchical buckets); mlreg uses its classic JSON-API class, which reads
and writes plain objects on every bucket. sshfs is used for SFTP because it checks the
server's host key (mlreg turns that on: sshfs alone would not) and pipelines requests.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from mlreg.errors import MissingDependency, MlregError


@dataclass(frozen=True)
class Backend:
    module: str | None  # the package that implements it
    extra: str | None  # the mlreg extra that installs it
    container: str | None = None  # what the first path component is called ("bucket", ...)
    cls: str | None = None  # "module:Class" instead of fsspec's registry entry
    credentials: str = ""  # where credentials come from, for the error that finds none


_S3 = Backend("s3fs", "s3", "bucket", None,
              "set them in the environment (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) "
              "or in stage_options")
_GCS = Backend("gcsfs", "gcs", "bucket", "gcsfs.core:GCSFileSystem",
               "set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON file, or token in stage_options")
_AZURE = Backend("adlfs", "azure", "container", "adlfs:AzureBlobFileSystem",
                 "set AZURE_STORAGE_CONNECTION_STRING, or connection_string (or account_name and account_key) "
                 "in stage_options")
_SFTP = Backend("sshfs", "sftp", None, "sshfs:SSHFileSystem",
                "give a key the server accepts: client_keys (and username) in stage_options, or a key in ~/.ssh")
_FSSPEC = Backend(None, None)

BACKENDS: dict[str, Backend] = {
    "s3": _S3, "s3a": _S3,
    "gs": _GCS, "gcs": _GCS,
    "az": _AZURE, "abfs": _AZURE, "abfss": _AZURE, "adl": _AZURE,
    "sftp": _SFTP, "ssh": _SFTP,
    "file": _FSSPEC, "local": _FSSPEC, "memory": _FSSPEC,
}
DIRECTORIES = {"file", "local", "sftp", "ssh"}  # filesystems that need parent directories


def backend(scheme: str) -> Backend:
    return BACKENDS.get(scheme, _FSSPEC)


def import_backend(scheme: str, label: str) -> Any:
    """fsspec, after checking that the scheme's package is installed."""
    b = backend(scheme)
    for name in ("fsspec", b.module):
        if name is None:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            if b.extra is None:
                raise MlregError(f"{label} needs the fsspec package: pip install fsspec") from None
            raise MissingDependency(label, b.extra) from None
    import fsspec

    return fsspec


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return os.path.expanduser(value)
    if isinstance(value, (list, tuple)):
        return [_expand(v) for v in value]
    return value


def sftp_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Host keys are always checked: against ``known_hosts`` of stage_options, else
    ``~/.ssh/known_hosts`` (none trusted when it does not exist)."""
    out = dict(options)
    for name in ("client_keys", "known_hosts", "config"):
        if name in out:
            out[name] = _expand(out[name])
    if out.get("known_hosts") in (None, ""):
        default = Path.home() / ".ssh" / "known_hosts"
        out["known_hosts"] = str(default) if default.is_file() else ()
    out.setdefault("connect_timeout", 30)
    out.setdefault("keepalive_interval", 30)  # a server gone silent is noticed (after 3 unanswered)
    return out


def gcs_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """gcsfs sends its requests without any timeout: a server that stops answering would
    hang mlreg. A silent connection now fails after 2 minutes (retried by gcsfs)."""
    out = dict(options)
    if "requests_timeout" not in out:
        import aiohttp  # gcsfs's own dependency, imported by it anyway

        out["requests_timeout"] = aiohttp.ClientTimeout(sock_connect=30, sock_read=120)
    return out


# libraries that log errors (gcsfs: a traceback when it runs out of retries) on loggers
# without a handler, which Python then prints to stderr; mlreg reports the error itself
_LOGGERS = {"s3fs": ("s3fs",), "gcsfs": ("gcsfs",), "adlfs": ("adlfs", "azure"), "sshfs": ("sshfs", "asyncssh")}


def _quiet_loggers(module: str | None) -> None:
    for name in _LOGGERS.get(module or "", ()):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())  # still propagates to handlers the application set


def make_filesystem(fsspec: Any, scheme: str, url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """The filesystem for ``url`` and the path of the URL on it."""
    b = backend(scheme)
    _quiet_loggers(b.module)
    options = dict(options)
    if b.container:  # another process may change the stage at any time
        options.setdefault("use_listings_cache", False)
    if scheme in ("sftp", "ssh"):
        options = sftp_options(options)
    if scheme in ("gs", "gcs"):
        options = gcs_options(options)
    if b.cls is None:
        return fsspec.core.url_to_fs(url, skip_instance_cache=True, **options)
    module, _, name = b.cls.partition(":")
    cls = getattr(importlib.import_module(module), name)
    kwargs = {**cls._get_kwargs_from_urls(url), **options}
    fs = cls(skip_instance_cache=True, **kwargs)
    return fs, cls._strip_protocol(url)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from (libraries wrap each other's errors)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
