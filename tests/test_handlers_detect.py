"""Detection order, and detection without importing frameworks that are not imported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mlreg import handlers
from mlreg.errors import InvalidInput
from tests.fixtures.models import REPO, SumModel

# snowflake itself is a namespace package that a .pth file of snowpark creates at startup
HEAVY = ["torch", "tensorflow", "keras", "sklearn", "xgboost", "lightgbm", "mlflow", "snowflake.ml", "pandas", "numpy", "pyarrow"]


def imported_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; report the handler it detected and which heavy
    modules ended up imported."""
    script = (
        "import sys, json\nfrom mlreg import handlers\n" + code +
        f"\nprint(json.dumps({{'type': handler.type_name, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_order_is_most_specific_first():
    assert handlers.handler_names() == ["mlflow", "snowpark", "xgboost", "lightgbm", "pytorch", "tensorflow", "sklearn", "custom"]


def test_detecting_a_custom_model_imports_no_framework():
    code = "class M:\n    def predict(self, x): return x\nhandler = handlers.detect(M())\nhandlers.detect('/no/such/dir')\n"
    assert imported_after(code) == {"type": "custom", "heavy": []}


def test_detecting_sklearn_imports_no_other_framework():
    code = "from sklearn.linear_model import LinearRegression\nhandler = handlers.detect(LinearRegression())\n"
    result = imported_after(code)
    assert result["type"] == "sklearn"
    assert not {"torch", "tensorflow", "keras", "xgboost", "lightgbm", "mlflow", "snowflake.ml"} & set(result["heavy"])


def test_detecting_torch_imports_no_other_framework():
    code = "import torch\nhandler = handlers.detect(torch.nn.Linear(2, 1))\n"
    result = imported_after(code)
    assert result["type"] == "pytorch"
    assert not {"tensorflow", "keras", "sklearn", "xgboost", "lightgbm", "mlflow", "snowflake.ml"} & set(result["heavy"])


def test_custom_handler_methods():
    handler = handlers.detect(SumModel())
    assert handler.type_name == "custom" and handler.target_methods(SumModel()) == ["predict"]

    def score(x):
        return x

    assert handlers.detect(score).target_methods(score) == ["__call__"]
    sig = handler.infer_signatures(SumModel(), ["predict"], np.ones((3, 2)))["predict"]
    out = handler.predict_table(SumModel(), "predict", np.ones((3, 2)), sig)
    assert out["output_feature_0"].tolist() == [2.0, 2.0, 2.0]


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(InvalidInput, match="unknown model type 'bogus'; known: mlflow, snowpark, xgboost"):
        handlers.get_handler("bogus")


def test_classes_are_not_models():
    from sklearn.linear_model import LinearRegression

    assert handlers.detect(LinearRegression).type_name == "custom"


class FirstColumn:
    """A custom model that indexes its input like a numpy array."""

    def predict(self, X):
        return X[:, 0] * 2


def test_custom_model_gets_its_input_in_the_form_of_its_sample():
    handler = handlers.detect(FirstColumn())
    X = np.arange(6.0).reshape(3, 2)
    sig = handler.infer_signatures(FirstColumn(), ["predict"], X)["predict"]
    import pandas as pd

    frame = pd.DataFrame({"input_feature_1": [9.0, 9.0], "input_feature_0": [1.0, 2.0]})
    assert handler.predict_table(FirstColumn(), "predict", frame, sig)["output_feature_0"].tolist() == [2.0, 4.0]
    assert handler.predict_table(FirstColumn(), "predict", X, sig)["output_feature_0"].tolist() == [0.0, 4.0, 8.0]
    vector = handlers.detect(lambda v: v + 1)
    vsig = vector.infer_signatures(lambda v: v + 1, ["__call__"], np.arange(4))["__call__"]
    assert vector.predict_table(lambda v: v + 1, "__call__", np.arange(3), vsig)["output_feature_0"].tolist() == [1, 2, 3]


def test_model_packages_include_nested_estimators():
    import xgboost
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), xgboost.XGBClassifier())
    assert handlers.detect(pipe).model_packages(pipe) == ["scikit-learn", "xgboost", "xgboost-cpu"]
    assert handlers.detect(SumModel()).model_packages(SumModel()) == []


def test_custom_models_are_pickled_models_that_take_their_sample_layout():
    """The one difference between a custom model and the other pickled types: its input
    comes in the layout of its sample (an array for unnamed features), not as a frame."""
    import pandas as pd

    from mlreg.data.signature import DataType, FeatureSpec, ModelSignature
    from mlreg.handlers.base import PickledHandler
    from mlreg.handlers.custom import CustomHandler

    class Plain(PickledHandler):
        type_name = "plain"

        @classmethod
        def can_handle(cls, model):
            return False

    unnamed = ModelSignature([FeatureSpec("input_feature_0", DataType.DOUBLE), FeatureSpec("input_feature_1", DataType.DOUBLE)])
    frame = pd.DataFrame({"input_feature_0": [1.0, 2.0], "input_feature_1": [3.0, 4.0]})
    assert issubclass(CustomHandler, PickledHandler)
    assert CustomHandler.save is PickledHandler.save and CustomHandler.load is PickledHandler.load
    assert Plain().to_native(None, "predict", frame, unnamed) is frame
    np.testing.assert_array_equal(CustomHandler().to_native(None, "predict", frame, unnamed), [[1.0, 3.0], [2.0, 4.0]])
