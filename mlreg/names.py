"""Validation of every user-supplied identifier before it reaches a path or SQL text."""

from __future__ import annotations

import re

from mlreg.errors import InvalidInput

MAX_LEN = 255
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def validate_name(value: object, what: str = "name") -> str:
    """A model name, version, database or deployment name.

    Letters, digits, ``_``, ``-`` and ``.``; 1 to 255 characters; not starting with ``.``.
    Anything else is refused, never mangled.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_LEN:
        raise InvalidInput(f"{what} is {len(value)} characters long; at most {MAX_LEN} are allowed")
    if not _NAME_RE.fullmatch(value) or value.startswith("."):
        raise InvalidInput(
            f"invalid {what} {value!r}: use letters, digits, '_', '-' and '.', not starting with '.'"
        )
    return value


def validate_key(value: object, what: str = "tag name") -> str:
    """A tag or metric name: any printable text without '=' (the CLI splits K=V on it)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_LEN:
        raise InvalidInput(f"{what} is {len(value)} characters long; at most {MAX_LEN} are allowed")
    if _CONTROL_RE.search(value) or "=" in value or has_invisible(value):
        raise InvalidInput(f"invalid {what} {value!r}: no control characters (nor invisible or bidirectional "
                           "formatting characters) and no '='")
    return value


def has_invisible(text: str) -> bool:
    """Whether ``text`` holds a character that is not shown as itself on a terminal: C0
    and C1 controls (U+0085 included), formatting characters such as the bidirectional
    overrides (U+202E) and zero-width ones, line and paragraph separators."""
    import unicodedata

    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in text)


def validate_text(value: object, what: str) -> str:
    """A free text (a description): a string of valid Unicode. A byte the shell could not
    decode arrives as a lone surrogate, which no UTF-8 file or database can store."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} is not valid UTF-8: {value[exc.start]!r} at position {exc.start} "
                           "(a byte that is not UTF-8 text)") from None
    return value


def validate_tag_value(value: object, tag_name: str) -> str:
    """Tag values are strings; numbers and booleans are accepted and stored as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInput(
            f"value of tag {tag_name!r} must be a string, not {type(value).__name__}"
        )
    return validate_text(value, f"value of tag {tag_name!r}")
