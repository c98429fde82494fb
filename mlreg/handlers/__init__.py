"""Model types. Detection order matters: more specific handlers first (Snowpark ML
estimators look like scikit-learn ones; everything is a custom model)."""

from __future__ import annotations

import importlib
from typing import Any

from mlreg.errors import InvalidInput
from mlreg.handlers.base import ModelHandler

__all__ = ["ModelHandler", "detect", "get_handler", "handler_names", "load_model_file", "register"]

# (type name, module, class): imported only when needed
_HANDLERS: list[tuple[str, str, str]] = [
    ("mlflow", "mlreg.handlers.mlflow", "MLflowHandler"),  # also claims MLflow model directories
    ("snowpark", "mlreg.handlers.snowpark", "SnowparkHandler"),  # before sklearn: they look alike
    ("xgboost", "mlreg.handlers.xgboost", "XGBoostHandler"),  # before sklearn: sklearn API classes
    ("lightgbm", "mlreg.handlers.lightgbm", "LightGBMHandler"),  # before sklearn: sklearn API classes
    ("pytorch", "mlreg.handlers.pytorch", "PyTorchHandler"),
    ("tensorflow", "mlreg.handlers.tensorflow", "TensorFlowHandler"),
    ("sklearn", "mlreg.handlers.sklearn", "SklearnHandler"),
    ("custom", "mlreg.handlers.custom", "CustomHandler"),
]


def register(type_name: str, module: str, cls: str, before: str = "custom") -> None:
    """Add a handler ahead of ``before`` in the detection order."""
    names = [h[0] for h in _HANDLERS]
    if type_name in names:
        return
    _HANDLERS.insert(names.index(before), (type_name, module, cls))


def handler_names() -> list[str]:
    return [h[0] for h in _HANDLERS]


def get_handler(type_name: str) -> ModelHandler:
    for name, module, cls in _HANDLERS:
        if name == type_name:
            return getattr(importlib.import_module(module), cls)()
    raise InvalidInput(f"unknown model type {type_name!r}; known: {', '.join(handler_names())}")


def detect(model: Any) -> ModelHandler:
    for _name, module, cls in _HANDLERS:
        handler_cls = getattr(importlib.import_module(module), cls)
        if handler_cls.can_handle(model):
            return handler_cls()
    raise InvalidInput(f"no handler for a model of type {type(model).__name__}")  # pragma: no cover


def load_model_file(path: Any, type_name: str | None = None) -> Any:
    """The model object a file or directory holds (what ``mlreg log MODEL`` logs):
    pickle/cloudpickle/joblib, XGBoost .json/.ubj, LightGBM .txt, torch .pt, Keras .keras,
    an MLflow model directory or a TensorFlow SavedModel directory. ``type_name`` forces
    a handler's reader."""
    from mlreg.handlers.files import load_model_file as load

    handler = get_handler(type_name) if type_name else None  # refuses an unknown type first
    return load(path, type_name, handler)
