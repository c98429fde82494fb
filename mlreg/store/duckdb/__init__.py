"""The default metadata store: one DuckDB file per registry, ``<home>/<DATABASE>.duckdb``.

Every write takes the file's side lock (``locking``), attaches the file to the process's
in-memory DuckDB (``engine``), runs one transaction and detaches it (``file``); reads take
the shared lock. Frame results are relations over a private copy of the file. The store
itself is :class:`store.DuckDBStore`, loaded on first use: importing ``engine`` alone (to
start the engine early, ``mlreg.store.prepare``) loads nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlreg.store.duckdb.store import DuckDBStore

__all__ = ["DuckDBStore"]


def __getattr__(name: str) -> object:
    if name == "DuckDBStore":
        from mlreg.store.duckdb.store import DuckDBStore

        return DuckDBStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
