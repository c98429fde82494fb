from mlreg.registry.create import create_model_registry
from mlreg.registry.reference import ModelReference
from mlreg.registry.registry import ModelRegistry

__all__ = ["ModelRegistry", "ModelReference", "create_model_registry"]
