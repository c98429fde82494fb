"""MLflow models: a model directory (any flavor) or a pyfunc object; MLflow's own
signature is converted, so no sample input is needed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlreg import handlers
from mlreg.errors import InvalidInput
from tests.fixtures.models import assert_tables_equal, predict_in_fresh_process, save_package, tabular_data

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")


with warnings.catch_warnings():  # "add type hints": this model takes whatever MLflow gives it
    warnings.simplefilter("ignore")

    class TensorModel(mlflow.pyfunc.PythonModel):
        """Takes a float array of shape (N, 3)."""

        def predict(self, context, model_input, params=None):
            return np.asarray(model_input).sum(axis=1) * 2.0

# MLflow infers requirements by loading the model in a subprocess (~10 s); name them instead
REQS = ["mlflow"]


def _sklearn_dir(root):
    from sklearn.linear_model import LogisticRegression

    X, y = tabular_data(60)
    model = LogisticRegression().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(root), signature=infer_signature(X, model.predict(X)),
                                 pip_requirements=REQS + ["scikit-learn>=1.3"], serialization_format="cloudpickle")  # skops: ~20 s to import
    return X


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    X = _sklearn_dir(root / "sk")
    arr = X.to_numpy()
    mlflow.pyfunc.save_model(str(root / "tensor"), python_model=TensorModel(), signature=infer_signature(arr, arr.sum(axis=1)), pip_requirements=REQS)
    mlflow.pyfunc.save_model(str(root / "unsigned"), python_model=TensorModel(), pip_requirements=REQS)
    cases = {
        "dir": (str(root / "sk"), None, X[40:]),
        "pathlib_tensor": (root / "tensor", None, arr[40:]),
        "unsigned_with_sample": (str(root / "unsigned"), X[:10], X[40:]),
        "pyfunc_object": (mlflow.pyfunc.load_model(str(root / "sk")), None, X[40:]),
    }
    built, jobs = {}, []
    for key, (model, sample, hold) in cases.items():
        handler = handlers.detect(model)
        methods = handler.target_methods(model)
        sigs = handler.native_signatures(model) if sample is None else handler.infer_signatures(model, methods, sample)
        info = save_package(handler, model, root / "pkg" / key)
        expected = {m: handler.predict_table(model, m, hold, sigs[m]) for m in sigs}
        built[key] = {"handler": handler, "model": model, "sigs": sigs, "info": info, "expected": expected, "dir": root / "pkg" / key}
        jobs.append({"key": key, "type": "mlflow", "dir": root / "pkg" / key, "info": info, "signatures": sigs, "data": hold})
    return built, predict_in_fresh_process(jobs, root / "fresh")


@pytest.mark.parametrize("key, fmt", [("dir", "mlflow-model-dir"), ("pathlib_tensor", "mlflow-model-dir"),
                                      ("unsigned_with_sample", "mlflow-model-dir"), ("pyfunc_object", "cloudpickle")])
def test_fresh_process_predicts_the_same(saved, key, fmt):
    built, fresh = saved
    assert built[key]["handler"].type_name == "mlflow"
    assert built[key]["info"]["format"] == fmt
    assert fresh[key]["class"] == "mlflow.pyfunc.PyFuncModel"
    for method, table in built[key]["expected"].items():
        assert method == "predict" and len(table) == 20
        assert_tables_equal(fresh[key]["tables"][method], table)


def test_native_signature_is_converted(saved):
    built, _ = saved
    assert handlers.get_handler("mlflow").carries_signature
    assert built["dir"]["sigs"]["predict"].to_dict() == {
        "inputs": [{"name": "a", "type": "DOUBLE"}, {"name": "b", "type": "DOUBLE"}, {"name": "c", "type": "INT64"}],
        "outputs": [{"name": "output_feature_0", "type": "INT64"}],
    }
    assert built["pathlib_tensor"]["sigs"]["predict"].to_dict() == {
        "inputs": [{"name": "input_feature_0", "type": "DOUBLE", "shape": [3]}],
        "outputs": [{"name": "output_feature_0", "type": "DOUBLE"}],
    }
    assert built["unsigned_with_sample"]["handler"].native_signatures(built["unsigned_with_sample"]["model"]) is None


def test_package_holds_the_mlflow_directory_and_loaded_model_relogs_from_it(saved, tmp_path):
    built, _ = saved
    b = built["dir"]
    assert (b["dir"] / "model" / "mlflow_model" / "MLmodel").is_file()
    loaded = b["handler"].load(b["dir"], b["info"])
    again = save_package(handlers.detect(loaded), loaded, tmp_path / "again")
    assert again["format"] == "mlflow-model-dir"


def test_mlflow_validation_errors(saved):
    built, _ = saved
    b = built["dir"]
    X, _y = tabular_data(5)
    with pytest.raises(InvalidInput, match=r"input is missing column 'c' \(expected INT64\)"):
        b["handler"].predict_table(b["model"], "predict", X.drop(columns="c"), b["sigs"]["predict"])


def test_a_directory_without_mlmodel_is_not_mlflow(tmp_path):
    (tmp_path / "d").mkdir()
    assert handlers.detect(str(tmp_path / "d")).type_name == "custom"
    assert handlers.detect("no\x00such").type_name == "custom"


def test_packages_come_from_the_mlflow_requirements(saved):
    built, _ = saved
    b = built["dir"]
    assert b["handler"].model_packages(b["model"]) == ["mlflow", "scikit-learn"]
    assert b["handler"].model_packages(built["pyfunc_object"]["model"]) == ["mlflow"]
