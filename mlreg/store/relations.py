"""Relations built from records: the tables a registry shows that are not stored as
such (e.g. deployments with their live status), as lazy DuckDB relations like every
other frame result, each over an in-memory database of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import duckdb


def from_rows(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> "duckdb.DuckDBPyRelation":
    """A relation with ``columns`` (name, DuckDB type) holding ``rows``."""
    import duckdb

    mem = duckdb.connect(":memory:")
    spec = ", ".join(f'"{name}" {sqltype}' for name, sqltype in columns)
    mem.execute(f"CREATE TABLE t ({spec})")
    if rows:
        mem.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(columns))})", [list(r) for r in rows])
    return mem.table("t")
