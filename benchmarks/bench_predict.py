"""Batch scoring: `mlreg predict` of a Parquet file into a Parquet file against its floor.

Data: ``--rows`` rows (default 1,000,000; 100,000 with --quick) of 20 float64 features in
one Parquet file. Model: a scikit-learn LogisticRegression fitted on a DataFrame with
those 20 feature names, registered in mlreg and deployed as a permanent WAREHOUSE
deployment.

1. Fresh processes, alternating: ``mlreg predict D --input in.parquet --output out.parquet``
   against the floor, a Python process that unpickles the same model, reads the file with
   pyarrow, stacks the columns into one NumPy matrix, calls ``model.predict`` on it and
   writes the predictions with pyarrow. Goals: median time <= 1.25x the floor's, peak
   memory (max RSS) <= 1.5x the floor's. Peer: MLflow, ``mlflow.pyfunc.load_model(...)
   .predict(df)`` on the same model saved by ``mlflow.sklearn.save_model`` (with its
   signature), reading and writing with pandas, when mlflow imports.
2. The same work in one warm process (imports and model load done once): mlreg's
   ``registry.deployments.predict_file`` against the floor's read-predict-write. For information: it
   separates scoring overhead from start-up.

The outputs of mlreg and the floor are checked to be equal. Not a test: run
``python benchmarks/bench_predict.py [--rows N] [--runs N] [--quick]``. Quick mode:
100,000 rows, 2 fresh-process runs without warm-up (3 warm-process runs after 1 warm-up),
MLflow left out unless --peers once/all.
"""

from __future__ import annotations

import pickle
import statistics
import time
import warnings
from pathlib import Path

from harness import (BENCH_PYTHON, alternate, bin_path, emit, fig, info, main_args, peer, peers_wanted, quick_runs,
                     ratio, row, run, scratch, skipped_peer, slow_cases)

import common

N_FEATURES = 20
DEPLOYMENT = "bench_predict"

FLOOR = """
import pickle, sys, warnings
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
warnings.simplefilter("ignore")
with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
t = pq.read_table(sys.argv[2])
X = np.column_stack([c.to_numpy() for c in t.columns])
pq.write_table(pa.table({"output_feature_0": model.predict(X)}), sys.argv[3])
"""

MLFLOW = """
import sys, warnings
warnings.simplefilter("ignore")
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
df = pd.read_parquet(sys.argv[2])
pd.DataFrame({"output_feature_0": model.predict(df)}).to_parquet(sys.argv[3], index=False)
"""


def extra_args(p) -> None:
    p.add_argument("--rows", type=int, default=None, help="rows to score (default 1,000,000; quick 100,000)")


def make_data(tmp: Path, rows: int):
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(N_FEATURES)]
    weights = rng.normal(size=N_FEATURES)
    train = pd.DataFrame(rng.normal(size=(20_000, N_FEATURES)), columns=names)
    clf = LogisticRegression(max_iter=1000).fit(train, (train.to_numpy() @ weights > 0).astype(int))
    chunk = 250_000
    with pq.ParquetWriter(tmp / "in.parquet", pa.schema([(n, pa.float64()) for n in names])) as w:
        for start in range(0, rows, chunk):
            m = rng.normal(size=(min(chunk, rows - start), N_FEATURES))
            w.write_table(pa.table({n: m[:, i] for i, n in enumerate(names)}))
    with open(tmp / "model.pkl", "wb") as f:
        pickle.dump(clf, f, protocol=5)
    return clf, train


def save_mlflow(clf, train, path: Path) -> bool:
    try:
        import mlflow.sklearn
        from mlflow.models import infer_signature
    except Exception as e:  # noqa: BLE001 - the peer is optional
        info(f"predict: MLflow peer skipped ({type(e).__name__}: {e})")
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(clf, str(path), signature=infer_signature(train.head(100), clf.predict(train.head(100))))
    return True


def mib(values: list[int]) -> dict:
    return fig([v / 2**20 for v in values], unit="MiB")


