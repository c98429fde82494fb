"""What a DuckDB file holds, looked at by ``create`` around an upgrade: the tables of a
file that is not a registry (refused before anything changes), and every row of a
registry's tables (read after the upgrade, so DuckDB checks every block's checksum)."""

from __future__ import annotations

import duckdb

from mlreg.store.duckdb.migrations import current_version


def foreign_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views of a DuckDB file that has no mlreg schema: not one of ours
    (a file whose first `create` was interrupted holds at most ``schema_migrations``)."""
    if current_version(con)[0] > 0:
        return []
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return sorted(name for (name,) in rows if name != "schema_migrations")


def read_everything(con: duckdb.DuckDBPyConnection) -> None:
    """Read every row of every table, so that DuckDB checks every block's checksum: `create`
    on an existing registry then reports a damaged file instead of calling it fine."""
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    for (table,) in tables:
        cur = con.execute(f'SELECT * FROM "{table}"')
        while cur.fetchmany(4096):
            pass
