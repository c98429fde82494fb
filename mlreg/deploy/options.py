"""One parser for deployment options, whichever platform and however they arrive:
Python values from the API, or ``--option K=V`` text from the command line.

Booleans are ``True``/``False`` or the text ``true``/``false``/``1``/``0``/``yes``/``no``
(any case); anything else is a clear error naming the option.
"""

from __future__ import annotations

from typing import Any

from mlreg.errors import InvalidInput

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}

#: options every platform takes, handled by the registry rather than the platform
REGISTRY_OPTIONS = {"replace_udf": False}


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidInput(f"option {name} must be true or false, not {value!r}")


def parse_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise InvalidInput(f"option {name} must be a whole number, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"option {name} must be {bounds}, got {number}")
    return number


def parse_text(name: str, value: Any) -> str | None:
    """A one-word text option (an image name, a host), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() or ord(c) < 32 for c in value.strip()):
        raise InvalidInput(f"option {name} must be a non-empty string without spaces, got {value!r}")
    return value.strip()


def check_known(options: dict[str, Any], known: dict[str, Any], platform: str) -> None:
    """Refuse an option the platform does not know, listing those it does."""
    unknown = sorted(set(options) - set(known) - set(REGISTRY_OPTIONS))
    if unknown:
        names = list(known) + [k for k in REGISTRY_OPTIONS if k not in known]
        raise InvalidInput(f"unknown {platform} deployment option(s) {', '.join(unknown)}; known: {', '.join(names)}")


def replace_requested(options: dict[str, Any]) -> bool:
    """Whether the options ask to replace an existing deployment of the same name
    (``replace_udf``, the seed's name, on every platform)."""
    return "replace_udf" in options and parse_bool("replace_udf", options["replace_udf"])
