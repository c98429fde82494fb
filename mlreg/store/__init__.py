"""The metadata store: where a registry's metadata lives (see ``base`` for the interface).

``open_store(url)`` picks the backend from the URL, as ``open_stage`` does for stages:
a file path or ``duckdb:///path/to/NAME.duckdb`` is a DuckDB registry file; a home
directory plus a database name is ``<home>/<DATABASE>.duckdb``.
"""

from __future__ import annotations

from pathlib import Path

from mlreg.errors import InvalidInput
from mlreg.names import validate_name
from mlreg.store.base import MetadataStore, StoreReader, StoreWriter, VersionFilter, lock_timeout

__all__ = ["MetadataStore", "StoreReader", "StoreWriter", "VersionFilter", "lock_timeout", "open_store", "store_url"]


def store_url(home: str | Path, database: str) -> str:
    """The URL of the registry ``database`` of a home (a directory)."""
    name = validate_name(database, "database name")
    return str(Path(home) / f"{name}.duckdb")


def open_store(url: str | Path, timeout: float | None = None) -> MetadataStore:
    """The store of one registry, by URL: a path, or ``duckdb:///path``, names a DuckDB file."""
    text = str(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("", "duckdb", "file"):
        from mlreg.store.duckdb import DuckDBStore  # DuckDB is imported only when a store is opened

        path = text.split("://", 1)[1] if scheme else text
        if not path:
            raise InvalidInput(f"store URL {text!r} names no file")
        return DuckDBStore(Path(path), timeout)
    raise InvalidInput(f"unknown registry store {text!r}: use a directory or a duckdb:///path/to/file.duckdb URL")
