"""snowflake-ml-python's public registry API on a local registry: ``Registry``,
``Model``, ``ModelVersion`` (see ``registry``)."""

from mlreg.registry.api.model import Model
from mlreg.registry.api.model_version import ModelVersion, Task
from mlreg.registry.api.registry import Registry

__all__ = ["Model", "ModelVersion", "Registry", "Task"]
