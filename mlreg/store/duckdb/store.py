"""The DuckDB store: a registry kept in one DuckDB file (see the package's docstring)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from mlreg.store.base import MetadataStore, StoreReader, StoreWriter, TextRows, VersionFilter
from mlreg.store.duckdb import inflight
from mlreg.store.duckdb.file import RegistryFile
from mlreg.store.duckdb.migrations import current_version
from mlreg.store.duckdb.operations import DuckDBReader, DuckDBWriter

__all__ = ["DuckDBStore"]


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _listing_where(where: VersionFilter | None) -> tuple[str, list[Any]]:
    """The WHERE clause (or nothing) of the listing's simple filters, and its parameters:
    column names as both the listing table and the model_list view spell them (any case)."""
    conditions: list[str] = []
    params: list[Any] = []
    if where is not None and where.name is not None:
        conditions.append("NAME = ?")
        params.append(where.name)
    for key, value in (where.tags.items() if where is not None else ()):
        conditions.append("json_extract_string(TAGS, ?) = ?")
        params += [_json_pointer(key), value]
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


#: the listing's JSON columns, which a relation's fetch writes minified (``json()``)
_JSON_COLUMNS = frozenset({"CREATION_CONTEXT", "CREATION_ENVIRONMENT_SPEC", "TAGS", "METRICS", "INPUT_SPEC",
                           "OUTPUT_SPEC"})
#: each column of the model_list view as text from the listing table, as
#: ``mlreg.cli.output.table_from_relation(rel, utc_text=True)`` fetches it from the view
_TEXT_COLUMNS = {
    "ID": "id", "NAME": "name", "VERSION": "version", "TYPE": "type", "URI": "uri",
    "CREATION_TIME": "strftime(timezone('UTC', creation_time), '%Y-%m-%dT%H:%M:%S.%f')",
    "CREATION_ROLE": "creation_role", "CREATION_CONTEXT": "json(creation_context)",
    "CREATION_ENVIRONMENT_SPEC": "json(creation_environment_spec)", "DESCRIPTION": "description",
    "TAGS": "json(coalesce(tags, '{}'::JSON))", "METRICS": "json(coalesce(metrics, '{}'::JSON))",
    "INPUT_SPEC": "json(input_spec)", "OUTPUT_SPEC": "json(output_spec)",
}


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
            yield DuckDBWriter(con, role, now, self.file.memo())

    def batch(self) -> Any:
        return self.file.batch()

    def list_versions(self) -> duckdb.DuckDBPyRelation:
        return self.file.snapshot("SELECT * FROM model_list")

    def history(self, model_id: str | None = None) -> duckdb.DuckDBPyRelation:
        if model_id is None:
            return self.file.snapshot("SELECT * FROM history ORDER BY EVENT_ID")
        return self.file.snapshot("SELECT * FROM history WHERE MODEL_ID = ? ORDER BY EVENT_ID", [model_id])

    def reading(self) -> Any:
        return self.file.reading()

    @contextmanager
    def scan_versions(self, where: VersionFilter | None = None) -> Iterator[duckdb.DuckDBPyRelation]:
        condition, params = _listing_where(where)
        with self.file.in_place("SELECT * FROM model_list" + condition, params) as rel:
            yield rel

    def listing_text(self, where: VersionFilter, columns: Sequence[str], limit: int | None) -> TextRows:
        """The columns wanted, straight from the listing table in one query: what
        ``scan_versions`` and a relation's fetch for printing give (``_TEXT_COLUMNS``),
        without building the relation over the 14-column view."""
        condition, params = _listing_where(where)
        sql = f"SELECT {', '.join(_TEXT_COLUMNS[c] for c in columns)} FROM listing{condition}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.file.read() as con:
            rows = con.execute(sql, params).fetchall()
        return TextRows(tuple(columns), rows, frozenset(columns) & _JSON_COLUMNS,
                        frozenset(columns) & {"CREATION_TIME"})

    @contextmanager
    def scan_history(self, ordered: bool = True) -> Iterator[duckdb.DuckDBPyRelation]:
        with self.file.in_place("SELECT * FROM history" + (" ORDER BY EVENT_ID" if ordered else "")) as rel:
            yield rel

    def inflight(self, package_id: str) -> Any:
        return inflight.marked(self._inflight_dir, package_id)

    def is_inflight(self, package_id: str) -> bool:
        return inflight.is_marked(self._inflight_dir, package_id)

    def clear_stale_inflight(self) -> None:
        inflight.clear_stale(self._inflight_dir)

