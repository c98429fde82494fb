"""End to end per model type: registry.log_model(...) then load_model() gives back a model
that predicts the same; TYPE and INPUT_SPEC/OUTPUT_SPEC are recorded."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

from mlreg.errors import InvalidInput
from tests.fixtures.models import tabular_data

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning",
    "ignore:divide by zero encountered in log:RuntimeWarning",  # a forest's predict_log_proba of p=0
)


def sklearn_case():
    from sklearn.ensemble import RandomForestClassifier

    X, y = tabular_data(60)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    return model, {"sample_input_data": X.assign(label=y)}, X, lambda m, d: m.predict_proba(d)


def xgboost_case():
    import xgboost

    X, y = tabular_data(60)
    model = xgboost.XGBClassifier(n_estimators=4).fit(X, y)
    return model, {"sample_input_data": X}, X, lambda m, d: m.predict_proba(d)


def lightgbm_case():
    import lightgbm

    X, y = tabular_data(60)
    booster = lightgbm.train({"verbose": -1, "min_data_in_leaf": 5}, lightgbm.Dataset(X.to_numpy(), y), 3)
    return booster, {"sample_input_data": X.to_numpy()}, X.to_numpy(), lambda m, d: m.predict(d)


def snowpark_case():
    from snowflake.ml.modeling.linear_model import LinearRegression

    X, y = tabular_data(60)
    df = X.rename(columns=str.upper).assign(Y=y.astype(float))
    model = LinearRegression(input_cols=["A", "B", "C"], label_cols=["Y"], output_cols=["OUT"]).fit(df)
    hold = df.drop(columns="Y")
    return model, {}, hold, lambda m, d: m.predict(d)["OUT"].to_numpy()


def pytorch_case():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).eval()
    X, _y = tabular_data(60)
    t = torch.tensor(X.to_numpy(), dtype=torch.float32)
    return model, {"sample_input_data": t}, t, lambda m, d: m(d).detach().numpy()


def mlflow_case(tmp_path):
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        class TensorModel(mlflow.pyfunc.PythonModel):  # a local class: MLflow pickles it by value
            def predict(self, context, model_input, params=None):
                return np.asarray(model_input).sum(axis=1) * 2.0

    X, _y = tabular_data(30)
    arr = X.to_numpy()
    mlflow.pyfunc.save_model(str(tmp_path / "mlflow_model"), python_model=TensorModel(),
                             signature=infer_signature(arr, arr.sum(axis=1)), pip_requirements=["mlflow"])
    return str(tmp_path / "mlflow_model"), {}, arr, lambda m, d: np.asarray(m.predict(d))


CASES = {
    "sklearn": sklearn_case, "xgboost": xgboost_case, "lightgbm": lightgbm_case,
    "snowpark": snowpark_case, "pytorch": pytorch_case, "mlflow": mlflow_case,
}


@pytest.mark.parametrize("type_name", CASES)
def test_log_then_load_predicts_the_same(registry, tmp_path, type_name):
    build = CASES[type_name]
    model, kwargs, hold, predict = build(tmp_path) if type_name == "mlflow" else build()
    registry.log_model(model=model, model_name=f"m_{type_name}", model_version="1", **kwargs)
    loaded = registry.load_model(f"m_{type_name}", "1")
    original = loaded if type_name == "mlflow" else model
    np.testing.assert_allclose(np.asarray(predict(loaded, hold), dtype=float), np.asarray(predict(original, hold), dtype=float), rtol=1e-6)
    row = registry.list_models().select("TYPE, INPUT_SPEC, OUTPUT_SPEC, CREATION_ENVIRONMENT_SPEC").fetchall()[0]
    assert row[0] == type_name
    assert json.loads(row[1]) and json.loads(row[2])
    recorded = json.loads(row[3])["packages"]
    assert {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "lightgbm": "lightgbm", "snowpark": "snowflake-ml-python",
            "pytorch": "torch", "mlflow": "mlflow"}[type_name] in recorded


@pytest.mark.slow
def test_log_then_load_keras(registry):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    X, _y = tabular_data(20)
    arr = X.to_numpy().astype("float32")
    registry.log_model(model=model, model_name="k", model_version="1", sample_input_data=arr)
    loaded = registry.load_model("k", "1")
    np.testing.assert_allclose(loaded.predict(arr, verbose=0), model.predict(arr, verbose=0), rtol=1e-6)
    assert registry.list_models().select("TYPE").fetchall() == [("tensorflow",)]


def test_types_without_their_own_signature_need_sample_or_signatures(registry):
    from sklearn.linear_model import LinearRegression

    X, y = tabular_data(20)
    with pytest.raises(InvalidInput, match="Signatures and sample_input both cannot be None at the same time"):
        registry.log_model(model=LinearRegression().fit(X, y), model_name="m", model_version="1")


def test_explicit_signatures_and_target_methods(registry):
    from sklearn.linear_model import LogisticRegression

    from mlreg.model_signature import DataType, FeatureSpec, ModelSignature

    X, y = tabular_data(40)
    sig = ModelSignature([FeatureSpec(c, DataType.DOUBLE) for c in "abc"], [FeatureSpec("label", DataType.INT64)])
    registry.log_model(model=LogisticRegression().fit(X, y), model_name="m", model_version="1", signatures={"predict": sig})
    manifest = registry.get_model("m", "1").manifest
    assert manifest["target_methods"] == ["predict"] and manifest["signatures"]["predict"] == sig.to_dict()
    registry.log_model(model=LogisticRegression().fit(X, y), model_name="m", model_version="2", sample_input_data=X,
                       options={"target_methods": ["predict_proba"]})
    assert registry.get_model("m", "2").manifest["target_methods"] == ["predict_proba"]
