"""handlers.load_model_file: what `mlreg log MODEL` reads from a file or directory."""

from __future__ import annotations

import pickle

import cloudpickle
import joblib
import numpy as np
import pytest

from mlreg import handlers
from mlreg.errors import InvalidInput
from tests.fixtures.models import SumModel, tabular_data

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _fitted():
    X, y = tabular_data(50)
    return X, y


def test_pickle_cloudpickle_and_joblib(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = _fitted()
    model = LogisticRegression().fit(X, y)
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model))
    (tmp_path / "m.cloudpickle").write_bytes(cloudpickle.dumps(SumModel()))
    joblib.dump(model, tmp_path / "m.joblib", compress=3)
    joblib.dump(model, tmp_path / "noext")
    for name in ("m.pkl", "m.joblib", "noext"):
        loaded = handlers.load_model_file(tmp_path / name)
        assert np.array_equal(loaded.predict(X), model.predict(X)), name
    assert isinstance(handlers.load_model_file(str(tmp_path / "m.cloudpickle")), SumModel)
    assert handlers.detect(handlers.load_model_file(tmp_path / "m.pkl")).type_name == "sklearn"


def test_xgboost_json_ubj_and_forced_type(tmp_path):
    import xgboost

    X, y = _fitted()
    clf = xgboost.XGBClassifier(n_estimators=3).fit(X, y)
    clf.save_model(tmp_path / "clf.json")
    clf.save_model(tmp_path / "clf.ubj")
    booster = xgboost.train({}, xgboost.DMatrix(X, y), 2)
    booster.save_model(tmp_path / "b.json")
    booster.save_model(tmp_path / "b.model")
    for name in ("clf.json", "clf.ubj"):
        loaded = handlers.load_model_file(tmp_path / name)
        assert type(loaded) is xgboost.XGBClassifier
        np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert type(handlers.load_model_file(tmp_path / "b.json")) is xgboost.Booster
    assert type(handlers.load_model_file(tmp_path / "b.model", "xgboost")) is xgboost.Booster
    (tmp_path / "clf.pkl").write_bytes(pickle.dumps(clf))
    assert type(handlers.load_model_file(tmp_path / "clf.pkl", "xgboost")) is xgboost.XGBClassifier


def test_lightgbm_text(tmp_path):
    import lightgbm

    X, y = _fitted()
    booster = lightgbm.train({"verbose": -1, "min_data_in_leaf": 5}, lightgbm.Dataset(X, y), 3)
    booster.save_model(tmp_path / "m.txt")
    booster.save_model(tmp_path / "m.lgb")
    for name in ("m.txt", "m.lgb"):
        loaded = handlers.load_model_file(tmp_path / name)
        np.testing.assert_allclose(loaded.predict(X), booster.predict(X))


def test_torch_module_and_torchscript(tmp_path):
    import torch

    module = torch.nn.Linear(3, 1)
    torch.save(module, tmp_path / "m.pt")
    torch.jit.save(torch.jit.script(module), tmp_path / "s.pt")
    torch.save(module.state_dict(), tmp_path / "state.pt")
    torch.export.save(torch.export.export(module, (torch.ones(2, 3),)), tmp_path / "e.pt2")
    torch.export.save(torch.export.export(module, (torch.ones(2, 3),)), tmp_path / "e.bin")
    x = torch.ones(2, 3)
    assert torch.equal(handlers.load_model_file(tmp_path / "m.pt")(x), module(x))
    scripted = handlers.load_model_file(tmp_path / "s.pt")
    assert handlers.detect(scripted).type_name == "pytorch" and torch.equal(scripted(x), module(x))
    for name in ("e.pt2", "e.bin"):
        program = handlers.load_model_file(tmp_path / name)
        assert handlers.detect(program).type_name == "pytorch" and torch.equal(program.module()(torch.ones(2, 3)), module(torch.ones(2, 3)))
    with pytest.raises(InvalidInput, match=r"state.pt holds a dict \(a state_dict\?\), not a module"):
        handlers.load_model_file(tmp_path / "state.pt")


def test_mlflow_directory(tmp_path):
    (tmp_path / "mlflow_model").mkdir()
    (tmp_path / "mlflow_model" / "MLmodel").write_text("flavors: {}\n")
    model = handlers.load_model_file(tmp_path / "mlflow_model")
    assert handlers.detect(model).type_name == "mlflow"
    with pytest.raises(InvalidInput, match="is a directory but neither an MLflow model"):
        handlers.load_model_file(tmp_path)
    with pytest.raises(InvalidInput, match="an MLflow model is a directory holding an MLmodel file"):
        handlers.load_model_file(tmp_path / "mlflow_model" / "MLmodel", "mlflow")


@pytest.mark.parametrize("name, content, message", [
    ("m.pkl", b"", "model file {p} is empty"),
    ("m.pkl", b"garbage\nnot a pickle", "cannot read model file {p} as a pickle/joblib file: "),
    ("m.json", b"{not json", "cannot read model file {p} as an XGBoost model: XGBoostError: "),
    ("m.txt", b"hello world\n", "cannot read model file {p} as a LightGBM text model: "),
    ("m.pt", b"\x00\x01garbage", "cannot read model file {p} as a PyTorch model: "),
    ("m.keras", b"PK\x03\x04broken", "cannot read model file {p} as a Keras model: "),
    ("m.weird", b"\x00\x01\x02", "cannot tell what kind of model file {p} is: name it .pkl/.joblib"),
])
def test_unreadable_files_are_one_line_errors(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InvalidInput) as e:
        handlers.load_model_file(p)
    assert message.format(p=p) in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file_wrong_type_and_unknown_type(tmp_path):
    with pytest.raises(InvalidInput, match="model file .*nope.pkl does not exist"):
        handlers.load_model_file(tmp_path / "nope.pkl")
    (tmp_path / "m.pkl").write_bytes(cloudpickle.dumps(SumModel()))
    with pytest.raises(InvalidInput, match=r"m.pkl holds a SumModel, which is not a sklearn model"):
        handlers.load_model_file(tmp_path / "m.pkl", "sklearn")
    with pytest.raises(InvalidInput, match="unknown model type 'nope'"):
        handlers.load_model_file(tmp_path / "m.pkl", "nope")
