"""LightGBM: ``lightgbm.Booster`` (saved as LightGBM's own text model, readable by any
LightGBM and by its CLI) and the scikit-learn API (LGBMClassifier, LGBMRegressor, ...),
saved with cloudpickle because a text model cannot restore the estimator's label
encoding and parameters; its booster's text model is written alongside for portability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreg.errors import InvalidInput
from mlreg.handlers import tabular
from mlreg.handlers.base import has_class
from mlreg.package import pickles

TEXT_FILE = "model/model.txt"
SKLEARN_BASE = "lightgbm.sklearn.LGBMModel"
BOOSTER = "lightgbm.basic.Booster"


def is_booster(model: Any) -> bool:
    return has_class(model, BOOSTER)


class LightGBMHandler(tabular.BoostingHandler):
    type_name = "lightgbm"
    packages = ("lightgbm",)
    sklearn_class = SKLEARN_BASE
    booster_class = BOOSTER

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        if is_booster(model):
            model.save_model(str(writer.path(TEXT_FILE)))
            writer.add_file(TEXT_FILE)
            return {"format": "lightgbm-txt", "files": [TEXT_FILE]}
        pickles.dump_model(model, writer)
        files = [pickles.MODEL_FILE]
        booster = getattr(model, "_Booster", None)
        if booster is not None:
            booster.save_model(str(writer.path(TEXT_FILE)))
            writer.add_file(TEXT_FILE)
            files.append(TEXT_FILE)
        return {"format": "cloudpickle", "files": files}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        fmt = info.get("format")
        if fmt == "cloudpickle":
            return pickles.load_model(package_dir)
        if fmt != "lightgbm-txt":
            raise InvalidInput(f"unknown lightgbm package format {fmt!r}")
        import lightgbm

        return lightgbm.Booster(model_file=str(package_dir / TEXT_FILE))

    def feature_names(self, model: Any) -> list[str] | None:
        if is_booster(model):
            return tabular.named(model.feature_name())
        return tabular.named(tabular.fitted_names(model))

    def feature_count(self, model: Any) -> int | None:
        if is_booster(model):
            return model.num_feature()
        return tabular.fitted_count(model)
