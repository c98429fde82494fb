"""Short-lived DuckDB connections under an OS lock.

DuckDB lets one process open a file for writing, and a naive open under contention
fails at once. So every write takes an exclusive ``flock`` on ``<registry>.lock``,
opens the file, runs one transaction, closes it and releases the lock; every read
takes a shared lock and opens read-only. Waiting is bounded by MLREG_LOCK_TIMEOUT.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from mlreg.errors import IntegrityError, MlregError, NotFound, RegistryBusy
from mlreg.store import migrations

DEFAULT_TIMEOUT = 30.0


def lock_timeout() -> float:
    raw = os.environ.get("MLREG_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise MlregError(f"MLREG_LOCK_TIMEOUT must be a number of seconds, not {raw!r}") from None
    return max(value, 0.0)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_lock_error(exc: Exception) -> bool:
    msg = str(exc)
    return "Could not set lock" in msg or "Conflicting lock" in msg


def _is_corruption(exc: Exception) -> bool:
    msg = str(exc).lower()
    return any(
        s in msg
        for s in (
            "not a valid duckdb database",
            "corrupt",
            "checksum",
            "invalid block",
            "unable to read",
            "serialization",
            "could not read enough bytes",
            "the file is not a valid",
            "database file",
        )
    )


class Store:
    """One registry file. Holds no connection between operations."""

    def __init__(self, path: Path, timeout: float | None = None):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.timeout = lock_timeout() if timeout is None else timeout

    def exists(self) -> bool:
        return self.path.is_file()

    # -- locking -----------------------------------------------------------------
    def _holder(self) -> str:
        try:
            text = self.lock_path.read_text().strip()
        except OSError:
            return ""
        return f" (held by {text})" if text else ""

    @contextmanager
    def _flock(self, exclusive: bool) -> Iterator[None]:
        flags = os.O_RDWR | os.O_CREAT
        try:
            fd = os.open(self.lock_path, flags, 0o666)
        except OSError:
            if exclusive:
                raise MlregError(f"cannot create lock file {self.lock_path}: permission denied or read-only") from None
            yield  # a read-only location: readers go without the side lock
            return
        try:
            mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
            deadline = time.monotonic() + self.timeout
            delay = 0.002
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RegistryBusy(
                            f"registry {self.path} is busy: lock not acquired within "
                            f"{self.timeout:g} s{self._holder()}; retry, or raise MLREG_LOCK_TIMEOUT"
                        ) from None
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 1.6, 0.05)
            if exclusive:
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
                except OSError:
                    pass
            try:
                yield
            finally:
                if exclusive:
                    try:
                        os.ftruncate(fd, 0)
                    except OSError:
                        pass
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- connections ---------------------------------------------------------------
    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if _is_lock_error(exc):
                    # a process outside mlreg's lock holds the file; back off with jitter
                    if time.monotonic() >= deadline:
                        raise RegistryBusy(
                            f"registry {self.path} is busy: another process holds the database file; "
                            "retry, or raise MLREG_LOCK_TIMEOUT"
                        ) from None
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 1.6, 0.1)
                    continue
                raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> MlregError:
        if isinstance(exc, MlregError):
            return exc
        if _is_corruption(exc) or isinstance(exc, (duckdb.SerializationException, duckdb.InternalException)):
            return IntegrityError(f"registry file {self.path} is corrupt or not a DuckDB database: {_first_line(exc)}")
        return MlregError(f"registry {self.path}: {_first_line(exc)}")

    def _require(self) -> None:
        if not self.exists():
            raise NotFound(
                f"registry {self.path} does not exist; create it with "
                "model_registry.create_model_registry(...) or `mlreg create`"
            )

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on an existing, current registry."""
        self._require()
        with self._flock(exclusive=True):
            con = self._connect(read_only=False)
            try:
                migrations.check_current(con, self.path)
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except duckdb.Error as exc:
                raise self._translate(exc) from None
            finally:
                con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self._require()
        with self._flock(exclusive=False):
            con = self._connect(read_only=True)
            try:
                migrations.check_current(con, self.path)
                yield con
            except duckdb.Error as exc:
                raise self._translate(exc) from None
            finally:
                con.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.read() as con:
            return con.execute(sql, list(params)).fetchall()

    def snapshot(self, sql: str, params: Sequence[Any] = ()) -> duckdb.DuckDBPyRelation:
        """Run ``sql`` and return its result as a relation over an in-memory copy, so the
        caller holds no lock on the registry file."""
        self._require()
        mem = duckdb.connect(":memory:")
        with self._flock(exclusive=False):
            try:
                self._attach(mem)
                try:
                    migrations.check_current(mem, self.path, catalog="reg")
                    mem.execute("USE reg")
                    mem.execute(f"CREATE TABLE memory.main.result AS {sql}", list(params))
                finally:
                    mem.execute("USE memory")
                    mem.execute("DETACH reg")
            except duckdb.Error as exc:
                mem.close()
                raise self._translate(exc) from None
        return mem.table("result")

    def _attach(self, mem: duckdb.DuckDBPyConnection) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                mem.execute(f"ATTACH {_sql_string(str(self.path))} AS reg (READ_ONLY)")
                return
            except duckdb.Error as exc:
                if _is_lock_error(exc) and time.monotonic() < deadline:
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 1.6, 0.1)
                    continue
                if _is_lock_error(exc):
                    raise RegistryBusy(f"registry {self.path} is busy; retry, or raise MLREG_LOCK_TIMEOUT") from None
                raise

    # -- creation and upgrade --------------------------------------------------------
    def create_or_upgrade(self) -> tuple[bool, list[str]]:
        """Create the registry, or bring an older one up to date.
        Returns (created, names of the migrations applied)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MlregError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        with self._flock(exclusive=True):
            created = not self.exists()
            con = self._connect(read_only=False)
            try:
                applied = migrations.upgrade(con, self.path)
            except duckdb.Error as exc:
                raise self._translate(exc) from None
            finally:
                con.close()
            return created, applied


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
