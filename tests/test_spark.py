"""Registered models as Spark functions, on a real local Spark (pyspark from PyPI on the
machine's Java 17): every model type through a vectorized UDF, spark deployments
(DataFrames, Spark SQL, `mlreg predict`), an S3 stage read by the executors, a tampered
package refused on an executor, signature mismatches.

One Spark session (local[2], batches of a few rows so that each partition is several
Arrow batches) serves the whole module: starting Spark costs seconds. Its Python workers
are separate processes, started by the JVM with the environment of the module fixture
(its own cache and temp directories), so they verify and load packages themselves.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest

from mlreg.errors import AlreadyExists, IntegrityError, InvalidInput
from tests.fixtures.models import SumModel, tabular_data
from tests.test_handlers_registry import CASES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"),
]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as mp:
        # what the JVM, and so the executors' Python workers, inherit
        for var in [v for v in os.environ if v.startswith("AWS_")]:
            mp.delenv(var)
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        mp.setenv("XDG_CACHE_HOME", str(root / "executor-cache"))
        mp.setenv("MLREG_CACHE_DIR", str(root / "executor-cache" / "mlreg"))
        mp.setenv("TMPDIR", str(root))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        session = (
            SparkSession.builder.master("local[2]").appName("mlreg-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.local.dir", str(root / "local"))
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
            .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={root}")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


def frame(spec: Any, data: Any) -> pd.DataFrame:
    """Hold-out data as a pandas frame with the signature's input names (a tensor input
    of shape (k,): a column of k-element arrays)."""
    inputs = spec.model_signature().inputs
    if isinstance(data, pd.DataFrame):
        return data[[f.name for f in inputs]]
    arr, at, cols = np.asarray(data), 0, {}
    for f in inputs:
        width = int(np.prod(f.shape)) if f.shape else 1
        cols[f.name] = list(arr[:, at:at + width]) if f.shape else arr[:, at]
        at += width
    return pd.DataFrame(cols)


def spark_schema(spec: Any) -> str:
    from mlreg.spark.types import feature_type, quote

    return ", ".join(["row_id bigint"] + [f"{quote(f.name)} {feature_type(f)}" for f in spec.model_signature().inputs])


def expected(registry: Any, spec: Any, data: pd.DataFrame) -> pd.DataFrame:
    """What the model's own scorer returns in this process."""
    from mlreg.runtime.scorer import Scorer

    model = registry.load_model(spec.package.model_name, spec.package.model_version)
    return Scorer(spec, model).score_frame(data)


def outputs(rows: list[Any], names: list[str]) -> pd.DataFrame:
    """The UDF's column (a struct when there are several outputs) as a frame."""
    if len(names) == 1:
        return pd.DataFrame({names[0]: [r[0] for r in rows]})
    return pd.DataFrame([r[0].asDict() for r in rows])[names]


