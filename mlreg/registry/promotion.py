"""The promotion part of a registry: snapshots of versions, policy gates, diffs and
model cards (and, with aliases, promotions). Composed from small pure modules:
``mlreg.policy`` (the rule language), ``gate``, ``diff``, ``card``, ``asof``, each imported
by the method that uses it: every registry has this part, and `mlreg list` should not pay
for the rule parser."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlreg.errors import UsageError
from mlreg.names import validate_name
from mlreg.registry.core import RegistryCore
from mlreg.registry.snapshot import VersionSnapshot

if TYPE_CHECKING:
    from mlreg.policy import Policy
    from mlreg.registry.diff import VersionDiff
    from mlreg.registry.gate import AliasLookup, GateReport
    from mlreg.registry.maintenance import Maintenance


def split_reference(reference: str) -> tuple[str, str]:
    """``NAME@VERSION`` (or ``NAME/VERSION``) -> (NAME, VERSION); the version part may be an alias."""
    for sep in ("@", "/"):
        name, found, version = reference.partition(sep)
        if found:
            return validate_name(name, "model name"), validate_name(version, "model version")
    raise UsageError(f"expected NAME@VERSION, got {reference!r}")


def as_policy(policy: Policy | str | Path) -> Policy:
    from mlreg.policy import Policy, load_policy

    return policy if isinstance(policy, Policy) else load_policy(policy)


def _no_aliases(model_name: str, alias: str) -> str | None:
    return None


class Promotion:
    """Gates, diffs, cards and point-in-time reads of a registry's versions."""

    def __init__(self, core: RegistryCore, maintenance: "Maintenance", aliases: AliasLookup | None = None,
                 resolve_version: Callable[[str, str], str] | None = None):
        self._core = core
        self._maintenance = maintenance
        #: where alias holders come from (mlreg.registry.gate.AliasLookup)
        self.aliases: AliasLookup = aliases or _no_aliases
        #: a version name or alias -> the version name (identity until aliases exist)
        self.resolve_version: Callable[[str, str], str] = resolve_version or (lambda name, version: version)

    # -- snapshots ---------------------------------------------------------------------
    def snapshot(self, model_name: str, model_version: str, as_of: datetime | str | None = None,
                 sizes: bool = False) -> VersionSnapshot:
        """Everything recorded about a version (as it was at ``as_of``, deleted since or not);
        ``sizes`` reads the package for the size of each file."""
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        if as_of is not None:
            from mlreg.registry import asof

            return asof.snapshot(self._core, model_name, model_version, asof.moment(as_of, self._core.clock()))
        version = self.resolve_version(model_name, model_version)
        with self._core.read() as reader:
            row = self._core.row(reader, model_name, version)
            record = reader.listing_row(row.id)
        record.update({"MANIFEST": row.manifest, "FILES": row.files})
        snap = VersionSnapshot.of(record)
        if sizes:
            local = self._core.stage.local_dir(row.id, row.files)
            snap = snap.with_sizes({p: (Path(local) / p).stat().st_size for p in row.files})
        return snap

    def _verified(self, model_name: str, model_version: str) -> bool:
        return all(r.ok for r in self._maintenance.verify(model_name, model_version))

    def _holder(self, model_name: str) -> Callable[[str], VersionSnapshot | None]:
        def holder(alias: str) -> VersionSnapshot | None:
            version = self.aliases(model_name, alias)
            return None if version is None else self.snapshot(model_name, version)

        return holder

    # -- gates -------------------------------------------------------------------------
    def gate(self, model_name: str, model_version: str, policy: Policy | str | Path) -> GateReport:
        """Every rule of ``policy`` (a Policy or a TOML file) over the version: what `mlreg gate` prints."""
        from mlreg.registry.gate import run_gate

        rules = as_policy(policy)
        snap = self.snapshot(model_name, model_version)
        return run_gate(snap, rules, self._core.clock(), lambda: self._verified(snap.name, snap.version),
                        self._holder(snap.name))

    # -- diffs and cards ---------------------------------------------------------------
    def diff(self, a: str | tuple[str, str], b: str | tuple[str, str], sizes: bool = True) -> VersionDiff:
        """What differs between two versions (``NAME@VERSION`` or (name, version)), also
        across model names."""
        from mlreg.registry import diff

        (na, va), (nb, vb) = (split_reference(x) if isinstance(x, str) else x for x in (a, b))
        return diff.compare(self.snapshot(na, va, sizes=sizes), self.snapshot(nb, vb, sizes=sizes))

    def card(self, model_name: str, model_version: str) -> str:
        """The Markdown model card of a version (with the aliases it has held)."""
        from mlreg.registry import card
        from mlreg.registry.promote import Promoter

        snap = self.snapshot(model_name, model_version, sizes=True)
        held = [h for h in Promoter(self._core, self).history(snap.name) if h["VERSION"] == snap.version]
        return card.render(snap, held)
