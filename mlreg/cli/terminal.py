"""Is a stream a terminal, and may it get colour? Its own module because ``main()`` asks
before every command, ``mlreg --help`` included, which needs nothing else of
``mlreg.cli.output`` (dataclasses, datetime, enum: about 1 ms of every start); and what
to do when the reader of stdout went away (commands and the pre-rendered help alike)."""

from __future__ import annotations

import os
TYPE_CHECKING = False  # not typing's: see mlreg/__init__.py
if TYPE_CHECKING:
    from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_allowed(stream: TextIO) -> bool:
    return is_terminal(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def silence_stdout() -> None:
    """After the reader of our stdout went away: point fd 1 at /dev/null so that the
    interpreter's final flush does not complain."""
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
