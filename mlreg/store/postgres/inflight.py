"""In-flight package markers of a PostgreSQL registry, seen from every machine.

A publication holds, on a connection of its own for its whole length, a session-level
advisory lock keyed by the registry and the package ID, and a row in ``inflight``
saying who holds it (``pid N on HOST``). The lock dies with the connection, so a
publisher that crashes, or whose machine or network goes away, frees it; the row it
leaves is stale and ``clear_stale`` deletes it.

The registration that ends a publication is committed on that same connection (the
store uses it for writes inside the marker's block): while the marker is held the
registration can commit, and if the connection was lost, and with it the marker, the
registration fails instead of registering a package that ``gc`` may have removed.

A publication that ends unlocks before it closes its connection, so the marker is free
the moment ``marked`` returns. ``is_held`` asks with ``pg_try_advisory_lock``. A
publisher just killed on this machine still holds its lock for the moment its server
process needs to notice; when the row names a process of this host that is gone,
``is_held`` waits for the lock (bounded by the session's lock_timeout) instead of
reporting that dead publication as live.
"""

from __future__ import annotations

import hashlib
import os
import socket
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from mlreg.store.postgres.connection import driver

if TYPE_CHECKING:
    from mlreg.store.postgres.connection import Connector


def marker_key(schema: str, package_id: str) -> int:
    digest = hashlib.sha256(f"mlreg-inflight\0{schema}\0{package_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _dead_here(holder: str | None) -> bool:
    """Whether ``holder`` names a process of this host that no longer runs."""
    if not holder:
        return False
    parts = holder.split(" ", 3)
    if len(parts) != 4 or parts[0] != "pid" or parts[2] != "on" or parts[3] != socket.gethostname():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


@contextmanager
def marked(connector: "Connector", package_id: str) -> Iterator[Any]:
    """Hold the marker of ``package_id``; yields the connection that holds it."""
    psycopg = driver()
    conn = connector.open()
    key = marker_key(connector.schema, package_id)
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", [key])
        conn.execute(
            "INSERT INTO inflight (package_id, holder, backend_pid) VALUES (%s, %s, pg_backend_pid())"
            " ON CONFLICT (package_id) DO UPDATE SET holder = excluded.holder, backend_pid = excluded.backend_pid,"
            " started_time = now()", [package_id, _holder()])
    except psycopg.Error as exc:
        conn.close()
        raise connector.translate(exc) from None
    except BaseException:
        conn.close()
        raise
    try:
        yield conn
    finally:
        try:
            if not (conn.closed or conn.broken):
                conn.execute("DELETE FROM inflight WHERE package_id = %s AND backend_pid = pg_backend_pid()",
                             [package_id])
                # Let go here, not by closing: the server ends a closed session's backend (and frees
                # its locks) a moment after close() returns, so another client asking right after
                # would still see this marker held.
                conn.execute("SELECT pg_advisory_unlock(%s)", [key])
        except Exception:  # noqa: BLE001 - the row is only a note; the lock goes with the connection
            pass
        finally:
            conn.close()


def is_held(connector: "Connector", package_id: str) -> bool:
    psycopg = driver()
    key = marker_key(connector.schema, package_id)
    with connector.lock:
        conn = connector.shared()
        try:
            if _scalar(conn, "SELECT pg_try_advisory_lock(%s)", [key]):
                conn.execute("SELECT pg_advisory_unlock(%s)", [key])
                return False
            row = conn.execute("SELECT holder FROM inflight WHERE package_id = %s", [package_id]).fetchone()
            if row is None or not _dead_here(row[0]):
                return True
            try:  # its server process is about to notice and let go: wait for that (lock_timeout)
                conn.execute("SELECT pg_advisory_lock(%s)", [key])
            except psycopg.errors.LockNotAvailable:
                return True
            conn.execute("SELECT pg_advisory_unlock(%s)", [key])
            return False
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                connector.discard()
            raise connector.translate(exc) from None


def clear_stale(connector: "Connector") -> None:
    """Delete the rows of publications whose lock nobody holds any more."""
    psycopg = driver()
    with connector.lock:
        conn = connector.shared()
        try:
            for (package_id,) in conn.execute("SELECT package_id FROM inflight").fetchall():
                key = marker_key(connector.schema, package_id)
                if _scalar(conn, "SELECT pg_try_advisory_lock(%s)", [key]):
                    try:
                        conn.execute("DELETE FROM inflight WHERE package_id = %s", [package_id])
                    finally:
                        conn.execute("SELECT pg_advisory_unlock(%s)", [key])
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                connector.discard()
            raise connector.translate(exc) from None


def _scalar(conn: Any, sql: str, params: list[Any]) -> Any:
    """The one value a query of one row returns."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None  # SELECT of a function: always one row
    return row[0]
