"""Metric values: any JSON value, plus numpy arrays/scalars, NaN and +-infinity; and
JSON text in the form DuckDB prints it (``canonical``), for rows read without DuckDB.

Values are stored as JSON text in which non-finite floats are written ``NaN``,
``Infinity`` and ``-Infinity`` (DuckDB's JSON reader accepts them, so does Python's).
numpy is never imported here: arrays are recognised by their ``tolist`` method.
"""

from __future__ import annotations

import json
import math
import re
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


# -- JSON text as DuckDB writes it -----------------------------------------------------------
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRINGS = re.compile(_STRING)
#: outside strings, what may make JSON text differ from its DuckDB form (false alarms only
#: cost the exact path): exponents, zeros a float would drop, 16 digits or more (maybe not a
#: double's shortest), a float too small for a plain decimal, ``-0``
_MAYBE_NUMBER = re.compile(r'\d[eE]|\.\d*0(?![\d.])(?<!\.0)|(?:\d\.?){16}|\.0{6}|-0(?![.\d])')
_PIECES = re.compile(f'{_STRING}|[^" \\t\\n\\r]+')  # what is left when the whitespace between tokens goes
_TOKEN = re.compile(f'({_STRING})|(-?(?:0|[1-9]\\d*)(\\.\\d+)?([eE][+-]?\\d+)?)')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _float_text(text: str) -> str:
    value = float(text)
    if math.isinf(value):
        return text  # out of a double's range: kept as written
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    mantissa, _, exp = repr(abs(value)).partition("e")  # the shortest digits that read back the same
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    dot = len(whole) + int(exp or 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0")
    if -6 < dot <= 21:
        if dot <= 0:
            return f"{sign}0.{'0' * -dot}{digits}"
        if dot < len(digits):
            return f"{sign}{digits[:dot]}.{digits[dot:]}"
        return f"{sign}{digits}{'0' * (dot - len(digits))}.0"
    return f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e{dot - 1}"


def _string_text(token: str) -> str:
    if "\\" not in token:
        return token
    try:
        text = json.loads(token)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return token  # a lone surrogate: kept escaped
    return '"' + _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04X}"), text) + '"'


def _token_text(match: "re.Match[str]") -> str:
    string, number, frac, exp = match.groups()
    if string is not None:
        return _string_text(string)
    if frac is None and exp is None:
        return "0" if number == "-0" else number
    return _float_text(number)


def canonical(text: str | None) -> str | None:
    """JSON text as DuckDB's ``json()`` writes it (its JSON output everywhere): no
    whitespace between tokens, strings with only the escapes JSON requires (control
    characters as ``\\uXXXX`` in upper case), integers as written (``-0`` as ``0``), floats
    in their shortest digits, as a plain decimal from 1e-6 to 1e21 and with an exponent
    outside (``1e-7``, ``1e21``). For rows read without DuckDB that must look the same as
    rows read through it."""
    if text is None or not _maybe_not_canonical(text):
        return text
    if " " in text or "\n" in text or "\t" in text or "\r" in text:
        text = "".join(_PIECES.findall(text))
    return _TOKEN.sub(_token_text, text)


def canonical_column(texts: list[str | None]) -> list[str | None]:
    """``canonical`` of each text; the same list, at the cost of one scan, when all are
    already canonical (what mlreg writes)."""
    present = [t for t in texts if t is not None]
    if not present or not _maybe_not_canonical("\0".join(present)):  # NUL: never raw in JSON text
        return texts
    return [canonical(t) for t in texts]


def _maybe_not_canonical(text: str) -> bool:
    if "\\" in text:  # an escape (only strings hold one)
        return True
    skeleton = _STRINGS.sub("", text)
    return (" " in skeleton or "\n" in skeleton or "\t" in skeleton or "\r" in skeleton
            or _MAYBE_NUMBER.search(skeleton) is not None)
