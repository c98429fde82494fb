"""scikit-learn estimators and Pipelines, and anything else built on
``sklearn.base.BaseEstimator`` that no more specific handler claims. Saved with
cloudpickle: scikit-learn has no portable format of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreg.handlers import tabular
from mlreg.handlers.base import ModelHandler, has_class
from mlreg.handlers.custom import PICKLE_FILE, dump_pickle, load_pickle


# estimators from other libraries that a Pipeline or ensemble may hold
_DISTRIBUTIONS = {"xgboost": ["xgboost", "xgboost-cpu"], "lightgbm": ["lightgbm"], "catboost": ["catboost"]}


def nested_packages(model: Any) -> list[str]:
    try:
        params = model.get_params(deep=True).values()
    except Exception:
        return []
    roots = {type(v).__module__.split(".")[0] for v in params if hasattr(v, "get_params")}
    return sorted(d for r in roots for d in _DISTRIBUTIONS.get(r, []))


class SklearnHandler(ModelHandler):
    type_name = "sklearn"
    packages = ("scikit-learn",)

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return not isinstance(model, type) and has_class(model, "sklearn.base.BaseEstimator")

    def model_packages(self, model: Any) -> list[str]:
        return list(self.packages) + nested_packages(model)

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        dump_pickle(model, writer)
        return {"format": "cloudpickle", "files": [PICKLE_FILE]}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        return load_pickle(package_dir)

    def prepare_sample(self, model: Any, sample: Any) -> Any:
        return tabular.select_sample(sample, tabular.fitted_names(model), tabular.fitted_count(model), type(model).__name__)

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> Any:
        return tabular.to_model_input(frame, tabular.fitted_names(model))
