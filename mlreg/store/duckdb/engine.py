"""The process's one in-memory DuckDB that registry files are attached to, and the
attachment a batch keeps on it between units of work (see ``mlreg.store.duckdb.file``).

A new database instance costs more than a whole write, so every registry file of a
process is attached to one in-memory DuckDB (the *engine*), one file at a time, under
``ENGINE_LOCK``; :func:`start` begins making it in the background. A batch
(:meth:`KeptAttachment.batch`) leaves the file attached after each write; the attachment
is given up (detached, which checkpoints it) when another file is attached, when someone
else wants the registry, when it has been idle ``IDLE_DETACH`` seconds, and when the
batch ends.

While the file stays attached nobody else can write it (DuckDB's own lock on the file),
so what a write read from it stays true until this process changes it: the attachment's
*memo* (:meth:`KeptAttachment.memo`) keeps the version rows and current values the writes
looked up, which the writer (``mlreg.store.duckdb.operations``) keeps up to date. It is
made empty when the attachment is kept, emptied when a unit of work fails, and dropped
with the attachment.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import duckdb

ALIAS = "reg"  # the name a registry file is attached under
ENGINE_LOCK = threading.RLock()
#: a kept attachment unused for this long is detached (so others need not wait for the batch)
IDLE_DETACH = 0.1

_ENGINE: duckdb.DuckDBPyConnection | None = None
_ENGINE_PID = 0
#: the engine being made in the background (:func:`start`): thread, pid, and what it made
_STARTING: "tuple[threading.Thread, int, list[duckdb.DuckDBPyConnection | Exception]] | None" = None
#: (file, pid) a batch keeps attached to the engine between its units of work
_KEPT: "tuple[KeptAttachment, int] | None" = None


def engine() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB the registry files are attached to (new after fork);
    the one :func:`start` is making, once it is made."""
    global _ENGINE, _ENGINE_PID
    pid = os.getpid()
    con = _ENGINE
    if con is None or _ENGINE_PID != pid:
        with ENGINE_LOCK:
            con = _ENGINE
            if con is None or _ENGINE_PID != pid:
                con = _ENGINE = _started(pid)
                _ENGINE_PID = pid
    return con


def _started(pid: int) -> duckdb.DuckDBPyConnection:
    """The engine :func:`start` made in this process (waited for), else a new one."""
    global _STARTING
    starting, _STARTING = _STARTING, None
    if starting is None or starting[1] != pid:
        return _new_engine()
    starting[0].join()
    made = starting[2][0] if starting[2] else _new_engine()
    if isinstance(made, Exception):
        raise made  # as duckdb.connect raised it, now in the thread that wants the engine
    return made


def start() -> None:
    """Begin making the engine in a thread of its own, for :func:`engine` to pick up:
    the instance's start (≈ 20 ms: registering DuckDB's built-in extensions and
    functions) does not hold the GIL, so it overlaps whatever the caller imports and
    builds meanwhile. Nothing if the engine exists or is being made. The thread is not a
    daemon: a process that ends before using the engine waits for it (DuckDB must not be
    cut off in the middle of starting)."""
    global _STARTING
    pid = os.getpid()
    with ENGINE_LOCK:
        if (_ENGINE is not None and _ENGINE_PID == pid) or (_STARTING is not None and _STARTING[1] == pid):
            return
        made: list[duckdb.DuckDBPyConnection | Exception] = []
        thread = threading.Thread(target=_make_into, args=(made,), name="mlreg-duckdb-start")
        _STARTING = (thread, pid, made)
        thread.start()


def _make_into(made: list[duckdb.DuckDBPyConnection | Exception]) -> None:
    try:
        made.append(_new_engine())
    except Exception as exc:  # noqa: BLE001 - handed over as it is: engine() raises it unchanged
        made.append(exc)


def _new_engine() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET threads = 1")  # its queries are point lookups and small writes
    return con


def detach(con: duckdb.DuckDBPyConnection) -> None:
    """Detach the attached registry file (which checkpoints it)."""
    try:
        con.execute("USE memory")
    finally:
        con.execute(f"DETACH {ALIAS}")


def release_kept() -> None:
    """Detach whatever file a batch of this process keeps attached."""
    if _KEPT is not None and _KEPT[1] == os.getpid():
        _KEPT[0]._detach_kept()


class KeptAttachment:
    """What a registry file (``RegistryFile``) needs to stay attached for a batch."""

    _checked: tuple | None

    def __init__(self) -> None:
        self._batch_depth = 0  # open `batch()` blocks: writes then leave the file attached
        self._memo: dict[tuple, Any] | None = None  # what writes looked up, while kept
        self._idle: threading.Timer | None = None  # detaches a kept attachment left unused
        self._last_use = 0.0  # when the kept attachment was last used (time.monotonic())

    def _is_kept(self) -> bool:
        return _KEPT is not None and _KEPT[0] is self and _KEPT[1] == os.getpid()

    def _keep(self) -> None:
        """The file just attached stays attached after this unit of work (in a batch)."""
        global _KEPT
        _KEPT = (self, os.getpid())
        self._memo = {}
        self._touch()

    def memo(self) -> "dict[tuple, Any] | None":
        """The kept attachment's memo, for a unit of work running on it (None when the
        file is not kept attached: a unit of work then looks everything up)."""
        return self._memo if self._is_kept() else None

    def _forget_memo(self) -> None:
        """Empty the memo (a unit of work failed: what it noted may not have been committed)."""
        if self._memo is not None:
            self._memo.clear()

    def _detach_kept(self) -> None:
        """Detach the file a batch keeps attached (checkpointing it), if it is this one."""
        global _KEPT
        with ENGINE_LOCK:
            if not self._is_kept():
                return
            _KEPT = None
            self._checked = None
            self._memo = None
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            detach(engine())

    def _touch(self) -> None:
        """(Re)start the idle clock of the kept attachment: detached after IDLE_DETACH s unused.
        One timer thread per idle period, not per write (starting a thread costs a write
        about 0.2 ms): a timer that fires while the attachment was used since re-arms for
        the time left."""
        self._last_use = time.monotonic()
        if self._idle is None:
            self._arm(IDLE_DETACH)

    def _arm(self, delay: float) -> None:
        timer = threading.Timer(delay, self._idle_detach)
        timer.daemon = True
        self._idle = timer
        timer.start()

    def _idle_detach(self) -> None:
        with ENGINE_LOCK:
            if self._idle is None or self._idle is not threading.current_thread():
                return  # cancelled, or replaced
            left = self._last_use + IDLE_DETACH - time.monotonic()
            if left > 0:
                self._arm(left)
                return
            self._idle = None
            try:
                self._detach_kept()
            except duckdb.Error:
                pass  # the next unit of work attaches afresh and reports what is wrong

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Keep the file attached between the writes of this block (see the module doc)."""
        with ENGINE_LOCK:
            self._batch_depth += 1
        try:
            yield
        finally:
            with ENGINE_LOCK:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self._detach_kept()
