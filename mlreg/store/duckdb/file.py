"""Short-lived DuckDB attachments under an OS lock, kept for a burst of writes.

DuckDB lets one process open a file for writing, and a naive open under contention
fails at once. So every write takes an exclusive ``flock`` on ``<registry>.lock``,
attaches the file, runs one transaction, detaches it (which checkpoints it: no WAL is
left for the next reader to replay) and releases the lock; every read takes a shared
lock and attaches read-only. Waiting is bounded by MLREG_LOCK_TIMEOUT.

The file is attached to one in-memory DuckDB per process (the *engine*) rather than
opened with ``duckdb.connect`` each time: a new database instance costs more than the
whole write. Operations of one process on the engine take turns (a lock), which costs
nothing next to the file lock they take anyway. New registries use 16 KiB blocks: the
checkpoint after each small write then syncs a few small blocks instead of 256 KiB ones.

A batch (``RegistryFile.batch()``, what ``ModelRegistry.batch()`` opens) keeps the file
attached between its writes: each write still takes the side lock, runs one transaction
and commits it (durable in the WAL), but skips the attach, the schema check and the
detach with its checkpoint. The side lock is not held between writes; DuckDB's own lock
on the file is, for as long as the attachment lasts, so the attachment is given up
(detached, checkpointed) as soon as anyone else wants the registry: when this process
finds the side lock taken (the other process takes it before it attaches), when the
attachment has been idle ``engine.IDLE_DETACH`` seconds, and when the batch ends (the engine
and the kept attachment: ``mlreg.store.duckdb.engine``).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from mlreg import _faults
from mlreg.errors import IntegrityError, MlregError, NotFound, RegistryBusy
from mlreg.fsutil import fsync_dir, mkdirs, no_world_write
from mlreg.store.duckdb import contents, engine, migrations
from mlreg.store.duckdb.failures import duckdb_holder, first_line, is_corruption, is_lock_error
from mlreg.store.base import lock_timeout
from mlreg.store.duckdb.engine import ALIAS, ENGINE_LOCK, KeptAttachment
from mlreg.store.duckdb.locking import registry_lock

BLOCK_SIZE = 16384  # for new registry files; an existing file keeps its own

_SCAN_THREADS = max(1, min(os.cpu_count() or 1, 4))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class RegistryFile(KeptAttachment):
    """One registry file. Holds no connection between operations (except a batch's
    kept attachment: see ``mlreg.store.duckdb.engine``)."""

    def __init__(self, path: Path, timeout: float | None = None):
        super().__init__()
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.timeout = lock_timeout() if timeout is None else timeout
        self._checked: tuple | None = None  # the file's signature when its schema was last checked
        self._copy: tuple | None = None  # (signature, pid, engine with a private copy attached)
        self._reading: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (thread, attachment) of reading()

    def _signature(self) -> tuple | None:
        """What changes whenever anyone writes the file; None if it cannot be read.

        Every mlreg write ends in a checkpoint, which bumps the iteration counter in
        DuckDB's database headers (the file's first 12 KiB): the headers are part of the
        signature, as the mtime alone has only the kernel's coarse clock tick. A WAL
        left by a killed writer counts too."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            headers = os.pread(fd, 12288, 0)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            wal = os.stat(self.path.with_name(self.path.name + ".wal"))
            wal_sig = (wal.st_ino, wal.st_size, wal.st_mtime_ns)
        except OSError:
            wal_sig = None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, headers, wal_sig)

    def _check_schema(self, con: duckdb.DuckDBPyConnection, signature: tuple | None) -> None:
        """The schema check, skipped when the file has not changed since this Store last
        checked it (called under the registry lock, so nobody changes it meanwhile)."""
        if signature is None or signature != self._checked:
            migrations.check_current(con, self.path)
            self._checked = signature

    def exists(self) -> bool:
        return self.path.is_file()

    # -- locking -----------------------------------------------------------------
    def _lock(self, exclusive: bool) -> Any:
        # a batch's kept attachment holds DuckDB's own lock on the file: let go of it
        # before waiting for a process that holds the side lock (it waits for that file)
        on_wait = self._detach_kept if self._is_kept() else None
        return registry_lock(self.lock_path, exclusive, self.timeout, self.path, on_wait)

    # -- attachments -------------------------------------------------------------------
    @contextmanager
    def _attached(self, read_only: bool, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The engine with this file attached and in use; detached (and so checkpointed)
        on the way out, also on error, except in a batch (see :meth:`batch`): a write
        there leaves the file attached for the next unit of work, which reuses it."""
        with ENGINE_LOCK:
            held = self._reading
            if held is not None and held[0] == threading.get_ident() and read_only:
                yield held[1]  # inside reading() (a snapshot's copy): attached already
                return
            con = engine.engine()
            if self._is_kept():
                try:
                    yield con
                except MlregError:
                    raise  # the unit of work rolled back: the attachment is as good as before
                except BaseException:
                    self._detach_kept()
                    raise
                self._touch()
                return
            engine.release_kept()  # another file's batch: the engine has one attachment at a time
            keep = self._batch_depth > 0 and not read_only and not create
            self._attach(con, read_only, create)
            detach = True
            try:
                con.execute(f"USE {ALIAS}")
                yield con
                detach = not keep
            finally:
                if detach:
                    engine.detach(con)
            if keep:
                self._keep()

    def _attach(self, con: duckdb.DuckDBPyConnection, read_only: bool, create: bool = False) -> None:
        options = "READ_ONLY" if read_only else (f"BLOCK_SIZE {BLOCK_SIZE}" if create else "READ_WRITE")
        sql = f"ATTACH {_sql_string(str(self.path))} AS {ALIAS} ({options})"
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                con.execute(sql)
                return
            except duckdb.Error as exc:
                if is_lock_error(exc):
                    # a process outside mlreg's lock holds the file; back off with jitter
                    if time.monotonic() >= deadline:
                        raise RegistryBusy(
                            f"registry {self.path} is busy: another process holds the database file"
                            f"{duckdb_holder(exc)}; retry, or raise MLREG_LOCK_TIMEOUT"
                        ) from None
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 1.6, 0.1)
                    continue
                raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> MlregError:
        if isinstance(exc, MlregError):
            return exc
        if is_corruption(exc) or isinstance(exc, (duckdb.SerializationException, duckdb.InternalException)):
            return IntegrityError(f"registry file {self.path} is corrupt or not a DuckDB database: {first_line(exc)}")
        return MlregError(f"registry {self.path}: {first_line(exc)}")

    def _unsave(self, wal: Path, exc: Exception) -> IntegrityError:
        """Undo a commit whose checkpoint found a corrupt block (still under the exclusive lock).

        The commit is only in the WAL: the checkpoint that failed never switched the file's
        header, so what it wrote went to free blocks. Removing the WAL (it held this commit
        alone) leaves the registry as it was, and the write is reported as not saved."""
        wal.unlink()
        fsync_dir(self.path.parent)
        reason = str(exc).split("Original error: ", 1)[-1].strip().splitlines()[0]
        return IntegrityError(f"registry file {self.path} is corrupt: {reason}; the change was not saved")

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
        if self._reading is not None and self._reading[0] == threading.get_ident():
            raise RuntimeError(f"a write to {self.path} inside reading(), which holds a shared lock on it")
        self._require()
        with self._lock(exclusive=True), ENGINE_LOCK:
            committed = False
            kept = self._is_kept()  # then no one else can have changed the file since
            signature = None if kept else self._signature()
            wal = self.path.with_name(self.path.name + ".wal")
            wal_before = kept or wal.exists()  # a WAL of others' commits (a batch's, a crashed writer's)
            try:
                with self._attached(read_only=False) as con:
                    if not kept:
                        self._check_schema(con, signature)
                    con.execute("BEGIN TRANSACTION")
                    try:
                        yield con
                    except BaseException:
                        self._forget_memo()
                        con.execute("ROLLBACK")
                        raise
                    con.execute("COMMIT")
                    committed = True
                    _faults.checkpoint("write:committed")
            except duckdb.Error as exc:
                self._checked = None
                self._forget_memo()
                if committed and not wal_before and is_corruption(exc) and wal.exists():
                    raise self._unsave(wal, exc) from None
                if committed:
                    raise  # the checkpoint on detach failed after the COMMIT: not an MlregError
                raise self._translate(exc) from None
            except BaseException:
                self._checked = None
                self._forget_memo()
                raise
            if not self._is_kept():
                self._checked = self._signature()  # as this write left it, checkpointed

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        held = self._reading
        if held is not None and held[0] == threading.get_ident():
            yield held[1]  # inside reading(): its lock, attachment and view of the file
            return
        self._require()
        with self._lock(exclusive=False), ENGINE_LOCK:
            kept = self._is_kept()
            signature = None if kept else self._signature()
            try:
                with self._attached(read_only=True) as con:
                    if not kept:
                        self._check_schema(con, signature)
                    yield con
            except duckdb.Error as exc:
                raise self._translate(exc) from None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """This thread's reads inside the block share one read: one shared lock, one
        attachment, one state of the file (other threads wait for the block to end, as
        they wait for any read of this process). A write inside it is a programming error."""
        if self._reading is not None and self._reading[0] == threading.get_ident():
            yield
            return
        with self.read() as con:
            self._reading = (threading.get_ident(), con)
            try:
                yield
            finally:
                self._reading = None

    @contextmanager
    def in_place(self, sql: str, params: Sequence[Any] = ()) -> Iterator[duckdb.DuckDBPyRelation]:
        """``sql`` as a lazy relation over the registry file itself, for the time of a
        with-block (under the shared lock): no copy, for one result fetched inside the
        block. The relation cannot be used after it."""
        with self.read() as con:
            con.execute(f"SET threads = {_SCAN_THREADS}")  # a scan of many rows, unlike the engine's usual work
            try:
                yield con.sql(sql, params=list(params) if params else None)
            finally:
                con.execute("SET threads = 1")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.read() as con:
            return con.execute(sql, list(params)).fetchall()

    def snapshot(self, sql: str, params: Sequence[Any] = ()) -> duckdb.DuckDBPyRelation:
        """``sql`` as a lazy relation over a private copy of the registry file, so the
        caller holds no lock on the registry, and filters, limits and projections added
        to the relation run on the copy without reading more than they need.

        The copy is taken under the shared lock (and DuckDB's own) and unlinked as soon as
        it is attached: nothing is left behind; its space is freed with the last relation.
        While the file is unchanged (same signature), later calls reuse it."""
        self._require()
        self._detach_kept()  # checkpointed: the copy is the file alone
        with self._lock(exclusive=False):
            signature = self._signature()
            cached = self._copy
            if cached is None or signature is None or cached[0] != signature or cached[1] != os.getpid():
                self._copy = None
                self._copy = cached = (signature, os.getpid(), self._private_copy())
        con = cached[2].cursor()  # one connection per relation: relations may be used from any thread
        try:
            con.execute(f"USE {ALIAS}")
            return con.sql(sql, params=list(params) if params else None)
        except duckdb.Error as exc:
            raise self._translate(exc) from None

    def _private_copy(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with a just-taken copy of the file attached read-only (call
        under the shared lock)."""
        fd, name = tempfile.mkstemp(prefix="mlreg-snapshot-", suffix=".duckdb")
        os.close(fd)
        copy = Path(name)
        wal = copy.with_name(copy.name + ".wal")
        mem = duckdb.connect(":memory:")
        try:
            mem.execute("SET enable_progress_bar = false")
            with self._attached(read_only=True):  # DuckDB's own lock: no foreign writer mid-write
                source_wal = self.path.with_name(self.path.name + ".wal")
                try:
                    shutil.copyfile(self.path, copy)  # sendfile: bytes never pass through Python
                    if source_wal.exists():  # left by a writer that was killed: part of the data
                        shutil.copyfile(source_wal, wal)
                except OSError as exc:
                    raise MlregError(
                        f"cannot copy registry {self.path} to {copy.parent}: {exc.strerror or exc}") from None
            mem.execute(f"ATTACH {_sql_string(str(copy))} AS {ALIAS} (READ_ONLY)")
            migrations.check_current(mem, self.path, catalog=ALIAS)
            return mem
        except duckdb.Error as exc:
            mem.close()
            raise self._translate(exc) from None
        except BaseException:
            mem.close()
            raise
        finally:
            for path in (copy, wal):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass

    # -- creation and upgrade --------------------------------------------------------
    def _refuse_foreign(self, con: duckdb.DuckDBPyConnection) -> None:
        found = contents.foreign_tables(con)
        if found:
            shown = ", ".join(found[:5]) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")
            raise IntegrityError(
                f"{self.path} is a DuckDB database but not an mlreg registry (it holds {shown}); "
                "nothing was changed: name another database or home"
            )

    def create_or_upgrade(self) -> tuple[bool, list[str]]:
        """Create the registry, or bring an older one up to date.
        Returns (created, names of the migrations applied)."""
        try:
            mkdirs(self.path.parent)
        except OSError as exc:
            raise MlregError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        with self._lock(exclusive=True):
            created = not self.exists()
            try:
                if not created:
                    with self._attached(read_only=True) as con:  # look before changing anything
                        self._refuse_foreign(con)
                with self._attached(read_only=False, create=created) as con:
                    self._forget_memo()
                    applied = migrations.upgrade(con, self.path)
                    if not created:
                        contents.read_everything(con)
            except duckdb.Error as exc:
                raise self._translate(exc) from None
            if created:
                no_world_write(self.path)
            return created, applied

