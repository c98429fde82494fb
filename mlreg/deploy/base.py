"""The deployment backend interface: one per target platform.

The registry (``mlreg/registry/deployments.py``) validates names, records the
deployment row and its history events, and calls the backend for everything
platform-specific. Backends are imported lazily by platform.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    from mlreg.registry.registry import ModelRegistry, ModelRow


@dataclass
class Deployment:
    """One deployment, as stored in the registry's ``deployments`` table (or, for a
    temporary warehouse deployment, only in the deploying process)."""

    name: str
    model_id: str
    model_name: str
    model_version: str
    platform: TargetPlatform
    target_method: str
    signature: dict[str, Any]
    options: dict[str, Any]  # as recorded: never holds a secret
    details: dict[str, Any] = field(default_factory=dict)  # backend state (pid, port, url, ...)
    created_time: datetime | None = None
    role: str = ""
    permanent: bool = True


class Backend(ABC):
    platform: TargetPlatform
    #: options every platform accepts (the seed's "options for all deployments")
    common_options = {"output_with_input_features": False, "keep_order": True}

    @abstractmethod
    def check_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate options and fill in defaults (InvalidInput naming a bad one).
        Returns ``(recorded, secrets)``: ``recorded`` is stored in the registry and shown
        by `deploy show`, so it must never hold a secret (e.g. ``auth_token``: record a
        marker or a hash); ``secrets`` holds such values for :meth:`create` only."""

    @abstractmethod
    def create(self, registry: "ModelRegistry", row: "ModelRow", deployment: Deployment, secrets: dict[str, Any]) -> dict[str, Any]:
        """Bring the deployment up; return the backend ``details`` to record. ``secrets``
        holds the option values that ``check_options`` kept out of the record."""

    @abstractmethod
    def predict(self, registry: "ModelRegistry", deployment: Deployment, data: Any) -> Any:
        """Score ``data`` through the deployment."""

    def status(self, deployment: Deployment) -> str:
        """'running', 'stopped' or 'ready' (a warehouse function needs no process)."""
        return "ready"

    @abstractmethod
    def delete(self, registry: "ModelRegistry", deployment: Deployment) -> None:
        """Tear the deployment down (stop processes, drop functions). Idempotent."""


_BACKENDS = {
    TargetPlatform.WAREHOUSE: ("mlreg.deploy.warehouse", "WarehouseBackend"),
    TargetPlatform.SERVICE: ("mlreg.deploy.service", "ServiceBackend"),
}


def platform_of(value: Any) -> TargetPlatform:
    if isinstance(value, TargetPlatform):
        return value
    try:
        return TargetPlatform(str(value).lower())
    except ValueError:
        known = ", ".join(p.value for p in TargetPlatform)
        raise InvalidInput(f"unknown platform {value!r}; known: {known}") from None


def get_backend(platform: TargetPlatform) -> Backend:
    module, cls = _BACKENDS[platform]
    return getattr(importlib.import_module(module), cls)()
