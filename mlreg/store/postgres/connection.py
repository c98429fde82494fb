"""Connections to the PostgreSQL server of a registry, and what their errors mean.

One connection per store and process, opened on first use and reopened after a fork or
when the server dropped it (the unit of work that finds it dropped starts again on a new
one, once, before it has done anything). Every connection is set up for the registry:
``search_path`` is the registry's schema alone, times are UTC, and MLREG_LOCK_TIMEOUT
bounds the connection attempt (``connect_timeout``), every lock wait (``lock_timeout``)
and every statement (``statement_timeout``).

psycopg is imported here, and this module only when a PostgreSQL store is used: a
command on a directory home never imports it (startup).
"""

from __future__ import annotations

import math
import os
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from mlreg.errors import InvalidInput, MlregError, NotFound, RegistryBusy
from mlreg.store.location import PgLocation

if TYPE_CHECKING:
    import psycopg


class ServerUnavailable(RegistryBusy):
    """The PostgreSQL server could not be reached, or dropped the connection (exit 5)."""


class CommitOutcomeUnknown(ConnectionError):
    """The connection broke while a COMMIT was under way: it may or may not have been
    applied. Deliberately not an MlregError: callers treat an MlregError from a write as
    "nothing was written", which this is not known to be."""


def driver() -> Any:
    try:
        import psycopg  # imported when a PostgreSQL registry is used, never at startup
    except ImportError:
        from mlreg.errors import MissingDependency

        raise MissingDependency("a PostgreSQL registry home", "postgres") from None
    return psycopg


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class Connector:
    """Opens connections to one registry's schema and translates their errors."""

    def __init__(self, location: PgLocation, schema: str, timeout: float):
        self.location = location
        self.schema = schema
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn: "psycopg.Connection | None" = None
        self._pid = 0

    # -- messages ------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        password = self.location.password
        return text.replace(password, "***") if password else text

    def where(self) -> str:
        return f"PostgreSQL at {self.location.address}"

    def translate(self, exc: BaseException) -> BaseException:
        """The mlreg error for a driver error (one line; never the password)."""
        if isinstance(exc, MlregError):
            return exc
        psycopg = driver()
        errors = psycopg.errors
        detail = self._scrub(_first_line(exc))
        where = self.where()
        if isinstance(exc, (errors.LockNotAvailable, errors.QueryCanceled, errors.DeadlockDetected)):
            return RegistryBusy(
                f"registry {self.schema} on {where} is busy: {detail} (MLREG_LOCK_TIMEOUT is {self.timeout:g} s); "
                "retry, or raise MLREG_LOCK_TIMEOUT")
        if isinstance(exc, errors.InsufficientPrivilege):
            return MlregError(f"{where}: {detail}; ask for the privileges mlreg needs on database "
                              f"{self.location.dbname} (see README, Sharing a registry)")
        if isinstance(exc, errors.InvalidCatalogName):
            return NotFound(f"database {self.location.dbname} does not exist on {where}; create it "
                            f"(createdb {self.location.dbname}) or fix the registry home URL")
        if isinstance(exc, psycopg.OperationalError):
            lowered = detail.lower()
            if "password authentication failed" in lowered or "no password supplied" in lowered:
                return InvalidInput(
                    f"{where} refused the login of user {self.location.user or '(default)'}: {detail}; give the "
                    "password in the config file's connection (password = ...), PGPASSWORD or ~/.pgpass")
            if f'database "{self.location.dbname}" does not exist' in detail:
                return NotFound(f"database {self.location.dbname} does not exist on {where}; create it "
                                f"(createdb {self.location.dbname}) or fix the registry home URL")
            return ServerUnavailable(
                f"cannot reach {where}: {detail}; check that the server is running and reachable from "
                "here, then retry (connection attempts wait up to MLREG_LOCK_TIMEOUT)")
        if isinstance(exc, psycopg.Error):
            return MlregError(f"registry {self.schema} on {where}: {detail}")
        return exc

    # -- connections -----------------------------------------------------------------------
    def open(self, autocommit: bool = True) -> "psycopg.Connection":
        """A new connection, set up for the registry."""
        psycopg = driver()
        ms = max(int(self.timeout * 1000), 1)
        options = (f"-c TimeZone=UTC -c lock_timeout={ms} -c statement_timeout={ms} "
                   f"-c search_path={quote_ident(self.schema)}")
        kwargs: dict[str, Any] = self.location.connect_kwargs()
        kwargs.setdefault("connect_timeout", str(max(2, math.ceil(self.timeout))))
        kwargs.setdefault("application_name", "mlreg")
        kwargs["options"] = (kwargs["options"] + " " + options) if kwargs.get("options") else options
        try:
            return psycopg.Connection.connect(autocommit=autocommit, **kwargs)
        except psycopg.Error as exc:
            raise self.translate(exc) from None

    def shared(self) -> "psycopg.Connection":
        """This process's connection (call with :attr:`lock` held)."""
        conn = self._conn
        if conn is None or self._pid != os.getpid() or conn.closed or conn.broken:
            self._conn = None
            self._conn = conn = self.open()
            self._pid = os.getpid()
        return conn

    def discard(self) -> None:
        """Forget this process's connection (after it broke)."""
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone either way
                pass

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @contextmanager
    def transaction(self, begin: str, conn: "psycopg.Connection | None" = None,
                    write: bool = False) -> Iterator["psycopg.Connection"]:
        """One transaction on ``conn`` (default: this process's connection, reopened once if
        the server dropped it before the transaction began). Committed when the block ends
        normally, rolled back otherwise; driver errors come out as mlreg errors, except a
        connection lost during the COMMIT (:class:`CommitOutcomeUnknown`)."""
        from mlreg import _faults

        psycopg = driver()
        with self._lock:
            if conn is None and self._conn is not None and self._pid == os.getpid() and not self._conn.closed \
                    and self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                # a unit of work inside another one of this thread: a connection of its own
                nested = self.open()
                try:
                    with self.transaction(begin, nested, write) as c:
                        yield c
                finally:
                    nested.close()
                return
            own = conn is None
            for attempt in (1, 2):
                c = self.shared() if conn is None else conn
                try:
                    c.execute(begin)
                    break
                except psycopg.OperationalError as exc:
                    if own and attempt == 1 and (c.closed or c.broken):
                        self.discard()  # dropped while idle (server restarted): a new connection, once
                        continue
                    raise self.translate(exc) from None
                except psycopg.Error as exc:
                    raise self.translate(exc) from None
            try:
                yield c
            except BaseException as exc:
                self._rollback(c)
                if isinstance(exc, psycopg.Error):
                    raise self.translate(exc) from None
                raise
            try:
                c.execute("COMMIT")
            except psycopg.Error as exc:
                if c.closed or c.broken:
                    if own:
                        self.discard()
                    raise CommitOutcomeUnknown(
                        f"lost the connection to {self.where()} during a COMMIT: the change may or may not "
                        "have been applied; check with `mlreg list` / `mlreg history` "
                        f"({self._scrub(_first_line(exc))})"
                    ) from None
                self._rollback(c)
                raise self.translate(exc) from None
            if write:
                _faults.checkpoint("write:committed")

    def _rollback(self, c: "psycopg.Connection") -> None:
        try:
            if not (c.closed or c.broken):
                c.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is unusable; the server rolls back what it had
            pass
        if (c.closed or c.broken) and c is self._conn:
            self.discard()
