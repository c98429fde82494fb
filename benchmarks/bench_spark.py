"""Scoring on Spark: mlreg's spark deployment against MLflow's spark_udf and a floor.

Data: ``--rows`` rows (default 10,000,000; 200,000 with --quick) of 20 float64 features
in one Parquet file (row groups of 250,000 rows, so that Spark splits it). Model: a
scikit-learn LogisticRegression fitted on those 20 named features, registered in mlreg
and deployed as a permanent SPARK deployment; the same model saved by
``mlflow.sklearn.save_model`` with its signature.

One Spark session, ``local[2]`` (``--master``), shared by every case; each run reads the
Parquet file, scores it and writes a Parquet directory (overwritten), timed from the
read to the end of the write:

- mlreg: ``registry.predict_deployment(name, df)`` (``DataFrame.mapInArrow`` over the
  verified package, inputs matched to the signature by name and validated);
- MLflow (peer): ``mlflow.pyfunc.spark_udf(spark, model_path, result_type="double")``
  applied to the 20 columns;
- floor: a scalar-iterator pandas UDF that calls ``model.predict`` on the stacked
  columns, the model shipped in the UDF's closure (no registry, no checks).

Every case runs once as a warm-up first (also with --quick): the first job starts Spark's
Python workers, which import the framework. Goals: mlreg's time <= MLflow's (at least its throughput) and <= 1.2x the floor's. The
three outputs are checked to be equal. Not a test: run ``python benchmarks/bench_spark.py
[--rows N] [--runs N] [--quick]``; needs pyspark and Java 17+ (skipped with a note otherwise).
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator, Tuple

import numpy as np
import pandas as pd

from harness import alternate, emit, fig, info, main_args, peer, peers_wanted, quick_runs, ratio, row, scratch

import common

N_FEATURES = 20
DEPLOYMENT = "bench_spark"
NAMES = [f"f{i}" for i in range(N_FEATURES)]


def extra_args(p) -> None:
    p.add_argument("--rows", type=int, default=None, help="rows to score (default 10,000,000; quick 200,000)")
    p.add_argument("--master", default="local[2]", help="Spark master (default local[2])")


def make_data(tmp: Path, rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    weights = rng.normal(size=N_FEATURES)
    train = pd.DataFrame(rng.normal(size=(20_000, N_FEATURES)), columns=NAMES)
    clf = LogisticRegression(max_iter=1000).fit(train, (train.to_numpy() @ weights > 0).astype(int))
    chunk = 250_000
    with pq.ParquetWriter(tmp / "in.parquet", pa.schema([(n, pa.float64()) for n in NAMES])) as w:
        for start in range(0, rows, chunk):
            m = rng.normal(size=(min(chunk, rows - start), N_FEATURES))
            w.write_table(pa.table({n: m[:, i] for i, n in enumerate(NAMES)}), row_group_size=chunk)
    return clf, train


def start_spark(master: str, tmp: Path):
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(master).appName("mlreg-bench")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.local.dir", str(tmp / "spark-local"))
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def floor_udf(clf):
    """A pandas UDF that calls model.predict on the stacked columns: the floor."""
    from pyspark.sql.functions import pandas_udf

    blob = pickle.dumps(clf)

    def predict(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        model = pickle.loads(blob)
        for cols in batches:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fitted with feature names, given a matrix
                yield pd.Series(model.predict(np.column_stack([c.to_numpy() for c in cols])).astype("float64"))

    return pandas_udf(predict, "double")


def main() -> None:
    args = main_args(__doc__.splitlines()[0], extra=extra_args)
    quick_runs(args, 2)
    # the first job starts Spark's Python workers, which import the framework (seconds):
    # every case gets a warm-up run, even in quick mode, so that no case pays for it alone
    args.warmup = max(args.warmup, 1)
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        info(f"spark: not measured ({e}); pip install 'mlreg[spark]'")
        emit([row("Scoring on Spark", None, note="pyspark is not installed")], args)
        return
    from pyspark.sql.functions import col

    tmp = scratch(args, "spark")
    info(f"spark: writing {rows:,} rows x {N_FEATURES} floats, fitting and registering the model ...")
    clf, train = make_data(tmp, rows)
    registry = common.mlreg_registry(tmp / "reg")
    registry.log_model(clf, "bench", "1", sample_input_data=train.head(10))
    registry.deploy("bench", "1", DEPLOYMENT, platform="spark", permanent=True)
    spark = start_spark(args.master, tmp)
    source = str(tmp / "in.parquet")
    outs = {name: str(tmp / f"out-{name}.parquet") for name in ("mlreg", "mlflow", "floor")}

    def timed_write(name: str, build) -> float:
        shutil.rmtree(outs[name], ignore_errors=True)
        t0 = time.perf_counter()
        build(spark.read.parquet(source)).write.mode("overwrite").parquet(outs[name])
        return time.perf_counter() - t0

    floor = floor_udf(clf)
    cases = {
        "mlreg": lambda: timed_write("mlreg", lambda df: registry.predict_deployment(DEPLOYMENT, df)),
        "floor": lambda: timed_write("floor", lambda df: df.select(floor(*[col(n) for n in NAMES]).alias("output_feature_0"))),
    }
    if peers_wanted(args):
        try:
            import mlflow.pyfunc
            import mlflow.sklearn
            from mlflow.models import infer_signature

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mlflow.sklearn.save_model(clf, str(tmp / "mlflow_model"),
                                          signature=infer_signature(train.head(100), clf.predict(train.head(100))))
                mlflow_udf = mlflow.pyfunc.spark_udf(spark, str(tmp / "mlflow_model"), result_type="double")
            cases["mlflow spark_udf"] = lambda: timed_write(
                "mlflow", lambda df: df.select(mlflow_udf(*[col(n) for n in NAMES]).alias("output_feature_0")))
        except Exception as e:  # noqa: BLE001 - the peer is optional
            info(f"spark: MLflow peer skipped ({type(e).__name__}: {e})")

    info(f"spark: timing on {args.master}, alternating ...")
    t = alternate(cases, runs=args.runs, warmup=args.warmup)
    check_outputs(outs, "mlflow spark_udf" in cases)
    spark.stop()
    f = {k: fig(v) for k, v in t.items()}
    r_floor = ratio(f["mlreg"], f["floor"])
    r_mlflow = ratio(f["mlreg"], f.get("mlflow spark_udf"))
    peers = [peer("MLflow `pyfunc.spark_udf`", f.get("mlflow spark_udf"))] if peers_wanted(args) else \
        [peer("MLflow `pyfunc.spark_udf`", None, note="not measured in quick mode")]
    passed = r_floor <= 1.2 and (r_mlflow is None or r_mlflow <= 1.0)
    note = f"{r_floor:.2f}× the floor" + (f", {r_mlflow:.2f}× MLflow's time" if r_mlflow is not None else "")
    emit([row(f"Scoring on Spark ({args.master}), {rows:,} rows x {N_FEATURES} floats, Parquet→Parquet",
              f["mlreg"], f["floor"], "pandas UDF calling model.predict", peers,
              goal="≤ 1.2× floor, ≤ MLflow", passed=passed, note=note)], args)


def check_outputs(outs: dict[str, str], has_mlflow: bool) -> None:
    import pyarrow.parquet as pq

    want = np.sort(pq.read_table(outs["floor"]).column("output_feature_0").to_numpy())
    for name in ("mlreg", "mlflow") if has_mlflow else ("mlreg",):
        got = np.sort(pq.read_table(outs[name]).column("output_feature_0").to_numpy().astype("float64"))
        if not np.array_equal(got, want):
            raise SystemExit(f"spark: {name}'s predictions differ from the floor's")
    info(f"spark: outputs equal ({len(want):,} rows)")


if __name__ == "__main__":
    main()
