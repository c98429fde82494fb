"""MLflow models in every form a user holds them: a ``PythonModel`` instance (whose
``predict`` takes a context, and whose ``load_context`` MLflow calls), a loaded
``PyFuncModel``, and a saved MLflow model directory. Each logs, loads, deploys to the
warehouse and as a service (a real server process), and serves in the foreground with
``mlreg serve`` (a real subprocess)."""

from __future__ import annotations

import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import numpy as np
import pandas as pd
import pytest

from mlreg import deploy_platforms, model_registry
from tests.fixtures.cli import MLREG_BIN
from tests.test_service_cli import start_serve, stop_serve

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402

pytestmark = [pytest.mark.usefixtures("process_guard"), pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")]

# the PythonModel below travels by value (as a notebook's class does), so that the server
# processes, which cannot import this test module, can unpickle it
cloudpickle.register_pickle_by_value(sys.modules[__name__])

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    class Doubler(mlflow.pyfunc.PythonModel):
        """The row sums, times a factor that ``load_context`` sets: a model that needs its
        context, as MLflow's own examples are written."""

        def load_context(self, context):
            self.factor = 2.0

        def predict(self, context, model_input, params=None):
            return pd.DataFrame({"doubled_sum": np.asarray(model_input, dtype="float64").sum(axis=1) * self.factor})


def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])


def sklearn_dir(root: Path) -> tuple[str, Any]:
    from sklearn.linear_model import LinearRegression

    X = data()
    model = LinearRegression().fit(X, X.a * 2 - X.c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(root), signature=infer_signature(X, model.predict(X)),
                                  pip_requirements=["mlflow", "scikit-learn"], serialization_format="cloudpickle")
    return str(root), model


def form(kind: str, tmp_path: Path) -> tuple[Any, dict[str, Any], Any]:
    """``(model as the user holds it, log_model arguments, expected predictions of data())``."""
    X = data()
    if kind == "python_model":
        return Doubler(), {"sample_input_data": X.head(5)}, X.sum(axis=1).to_numpy() * 2.0
    path, sk = sklearn_dir(tmp_path / "sk")
    if kind == "loaded_pyfunc":
        return mlflow.pyfunc.load_model(path), {}, sk.predict(X)
    return path, {}, sk.predict(X)


@pytest.mark.parametrize("kind", ["python_model", "loaded_pyfunc", "model_directory"])
def test_every_mlflow_form_logs_loads_deploys_and_serves(registry, kind, tmp_path):
    model, extra, expected = form(kind, tmp_path)
    X = data()
    registry.log_model(model=model, model_name="mlflow_model", model_version="1", **extra)
    ref = model_registry.ModelReference(registry=registry, model_name="mlflow_model", model_version="1")
    assert registry.get_model("mlflow_model", "1").type == "mlflow"

    loaded = ref.load_model()
    assert isinstance(loaded, mlflow.pyfunc.PyFuncModel)
    np.testing.assert_allclose(np.asarray(loaded.predict(X), dtype="float64").reshape(-1), expected)

    ref.deploy("mlflow_wh", target_method="predict", permanent=True)
    out = ref.predict("mlflow_wh", X)
    assert isinstance(out, pd.DataFrame) and len(out.columns) == 1
    np.testing.assert_allclose(out.iloc[:, 0].to_numpy(), expected)
    np.testing.assert_allclose(ref.predict("mlflow_wh", X.to_numpy()).iloc[:, 0].to_numpy(), expected)

    try:
        ref.deploy("mlflow_svc", platform=deploy_platforms.TargetPlatform.SNOWPARK_CONTAINER_SERVICES,
                   options={"num_workers": 1})
        out = ref.predict("mlflow_svc", X)
        assert isinstance(out, pd.DataFrame)
        np.testing.assert_allclose(out.iloc[:, 0].to_numpy(), expected)
    finally:
        ref.delete_deployment("mlflow_svc")

    proc, url, _ = start_serve([str(MLREG_BIN), "serve", "mlflow_model", "1", "--port", "0", "--workers", "1"])
    try:
        resp = httpx.post(f"{url}/predict", json={"dataframe_records": X.head(3).to_dict(orient="records")}, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows = body["predictions"] if isinstance(body, dict) else body
        got = [list(r.values())[0] if isinstance(r, dict) else r for r in rows]
        np.testing.assert_allclose(np.asarray(got, dtype="float64").reshape(-1), expected[:3])
    finally:
        code, err = stop_serve(proc, signal.SIGTERM)
    assert code == 0, err