def assert_close(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    def values(series: pd.Series) -> np.ndarray:  # array cells (a tensor output) stacked
        return np.stack([np.asarray(v, dtype=float) for v in series]) if np.ndim(series.iloc[0]) else \
            np.asarray(series, dtype=float)

    for c in want.columns:
        np.testing.assert_allclose(values(got[c]), values(want[c]), rtol=1e-5)


def keras_case():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    arr = tabular_data(20)[0].to_numpy().astype("float32")
    return model, {"sample_input_data": arr}, arr, None


def custom_case():
    X, _y = tabular_data(40)
    return SumModel(), {"sample_input_data": X}, X, None


ALL = {**CASES, "tensorflow": keras_case, "custom": custom_case}


# -- every model type ------------------------------------------------------------------------
@pytest.mark.parametrize("type_name", ALL)
def test_every_model_type_scores_through_a_spark_udf(spark, registry, tmp_path, type_name):
    build = ALL[type_name]
    model, kwargs, hold, _predict = build(tmp_path) if type_name == "mlflow" else build()
    registry.log_model(model=model, model_name=f"m_{type_name}", model_version="1", **kwargs)
    method = registry.get_model(f"m_{type_name}", "1").manifest["target_methods"][0]
    spec = registry.scoring_spec(f"m_{type_name}", "1", method)
    data = frame(spec, hold)
    want = expected(registry, spec, data)
    assert list(want.columns) == [f.name for f in spec.model_signature().outputs]

    from mlreg.registry.reference import ModelReference

    ref = ModelReference(registry, f"m_{type_name}", "1")
    f = ref.spark_udf(spark, target_method=method)
    # one partition (one Python worker imports the framework) keeps the module quick; the
    # other tests run two partitions, so two workers each verify and load their package
    df = spark.createDataFrame(data.reset_index().rename(columns={"index": "row_id"}), spark_schema(spec)).coalesce(1)
    rows = df.select(f(*list(data.columns)).alias("out"), "row_id").orderBy("row_id").collect()
    assert_close(outputs(rows, list(want.columns)), want)


# -- a UDF's arguments --------------------------------------------------------------------------
@pytest.fixture
def churn(registry):
    from sklearn.linear_model import LogisticRegression

    X, y = tabular_data(60)
    model = LogisticRegression().fit(X, y)
    registry.log_model(model=model, model_name="churn", model_version="1", sample_input_data=X)
    return model, X


def test_udf_inputs_by_name_in_any_order_by_position_and_by_default(spark, registry, churn):
    model, X = churn
    f = registry.spark_udf("churn", "1", spark)
    df = spark.createDataFrame(X.assign(x1=X.a, x2=X.b, x3=X.c).reset_index()).coalesce(1).orderBy("index")
    want = model.predict(X).tolist()
    from pyspark.sql.functions import col

    for call in (f(), f("c", "a", "b"), f("A", "B", "C"), f("x1", "x2", "x3"), f(col("a"), col("b"), col("c"))):
        assert [r[0] for r in df.select(call).collect()] == want
    with pytest.raises(InvalidInput, match=r"churn/1 predict takes 3 input\(s\) \(a, b, c\); got 2"):
        f("a", "b")


def test_several_outputs_are_a_struct_of_the_named_outputs(spark, registry, churn):
    model, X = churn
    f = registry.spark_udf("churn", "1", spark, target_method="predict_proba")
    assert f.return_type.startswith("struct<")
    rows = spark.createDataFrame(X.reset_index()).orderBy("index").select(f("a", "b", "c").alias("p")).collect()
    got = np.array([list(r.p.asDict().values()) for r in rows])
    np.testing.assert_allclose(got, model.predict_proba(X), rtol=1e-6)


# -- spark deployments -------------------------------------------------------------------------
def test_spark_deployment_predict_returns_a_spark_dataframe(spark, registry, churn):
    from pyspark.sql import DataFrame

    model, X = churn
    dep = registry.deploy("churn", "1", "churn_spark", platform="spark", permanent=True,
                          options={"output_with_input_features": True})
    assert dep.details == {"function": "churn_spark"}
    listed = registry.list_deployments().select("NAME, PLATFORM, PERMANENT").fetchall()
    assert listed == [("churn_spark", "spark", True)]
    df = spark.createDataFrame(X.reset_index())
    out = registry.predict("churn", "1", "churn_spark", df)
    assert isinstance(out, DataFrame)
    assert out.columns == ["index", "a", "b", "c", "output_feature_0"]
    got = out.orderBy("index").toPandas()
    assert got["output_feature_0"].tolist() == model.predict(X).tolist()
    with pytest.raises(InvalidInput, match="is a spark deployment: pass a Spark DataFrame, not DataFrame"):
        registry.predict("churn", "1", "churn_spark", X)


def test_register_functions_makes_spark_deployments_sql_functions(spark, registry, churn):
    import mlreg.spark

    model, X = churn
    registry.deploy("churn", "1", "churn_v1", platform="spark", permanent=True)
    registry.deploy("churn", "1", "churn_p", target_method="predict_proba", platform="spark", permanent=True)
    registry.deploy("churn", "1", "churn_wh", permanent=True)  # a warehouse one: not a Spark function
    assert mlreg.spark.register_functions(spark, registry) == ["churn_p", "churn_v1"]
    spark.createDataFrame(X.reset_index()).createOrReplaceTempView("customers")
    rows = spark.sql("SELECT churn_v1(a, b, c) AS y, churn_p(a, b, c).output_feature_1 AS p1 "
                     "FROM customers ORDER BY `index`").collect()
    assert [r.y for r in rows] == model.predict(X).tolist()
    np.testing.assert_allclose([r.p1 for r in rows], model.predict_proba(X)[:, 1], rtol=1e-6)


def test_spark_deploy_refuses_bad_options_and_a_model_without_a_signature(registry, churn):
    with pytest.raises(InvalidInput, match="unknown spark deployment option"):
        registry.deploy("churn", "1", "d", platform="spark", options={"port": 1})
    with pytest.raises(InvalidInput, match="no target method 'transform'"):
        registry.deploy("churn", "1", "d", target_method="transform", platform="spark")


def test_spark_names_differing_only_in_case(registry, churn):
    """Spark SQL resolves functions case-insensitively: register_functions could not tell
    Churn from churn. A warehouse deployment of that name is another platform's: allowed."""
    registry.deploy("churn", "1", "Churn", platform="spark", permanent=True)
    with pytest.raises(AlreadyExists, match="spark deployment Churn exists, and SQL function names ignore case"):
        registry.deploy("churn", "1", "churn", platform="spark", permanent=True)
    registry.deploy("churn", "1", "CHURN", platform="warehouse", permanent=True)
    listed = registry.list_deployments().select("NAME, PLATFORM").fetchall()
    assert sorted(listed) == [("CHURN", "warehouse"), ("Churn", "spark")]


def test_cli_predict_on_spark_writes_parquet_and_csv(spark, registry, churn, cli, tmp_path):
    import pyarrow.parquet as pq

    model, X = churn
    r = cli("deploy", "create", "churn", "1", "churn_cli", "--platform", "spark")
    assert r.exit_code == 0 and "Deployed churn/1 predict as Spark function churn_cli(a, b, c)" in r.stderr, r
    X.to_parquet(tmp_path / "in.parquet")
    r = cli("predict", "churn_cli", "--input", tmp_path / "in.parquet", "--output", tmp_path / "out.parquet",
            "--master", "local[2]", "--conf", "spark.sql.shuffle.partitions=2")
    assert r.exit_code == 0, r
    assert "Wrote 60 predictions" in r.stderr
    got = pq.read_table(tmp_path / "out.parquet").to_pandas()  # a directory of parts, read whole
    assert sorted(got["output_feature_0"].tolist()) == sorted(model.predict(X).tolist())
    X.to_csv(tmp_path / "in.csv", index=False)
    r = cli("predict", "churn_cli", "--input", tmp_path / "in.csv", "--output", tmp_path / "out.csv")
    assert r.exit_code == 0, r
    parts = sorted((tmp_path / "out.csv").glob("part-*.csv"))
    assert sum(len(pd.read_csv(p)) for p in parts) == 60
    # the output exists now: refused, nothing changed
    r = cli("predict", "churn_cli", "--input", tmp_path / "in.csv", "--output", tmp_path / "out.csv")
    assert r.exit_code == 1 and "out.csv: it exists" in r.stderr
    r = cli("predict", "churn_cli", "--input", tmp_path / "missing.parquet", "--output", tmp_path / "o2.parquet")
    assert r.exit_code == 1 and "no such file" in r.stderr and not (tmp_path / "o2.parquet").exists()
    r = cli("predict", "churn_cli", "--input", tmp_path / "in.csv", "--output", tmp_path / "o3.parquet", "--conf", "nokey")
    assert r.exit_code == 2 and "KEY=VALUE" in r.stderr


def test_master_and_conf_are_refused_for_a_warehouse_deployment(registry, churn, cli, tmp_path):
    _model, X = churn
    registry.deploy("churn", "1", "churn_wh", permanent=True)
    X.to_parquet(tmp_path / "in.parquet")
    r = cli("predict", "churn_wh", "--input", tmp_path / "in.parquet", "--master", "local[2]")
    assert r.exit_code == 1 and "--master and --conf apply to spark deployments" in r.stderr


# -- a remote stage ------------------------------------------------------------------------------
def test_executors_read_the_package_from_an_s3_stage(spark, s3_url, s3_options, tmp_path):
    import mlreg
    from mlreg import model_registry

    session = mlreg.connect(stage=s3_url, stage_options=s3_options)
    model_registry.create_model_registry(session=session)
    reg = model_registry.ModelRegistry(session=session)
    X, _y = tabular_data(30)
    reg.log_model(SumModel(), model_name="remote", model_version="1", sample_input_data=X)
    spec = reg.scoring_spec("remote", "1")
    assert spec.package.stage.startswith("s3://") and s3_options["secret"] not in repr(spec)
    f = reg.spark_udf("remote", "1", spark)
    rows = spark.createDataFrame(X.reset_index()).orderBy("index").select(f()).collect()
    np.testing.assert_allclose([r[0] for r in rows], X.to_numpy(dtype=float).sum(axis=1))
    dep = reg.deploy("remote", "1", "remote_d", platform="spark", permanent=True)
    out = reg.predict("remote", "1", dep.name, spark.createDataFrame(X)).toPandas()
    assert sorted(out["output_feature_0"]) == sorted(X.to_numpy(dtype=float).sum(axis=1))


# -- integrity and signatures -------------------------------------------------------------------
def test_a_tampered_package_is_refused_on_the_executor(spark, registry, cli, tmp_path):
    from mlreg.spark.session import executor_errors

    X, _y = tabular_data(20)
    registry.log_model(SumModel(), model_name="tampered", model_version="1", sample_input_data=X)
    registry.deploy("tampered", "1", "tampered_ok", platform="spark", permanent=True)
    f = registry.spark_udf("tampered", "1", spark)
    spec = registry.scoring_spec("tampered", "1")
    target = Path(spec.package.location) / sorted(spec.package.files)[0]
    target.write_bytes(target.read_bytes() + b"x")
    df = spark.createDataFrame(X).select(f())
    from pyspark.errors.exceptions.captured import PythonException

    with pytest.raises(PythonException) as caught:  # Spark's own error, as a user sees it
        df.collect()
    assert "IntegrityError" in str(caught.value) and "tampered/1" in str(caught.value)
    with pytest.raises(IntegrityError, match="tampered/1"):
        with executor_errors():
            df.collect()
    with pytest.raises(IntegrityError):  # deploying it is refused on the driver
        registry.deploy("tampered", "1", "tampered_d", platform="spark")
    X.to_parquet(tmp_path / "in.parquet")  # deployed before: refused by the executors, exit 6
    r = cli("predict", "tampered_ok", "--input", tmp_path / "in.parquet", "--output", tmp_path / "out.parquet")
    assert r.exit_code == 6 and r.stderr.startswith("Error: ") and "tampered/1" in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.parquet").exists()


def test_signature_mismatches_are_clear_errors(spark, registry, churn):
    from mlreg.spark.session import executor_errors

    _model, X = churn
    registry.deploy("churn", "1", "churn_sig", platform="spark")
    missing = spark.createDataFrame(X[["a", "b"]])
    with pytest.raises(InvalidInput, match="input is missing column 'c' .*it has: a, b"):
        registry.predict("churn", "1", "churn_sig", missing)
    mistyped = spark.createDataFrame(X.assign(b=X.b.astype(str)))
    with pytest.raises(InvalidInput, match="input column 'b' is string; expected"):
        registry.predict("churn", "1", "churn_sig", mistyped)
    # a UDF's columns are only typed on the executor: the error reaches the driver
    f = registry.spark_udf("churn", "1", spark)
    scored = mistyped.select(f("a", "b", "c"))
    with pytest.raises(InvalidInput, match="'b'"):
        with executor_errors():
            scored.collect()


def test_the_spec_an_executor_receives_pickles_without_secrets(registry, churn):
    import pickle

    spec = registry.scoring_spec("churn", "1")
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and json.loads(json.dumps(spec.to_json()))["target_method"] == "predict"


def test_an_executor_in_another_environment_refuses_unless_relax_version(spark, registry, churn):
    import dataclasses

    import mlreg.spark
    from mlreg.spark.session import executor_errors

    model, X = churn
    spec = registry.scoring_spec("churn", "1")
    env = dict(spec.package.environment, packages={"scikit-learn": "0.0.1"})
    other = dataclasses.replace(spec, package=dataclasses.replace(spec.package, environment=env), deployment="other_env")
    df = spark.createDataFrame(X.reset_index())
    with pytest.raises(InvalidInput, match=r"executor's environment differs .*scikit-learn 0\.0\.1 recorded"):
        with executor_errors():
            mlreg.spark.predict(other, df).collect()
    relaxed = dataclasses.replace(other, deployment="relaxed_env", options={"relax_version": True})
    got = mlreg.spark.predict(relaxed, df, with_inputs=True).orderBy("index").toPandas()
    assert got["output_feature_0"].tolist() == model.predict(X).tolist()
