"""Stages: a local directory, or any fsspec URL (see ``remote``)."""

from __future__ import annotations

from typing import Any, Mapping

from mlreg.names import validate_name
from mlreg.stage.base import Stage, StageEntry, sha256_file

__all__ = ["Stage", "StageEntry", "open_stage", "sha256_file"]


def open_stage(url: str, database: str, options: Mapping[str, Any] | None = None) -> Stage:
    """The stage for one registry: ``<url>/<registry>/``, where the registry is named
    ``DATABASE`` or ``DATABASE/SCHEMA`` (see ``mlreg.store.location.registry_name``)."""
    parts = database.split("/") if isinstance(database, str) else [database]
    if len(parts) > 2:
        from mlreg.errors import InvalidInput

        raise InvalidInput(f"invalid registry name {database!r}: DATABASE or DATABASE/SCHEMA")
    for part, what in zip(parts, ("database name", "schema name")):
        validate_name(part, what)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("", "file"):
        from mlreg.stage.local import LocalStage

        return LocalStage(f"{url.removeprefix('file://').rstrip('/')}/{database}")
    if not url.split("://", 1)[1].strip("/"):
        from mlreg.errors import InvalidInput

        raise InvalidInput(f"stage URL {url!r} names no location: use {scheme}://bucket/prefix")
    from mlreg.stage.remote import open_remote_stage

    return open_remote_stage(url.rstrip("/") + "/" + database, options or {})
