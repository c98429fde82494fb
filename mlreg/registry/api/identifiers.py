"""SQL identifiers as Snowflake reads them: unquoted names are upper-cased, ``"quoted"``
names keep their case (``""`` is a quote), ``DB.SCHEMA.NAME`` qualifies a name; a name
is shown unquoted when it reads back the same (upper-case letters, digits, ``_``, ``$``,
not starting with a digit), else quoted."""

from __future__ import annotations

import random
import re

_UNQUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_PLAIN = re.compile(r"[A-Z_][A-Z0-9_$]*")


def split(text: str) -> list[tuple[str, bool]]:
    """The dot-separated parts of a (possibly qualified) identifier, each resolved:
    (name, was quoted). ValueError for anything that is not an identifier."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"Invalid identifier {text!r}")
    parts: list[tuple[str, bool]] = []
    i = 0
    while True:
        if i < len(text) and text[i] == '"':
            j, out = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ValueError(f"Invalid identifier {text!r}: unbalanced quotes")
                out.append(text[j:k])
                if text[k + 1:k + 2] == '"':
                    out.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            parts.append(("".join(out), True))
        else:
            m = _UNQUOTED.match(text, i)
            if m is None:
                raise invalid(text)
            parts.append((m.group(0).upper(), False))
            i = m.end()
        if i == len(text):
            return parts
        if text[i] != ".":
            raise invalid(text)
        i += 1


def invalid(text: str) -> ValueError:
    return ValueError(f"{text} is not a valid SQL identifier: "
                      "https://docs.snowflake.com/en/sql-reference/identifiers-syntax")


def lookup(text: str) -> tuple[str, bool]:
    """Like :func:`resolve`, for finding a name that exists: a name logged through the
    seed's API that is no unquoted identifier (``1``, ``my-model``) is taken as it is."""
    try:
        return resolve(text)
    except ValueError:
        if isinstance(text, str) and text and '"' not in text:
            return text, True
        raise


def resolve(text: str) -> tuple[str, bool]:
    """One identifier (not qualified): (name, was quoted)."""
    parts = split(text)
    if len(parts) != 1:
        raise ValueError(f"Invalid identifier {text!r}: a qualified name is not allowed here")
    return parts[0]


def show(name: str) -> str:
    """How Snowflake shows a stored name: as is when it reads back the same unquoted, else quoted."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


_ADJECTIVES = ("able", "bold", "brave", "bright", "calm", "clever", "cool", "eager", "fair", "fine", "gentle",
               "glad", "good", "grand", "happy", "keen", "kind", "lively", "lucky", "merry", "neat", "nice",
               "noble", "polite", "proud", "quick", "quiet", "rapid", "sharp", "shy", "smart", "swift", "tidy",
               "wise", "witty", "young")
_ANIMALS = ("ant", "bat", "bear", "bee", "bison", "cat", "cobra", "crab", "crow", "deer", "dog", "dove", "duck",
            "eagle", "eel", "elk", "emu", "fox", "frog", "goat", "hare", "hawk", "ibis", "jay", "koala", "lark",
            "lion", "lynx", "mole", "moth", "mouse", "newt", "owl", "panda", "puma", "seal", "swan", "tiger",
            "toad", "wolf", "yak", "zebra")


def human_readable_name(rng: random.Random | None = None) -> str:
    """A version name in Snowflake's human-readable form: ``adjective_animal_N``."""
    r = rng or random.SystemRandom()
    return f"{r.choice(_ADJECTIVES)}_{r.choice(_ANIMALS)}_{r.randint(1, 99)}"
