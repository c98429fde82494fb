"""Policy files: named rules over a candidate model version, in TOML::

    [policy]                      # optional
    name = "production"           # default: the file name without .toml

    [rules]
    accurate = "metric.accuracy >= 0.90"
    no_worse = "not alias.prod.exists or metric.accuracy >= alias.prod.metric.accuracy - 0.01"

Every rule is parsed when the policy is loaded: a malformed one is a UsageError naming
the policy, the rule and the column. ``check`` evaluates every rule over a subject.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Mapping

from mlreg.errors import InvalidInput, NotFound, UsageError
from mlreg.policy.evaluate import evaluate
from mlreg.policy.expr import Binary, ListExpr, Node, Path, PolicySyntaxError, Unary, parse

#: the fields a rule may read (see the README's "Policies" section)
ROOTS = ("metric", "tag", "description", "signature", "environment", "requirements", "context", "age",
         "created", "verified", "name", "version", "id", "type", "role", "files", "alias")


@dataclass(frozen=True)
class Rule:
    name: str
    expression: str
    node: Node = field(compare=False, repr=False)


@dataclass(frozen=True)
class Policy:
    name: str
    sha256: str
    rules: tuple[Rule, ...]
    #: the TOML text as read (what a protected alias stores)
    source: str = field(default="", repr=False)

    def aliases(self) -> set[str]:
        """The aliases whose holder some rule reads (``alias.NAME...``)."""
        found: set[str] = set()
        for rule in self.rules:
            for path in _paths(rule.node):
                if path.parts[0] == "alias" and len(path.parts) > 1:
                    found.add(str(path.parts[1]))
        return found

    def uses(self, root: str) -> bool:
        return any(p.parts[0] == root or (p.parts[0] == "alias" and root in p.parts[2:3])
                   for rule in self.rules for p in _paths(rule.node))


@dataclass(frozen=True)
class RuleResult:
    name: str
    expression: str
    passed: bool
    reason: str | None
    values: dict[str, Any]


def _paths(node: Node) -> list[Path]:
    if isinstance(node, Path):
        return [node]
    if isinstance(node, Unary):
        return _paths(node.operand)
    if isinstance(node, Binary):
        return _paths(node.left) + _paths(node.right)
    if isinstance(node, ListExpr):
        return [p for item in node.items for p in _paths(item)]
    return []


def parse_policy(text: str, name: str) -> Policy:
    """A policy from its TOML text (UsageError naming the rule and column when malformed)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise UsageError(f"policy {name}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"policy", "rules"})
    if unknown:
        raise UsageError(f"policy {name}: unknown table {unknown[0]!r} (a policy has [policy] and [rules])")
    meta = data.get("policy", {})
    if not isinstance(meta, dict):
        raise UsageError(f"policy {name}: [policy] must be a table")
    if "name" in meta:
        if not isinstance(meta["name"], str) or not meta["name"]:
            raise UsageError(f"policy {name}: policy.name must be a non-empty string")
        name = meta["name"]
    rules_table = data.get("rules")
    if not isinstance(rules_table, dict) or not rules_table:
        raise UsageError(f"policy {name}: it has no rules (add a [rules] table of name = \"expression\")")
    rules = []
    for rule_name, expression in rules_table.items():
        if not isinstance(expression, str):
            raise UsageError(f"policy {name}, rule {rule_name}: the rule must be a string expression")
        try:
            node = parse(expression)
            for path in _paths(node):
                if path.parts[0] not in ROOTS:
                    raise PolicySyntaxError(f"unknown field {path.parts[0]!r} (fields: {', '.join(ROOTS)})",
                                            path.column)
        except PolicySyntaxError as exc:
            raise UsageError(f"policy {name}, rule {rule_name}: {exc.message}") from None
        rules.append(Rule(rule_name, expression, node))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Policy(name, digest, tuple(rules), text)


def load_policy(path: str | FilePath) -> Policy:
    """A policy from a TOML file (its name, unless it names itself, is the file's stem)."""
    file = FilePath(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"policy file {file} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read policy file {file}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"policy {file.stem}: the file is not UTF-8 text") from None
    return parse_policy(text, file.stem)


def check(policy: Policy, subject: Mapping[str, Any]) -> list[RuleResult]:
    """Every rule of the policy evaluated over ``subject``, in the policy's order."""
    results = []
    for rule in policy.rules:
        outcome = evaluate(rule.node, subject)
        results.append(RuleResult(rule.name, rule.expression, outcome.passed, outcome.reason, outcome.values))
    return results
