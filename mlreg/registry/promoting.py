"""The registry's promotion methods (a part of :class:`~mlreg.registry.registry.ModelRegistry`):
gates, diffs, model cards, the registry as of a moment, and aliases moved under a policy.
A mixin so that registry.py stays the seed's API; the parts it calls are made, and their
modules imported, on first use (a listing or a tag write never needs them).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlreg.registry.aliases import UNSET

if TYPE_CHECKING:
    from datetime import datetime

    from mlreg.policy import Policy
    from mlreg.registry.asof import RegistryAsOf
    from mlreg.registry.core import RegistryCore
    from mlreg.registry.diff import VersionDiff
    from mlreg.registry.gate import GateReport
    from mlreg.registry.maintenance import Maintenance
    from mlreg.registry.promote import Promoter, PromotionResult
    from mlreg.registry.promotion import Promotion


class PromotionMethods:
    """What ModelRegistry does with policies and promotions (its ``_core`` and ``_maintenance``)."""

    _core: RegistryCore
    if TYPE_CHECKING:
        @property
        def _maintenance(self) -> Maintenance: ...

    @cached_property
    def _promotions(self) -> "tuple[Promotion, Promoter]":
        from mlreg.registry.promote import Promoter
        from mlreg.registry.promotion import Promotion

        promotion = Promotion(self._core, self._maintenance)
        promoter = Promoter(self._core, promotion)
        promotion.aliases = promoter.holder  # alias.NAME in policies
        return promotion, promoter

    @property
    def _promotion(self) -> "Promotion":
        return self._promotions[0]

    @property
    def _promoter(self) -> "Promoter":
        return self._promotions[1]

    # -- promotion in CI ------------------------------------------------------------------------
    @property
    def promotion(self) -> "Promotion":
        """The promotion part: snapshots, gates, diffs, model cards."""
        return self._promotion

    def gate(self, model_name: str, model_version: str, policy: "Policy | str | Path") -> "GateReport":
        """Evaluate every rule of a policy (a :class:`mlreg.policy.Policy` or a TOML file)
        over the version. The report says which rules pass, with the values each read;
        nothing is changed. A malformed rule raises UsageError naming the rule and column."""
        return self._promotion.gate(model_name, model_version, policy)

    def diff(self, a: "str | tuple[str, str]", b: "str | tuple[str, str]") -> "VersionDiff":
        """What differs between two versions (``"NAME@VERSION"`` or (name, version), also of
        two models): description, tags, metrics with deltas, signatures, environment,
        requirements, files (sha256 and size), creation context."""
        return self._promotion.diff(a, b)

    def model_card(self, model_name: str, model_version: str) -> str:
        """A Markdown model card of the version, generated from the registry (stable bytes)."""
        return self._promotion.card(model_name, model_version)

    def as_of(self, moment: "datetime | str") -> "RegistryAsOf":
        """A read-only view of the registry as it was at ``moment`` (a datetime, ISO 8601
        text, or a time ago such as ``"3d"``), answered from the history, deleted versions
        included."""
        from mlreg.registry.asof import RegistryAsOf, moment as to_moment

        return RegistryAsOf(self._core, to_moment(moment, self._core.clock()))

    # -- promotions (aliases moved under a policy) ----------------------------------------------
    def promote(self, model_name: str, model_version: str, alias: str, policy: "Policy | str | Path | None" = None,
                expect: "str | None" = UNSET) -> PromotionResult:
        """Move ``alias`` to the version after its policies pass: ``policy`` (a Policy or a
        TOML file) and the one stored with the alias if it is protected (GateFailed, exit 7,
        when a rule fails). The move is a compare-and-set: it happens only if the alias
        still names the version it named when the policies were checked, and ``expect``
        when given (a version, or None: no version); else PromotionConflict (exit 4) and
        nothing changes. Recorded with the previous holder and the policies' results."""
        return self._promoter.promote(model_name, model_version, alias, policy, expect)

    def protect_alias(self, model_name: str, alias: str, policy: "Policy | str | Path") -> "Policy":
        """Store a policy with the alias: it then moves only by :meth:`promote`, which
        applies it; ``set_alias``/``unset_alias`` of it raise GateFailed. Recorded."""
        return self._promoter.protect(model_name, alias, policy)

    def unprotect_alias(self, model_name: str, alias: str) -> None:
        """Remove an alias's protection (NotFound when it has none). Recorded."""
        self._promoter.unprotect(model_name, alias)

    def get_alias_protection(self, model_name: str, alias: str) -> "Policy | None":
        """The policy protecting the alias, or None."""
        return self._promoter.protection(model_name, alias)

    def get_alias_history(self, model_name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every holder of the model's aliases (or of one), oldest first: ALIAS, VERSION,
        FROM, TO (None while it holds it), ROLE, PREVIOUS, POLICIES (of a promotion)."""
        return self._promoter.history(model_name, alias)
