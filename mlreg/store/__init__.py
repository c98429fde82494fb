"""The metadata store: where a registry's metadata lives (see ``base`` for the interface).

``open_store(url)`` picks the backend from the URL, as ``open_stage`` does for stages:

- a file path, or ``duckdb:///path/to/NAME.duckdb``: a DuckDB registry file;
- ``postgresql://USER@HOST[:PORT]/DBNAME#REGISTRY`` (or ``postgres://``): the schema
  REGISTRY of a PostgreSQL database (``mlreg.store.postgres``).

``store_url(home, database)`` is the URL of the registry ``database`` of a home: a
directory (``<home>/<DATABASE>.duckdb``) or a PostgreSQL URL (its schema ``DATABASE``).
Registries are named by ``location.registry_name`` on every backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlreg.errors import InvalidInput
from mlreg.store.location import is_pg_url, parse_pg_url, registry_file, registry_name

if TYPE_CHECKING:
    from mlreg.store.base import MetadataStore, StoreReader, StoreWriter, VersionFilter, lock_timeout

__all__ = ["MetadataStore", "StoreReader", "StoreWriter", "VersionFilter", "lock_timeout", "open_store", "prepare",
           "store_url"]

#: names of ``mlreg.store.base`` this package hands out, loaded on first use: a command
#: that opens a store starts it (``prepare``) before the interface and the records load
_FROM_BASE = frozenset({"MetadataStore", "StoreReader", "StoreWriter", "VersionFilter", "lock_timeout"})


def __getattr__(name: str) -> object:
    if name in _FROM_BASE:
        from mlreg.store import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_url(home: str | Path, database: str, schema: str | None = None) -> str:
    """The URL of the registry (``database``, ``schema``) of a home: a directory or a
    PostgreSQL URL (shown without its password)."""
    name = registry_name(database, schema)
    if is_pg_url(str(home)):
        return parse_pg_url(str(home)).public_url(registry=name)
    return str(registry_file(home, name))


def prepare(url: str | Path) -> None:
    """Start, in the background, what opening the store at ``url`` will wait for, so
    that it overlaps the caller's own imports and setup: for a DuckDB file, the
    process's DuckDB instance (``duckdb.connect()``, ≈ 20 ms, which lets go of the GIL).
    Nothing for a server store. Optional: opening a store without it gives the same."""
    if _scheme(str(url)) in ("", "duckdb", "file"):
        from mlreg.store.duckdb import engine

        engine.start()


def _scheme(text: str) -> str:
    return text.split("://", 1)[0].lower() if "://" in text else ""


def open_store(url: str | Path, timeout: float | None = None, password: str | None = None) -> MetadataStore:
    """The store of one registry, by URL: a path, or ``duckdb:///path``, names a DuckDB
    file; a ``postgresql://`` URL a schema of a PostgreSQL database (``password``, if
    given, is used for it and never shown)."""
    text = str(url)
    scheme = _scheme(text)
    if scheme in ("", "duckdb", "file"):
        from mlreg.store.duckdb.store import DuckDBStore  # DuckDB is imported only when a store is opened

        path = text.split("://", 1)[1] if scheme else text
        if not path:
            raise InvalidInput(f"store URL {text!r} names no file")
        return DuckDBStore(Path(path), timeout)
    if is_pg_url(text):
        from mlreg.store.postgres import PostgresStore  # psycopg is imported only for such a store

        return PostgresStore(text, timeout, password)
    from mlreg.store.location import redact

    raise InvalidInput(f"unknown registry store {redact(text)!r}: use a directory, a duckdb:///path/to/file.duckdb "
                       "or a postgresql://USER@HOST:PORT/DBNAME URL")
