"""Evaluating a parsed rule over a subject: the fields of a candidate model version.

A subject is a nested mapping (metric, tag, description, ...). A value in it may be a
:class:`Lazy`, computed on first use (``verified`` reads the package; ``alias.prod`` reads
the version that holds ``prod``), or an :class:`Absent` that says why a value is missing.

A rule that uses a missing value, compares a string with a number, or divides by zero
does not raise: it fails, with that reason (:class:`RuleOutcome`).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mlreg.policy.expr import Binary, ListExpr, Literal, Node, Path, Unary


class Lazy:
    """A subject value computed the first time a rule reads it."""

    def __init__(self, compute: Callable[[], Any]):
        self._compute = compute
        self._done = False
        self._value: Any = None

    def get(self) -> Any:
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value


@dataclass(frozen=True)
class Absent:
    """A missing value with the reason it is missing (e.g. "no version holds alias prod")."""

    reason: str


class RuleFailed(Exception):
    """Raised inside evaluation: the rule cannot hold (missing value, wrong types)."""


@dataclass
class RuleOutcome:
    passed: bool
    reason: str | None = None
    #: every field the rule read, in order: its path text -> value (None when missing)
    values: dict[str, Any] = field(default_factory=dict)


_MISSING = object()


def _unwrap(value: Any) -> Any:
    return value.get() if isinstance(value, Lazy) else value


def lookup(subject: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path``, or an Absent saying which part is missing."""
    value: Any = subject
    walked: list[str | int] = []
    for part in path.parts:
        value = _unwrap(value)
        if isinstance(value, Absent):
            return value
        if isinstance(value, Mapping) and isinstance(part, str) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value):
            value = value[part]
        else:
            where = Path(tuple(walked)).text() if walked else "the version"
            return Absent(f"{Path(path.parts).text()} is missing ({where} has no {part!r})"
                          if walked else f"{Path(path.parts).text()} is missing")
        walked.append(part)
    value = _unwrap(value)
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v: Any) -> str:
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        import json

        text = json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return repr(v)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b) and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}


class _Evaluator:
    def __init__(self, subject: Mapping[str, Any]):
        self.subject = subject
        self.values: dict[str, Any] = {}

    def bool_of(self, node: Node, what: str) -> bool:
        value = self.eval(node)
        if not isinstance(value, bool):
            raise RuleFailed(f"{what} needs true or false, got {_kind(value)} {_show(value)}")
        return value

    def eval(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, ListExpr):
            return [self.eval(item) for item in node.items]
        if isinstance(node, Path):
            return self.path(node)
        if isinstance(node, Unary):
            if node.op == "not":
                return not self.bool_of(node.operand, "'not'")
            value = self.eval(node.operand)
            if not _is_number(value):
                raise RuleFailed(f"'-' needs a number, got {_kind(value)} {_show(value)}")
            return -value
        assert isinstance(node, Binary)
        op = node.op
        if op == "and":
            return self.bool_of(node.left, "'and'") and self.bool_of(node.right, "'and'")
        if op == "or":
            return self.bool_of(node.left, "'or'") or self.bool_of(node.right, "'or'")
        left, right = self.eval(node.left), self.eval(node.right)
        if op == "==":
            return _equal(left, right)
        if op == "!=":
            return not _equal(left, right)
        if op in ("in", "not in"):
            if isinstance(right, str) and isinstance(left, str):
                found = left in right
            elif isinstance(right, list):
                found = any(_equal(left, x) for x in right)
            elif isinstance(right, dict) and isinstance(left, str):
                found = left in right
            else:
                raise RuleFailed(f"'{op}' needs a list, object or string on its right, got {_kind(right)}")
            return found if op == "in" else not found
        if op in _ORDER:
            if (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
                return _ORDER[op](left, right)
            raise RuleFailed(f"cannot compare {_kind(left)} {_show(left)} with {_kind(right)} {_show(right)} using '{op}'")
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        if not (_is_number(left) and _is_number(right)):
            raise RuleFailed(f"'{op}' needs numbers, got {_kind(left)} {_show(left)} and {_kind(right)} {_show(right)}")
        if op in ("/", "%") and right == 0:
            raise RuleFailed(f"division by zero in '{op}'")
        result = _ARITH[op](left, right)
        if isinstance(result, float) and math.isinf(result) and not (math.isinf(left) or math.isinf(right)):
            raise RuleFailed(f"'{op}' overflowed")
        return result

    def path(self, node: Path) -> Any:
        text = node.text()
        if node.parts[-1] == "exists" and len(node.parts) > 1:
            value = lookup(self.subject, Path(node.parts[:-1]))
            exists = not isinstance(value, Absent)
            self.values[text] = exists
            return exists
        value = lookup(self.subject, node)
        if isinstance(value, Absent):
            self.values[text] = None
            raise RuleFailed(value.reason)
        self.values[text] = value
        return value


def evaluate(node: Node, subject: Mapping[str, Any]) -> RuleOutcome:
    """Whether the rule holds for ``subject``, why not, and the values it read."""
    ev = _Evaluator(subject)
    try:
        result = ev.eval(node)
    except RuleFailed as exc:
        return RuleOutcome(False, str(exc), ev.values)
    if not isinstance(result, bool):
        return RuleOutcome(False, f"the rule gives {_kind(result)} {_show(result)}, not true or false", ev.values)
    return RuleOutcome(result, None if result else "the rule is false", ev.values)
