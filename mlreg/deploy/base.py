"""The deployment platform interface: one per target platform.

The registry (``mlreg/registry/deployments.py``) validates names, records the deployment
and its history events, and calls the platform for everything that runs. A platform
knows nothing of the registry: it gets a :class:`PlatformContext` (where the registry's
packages live, where local state goes) and, for each deployment, the
:class:`~mlreg.runtime.spec.ScoringSpec` of the model method it runs. Platforms are
imported lazily, by platform.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlreg.deploy_platforms import ALIASES, TargetPlatform
from mlreg.errors import InvalidInput
from mlreg.records import Deployment, ModelRow
from mlreg.runtime.spec import PackageSpec, ScoringSpec

__all__ = ["Deployment", "Platform", "PlatformContext", "get_platform", "platform_of"]


@dataclass(frozen=True)
class PlatformContext:
    """What a platform may know of the registry it deploys from."""

    registry: str  # the registry's store URL: names it in messages and process-wide caches
    database: str
    stage: str  # the registry's stage URL
    home: Path  # where platforms keep local state (e.g. ``<home>/services/<database>/``)
    stage_options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def package(self, row: ModelRow) -> PackageSpec:
        """The package of a registered version, on the registry's stage."""
        return PackageSpec.of(row, self.stage, self.database, self.stage_options)


class Platform(ABC):
    platform: TargetPlatform
    #: options every platform accepts (the seed's "options for all deployments")
    common_options = {"output_with_input_features": False, "keep_order": True}

    @abstractmethod
    def check_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate options and fill in defaults (InvalidInput naming a bad one).
        Returns ``(recorded, secrets)``: ``recorded`` is stored in the registry and shown
        by `deploy show`, so it must never hold a secret (e.g. ``auth_token``: record a
        marker or a hash); ``secrets`` holds such values for :meth:`create` only."""

    def scoring_spec(self, ctx: PlatformContext, row: ModelRow, deployment: Deployment) -> ScoringSpec:
        """The spec of what ``deployment`` runs (the registry's package unless the
        platform keeps a copy of its own, as ``details`` say)."""
        return ScoringSpec.of(row, deployment.target_method, ctx.package(row), deployment.name, deployment.options)

    @abstractmethod
    def create(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment,
               secrets: dict[str, Any]) -> dict[str, Any]:
        """Bring the deployment up; return the ``details`` to record. ``secrets`` holds
        the option values that ``check_options`` kept out of the record."""

    def prepare(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment) -> None:
        """Check what :meth:`create` needs (the verified package, a signature) before a
        deployment it replaces is torn down, so that a replacement bound to fail leaves
        the old one running."""
        from mlreg.runtime import loading

        spec.model_signature()
        loading.verified(spec.package, what=spec.label)

    def runs_beside(self, old: Deployment, new: Deployment) -> bool:
        """Whether ``new`` can be brought up while ``old`` (of this platform, same name)
        still runs, so that ``old`` is torn down only once ``new`` is ready."""
        return False

    @abstractmethod
    def predict(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, data: Any) -> Any:
        """Score ``data`` through the deployment."""

    def predict_file(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, source: Path,
                     output: Path, output_format: str | None = None) -> int:
        """Score a Parquet/CSV/JSON file into a file (written whole or not at all);
        returns the rows written. Platforms that can stream override this."""
        from mlreg.data import readers, writers

        result = self.predict(ctx, spec, deployment, readers.read_table(source))
        return writers.write_file(result.schema, result.to_batches(), output, output_format)

    def status(self, deployment: Deployment) -> str:
        """'running', 'stopped', 'unhealthy' or 'ready' (a warehouse function needs no process)."""
        return "ready"

    @abstractmethod
    def delete(self, ctx: PlatformContext, deployment: Deployment) -> None:
        """Tear the deployment down (stop processes, drop functions). Idempotent."""


_PLATFORMS = {
    TargetPlatform.WAREHOUSE: ("mlreg.deploy.warehouse", "WarehousePlatform"),
    TargetPlatform.SERVICE: ("mlreg.deploy.service", "ServicePlatform"),
    TargetPlatform.SPARK: ("mlreg.deploy.spark", "SparkPlatform"),
}


def platform_of(value: Any) -> TargetPlatform:
    if isinstance(value, TargetPlatform):
        return value
    text = str(value).strip().lower()
    if text in ALIASES:
        return ALIASES[text]
    try:
        return TargetPlatform(text)
    except ValueError:
        known = ", ".join(p.value for p in TargetPlatform)
        raise InvalidInput(f"unknown platform {value!r}; known: {known}") from None


def get_platform(platform: TargetPlatform) -> Platform:
    module, cls = _PLATFORMS[platform]
    return getattr(importlib.import_module(module), cls)()
