"""Column names as Snowpark reads and writes them.

- An unquoted name is upper-cased first (``col("name")`` finds ``NAME``); failing that it
  is taken as written, then case-insensitively if that finds exactly one column. A
  double-quoted name (``col('"name"')``) is exact. An unknown name is an
  :class:`~mlreg.errors.InvalidInput` naming it and listing the frame's columns.
- ``columns`` writes a name bare when it is a plain upper-case identifier, quoted otherwise.
- An expression selected without an alias is named as Snowflake names it: its SQL text
  (as Snowpark writes it) upper-cased outside quoted identifiers: ``PARSE_JSON("TAGS")['STAGE']``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from mlreg.errors import InvalidInput

_PLAIN = re.compile(r"[A-Z_][A-Z0-9_$]*\Z")
_NAME_LIKE = re.compile(r'([A-Za-z_][A-Za-z0-9_$]*|"([^"]|"")*")\Z')


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_quoted(name: str) -> bool:
    return len(name) >= 2 and name.startswith('"') and name.endswith('"')


def normalize(name: str) -> str:
    """Snowpark's identifier rule: ``'"x"'`` is ``x`` exactly; anything else is upper-cased."""
    return name[1:-1].replace('""', '"') if is_quoted(name) else name.upper()


def looks_like_name(text: str) -> bool:
    """A bare identifier or a quoted one, as opposed to SQL text."""
    return _NAME_LIKE.match(text) is not None


def display_name(raw: str) -> str:
    """A column name as Snowpark writes it: bare when a plain upper-case identifier."""
    return raw if _PLAIN.match(raw) else quote_ident(raw)


def snowflake_name(text: str) -> str:
    """Snowflake's name for an unaliased expression: its text upper-cased, except inside
    double-quoted identifiers."""
    out, quote = [], ""
    for ch in text:
        in_identifier = quote == '"'
        if quote:
            quote = "" if ch == quote else quote  # a doubled quote closes and reopens
        elif ch in "\"'":
            quote = ch
        out.append(ch if in_identifier or quote == '"' else ch.upper())
    return "".join(out)


class Scope:
    """The columns of a frame, to resolve names against. ``names=None`` resolves anything
    (for ``repr`` of a column outside any frame)."""

    def __init__(self, names: Sequence[str] | None, types: Sequence[Any] = ()):
        self.names = list(names) if names is not None else None
        self.json = {n for n, t in zip(self.names or [], types) if str(t) == "JSON"}

    def find(self, name: str) -> str | None:
        if self.names is None:
            return normalize(name)
        if is_quoted(name):
            exact = normalize(name)
            return exact if exact in self.names else None
        for candidate in (name.upper(), name):
            if candidate in self.names:
                return candidate
        folded = [n for n in self.names if n.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def resolve(self, name: str) -> str:
        found = self.find(name)
        if found is None:
            raise self.unknown(name)
        return found

    def unknown(self, name: str) -> InvalidInput:
        return InvalidInput(f"unknown column {name!r}; the columns are: {', '.join(self.names or [])}")
