"""The seed's ``model_registry`` module: create_model_registry, ModelRegistry, ModelReference."""

from mlreg.registry.create import RegistryExistsWarning, create_model_registry
from mlreg.registry.reference import ModelReference
from mlreg.registry.registry import EnvironmentWarning, ModelRegistry

__all__ = [
    "EnvironmentWarning",
    "ModelReference",
    "ModelRegistry",
    "RegistryExistsWarning",
    "create_model_registry",
]
