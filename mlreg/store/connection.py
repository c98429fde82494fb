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
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from mlreg import _faults
from mlreg.errors import IntegrityError, MlregError, NotFound, RegistryBusy
from mlreg.fsutil import mkdirs, no_world_write
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


def _duckdb_holder(exc: Exception) -> str:
    """The process DuckDB names as holding the file (its message says "(PID n)")."""
    m = re.search(r"\(PID (\d+)\)", str(exc))
    return f" (held by pid {m.group(1)})" if m else ""


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


def _acquire(fd: int, mode: int, timeout: float) -> bool:
    """Take ``flock(fd, mode)``, waiting at most ``timeout`` seconds.

    The wait is a blocking ``flock``: the kernel wakes waiters the moment the lock is
    released. (Polling with sleeps starved waiters: 8 busy writers kept re-taking the
    lock between another process's polls until its timeout ran out.) It runs in a helper
    thread so that the wait stays bounded. On timeout this returns False and the fd
    belongs to the helper thread from then on: it closes it (releasing the lock at
    once if it ever gets it), so the caller must not touch it.
    """
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        if timeout <= 0:
            os.close(fd)
            return False
    except OSError as exc:
        os.close(fd)
        raise MlregError(f"cannot lock the registry: {exc.strerror}") from None
    mu = threading.Lock()
    done = threading.Event()
    state: dict[str, Any] = {"acquired": False, "abandoned": False, "error": None}

    def wait() -> None:
        try:
            fcntl.flock(fd, mode)
            error = None
        except OSError as exc:
            error = exc
        with mu:
            if state["abandoned"]:
                os.close(fd)
                return
            state["acquired"] = error is None
            state["error"] = error
        done.set()

    threading.Thread(target=wait, name="mlreg-lock-wait", daemon=True).start()
    interrupted = True
    try:
        done.wait(timeout)
        interrupted = False
    finally:
        with mu:
            acquired, error = state["acquired"], state["error"]
            if error is not None or (acquired and interrupted):
                os.close(fd)  # the thread is done with it; closing releases any lock
            elif not acquired:
                state["abandoned"] = True
    if error is not None:
        raise MlregError(f"cannot lock the registry: {error.strerror}")
    return acquired


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
        m = re.fullmatch(r"pid (\d+) on (.*)", text)
        if m and m.group(2) == socket.gethostname() and not _alive(int(m.group(1))):
            return ""  # left behind by a process that was killed while holding the lock
        return f" (held by {text})" if text else ""

    @contextmanager
    def _flock(self, exclusive: bool) -> Iterator[None]:
        flags = os.O_RDWR | os.O_CREAT
        try:
            fd = os.open(self.lock_path, flags, 0o664)  # with the umask, never world-writable
        except OSError:
            if exclusive:
                raise MlregError(f"cannot create lock file {self.lock_path}: permission denied or read-only") from None
            yield  # a read-only location: readers go without the side lock
            return
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if not _acquire(fd, mode, self.timeout):
            # fd now belongs to the waiting thread, which closes it
            raise RegistryBusy(
                f"registry {self.path} is busy: lock not acquired within "
                f"{self.timeout:g} s{self._holder()}; retry, or raise MLREG_LOCK_TIMEOUT"
            )
        try:
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
                            f"registry {self.path} is busy: another process holds the database file"
                            f"{_duckdb_holder(exc)}; retry, or raise MLREG_LOCK_TIMEOUT"
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
        """One transaction on an existing, current registry.

        An MlregError raised from here means the transaction did not commit (callers rely
        on it to clean up); only a non-mlreg exception can come after the COMMIT."""
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
                _faults.checkpoint("write:committed")
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
                    raise RegistryBusy(
                        f"registry {self.path} is busy: another process holds the database file"
                        f"{_duckdb_holder(exc)}; retry, or raise MLREG_LOCK_TIMEOUT"
                    ) from None
                raise

    # -- creation and upgrade --------------------------------------------------------
    def create_or_upgrade(self) -> tuple[bool, list[str]]:
        """Create the registry, or bring an older one up to date.
        Returns (created, names of the migrations applied)."""
        try:
            mkdirs(self.path.parent)
        except OSError as exc:
            raise MlregError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        with self._flock(exclusive=True):
            created = not self.exists()
            con = self._connect(read_only=False)
            try:
                applied = migrations.upgrade(con, self.path)
                if not created:
                    _read_everything(con)
            except duckdb.Error as exc:
                raise self._translate(exc) from None
            finally:
                con.close()
            if created:
                no_world_write(self.path)
            return created, applied


def _read_everything(con: duckdb.DuckDBPyConnection) -> None:
    """Read every row of every table, so that DuckDB checks every block's checksum: `create`
    on an existing registry then reports a damaged file instead of calling it fine."""
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    for (table,) in tables:
        cur = con.execute(f'SELECT * FROM "{table}"')
        while cur.fetchmany(4096):
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
