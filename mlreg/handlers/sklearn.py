"""scikit-learn estimators and Pipelines, and anything else built on
``sklearn.base.BaseEstimator`` that no more specific handler claims. Saved with
cloudpickle: scikit-learn has no portable format of its own."""

from __future__ import annotations

from typing import Any

from mlreg.handlers.base import PickledHandler, has_class
from mlreg.handlers.tabular import TabularHandler


# estimators from other libraries that a Pipeline or ensemble may hold
_DISTRIBUTIONS = {"xgboost": ["xgboost", "xgboost-cpu"], "lightgbm": ["lightgbm"], "catboost": ["catboost"]}


def nested_packages(model: Any) -> list[str]:
    try:
        params = model.get_params(deep=True).values()
    except Exception:  # noqa: BLE001 - probing a third-party object
        return []
    roots = {type(v).__module__.split(".")[0] for v in params if hasattr(v, "get_params")}
    return sorted(d for r in roots for d in _DISTRIBUTIONS.get(r, []))


class SklearnHandler(PickledHandler, TabularHandler):
    type_name = "sklearn"
    packages = ("scikit-learn",)

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return not isinstance(model, type) and has_class(model, "sklearn.base.BaseEstimator")

    def model_packages(self, model: Any) -> list[str]:
        return list(self.packages) + nested_packages(model)
