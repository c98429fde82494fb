"""Gates: a policy checked over a candidate model version.

The subject a policy reads is the version's :class:`VersionSnapshot` fields, plus
``age`` (seconds since it was registered, by the registry's clock), ``verified`` (its
package matches its recorded sha256; read only when a rule uses it) and
``alias.NAME`` (the same fields of the version that holds that alias, read only when a
rule uses it; :class:`AliasLookup` is where aliases come from).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from mlreg.policy import Absent, Lazy, Policy, RuleResult, check
from mlreg.registry.snapshot import VersionSnapshot


class AliasLookup(Protocol):
    """Where the holder of an alias comes from: the version of ``model_name`` that holds
    ``alias`` now, or None."""

    def __call__(self, model_name: str, alias: str) -> str | None: ...


@dataclass(frozen=True)
class GateReport:
    """What ``gate`` found: every rule with its values and verdict."""

    model_name: str
    model_version: str
    model_id: str
    policy: str
    policy_sha256: str
    rules: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.rules if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (what promotion history records and `gate --format json` prints)."""
        return {
            "name": self.model_name, "version": self.model_version, "id": self.model_id,
            "policy": self.policy, "policy_sha256": self.policy_sha256, "passed": self.passed,
            "rules": [{"rule": r.name, "expression": r.expression, "passed": r.passed, "reason": r.reason,
                       "values": r.values} for r in self.rules],
        }


def subject(snapshot: VersionSnapshot, now: datetime, verified: Callable[[], Any],
            holder: Callable[[str], VersionSnapshot | None] | None, depth: int = 0) -> dict[str, Any]:
    """The mapping a policy's rules read, for one version."""
    fields: dict[str, Any] = snapshot.fields()
    if snapshot.description is None:
        fields["description"] = Absent(f"{snapshot.ref} has no description")
    fields["age"] = (now - snapshot.created).total_seconds() if snapshot.created is not None else Absent(
        f"{snapshot.ref} has no creation time")
    fields["verified"] = Lazy(verified)
    aliases: dict[str, Any] = {}
    if holder is not None and depth == 0:
        class _Aliases(dict):
            def __contains__(self, alias: object) -> bool:
                return isinstance(alias, str)

            def __getitem__(self, alias: str) -> Any:
                if not dict.__contains__(self, alias):
                    dict.__setitem__(self, alias, Lazy(lambda: _holder_fields(alias)))
                return dict.__getitem__(self, alias)

        def _holder_fields(alias: str) -> Any:
            held = holder(alias)
            if held is None:
                return Absent(f"no version of {snapshot.name} holds alias {alias.upper()}")
            return subject(held, now, verified=lambda: Absent("verified is not read for an alias's holder"),
                           holder=None, depth=1)

        aliases = _Aliases()
    fields["alias"] = aliases
    return fields


def run_gate(snapshot: VersionSnapshot, policy: Policy, now: datetime, verified: Callable[[], bool],
             holder: Callable[[str], VersionSnapshot | None]) -> GateReport:
    results = check(policy, subject(snapshot, now, verified, holder))
    return GateReport(snapshot.name, snapshot.version, snapshot.id, policy.name, policy.sha256, tuple(results))
