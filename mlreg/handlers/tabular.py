"""What the handlers of tabular models share (scikit-learn, XGBoost, LightGBM): the
features an estimator was fitted on decide which sample columns are features (a label
column in the sample is not one) and whether the model takes a frame or a matrix.
``TabularHandler`` is their common base."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from mlreg.data import tables
from mlreg.errors import InvalidInput
from mlreg.handlers.base import ModelHandler, has_class

if TYPE_CHECKING:
    import pandas as pd

_DEFAULT_NAME = re.compile(r"^Column_\d+$")  # LightGBM's names for unnamed features


def fitted_names(model: Any) -> list[str] | None:
    """Feature names the estimator was fitted on (sklearn API), None when unnamed."""
    try:
        names = getattr(model, "feature_names_in_", None)
    except Exception:  # noqa: BLE001 - some estimators raise NotFittedError from the property
        return None
    return [str(n) for n in names] if names is not None else None


def fitted_count(model: Any) -> int | None:
    try:
        n = getattr(model, "n_features_in_", None)
    except Exception:  # noqa: BLE001 - probing a third-party object
        return None
    return int(n) if n is not None else None


def named(names: Sequence[str] | None) -> list[str] | None:
    """Feature names, or None when every name is a framework default (LightGBM's Column_0)."""
    if not names or all(_DEFAULT_NAME.match(n) for n in names):
        return None
    return list(names)


def select_sample(sample: Any, names: list[str] | None, count: int | None, what: str) -> Any:
    """Keep only the columns the model was fitted on; refuse a sample whose unnamed
    columns cannot be matched to the model's features."""
    frame_like = tables.is_frame(sample)
    if names is not None and frame_like:
        missing = [n for n in names if n not in sample.columns]
        if missing:
            raise InvalidInput(
                f"sample input lacks column(s) the {what} was fitted on: {', '.join(missing)}; "
                f"it has: {', '.join(map(str, sample.columns))}"
            )
        return sample[names]
    width = len(sample.columns) if frame_like else (sample.shape[1] if getattr(sample, "ndim", 0) == 2 else None)
    if count is not None and width is not None and width != count:
        raise InvalidInput(
            f"the {what} takes {count} features but the sample input has {width} columns; "
            "pass only the feature columns (no label), in training order"
        )
    return sample


def to_model_input(frame: "pd.DataFrame", names: list[str] | None) -> Any:
    """A validated frame as what a tabular model takes: a frame named like the training
    data when the model knows feature names, else a numeric matrix."""
    if names is not None:
        if list(frame.columns) != names:
            frame = frame.set_axis(names, axis=1) if len(names) == len(frame.columns) else frame
        return frame
    return to_matrix(frame)


def to_matrix(frame: "pd.DataFrame") -> Any:
    import numpy as np
    from pandas.api import types as pt

    if all(pt.is_numeric_dtype(t) or pt.is_bool_dtype(t) for t in frame.dtypes):
        plain = {str(t) for t in frame.dtypes}
        if len(plain) == 1 and all(isinstance(t, np.dtype) for t in frame.dtypes):
            return frame.to_numpy()
        return frame.to_numpy(dtype="float64", na_value=np.nan)
    return frame.to_numpy(dtype=object)


class TabularHandler(ModelHandler):
    """A handler of estimators fitted on a table. Subclasses whose model is not always a
    scikit-learn-API estimator (a native booster) override ``feature_names`` and
    ``feature_count``."""

    def feature_names(self, model: Any) -> list[str] | None:
        """Names of the features the model was fitted on; None when it was fitted on a matrix."""
        return fitted_names(model)

    def feature_count(self, model: Any) -> int | None:
        return fitted_count(model)

    def prepare_sample(self, model: Any, sample: Any) -> Any:
        return select_sample(sample, self.feature_names(model), self.feature_count(model), type(model).__name__)

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> Any:
        return to_model_input(frame, self.feature_names(model))

    def native_sample(self, model: Any, method: str, sample: Any) -> Any:
        """A sample frame as a matrix for a model fitted on a matrix, as ``to_native``
        gives it at prediction time (on a frame, scikit-learn warns that "X has feature
        names, but ... was fitted without feature names"). Only for models that recorded
        how many features they were fitted on: an estimator that did not may want a frame."""
        if tables.is_frame(sample) and self.feature_names(model) is None and self.feature_count(model) is not None:
            return to_matrix(sample)
        return sample


class BoostingHandler(TabularHandler):
    """A gradient-boosting library with both a scikit-learn API and a native booster
    (XGBoost, LightGBM); a booster exposes ``predict`` only."""

    #: fully qualified names of the scikit-learn API base class and of the booster class
    sklearn_class: ClassVar[str]
    booster_class: ClassVar[str]

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return not isinstance(model, type) and has_class(model, cls.sklearn_class, cls.booster_class)

    def target_methods(self, model: Any) -> list[str]:
        if has_class(model, self.booster_class):
            return ["predict"]
        return super().target_methods(model)
