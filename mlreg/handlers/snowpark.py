"""Snowpark ML estimators and transformers (``snowflake.ml.modeling.*``), fitted on
pandas with no Snowflake account. They carry their own signatures once fitted
(``model_signatures``), as in the seed, so no sample input is needed. Saved with
cloudpickle; ``.to_sklearn()`` gives the plain estimator to users who want one.

Their methods return the input columns plus the outputs; the output table keeps only
the columns the method added.
"""

from __future__ import annotations

from typing import Any

from mlreg.data.signature import DataType, FeatureSpec, ModelSignature
from mlreg.errors import InvalidInput
from mlreg.handlers.base import KNOWN_METHODS, PickledHandler, has_class

BASE = "snowflake.ml.modeling.framework.base.BaseEstimator"


def _model_signatures(model: Any) -> dict[str, Any] | None:
    try:
        sigs = getattr(model, "model_signatures", None)
    except Exception:  # noqa: BLE001 - an unfitted estimator raises from the property
        return None
    return sigs if isinstance(sigs, dict) and sigs else None


def _broken(model: Any, method: str) -> bool:
    """Snowpark ML (2.6) fails on a binary classifier's decision_function: it expects one
    column per class where scikit-learn gives one column in all."""
    if method != "decision_function":
        return False
    try:
        inner = getattr(model, "_sklearn_object", None) or model.to_sklearn()
    except Exception:  # noqa: BLE001 - probing a third-party object
        return False
    classes = getattr(inner, "classes_", None)
    return classes is not None and len(classes) == 2


class SnowparkHandler(PickledHandler):
    type_name = "snowpark"
    carries_signature = True
    packages = ("snowflake-ml-python", "scikit-learn")

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        if isinstance(model, type):
            return False
        return type(model).__module__.startswith("snowflake.ml.modeling.") or has_class(model, BASE)

    def model_packages(self, model: Any) -> list[str]:
        module = type(model).__module__
        extra = {"snowflake.ml.modeling.xgboost": ["xgboost", "xgboost-cpu"], "snowflake.ml.modeling.lightgbm": ["lightgbm"]}
        return list(self.packages) + next((v for k, v in extra.items() if module.startswith(k)), [])

    def target_methods(self, model: Any) -> list[str]:
        sigs = _model_signatures(model)
        if sigs:
            return [m for m in KNOWN_METHODS if m in sigs and not _broken(model, m)]
        return [m for m in ("predict", "transform") if callable(getattr(model, m, None))]

    def native_signatures(self, model: Any) -> dict[str, Any] | None:
        sigs = _model_signatures(model)
        if not sigs:
            return None

        def convert(spec: Any) -> FeatureSpec:
            dtype = getattr(spec, "_dtype", None)
            if dtype is None:  # a FeatureGroupSpec
                raise InvalidInput(f"Snowpark ML signature feature {getattr(spec, 'name', spec)!r} is a group; pass signatures=")
            return FeatureSpec(spec.name, DataType(dtype.name), getattr(spec, "_shape", None))

        out = {}
        methods = self.target_methods(model)
        for method, sig in sigs.items():
            if method not in methods:
                continue
            inputs = tuple(convert(s) for s in sig.inputs)
            names = {f.name for f in inputs}
            outputs = tuple(convert(s) for s in sig.outputs if s.name not in names)
            out[method] = ModelSignature(inputs=inputs, outputs=outputs)
        return out or None

    def prepare_sample(self, model: Any, sample: Any) -> Any:
        """Only the estimator's input columns are features (not its label columns)."""
        try:
            cols = list(model.get_input_cols())
        except Exception:  # noqa: BLE001 - probing a third-party object
            return sample
        if cols and hasattr(sample, "columns"):
            missing = [c for c in cols if c not in sample.columns]
            if missing:
                raise InvalidInput(f"sample input lacks the estimator's input column(s): {', '.join(missing)}")
            return sample[cols]
        return sample

    def call(self, model: Any, method: str, data: Any) -> Any:
        import warnings

        with warnings.catch_warnings():
            # "... uses the first 100 rows to define signatures": not news at predict time
            warnings.simplefilter("ignore", UserWarning)
            result = getattr(model, method)(data)
        if hasattr(data, "columns") and hasattr(result, "columns"):
            added = [c for c in result.columns if c not in set(data.columns)]
            if not added:  # a transformer writing its outputs over its inputs
                added = [c for c in model.get_output_cols() if c in result.columns]
            return result[added]
        return result
