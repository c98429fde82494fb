"""A registry kept in PostgreSQL: one schema per registry, shared by every machine that
can reach the server (a team's laptops, every CI runner).

``open_store("postgresql://USER@HOST:PORT/DBNAME#REGISTRY")`` (the password, if any, is
passed apart: ``password=``, or libpq finds it in PGPASSWORD / ~/.pgpass). The store URL
(``url``) never holds the password.

- writes: one transaction each on this process's connection, the version's row locked
  before any current value is read (``operations``);
- reads: one REPEATABLE READ, READ ONLY transaction each;
- frame results (``list_versions``, ``history``, the scans): the rows, filtered by the
  server, loaded into an in-memory DuckDB of their own (``frames``);
- in-flight markers: session advisory locks plus a row each (``inflight``);
- create/upgrade: every pending migration in one transaction under an advisory lock
  (``migrations``).

Driver: psycopg 3, imported only when such a store is opened.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from mlreg.store.base import MetadataStore, StoreReader, StoreWriter, TextRows, VersionFilter, lock_timeout
from mlreg.store.location import PgLocation, parse_pg_url
from mlreg.store.postgres import inflight, migrations
from mlreg.store.postgres.connection import Connector, driver
from mlreg.store.postgres.frames import HISTORY_TYPES, VERSION_TYPES, fetch_relation
from mlreg.store.postgres.operations import PgReader, PgWriter

if TYPE_CHECKING:
    import duckdb

__all__ = ["PostgresStore"]

_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"

#: (store URL, connection) of the in-flight marker held in this context: writes in its
#: block are committed on the connection that holds the marker (see ``inflight``)
_MARKER: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar("mlreg_pg_marker", default=None)


class PostgresStore(MetadataStore):
    """One registry: a schema of a PostgreSQL database."""

    def __init__(self, url: str | PgLocation, timeout: float | None = None, password: str | None = None):
        location = parse_pg_url(url) if isinstance(url, str) else url
        if password is not None:
            location = location.with_password(password)
        from mlreg.store.location import registry_name

        registry = location.registry or "MODEL_REGISTRY"
        database, _, schema = registry.partition("/")
        self.registry = registry_name(database, schema or None)
        self.location = location.with_registry(self.registry)
        self.url = self.location.public_url()
        self.timeout = lock_timeout() if timeout is None else timeout
        self._connector = Connector(self.location, self.registry, self.timeout)
        self._checked: Any = None  # the connection whose schema version was checked
        self._registry_id: str | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    @property
    def where(self) -> str:
        return f"{self.registry} on PostgreSQL at {self.location.address}"

    # -- the registry's schema -------------------------------------------------------------
    def _version(self) -> tuple[int, str | None]:
        psycopg = driver()
        with self._connector.lock:
            conn = self._connector.shared()
            try:
                with conn.cursor() as cur:
                    found = migrations.current_version(cur, self.registry)
            except psycopg.Error as exc:
                if conn.closed or conn.broken:
                    self._connector.discard()
                raise self._connector.translate(exc) from None
            if found[0] == migrations.SCHEMA_VERSION:
                self._checked = conn  # current: the next unit of work on this connection need not ask again
            return found

    def exists(self) -> bool:
        return self._version()[0] > 0

    def create_or_upgrade(self) -> tuple[bool, list[str]]:
        psycopg = driver()
        conn = self._connector.open()
        try:
            return migrations.upgrade(conn, self.registry, self.where)
        except psycopg.Error as exc:
            raise self._connector.translate(exc) from None
        finally:
            conn.close()

    def schema_version(self) -> int:
        return self._version()[0]

    def registry_id(self) -> str:
        """The UUID the registry was created with (kept by ``mlreg copy`` in neither direction:
        a copy is another registry)."""
        if self._registry_id is None:
            with self.read() as reader:
                assert isinstance(reader, PgReader)
                found = reader._one("SELECT id::text FROM registry_info")
            assert found is not None
            self._registry_id = str(found[0])
        return self._registry_id

    def _check(self, conn: Any) -> None:
        """Refuse a registry that does not exist, is older or newer (once per connection)."""
        if self._checked is conn:
            return
        with conn.cursor() as cur:
            version, by = migrations.current_version(cur, self.registry)
        if version == 0:
            from mlreg.errors import NotFound

            raise NotFound(f"registry {self.where} does not exist; create it with "
                           "model_registry.create_model_registry(...) or `mlreg create`")
        migrations.check_current(version, by, self.where)
        self._checked = conn

    # -- units of work ---------------------------------------------------------------------
    @contextmanager
    def _transaction(self, begin: str, conn: Any = None, write: bool = False) -> Iterator[Any]:
        with self._connector.transaction(begin, conn, write=write) as c:
            self._check(c)
            with c.cursor() as cur:
                yield cur

    @contextmanager
    def read(self) -> Iterator[StoreReader]:
        with self._transaction(_READ) as cur:
            yield PgReader(cur)

    @contextmanager
    def write(self, role: str, now: datetime) -> Iterator[StoreWriter]:
        marker = _MARKER.get()
        conn = marker[1] if marker is not None and marker[0] == self.url else None
        with self._transaction(_WRITE, conn, write=True) as cur:
            yield PgWriter(cur, role, now)

    @contextmanager
    def batch(self) -> Iterator[None]:
        # nothing to keep: this process's connection stays open between units of work anyway
        yield

    # -- frames ----------------------------------------------------------------------------
    def _frame(self, query: str, params: list[Any], columns: Any) -> "duckdb.DuckDBPyRelation":
        with self._transaction(_READ) as cur:
            return fetch_relation(cur.connection, query, params, columns)

    def list_versions(self) -> "duckdb.DuckDBPyRelation":
        return self._frame(_LISTING_SQL + " ORDER BY seq", [], VERSION_TYPES)

    def history(self, model_id: str | None = None) -> "duckdb.DuckDBPyRelation":
        if model_id is None:
            return self._frame('SELECT * FROM history ORDER BY "EVENT_ID"', [], HISTORY_TYPES)
        return self._frame('SELECT * FROM history WHERE "MODEL_ID" = %s ORDER BY "EVENT_ID"', [model_id],
                           HISTORY_TYPES)

    @contextmanager
    def scan_versions(self, where: VersionFilter | None = None) -> Iterator["duckdb.DuckDBPyRelation"]:
        condition, params = _listing_where(where or VersionFilter())
        yield self._frame(_LISTING_SQL + condition + " ORDER BY seq", params, VERSION_TYPES)

    def listing_text(self, where: VersionFilter, columns: Sequence[str], limit: int | None) -> TextRows:
        from mlreg.jsonvalue import canonical_column

        condition, params = _listing_where(where)
        sql = f"SELECT {', '.join(_TEXT_COLUMNS[c] for c in columns)} FROM listing{condition} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with self._transaction(_READ) as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        if rows and _JSON_COLUMNS.intersection(columns):
            cells = [canonical_column(list(cell)) if c in _JSON_COLUMNS else cell
                     for c, cell in zip(columns, zip(*rows))]
            rows = list(zip(*cells))
        return TextRows(tuple(columns), rows, frozenset(columns) & _JSON_COLUMNS,
                        frozenset(columns) & {"CREATION_TIME"})

    @contextmanager
    def scan_history(self, ordered: bool = True) -> Iterator["duckdb.DuckDBPyRelation"]:
        yield self.history()  # a copy made in order: nothing to save either way

    # -- in-flight markers -----------------------------------------------------------------
    @contextmanager
    def inflight(self, package_id: str) -> Iterator[None]:
        with inflight.marked(self._connector, package_id) as conn:
            token = _MARKER.set((self.url, conn))
            try:
                yield
            finally:
                _MARKER.reset(token)

    def is_inflight(self, package_id: str) -> bool:
        return inflight.is_held(self._connector, package_id)

    def clear_stale_inflight(self) -> None:
        inflight.clear_stale(self._connector)


def _listing_where(where: VersionFilter) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if where.name is not None:
        conditions.append("name = %s")
        params.append(where.name)
    if where.tags:
        import json

        conditions.append("tag_values @> %s::jsonb")  # the GIN index of the listing
        params.append(json.dumps(dict(where.tags)))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


_JSON_COLUMNS = frozenset(c for c, t in VERSION_TYPES if t == "JSON")
#: each listing column as text, as a relation's fetch for printing gives it (see listing_text)
_TEXT_COLUMNS = {
    "ID": "id", "NAME": "name", "VERSION": "version", "TYPE": "type", "URI": "uri",
    "CREATION_TIME": "to_char(creation_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')",
    "CREATION_ROLE": "creation_role", "CREATION_CONTEXT": "creation_context",
    "CREATION_ENVIRONMENT_SPEC": "creation_environment_spec", "DESCRIPTION": "description",
    "TAGS": "coalesce(tags, '{}')", "METRICS": "coalesce(metrics, '{}')", "INPUT_SPEC": "input_spec",
    "OUTPUT_SPEC": "output_spec",
}

#: the columns of list_models(), from the listing table (the model_list view, plus its order)
_LISTING_SQL = (
    'SELECT id AS "ID", name AS "NAME", version AS "VERSION", type AS "TYPE", uri AS "URI",'
    ' creation_time AS "CREATION_TIME", creation_role AS "CREATION_ROLE", creation_context AS "CREATION_CONTEXT",'
    ' creation_environment_spec AS "CREATION_ENVIRONMENT_SPEC", description AS "DESCRIPTION",'
    ' coalesce(tags, \'{}\') AS "TAGS", coalesce(metrics, \'{}\') AS "METRICS", input_spec AS "INPUT_SPEC",'
    ' output_spec AS "OUTPUT_SPEC" FROM listing'
)
