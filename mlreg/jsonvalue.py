"""Metric values: any JSON value, plus numpy arrays/scalars, NaN and +-infinity.

Values are stored as JSON text in which non-finite floats are written ``NaN``,
``Infinity`` and ``-Infinity`` (DuckDB's JSON reader accepts them, so does Python's).
numpy is never imported here: arrays are recognised by their ``tolist`` method.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mlreg.errors import InvalidInput
from mlreg.names import validate_text


def _plain(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            validate_text(value, f"metric value at {path}")
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(f"metric keys must be strings; {path} has key {k!r}")
            if "\x00" in k:
                raise InvalidInput(f"metric value at {path} has a key containing a NUL character")
            out[k] = _plain(v, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist):
        converted = tolist()
        if converted is value:
            raise InvalidInput(f"metric value at {path} cannot be stored as JSON")
        return _plain(converted, path)
    raise InvalidInput(
        f"metric value at {path} of type {type(value).__name__} cannot be stored as JSON"
    )


def dumps(value: Any) -> str:
    """Encode a metric value as JSON text (NaN/Infinity allowed)."""
    plain = _plain(value, "$")
    return json.dumps(plain, allow_nan=True, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    """Decode JSON text written by :func:`dumps` (or by DuckDB)."""
    if text is None:
        return None
    return json.loads(text)


def parse_cli_value(text: str, what: str = "metric value") -> Any:
    """A metric value as typed on a command line: JSON, else the bare word as a string.
    Text that starts like a JSON object, array or string but does not parse is refused
    (a typo, not a word)."""
    try:
        return json.loads(text, parse_float=lambda token: _exact_float(token, what))
    except ValueError as exc:
        if isinstance(exc, InvalidInput):
            raise
        if text.strip()[:1] in ("{", "[", '"'):
            raise InvalidInput(f"{what} {text!r} is not valid JSON: {exc}") from None
        return text


def _exact_float(token: str, what: str) -> float:
    """A JSON number as a double, refusing one a double cannot hold: ``1e400`` (it would
    become Infinity) or ``1e-400`` (it would become 0.0). Write ``Infinity`` to mean it."""
    value = float(token)
    mantissa = token.lower().split("e", 1)[0]
    if math.isinf(value) or (value == 0.0 and any(c in "123456789" for c in mantissa)):
        raise InvalidInput(
            f"{what} {token} is out of the range of a double (about 1e-308 to 1e308): "
            f"it would be stored as {value!r}; write Infinity or 0 if that is what you mean"
        )
    return value


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
