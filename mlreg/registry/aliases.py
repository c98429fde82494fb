"""Aliases: names of a model's versions that move, one version per alias per model.

An alias is a name (letters, digits, ``_``, ``-``, ``.``), case-insensitive and kept
upper-cased, as Snowflake keeps unquoted identifiers. Three are the system's, never set
by hand: ``DEFAULT`` (the default version: the one set with ``model default``, else
the first), ``FIRST`` and ``LAST`` (the first and last registered). An alias is never
equal (ignoring case) to a version name of its model, so that wherever a VERSION is
taken, a version name or an alias resolves to one version: the version of that exact
name first, else the alias.
"""

from __future__ import annotations

import json
from typing import Any

from mlreg.errors import GateFailed, InvalidInput
from mlreg.names import validate_name
from mlreg.records import ALIAS, DEFAULT_VERSION, ModelEnds, ModelInfo

DEFAULT, FIRST, LAST = "DEFAULT", "FIRST", "LAST"
SYSTEM_ALIASES = (DEFAULT, FIRST, LAST)
#: the model attribute holding a protected alias's policy (``promote``)
ALIAS_POLICY = "ALIAS_POLICY"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: ``expect`` not given to a promotion (``None`` means: expect that no version holds the alias)
UNSET: Any = _Unset()


def normalize(alias: object) -> str:
    """The stored form of an alias (upper-cased); InvalidInput for a bad name."""
    return validate_name(alias, "alias").upper()


def check_settable(info: ModelInfo, alias: str) -> str:
    """The stored form of an alias a user may set on the model: not a system alias, not
    a version name of the model (ignoring case)."""
    name = normalize(alias)
    if name in SYSTEM_ALIASES:
        raise InvalidInput(f"alias {name} is a system alias ({', '.join(SYSTEM_ALIASES)}); choose another name")
    if any(v.upper() == name for v in info.versions):
        raise InvalidInput(f"alias {name} is the name of a version of model {info.name}; "
                           "an alias may not be a version name")
    return name


def user_aliases(info: ModelInfo | ModelEnds) -> dict[str, str]:
    """The aliases set on the model: alias -> version name, sorted by alias."""
    return {k: json.loads(v) for k, v in sorted(info.values(ALIAS).items())}


def default_version(info: ModelInfo | ModelEnds) -> str:
    """The model's default version: the one set, else the first registered."""
    chosen = info.values(DEFAULT_VERSION).get("")
    return json.loads(chosen) if chosen is not None else info.versions[0]


def aliases_of(info: ModelInfo) -> dict[str, list[str]]:
    """Every alias naming each version (user aliases first, then DEFAULT, FIRST, LAST):
    version name -> aliases, for every version."""
    out: dict[str, list[str]] = {v: [] for v in info.versions}
    for version, names in held_aliases(info).items():
        out.setdefault(version, []).extend(names)
    return out


def held_aliases(info: ModelInfo | ModelEnds) -> dict[str, list[str]]:
    """The versions that an alias names, each with its aliases in the order of
    ``aliases_of``; a version without alias is left out."""
    out: dict[str, list[str]] = {}
    for alias, version in user_aliases(info).items():
        out.setdefault(version, []).append(alias)
    for alias, version in ((DEFAULT, default_version(info)), (FIRST, info.versions[0]), (LAST, info.versions[-1])):
        out.setdefault(version, []).append(alias)
    return out


def resolve(info: ModelInfo, name: str) -> str | None:
    """The version an alias of the model names (its own aliases, then DEFAULT, FIRST,
    LAST, ignoring case), or None. A version name itself is looked up before this."""
    if not info.versions:
        return None
    key = name.upper()
    own = user_aliases(info)
    if key in own:
        return own[key]
    if key == DEFAULT:
        return default_version(info)
    if key == FIRST:
        return info.versions[0]
    if key == LAST:
        return info.versions[-1]
    return None


def check_unprotected(info: Any, alias: str) -> None:
    """GateFailed when the alias is protected (what a plain ``alias set``/``unset`` asks)."""
    value = info.values(ALIAS_POLICY).get(alias)
    if value is not None:
        name = json.loads(value)["policy"]
        raise GateFailed(f"alias {alias} of {info.name} is protected by policy {name}: move it with "
                         f"`mlreg promote {info.name} VERSION --to {alias}` (registry.promote), which applies it")
