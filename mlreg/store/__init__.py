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

from mlreg.errors import InvalidInput
from mlreg.store.base import MetadataStore, StoreReader, StoreWriter, VersionFilter, lock_timeout
from mlreg.store.location import is_pg_url, parse_pg_url, registry_file, registry_name

__all__ = ["MetadataStore", "StoreReader", "StoreWriter", "VersionFilter", "lock_timeout", "open_store", "store_url"]


def store_url(home: str | Path, database: str, schema: str | None = None) -> str:
    """The URL of the registry (``database``, ``schema``) of a home: a directory or a
    PostgreSQL URL (shown without its password)."""
    name = registry_name(database, schema)
    if is_pg_url(str(home)):
        return parse_pg_url(str(home)).public_url(registry=name)
    return str(registry_file(home, name))


def open_store(url: str | Path, timeout: float | None = None, password: str | None = None) -> MetadataStore:
    """The store of one registry, by URL: a path, or ``duckdb:///path``, names a DuckDB
    file; a ``postgresql://`` URL a schema of a PostgreSQL database (``password``, if
    given, is used for it and never shown)."""
    text = str(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("", "duckdb", "file"):
        from mlreg.store.duckdb import DuckDBStore  # DuckDB is imported only when a store is opened

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
