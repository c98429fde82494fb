"""Tabular model types (scikit-learn, XGBoost, LightGBM, Snowpark ML): detect, infer
signatures, save with the handler, load in a fresh process, predict the same."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mlreg import handlers
from mlreg.errors import InvalidInput
from tests.fixtures.models import assert_tables_equal, save_and_predict_fresh, save_package, tabular_data

warnings.filterwarnings("ignore", category=UserWarning)


def _data():
    X, y = tabular_data(100)
    return X[:70], y[:70], X[70:]


def sk_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, hold = _data()
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X.assign(label=y), hold


def sk_numpy_forest():
    from sklearn.ensemble import RandomForestRegressor

    X, y, hold = _data()
    return RandomForestRegressor(n_estimators=5, random_state=0).fit(X.to_numpy(), y), X.to_numpy(), hold.to_numpy()


def sk_column_transformer():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y, hold = _data()
    colors = np.array(["red", "green", "blue"])
    X, hold = X.assign(color=colors[X.c.to_numpy() % 3]), hold.assign(color=colors[hold.c.to_numpy() % 3])
    pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough"), LogisticRegression())
    return pipe.fit(X, y), X, hold


def sk_transformer():
    from sklearn.preprocessing import StandardScaler

    X, _y, hold = _data()
    return StandardScaler().fit(X), X, hold


def xgb_classifier():
    import xgboost

    X, y, hold = _data()
    return xgboost.XGBClassifier(n_estimators=7, max_depth=2).fit(X, y), X.assign(label=y), hold


def xgb_regressor_numpy():
    import xgboost

    X, y, hold = _data()
    return xgboost.XGBRegressor(n_estimators=5).fit(X.to_numpy(), y), X.to_numpy(), hold.to_numpy()


def xgb_booster():
    import xgboost

    X, y, hold = _data()
    return xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, y), 4), X, hold


def lgb_classifier():
    import lightgbm

    X, y, hold = _data()
    return lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(X, y), X.assign(label=y), hold


def lgb_booster_numpy():
    import lightgbm

    X, y, hold = _data()
    ds = lightgbm.Dataset(X.to_numpy(), y, params={"verbose": -1, "min_data_in_leaf": 5})
    return lightgbm.train({"verbose": -1, "min_data_in_leaf": 5}, ds, 4), X.to_numpy(), hold.to_numpy()


def snowpark_logistic():
    from snowflake.ml.modeling.linear_model import LogisticRegression

    X, y, hold = _data()
    df = X.rename(columns=str.upper).assign(Y=y)
    model = LogisticRegression(input_cols=["A", "B", "C"], label_cols=["Y"], output_cols=["PRED"]).fit(df)
    return model, None, hold.rename(columns=str.upper)


def snowpark_scaler():
    from snowflake.ml.modeling.preprocessing import StandardScaler

    X, y, hold = _data()
    df = X.rename(columns=str.upper).assign(Y=y)
    model = StandardScaler(input_cols=["A", "B"], output_cols=["A_S", "B_S"]).fit(df)
    return model, df, hold.rename(columns=str.upper)


# key: (builder, type, target methods, package format)
CASES = {
    "sk_pipeline": (sk_pipeline, "sklearn", ["predict", "predict_proba", "predict_log_proba", "decision_function"], "cloudpickle"),
    "sk_numpy_forest": (sk_numpy_forest, "sklearn", ["predict"], "cloudpickle"),
    "sk_column_transformer": (sk_column_transformer, "sklearn", ["predict", "predict_proba", "predict_log_proba", "decision_function"], "cloudpickle"),
    "sk_transformer": (sk_transformer, "sklearn", ["transform"], "cloudpickle"),
    "xgb_classifier": (xgb_classifier, "xgboost", ["predict", "predict_proba"], "xgboost-ubj"),
    "xgb_regressor_numpy": (xgb_regressor_numpy, "xgboost", ["predict"], "xgboost-ubj"),
    "xgb_booster": (xgb_booster, "xgboost", ["predict"], "xgboost-ubj"),
    "lgb_classifier": (lgb_classifier, "lightgbm", ["predict", "predict_proba", "decision_function"], "cloudpickle"),
    "lgb_booster_numpy": (lgb_booster_numpy, "lightgbm", ["predict"], "lightgbm-txt"),
    "snowpark_logistic": (snowpark_logistic, "snowpark", ["predict", "predict_proba", "predict_log_proba"], "cloudpickle"),
    "snowpark_scaler": (snowpark_scaler, "snowpark", ["transform"], "cloudpickle"),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    builders = {key: case[0] for key, case in CASES.items()}
    return save_and_predict_fresh(builders, tmp_path_factory.mktemp("tabular"), params={"xgb_classifier": ["n_estimators", "max_depth"]})


@pytest.mark.parametrize("key", CASES)
def test_detect_methods_and_format(saved, key):
    built, _ = saved
    _build, type_name, methods, fmt = CASES[key]
    assert built[key]["handler"].type_name == type_name
    assert built[key]["methods"] == methods
    assert built[key]["info"]["format"] == fmt


@pytest.mark.parametrize("key", CASES)
def test_fresh_process_predicts_the_same(saved, key):
    built, fresh = saved
    assert set(fresh[key]["tables"]) == set(built[key]["sigs"]) == set(CASES[key][2])
    for method, table in built[key]["expected"].items():
        assert len(table) == 30
        assert list(table.columns) == [f.name for f in built[key]["sigs"][method].outputs]
        assert_tables_equal(fresh[key]["tables"][method], table)


def test_label_column_is_not_a_feature(saved):
    built, _ = saved
    for key in ("sk_pipeline", "xgb_classifier", "lgb_classifier"):
        sig = built[key]["sigs"]["predict"]
        assert [f.name for f in sig.inputs] == ["a", "b", "c"], key
        assert [(f.dtype.value) for f in sig.inputs] == ["DOUBLE", "DOUBLE", "INT64"]
    scaler = built["snowpark_scaler"]["sigs"]["transform"]
    assert [f.name for f in scaler.inputs] == ["A", "B"]
    assert [f.name for f in scaler.outputs] == ["A_S", "B_S"]


def test_output_columns(saved):
    built, _ = saved
    proba = built["sk_pipeline"]["sigs"]["predict_proba"]
    assert [(f.name, f.dtype.value) for f in proba.outputs] == [("output_feature_0", "DOUBLE"), ("output_feature_1", "DOUBLE")]
    assert [(f.name, f.dtype.value) for f in built["sk_pipeline"]["sigs"]["predict"].outputs] == [("output_feature_0", "INT64")]
    assert [f.name for f in built["sk_numpy_forest"]["sigs"]["predict"].inputs] == ["input_feature_0", "input_feature_1", "input_feature_2"]
    assert [f.name for f in built["sk_column_transformer"]["sigs"]["predict"].inputs] == ["a", "b", "c", "color"]
    assert built["sk_column_transformer"]["sigs"]["predict"].inputs[3].dtype.value == "STRING"


def test_snowpark_native_signatures_drop_passthrough_columns(saved):
    built, fresh = saved
    sigs = built["snowpark_logistic"]["sigs"]
    assert [f.name for f in sigs["predict"].inputs] == ["A", "B", "C"]
    assert [(f.name, f.dtype.value) for f in sigs["predict"].outputs] == [("PRED", "INT64")]
    assert [f.name for f in sigs["predict_proba"].outputs] == ["PREDICT_PROBA_0", "PREDICT_PROBA_1"]
    assert handlers.get_handler("snowpark").carries_signature
    assert fresh["snowpark_logistic"]["class"].endswith("LogisticRegression")


def test_xgboost_native_format_restores_the_estimator(saved):
    _, fresh = saved
    assert fresh["xgb_classifier"]["class"] == "xgboost.sklearn.XGBClassifier"
    assert fresh["xgb_classifier"]["params"] == {"n_estimators": 7, "max_depth": 2}
    assert fresh["xgb_booster"]["class"] == "xgboost.core.Booster"
    assert fresh["lgb_booster_numpy"]["class"] == "lightgbm.basic.Booster"


def test_xgboost_falls_back_to_cloudpickle(tmp_path):
    import xgboost

    class MyXGB(xgboost.XGBRegressor):
        pass

    X, y, hold = _data()
    handler = handlers.detect(MyXGB(n_estimators=2).fit(X, y))
    assert handler.type_name == "xgboost"
    model = MyXGB(n_estimators=2).fit(X, y)
    info = save_package(handler, model, tmp_path / "sub")
    assert info["format"] == "cloudpickle"
    loaded = handler.load(tmp_path / "sub", info)
    np.testing.assert_array_equal(loaded.predict(hold), model.predict(hold))
    assert save_package(handler, xgboost.XGBClassifier(), tmp_path / "unfitted")["format"] == "cloudpickle"


def test_lightgbm_sklearn_api_also_writes_text_model(saved):
    built, _ = saved
    assert built["lgb_classifier"]["info"]["files"] == ["model/model.pkl", "model/model.txt"]


def test_sample_missing_fitted_columns_or_too_wide(saved):
    built, _ = saved
    handler, model = built["sk_pipeline"]["handler"], built["sk_pipeline"]["model"]
    X, _y, _hold = _data()
    with pytest.raises(InvalidInput, match=r"sample input lacks column\(s\) the Pipeline was fitted on: c"):
        handler.infer_signatures(model, ["predict"], X.drop(columns="c"))
    forest = built["sk_numpy_forest"]
    with pytest.raises(InvalidInput, match="takes 3 features but the sample input has 4 columns; pass only the feature columns"):
        forest["handler"].infer_signatures(forest["model"], ["predict"], np.ones((5, 4)))


def test_predict_table_validates_input(saved):
    built, _ = saved
    b = built["xgb_classifier"]
    X, _y, hold = _data()
    with pytest.raises(InvalidInput, match=r"input is missing column 'b' \(expected DOUBLE\)"):
        b["handler"].predict_table(b["model"], "predict", hold.drop(columns="b"), b["sigs"]["predict"])
    with pytest.raises(InvalidInput, match=r"feature 'c' expects INT64, got the value 'x' \(str\) in row 0"):
        b["handler"].predict_table(b["model"], "predict", hold.assign(c="x"), b["sigs"]["predict"])
    # extra columns are ignored, order does not matter, ints are fine for floats
    shuffled = hold[["c", "b", "a"]].assign(extra=1, a=hold.a.round().astype(int))
    out = b["handler"].predict_table(b["model"], "predict_proba", shuffled, b["sigs"]["predict_proba"])
    assert list(out.columns) == ["output_feature_0", "output_feature_1"] and len(out) == len(hold)


def test_nullable_input_reaches_the_model(saved):
    built, _ = saved
    b = built["sk_numpy_forest"]
    hold = _data()[2].to_numpy()
    frame = pd.DataFrame(hold, columns=[f"input_feature_{i}" for i in range(3)])
    frame["input_feature_2"] = frame["input_feature_2"].astype("Int64")
    out = b["handler"].predict_table(b["model"], "predict", frame, b["sigs"]["predict"])
    np.testing.assert_allclose(out["output_feature_0"].to_numpy(), b["model"].predict(hold))
