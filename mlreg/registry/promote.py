"""Promotions: an alias moved only after a policy passed, in one transaction that checks
the alias still points where it pointed when the policy was evaluated (compare-and-set),
so two racing promotions cannot both win; protected aliases (a policy stored with the
alias, applied by every promotion, refusing a plain ``alias set``); alias history.

Stored as model-level attributes and events (see ``StoreWriter.set_model_attribute``):

    ALIAS          key: the alias, value: the version name (the objects part's aliases)
    ALIAS_POLICY   key: the alias, value: {"policy", "sha256", "source"}: its protection;
                   setting or removing it is an event like any other
    PROMOTION      an event on the promoted version (key: the alias; old value: the
                   previous holder; new value: the policies' names, sha256 and results)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlreg.errors import GateFailed, NotFound, PromotionConflict
from mlreg.records import ALIAS, SET, Change
from mlreg.registry import aliases
from mlreg.registry.aliases import ALIAS_POLICY, UNSET
from mlreg.registry.core import RegistryCore

if TYPE_CHECKING:
    from mlreg.policy import Policy
    from mlreg.registry.gate import GateReport
    from mlreg.registry.promotion import Promotion

PROMOTION = "PROMOTION"

HISTORY_COLUMNS = ("ALIAS", "VERSION", "FROM", "TO", "ROLE", "PREVIOUS", "POLICIES")


@dataclass(frozen=True)
class PromotionResult:
    model_name: str
    alias: str
    version: str
    previous: str | None
    reports: tuple[GateReport, ...] = field(default=())

    @property
    def moved(self) -> bool:
        return self.previous != self.version

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.model_name, "alias": self.alias, "version": self.version, "previous": self.previous,
                "moved": self.moved, "policies": [r.to_dict() for r in self.reports]}


def stored_policy(value: str | None) -> Policy | None:
    if value is None:
        return None
    data = json.loads(value)
    from mlreg.policy import parse_policy  # the rule parser: only when a policy is stored

    return parse_policy(data["source"], data["policy"])


class Promoter:
    """Promotions and protections of one registry's aliases."""

    def __init__(self, core: RegistryCore, promotion: "Promotion"):
        self._core = core
        self._promotion = promotion

    # -- reading ---------------------------------------------------------------------------
    def holder(self, model_name: str, alias: str) -> str | None:
        """The version that holds a user alias now (None when none does; system aliases
        resolve too)."""
        with self._core.read() as reader:
            info = reader.model(model_name)
        return aliases.resolve(info, alias) if info is not None else None

    def protection(self, model_name: str, alias: str) -> Policy | None:
        """The policy that protects the alias, or None."""
        key = aliases.normalize(alias)
        with self._core.read() as reader:
            info = reader.model(model_name)
        return stored_policy(info.values(ALIAS_POLICY).get(key)) if info is not None else None

    # -- promoting -------------------------------------------------------------------------
    def promote(self, model_name: str, model_version: str, alias: str, policy: Policy | str | Path | None = None,
                expect: str | None = UNSET) -> PromotionResult:
        from mlreg.registry.promotion import as_policy

        given = as_policy(policy) if policy is not None else None
        key = aliases.normalize(alias)
        with self._core.read() as reader:
            row = self._core.row(reader, model_name, model_version)
            info = reader.model(model_name)
            assert info is not None  # the version exists
            key = aliases.check_settable(info, key)
            before = aliases.user_aliases(info).get(key)
            protection_text = info.values(ALIAS_POLICY).get(key)
        if expect is not UNSET and expect != before:
            raise PromotionConflict(
                f"alias {key} of {model_name} is held by {_holder_text(before)}, not {_holder_text(expect)} "
                "(--expect); nothing changed")
        policies = [p for p in (stored_policy(protection_text), given) if p is not None]
        reports = tuple(self._promotion.gate(model_name, row.version, p) for p in policies)
        failed = [f"{r.policy}: {', '.join(r.failed)}" for r in reports if not r.passed]
        if failed:
            with self._core.read() as reader:  # the rules may have read a holder that moved since
                current = reader.model(model_name)
                now = aliases.user_aliases(current).get(key) if current is not None else None
            if now != before:
                raise PromotionConflict(
                    f"alias {key} of {model_name} moved from {_holder_text(before)} to {_holder_text(now)} "
                    "while the policy was checked; nothing changed")
            raise GateFailed(f"promotion of {model_name}/{row.version} to {key} refused: rules failed "
                             f"({'; '.join(failed)})")
        record = json.dumps({"policies": [{"policy": r.policy, "sha256": r.policy_sha256, "passed": r.passed,
                                           "rules": {x.name: x.passed for x in r.rules}} for r in reports]})
        with self._core.write() as writer:
            writer.lock_model(model_name)
            current = writer.model(model_name)
            now = aliases.user_aliases(current).get(key) if current is not None else None
            if now != before or (current.values(ALIAS_POLICY).get(key) if current else None) != protection_text:
                raise PromotionConflict(
                    f"alias {key} of {model_name} moved from {_holder_text(before)} to {_holder_text(now)} "
                    "(or its protection changed) while the policy was checked; nothing changed")
            moved_row = self._core.row(writer, model_name, row.version)
            if now != moved_row.version:
                writer.set_model_attribute(model_name, ALIAS, key, json.dumps(moved_row.version), moved_row)
                writer.record(moved_row, Change(SET, PROMOTION, key, json.dumps(now), record))
        return PromotionResult(model_name, key, row.version, before, reports)

    # -- protecting ------------------------------------------------------------------------
    def protect(self, model_name: str, alias: str, policy: Policy | str | Path) -> Policy:
        """Store a policy with the alias: from now on it moves only by ``promote``, which
        applies it (recorded in the history, as is every change of it)."""
        from mlreg.registry.promotion import as_policy

        rules = as_policy(policy)
        key = aliases.normalize(alias)
        value = json.dumps({"policy": rules.name, "sha256": rules.sha256, "source": rules.source})
        with self._core.write() as writer:
            info = writer.model(model_name)
            if info is None:
                raise NotFound(f"Unable to find model {model_name}")
            key = aliases.check_settable(info, key)
            if info.values(ALIAS_POLICY).get(key) != value:
                writer.set_model_attribute(model_name, ALIAS_POLICY, key, value)
        return rules

    def unprotect(self, model_name: str, alias: str) -> None:
        key = aliases.normalize(alias)
        with self._core.write() as writer:
            if not writer.remove_model_attribute(model_name, ALIAS_POLICY, key):
                raise NotFound(f"alias {key} of {model_name} is not protected")

    # -- history ---------------------------------------------------------------------------
    def history(self, model_name: str, alias: str | None = None,
                as_of: datetime | None = None) -> list[dict[str, Any]]:
        """Every holder of the model's aliases (or of one), in order: ALIAS, VERSION, FROM,
        TO (None while it holds it), ROLE, PREVIOUS, POLICIES (of a promotion)."""
        import duckdb

        key = aliases.normalize(alias) if alias is not None else None
        col, const = duckdb.ColumnExpression, duckdb.ConstantExpression
        with self._core.store.scan_history() as history:
            rel = history.filter((col("MODEL_NAME") == const(model_name))
                                 & col("ATTRIBUTE_NAME").isin(const(ALIAS), const(PROMOTION)))
            if key is not None:
                rel = rel.filter(col("KEY") == const(key))
            if as_of is not None:
                rel = rel.filter(col("EVENT_TIMESTAMP") <= const(as_of))
            events = rel.order("EVENT_ID").select("EVENT_TIMESTAMP, ROLE, OPERATION, ATTRIBUTE_NAME, KEY, "
                                                  "OLD_VALUE::VARCHAR, NEW_VALUE::VARCHAR").fetchall()
        rows: list[dict[str, Any]] = []
        open_rows: dict[str, dict[str, Any]] = {}
        for when, role, op, attribute, name, old, new in events:
            if attribute == PROMOTION:
                if name in open_rows:
                    open_rows[name]["POLICIES"] = json.loads(new)["policies"]
                continue
            if name in open_rows:
                open_rows.pop(name)["TO"] = when
            if op == SET and new is not None:
                row = {"ALIAS": name, "VERSION": json.loads(new), "FROM": when, "TO": None, "ROLE": role,
                       "PREVIOUS": json.loads(old) if old else None, "POLICIES": None}
                rows.append(row)
                open_rows[name] = row
        return rows

    def aliases_at(self, model_name: str, at: datetime) -> dict[str, str]:
        """The model's aliases as they were at ``at``: alias -> version."""
        return {r["ALIAS"]: r["VERSION"] for r in self.history(model_name, as_of=at) if r["TO"] is None}


def _holder_text(version: str | None) -> str:
    return "no version" if version is None else f"version {version}"
