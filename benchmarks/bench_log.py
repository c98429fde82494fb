"""Workload 2: register a small scikit-learn model from a fresh process.

mlreg: `mlreg log model.pkl --name clf --version vN` with 3 tags, 2 metrics and a
10-row sample CSV (the signature is inferred from it). Floor: a fresh process that
imports scikit-learn, unpickles the model and writes it to a file. Goal: mlreg <= floor
+ 0.3 s. Peer: a fresh process that runs MLflow's `mlflow.sklearn.log_model` with
`registered_model_name` (tracking and registry on SQLite, artifacts in a local
directory), then sets the same 3 tags on the model version and logs the 2 metrics; its
SQLite store is created beforehand (common.mlflow_db), as a team would once. Quick mode:
2 runs (each case a fresh process importing scikit-learn), no warm-up, the MLflow peer
left out unless --peers once/all.
"""

from __future__ import annotations

import itertools

from harness import (BENCH_PYTHON, alternate, bin_path, emit, fig, info, main_args, peer, peers_wanted, quick_runs,
                     row, run, scratch, skipped_peer, slow_cases)

import common

FLOOR = """
import pickle, sys
import sklearn
with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
with open(sys.argv[2], "wb") as f:
    pickle.dump(model, f, protocol=5)
"""

MLFLOW = """
import logging, pickle, sys
logging.disable(logging.WARNING)
import mlflow, numpy as np
db, art, model_path, sample, version = sys.argv[1:6]
mlflow.set_tracking_uri(db)
mlflow.set_registry_uri(db)
with open(model_path, "rb") as f:
    model = pickle.load(f)
X = np.loadtxt(sample, delimiter=",", skiprows=1)
with mlflow.start_run() as r:
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="clf", input_example=X)
    mlflow.log_metric("accuracy", 0.93)
    mlflow.log_metric("f1", 0.91)
client = mlflow.MlflowClient()
v = info.registered_model_version
for k, val in (("stage", "testing"), ("owner", "bench"), ("dataset", "synthetic")):
    client.set_model_version_tag("clf", v, k, val)
"""


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    quick_runs(args, 2)
    tmp = scratch(args, "log")
    model = tmp / "model.pkl"
    sample = tmp / "sample.csv"
    common.write_sklearn_model(model, sample)
    home = tmp / "reg"
    common.mlreg_registry(home)
    env = common.mlreg_env(home)
    mlreg = bin_path("mlreg")
    # MLflow keeps artifacts under ./mlruns of the working directory for a SQLite store
    mlflow_dir = tmp / "mlflow"
    mlflow_dir.mkdir()
    mlflow_db = common.mlflow_db(tmp / "mlflow.db", mlflow_dir / "mlruns") if peers_wanted(args) else None
    counter = itertools.count(1)

    def floor() -> float:
        return run([BENCH_PYTHON, "-c", FLOOR, model, tmp / "copy.pkl"], env=env).seconds

    def mlreg_log() -> float:
        v = f"v{next(counter)}"
        return run([mlreg, "log", model, "--name", "clf", "--version", v,
                    "--tag", "stage=testing", "--tag", "owner=bench", "--tag", "dataset=synthetic",
                    "--metric", "accuracy=0.93", "--metric", "f1=0.91", "--sample-input", sample],
                   env=env, cwd=tmp).seconds

    def mlflow_log() -> float:
        return run([BENCH_PYTHON, "-c", MLFLOW, mlflow_db, mlflow_dir, model, sample, "x"],
                   env=env, cwd=mlflow_dir).seconds

    cases = {"floor": floor, "mlreg log": mlreg_log, "mlflow log_model+register": mlflow_log}
    if not peers_wanted(args):
        del cases["mlflow log_model+register"]
    info("log: timing fresh processes, alternating ...")
    t = alternate(cases, runs=args.runs, warmup=args.warmup, slow=slow_cases(args, "mlflow log_model+register"))
    f = {k: fig(v) for k, v in t.items()}
    over = f["mlreg log"]["median"] - f["floor"]["median"]
    rows = [
        row("2. Register a small sklearn model (`mlreg log`, fresh process)", f["mlreg log"], f["floor"],
            "import sklearn + unpickle + write",
            [peer("MLflow `log_model` + register + 3 tags + 2 metrics", f["mlflow log_model+register"])
             if "mlflow log_model+register" in f
             else skipped_peer(args, "MLflow `log_model` + register + 3 tags + 2 metrics")],
            goal="≤ floor + 0.3 s", passed=over <= 0.3,
            note=(f"floor {over:+.2f} s" if over <= 0.3 else
                  f"floor + {over:.2f} s: {over - 0.3:.2f} s over the goal")),
    ]
    emit(rows, args)


if __name__ == "__main__":
    main()
