from mlreg.registry.create import create_model_registry
from mlreg.registry.reference import ModelReference
from mlreg.registry.registry import ModelRegistry


def __getattr__(name: str):  # Registry, Model, ModelVersion: imported when first used
    if name in ("Registry", "Model", "ModelVersion"):
        from mlreg.registry import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlreg.registry' has no attribute {name!r}")


__all__ = ["Model", "ModelRegistry", "ModelReference", "ModelVersion", "Registry", "create_model_registry"]