SETUP = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import bench_predict
bench_predict.setup(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
"""


def setup(tmp: Path, rows: int, with_mlflow: bool = True) -> None:
    """Data, model, registry with the deployment, MLflow model: in a child process, so
    that this one stays small (a child's max RSS counts its parent's RSS at fork time)."""
    clf, train = make_data(tmp, rows)
    registry = common.mlreg_registry(tmp / "reg")
    registry.log_model(clf, "bench", "1", sample_input_data=train.head(10))
    registry.deploy("bench", "1", DEPLOYMENT, permanent=True)
    if with_mlflow and save_mlflow(clf, train, tmp / "mlflow_model"):
        (tmp / "has_mlflow").touch()


def main() -> None:
    args = main_args(__doc__.splitlines()[0], extra=extra_args)
    warm_runs = args.runs  # the warm-process cases are cheap: 3 runs even in quick mode
    quick_runs(args, 2)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    tmp = scratch(args, "predict")
    info(f"predict: writing {rows:,} rows x {N_FEATURES} floats, fitting and registering the model ...")
    run([BENCH_PYTHON, "-c", SETUP, Path(__file__).resolve().parent, tmp, rows, int(peers_wanted(args))],
        env=common.mlreg_env(tmp / "reg"))
    has_mlflow = (tmp / "has_mlflow").exists()
    home = tmp / "reg"

    env = common.mlreg_env(home)
    source = tmp / "in.parquet"
    outs = {"floor": tmp / "floor.parquet", "mlreg": tmp / "mlreg.parquet", "mlflow": tmp / "mlflow.parquet"}
    argv = {
        "floor": [BENCH_PYTHON, "-c", FLOOR, tmp / "model.pkl", source, outs["floor"]],
        "mlreg predict": [bin_path("mlreg"), "predict", DEPLOYMENT, "--input", source, "--output", outs["mlreg"]],
    }
    if has_mlflow:
        argv["mlflow pyfunc"] = [BENCH_PYTHON, "-c", MLFLOW, tmp / "mlflow_model", source, outs["mlflow"]]
    rss: dict[str, list[int]] = {name: [] for name in argv}

    def case(name: str):
        def once() -> float:
            proc = run(argv[name], env=env, cwd=tmp)
            rss[name].append(proc.max_rss)
            return proc.seconds
        return once

    info("predict: timing fresh processes, alternating ...")
    t = alternate({name: case(name) for name in argv}, runs=args.runs, warmup=args.warmup,
                  slow=slow_cases(args, "mlflow pyfunc"))
    check_outputs(outs, has_mlflow)
    f = {k: fig(v) for k, v in t.items()}
    m = {k: mib(v) for k, v in rss.items()}

    info("predict: timing in one warm process, alternating ...")
    warm = warm_cases(common.mlreg_registry(home), tmp, source, has_mlflow)
    w = {k: fig(v) for k, v in alternate(warm, runs=warm_runs, warmup=args.cheap_warmup).items()}

    r_time, r_mem = ratio(f["mlreg predict"], f["floor"]), ratio(m["mlreg predict"], m["floor"])
    title = f"{rows:,} rows x {N_FEATURES} floats, Parquet→Parquet"
    def mlflow_peer(name: str, figure: dict | None) -> list[dict]:
        if figure is not None:
            return [peer(name, figure)]
        return [skipped_peer(args, name)] if not peers_wanted(args) else []

    rows_out = [
        row(f"Batch scoring `mlreg predict`, {title} (fresh process)", f["mlreg predict"], f["floor"],
            "pyarrow read + model.predict(numpy) + pyarrow write",
            mlflow_peer("MLflow `pyfunc.load_model().predict(df)`", f.get("mlflow pyfunc")),
            goal="≤ 1.25× floor", passed=r_time <= 1.25, note=f"{r_time:.2f}× the floor"),
        row(f"Batch scoring peak memory (max RSS), {title}", m["mlreg predict"], m["floor"], "same floor process",
            mlflow_peer("MLflow `pyfunc.load_model().predict(df)`", m.get("mlflow pyfunc")),
            goal="≤ 1.5× floor", passed=r_mem <= 1.5, note=f"{r_mem:.2f}× the floor"),
        row(f"Batch scoring in a warm process (`registry.deployments.predict_file`), {title}", w["mlreg predict_file"], w["floor"],
            "pyarrow read + model.predict(numpy) + pyarrow write",
            mlflow_peer("MLflow `predict(df)` with pandas I/O", w.get("mlflow predict")),
            goal=None, passed=None),
    ]
    emit(rows_out, args)


def warm_cases(registry, tmp: Path, source: Path, has_mlflow: bool = True) -> dict:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(tmp / "model.pkl", "rb") as f:
        model = pickle.load(f)

    def floor() -> float:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fitted with feature names, given a matrix: as in the fresh floor
            t = pq.read_table(source)
            X = np.column_stack([c.to_numpy() for c in t.columns])
            pq.write_table(pa.table({"output_feature_0": model.predict(X)}), tmp / "warm-floor.parquet")
        return time.perf_counter() - t0

    def mlreg() -> float:
        t0 = time.perf_counter()
        registry.deployments.predict_file(DEPLOYMENT, source, tmp / "warm-mlreg.parquet")
        return time.perf_counter() - t0

    cases = {"floor": floor, "mlreg predict_file": mlreg}
    if not has_mlflow:
        return cases
    try:
        import mlflow.pyfunc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pyfunc = mlflow.pyfunc.load_model(str(tmp / "mlflow_model"))

        def mlflow_predict() -> float:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = pd.read_parquet(source)
                pd.DataFrame({"output_feature_0": pyfunc.predict(df)}).to_parquet(tmp / "warm-mlflow.parquet", index=False)
            return time.perf_counter() - t0

        cases["mlflow predict"] = mlflow_predict
    except Exception:  # noqa: BLE001 - the peer is optional
        pass
    return cases


def check_outputs(outs: dict[str, Path], has_mlflow: bool) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    want = pq.read_table(outs["floor"]).column("output_feature_0").to_numpy()
    for name in ("mlreg", "mlflow") if has_mlflow else ("mlreg",):
        got = pq.read_table(outs[name]).column("output_feature_0").to_numpy()
        if not np.array_equal(got, want):
            raise SystemExit(f"predict: {name}'s predictions differ from the floor's")
    info(f"predict: outputs equal ({len(want):,} rows, {statistics.mean(want.tolist()):.3f} positive)")


if __name__ == "__main__":
    main()
