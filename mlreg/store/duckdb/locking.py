"""The registry's side lock: an OS ``flock`` on ``<registry>.lock``, exclusive for a
write, shared for a read, with a bounded wait (MLREG_LOCK_TIMEOUT)."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from mlreg.errors import MlregError, RegistryBusy

def _acquire(fd: int, mode: int, timeout: float, on_wait: Callable[[], None] | None = None) -> bool:
    """Take ``flock(fd, mode)``, waiting at most ``timeout`` seconds.

    The wait is a blocking ``flock``: the kernel wakes waiters the moment the lock is
    released. (Polling with sleeps starved waiters: 8 busy writers kept re-taking the
    lock between another process's polls until its timeout ran out.) It runs in a helper
    thread so that the wait stays bounded. On timeout this returns False and the fd
    belongs to the helper thread from then on: it closes it (releasing the lock at
    once if it ever gets it), so the caller must not touch it. ``on_wait`` runs once
    before waiting (when the lock is not free at once).
    """
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        if on_wait is not None:
            try:
                on_wait()
            except BaseException:
                os.close(fd)
                raise
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


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        return ""
    m = re.fullmatch(r"pid (\d+) on (.*)", text)
    if m and m.group(2) == socket.gethostname() and not _alive(int(m.group(1))):
        return ""  # left behind by a process that was killed while holding the lock
    return f" (held by {text})" if text else ""


@contextmanager
def registry_lock(lock_path: Path, exclusive: bool, timeout: float, registry: Path,
                  on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the registry's side lock, shared or exclusive, waiting at most ``timeout`` s;
    ``on_wait`` runs first when someone else holds it (see ``file.RegistryFile.batch``)."""
    flags = os.O_RDWR | os.O_CREAT
    try:
        fd = os.open(lock_path, flags, 0o664)  # with the umask, never world-writable
    except OSError:
        if exclusive:
            raise MlregError(f"cannot create lock file {lock_path}: permission denied or read-only") from None
        yield  # a read-only location: readers go without the side lock
        return
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    if not _acquire(fd, mode, timeout, on_wait):
        # fd now belongs to the waiting thread, which closes it
        raise RegistryBusy(
            f"registry {registry} is busy: lock not acquired within "
            f"{timeout:g} s{_holder(lock_path)}; retry, or raise MLREG_LOCK_TIMEOUT"
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
