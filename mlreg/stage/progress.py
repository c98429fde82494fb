"""Progress bars for stage transfers: the only place the stage layer may draw anything.

A bar appears only when stderr is a terminal, ``NO_COLOR`` is unset, ``TERM`` is not
``dumb`` and the transfer has already taken about a second; otherwise nothing is printed
and Rich is never imported. The core just calls ``advance(n)`` as bytes move.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

SHOW_AFTER_SECONDS = 1.0


def enabled() -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class _Bar:
    def __init__(self, description: str, total: int | None, clock: Callable[[], float]):
        self._description = description
        self._total = total
        self._clock = clock
        self._start = clock()
        self._done = 0
        self._progress: Any = None
        self._task: Any = None

    def advance(self, n: int) -> None:
        self._done += n
        if self._progress is None:
            if self._clock() - self._start < SHOW_AFTER_SECONDS:
                return
            self._open()
        self._progress.update(self._task, completed=self._done)

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self._description, total=self._total, completed=self._done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _ignore(n: int) -> None:
    return None


@contextmanager
def transfer(description: str, total: int | None, clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``; draws a bar on stderr for slow transfers on a terminal."""
    if not enabled():
        yield _ignore
        return
    bar = _Bar(description, total, clock)
    try:
        yield bar.advance
    finally:
        bar.close()
