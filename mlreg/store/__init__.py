"""The metadata store: one DuckDB file per registry."""

from mlreg.store.connection import Store

__all__ = ["Store"]
