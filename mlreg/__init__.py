"""mlreg: a model registry that lives in a file.

    import mlreg
    from mlreg import model_registry, deploy_platforms
    session = mlreg.Session.builder.configs(mlreg.login_options()).create()
    registry = model_registry.ModelRegistry(session=session)

Submodules are imported lazily so that ``import mlreg`` stays cheap.
"""

from __future__ import annotations

import importlib

from mlreg._version import __version__
from mlreg.errors import (
    AlreadyExists,
    IntegrityError,
    InvalidInput,
    MlregError,
    NotFound,
    RegistryBusy,
)

TYPE_CHECKING = False  # not typing's: importing typing (and re, enum) costs `mlreg --help` ~6 ms
if TYPE_CHECKING:
    from typing import Any

_LAZY = {"model_registry", "deploy_platforms", "model_signature", "functions"}
_SESSION = {"Session", "connect", "login_options"}

__all__ = [
    "AlreadyExists",
    "IntegrityError",
    "InvalidInput",
    "MlregError",
    "NotFound",
    "RegistryBusy",
    "Session",
    "__version__",
    "connect",
    "deploy_platforms",
    "functions",
    "login_options",
    "model_registry",
    "model_signature",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"mlreg.{name}")
    if name in _SESSION:  # config reading (tomllib, getpass) is not needed for --help
        return getattr(importlib.import_module("mlreg.session"), name)
    raise AttributeError(f"module 'mlreg' has no attribute {name!r}")
