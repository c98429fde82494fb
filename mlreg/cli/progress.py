"""Progress bars on stderr for the stage transfers of a command (Rich, imported only
when a bar is drawn).

The core reports transfers through ``mlreg.stage.progress``; :func:`bars` listens for the
duration of one command. A bar is drawn only when stderr is a terminal, ``NO_COLOR`` is
unset, ``TERM`` is not ``dumb``, ``--quiet`` is not given, and the transfer has already
taken about a second (a quick one draws nothing).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from mlreg.cli.output import color_allowed

SHOW_AFTER_SECONDS = 1.0


def wanted(quiet: bool) -> bool:
    return not quiet and color_allowed(sys.stderr)


class Bar:
    """One transfer: a Rich bar on stderr once it has taken ``SHOW_AFTER_SECONDS``."""

    def __init__(self, description: str, total: int | None, clock: Callable[[], float]):
        self._description = description
        self._total = total
        self._clock = clock
        self._start = clock()
        self._done = 0
        self._progress: Any = None
        self._task: Any = None

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
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

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class BarReporter:
    """A ``mlreg.stage.progress.Reporter`` that gives each transfer a :class:`Bar`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock

    def start(self, description: str, total: int | None) -> Bar:
        return Bar(description, total, self._clock)


@contextmanager
def bars(quiet: bool, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Draw bars for the transfers of the enclosed code when :func:`wanted`."""
    if not wanted(quiet):
        yield
        return
    from mlreg.stage import progress  # here, for startup: only a command on a terminal needs it

    with progress.reporting(BarReporter(clock)):
        yield
