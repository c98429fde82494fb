"""The default metadata store: one DuckDB file per registry, ``<home>/<DATABASE>.duckdb``.

Every write takes the file's side lock (``locking``), attaches the file to the process's
in-memory DuckDB, runs one transaction and detaches it (``file``); reads take the shared
lock. Frame results are relations over a private copy of the file.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import duckdb

from mlreg.store.base import MetadataStore, StoreReader, StoreWriter, VersionFilter
from mlreg.store.duckdb import inflight
from mlreg.store.duckdb.file import RegistryFile
from mlreg.store.duckdb.migrations import current_version
from mlreg.store.duckdb.operations import DuckDBReader, DuckDBWriter

__all__ = ["DuckDBStore"]


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


class DuckDBStore(MetadataStore):
    """A registry kept in one DuckDB file (``url`` is its path)."""

    def __init__(self, path: str | Path, timeout: float | None = None):
        self.file = RegistryFile(Path(path), timeout)
        self.path = self.file.path
        self.url = str(self.path)
        self._registry_id: str | None = None

    def __repr__(self) -> str:
        return f"DuckDBStore({self.url!r})"

    @property
    def _inflight_dir(self) -> Path:
        return self.path.parent / ".inflight"

    def exists(self) -> bool:
        return self.file.exists()

    def create_or_upgrade(self) -> tuple[bool, list[str]]:
        return self.file.create_or_upgrade()

    def schema_version(self) -> int:
        with self.file.read() as con:
            return current_version(con)[0]

    def registry_id(self) -> str:
        """The random ID the registry was given at creation (migration m003)."""
        if self._registry_id is None:
            with self.file.read() as con:
                found = con.execute("SELECT id FROM registry_info").fetchone()
            assert found is not None
            self._registry_id = str(found[0])
        return self._registry_id

    @contextmanager
    def read(self) -> Iterator[StoreReader]:
        with self.file.read() as con:
            yield DuckDBReader(con)

    @contextmanager
    def write(self, role: str, now: datetime) -> Iterator[StoreWriter]:
        with self.file.write() as con:
            yield DuckDBWriter(con, role, now)

    def batch(self) -> Any:
        return self.file.batch()

    def list_versions(self) -> duckdb.DuckDBPyRelation:
        return self.file.snapshot("SELECT * FROM model_list")

    def history(self, model_id: str | None = None) -> duckdb.DuckDBPyRelation:
        if model_id is None:
            return self.file.snapshot("SELECT * FROM history ORDER BY EVENT_ID")
        return self.file.snapshot("SELECT * FROM history WHERE MODEL_ID = ? ORDER BY EVENT_ID", [model_id])

    @contextmanager
    def scan_versions(self, where: VersionFilter | None = None) -> Iterator[duckdb.DuckDBPyRelation]:
        conditions: list[str] = []
        params: list[Any] = []
        if where is not None and where.name is not None:
            conditions.append("NAME = ?")
            params.append(where.name)
        for key, value in (where.tags.items() if where is not None else ()):
            conditions.append("json_extract_string(TAGS, ?) = ?")
            params += [_json_pointer(key), value]
        sql = "SELECT * FROM model_list" + (" WHERE " + " AND ".join(conditions) if conditions else "")
        with self.file.in_place(sql, params) as rel:
            yield rel

    @contextmanager
    def scan_history(self) -> Iterator[duckdb.DuckDBPyRelation]:
        with self.file.in_place("SELECT * FROM history ORDER BY EVENT_ID") as rel:
            yield rel

    def inflight(self, package_id: str) -> Any:
        return inflight.marked(self._inflight_dir, package_id)

    def is_inflight(self, package_id: str) -> bool:
        return inflight.is_marked(self._inflight_dir, package_id)

    def clear_stale_inflight(self) -> None:
        inflight.clear_stale(self._inflight_dir)

