"""Progress of stage transfers, reported through a callback: the stage layer draws nothing.

The core wraps each transfer in ``transfer(description, total)`` and calls the function it
yields with the bytes as they move. Whoever wants to hear of it installs a ``Reporter``
for the duration of an operation with ``reporting(reporter)`` (a context variable, so it
holds for the calling thread and the tasks it starts). By default nobody listens and
nothing is reported; the ``mlreg`` command installs one that draws a bar on a terminal.

    class Counter:  # a Reporter, and the Task of each transfer it hears of
        def start(self, description, total):
            self.done = 0
            return self

        def advance(self, nbytes):
            self.done += nbytes

        def finish(self):
            log.info("%s bytes moved", self.done)

    with progress.reporting(Counter()):
        registry.load_model("churn", "3")
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Protocol


class Task(Protocol):
    """One transfer being reported."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes have moved."""

    def finish(self) -> None:
        """The transfer is over (done, failed or interrupted)."""


class Reporter(Protocol):
    """Hears of every transfer while it is installed with :func:`reporting`."""

    def start(self, description: str, total: int | None) -> Task:
        """A transfer of ``total`` bytes (None: unknown) begins, e.g. ``uploading <id>``."""


_reporter: ContextVar[Reporter | None] = ContextVar("mlreg_progress_reporter", default=None)


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Report the transfers of the enclosed operations to ``reporter`` (None: to nobody)."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def _ignore(nbytes: int) -> None:
    return None


@contextmanager
def transfer(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)`` for the core to call as bytes move; the installed
    reporter (if any) hears of the start, each advance and the end."""
    reporter = _reporter.get()
    if reporter is None:
        yield _ignore
        return
    task = reporter.start(description, total)
    try:
        yield task.advance
    finally:
        task.finish()
