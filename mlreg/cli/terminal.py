"""Is a stream a terminal, and may it get colour? Its own module because ``main()`` asks
before every command, ``mlreg --help`` included, which needs nothing else of
``mlreg.cli.output`` (dataclasses, datetime, enum: about 1 ms of every start)."""

import os
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_allowed(stream: TextIO) -> bool:
    return is_terminal(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
