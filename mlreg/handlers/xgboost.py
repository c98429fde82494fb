"""XGBoost: the scikit-learn API (XGBClassifier, XGBRegressor, ...) and ``xgboost.Booster``.

Saved in XGBoost's own UBJSON format, which any XGBoost >= 1.6 reads regardless of the
Python or pickle protocol; the estimator's parameters go to the manifest so the loaded
object is the estimator that was logged, not just its trees. A subclass defined outside
xgboost, or a custom Python objective, falls back to cloudpickle.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from mlreg.errors import InvalidInput
from mlreg.handlers import tabular
from mlreg.handlers.base import has_class
from mlreg.package import pickles

NATIVE_FILE = "model/model.ubj"
SKLEARN_BASE = "xgboost.sklearn.XGBModel"
BOOSTER = "xgboost.core.Booster"


def is_booster(model: Any) -> bool:
    return has_class(model, BOOSTER)


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that survive JSON unchanged (callables and objects are dropped)."""
    out = {}
    for k, v in params.items():
        try:
            if json.loads(json.dumps(v)) == v:
                out[k] = v
        except (TypeError, ValueError):
            continue
    return out


class XGBoostHandler(tabular.BoostingHandler):
    type_name = "xgboost"
    packages = ("xgboost", "xgboost-cpu")
    sklearn_class = SKLEARN_BASE
    booster_class = BOOSTER

    def _native_ok(self, model: Any) -> bool:
        if is_booster(model):
            return True
        if not type(model).__module__.startswith("xgboost."):
            return False  # a user subclass: only pickle brings its code along
        if callable(getattr(model, "objective", None)):
            return False
        try:
            model.get_booster()
        except Exception:  # noqa: BLE001 - not fitted
            return False
        return True

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        if not self._native_ok(model):
            pickles.dump_model(model, writer)
            return {"format": "cloudpickle", "files": [pickles.MODEL_FILE]}
        model.save_model(str(writer.path(NATIVE_FILE)))
        writer.add_file(NATIVE_FILE)
        cls = type(model)
        info: dict[str, Any] = {"format": "xgboost-ubj", "files": [NATIVE_FILE], "class": f"{cls.__module__}.{cls.__qualname__}"}
        if not is_booster(model):
            info["params"] = json_params(model.get_params())
        return info

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        fmt = info.get("format")
        if fmt == "cloudpickle":
            return pickles.load_model(package_dir)
        if fmt not in ("xgboost-ubj", "xgboost-json"):
            raise InvalidInput(f"unknown xgboost package format {fmt!r}")
        path = str(package_dir / info["files"][0])
        module, _, name = str(info.get("class", "xgboost.core.Booster")).rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        if is_booster_class(cls):
            return cls(model_file=path)
        model = cls(**info.get("params", {}))
        model.load_model(path)
        return model

    def feature_names(self, model: Any) -> list[str] | None:
        if is_booster(model):
            return list(model.feature_names) if model.feature_names else None
        return tabular.fitted_names(model)

    def feature_count(self, model: Any) -> int | None:
        if is_booster(model):
            return model.num_features()
        return tabular.fitted_count(model)

    def call(self, model: Any, method: str, data: Any) -> Any:
        if is_booster(model):
            import xgboost

            if not isinstance(data, xgboost.DMatrix):
                data = xgboost.DMatrix(data)
            return model.predict(data)
        return getattr(model, method)(data)


def is_booster_class(cls: type) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" == BOOSTER for c in cls.__mro__)
