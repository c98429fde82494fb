"""Workload 4: query at scale.

A registry of 1,000 models x 100 versions = 100,000 versions (quick: 100 x 100 = 10,000),
each with 3 tags and 2 metrics, bulk-loaded through each registry's own store layer (how:
common.py). The same data goes into MLflow's SQLite registry.

- `mlreg list --tag stage=prod --format json` in a fresh process (goal <= 0.6 s); floor: a
  fresh process that opens the DuckDB file read-only, runs the same query on mlreg's
  `model_list` view and prints JSON; peer: a fresh process running MLflow's
  `search_model_versions("tags.stage = 'prod'")` and printing JSON.
- `list_models()` filtered on the stage tag, in-process (goal <= 0.2 s); floor: the same
  query on a read-only DuckDB connection; peer: `MlflowClient.search_model_versions`.
- How long registering took: the bulk load of each, and the one-by-one rate of a real
  `log_model` (a small scikit-learn model, 3 tags, 2 metrics) against MLflow's
  `mlflow.sklearn.log_model` + registration + 3 tags, measured on a small sample.
"""

from __future__ import annotations

import itertools
import logging
import time

from harness import (BENCH_PYTHON, alternate, bin_path, emit, fig, info, main_args, peer, ratio, row, run,
                     scratch, slow_cases)

import common

FLOOR_FRESH = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
cur = con.execute("SELECT * FROM model_list WHERE TAGS->>'stage' = 'prod' ORDER BY CREATION_TIME, ID")
cols = [d[0] for d in cur.description]
rows = [dict(zip(cols, r)) for r in cur.fetchall()]
con.close()
json.dump(rows, sys.stdout, default=str)
"""

MLFLOW_FRESH = """
import json, sys
from mlflow import MlflowClient
c = MlflowClient(sys.argv[1], sys.argv[1])
vs = c.search_model_versions("tags.stage = 'prod'")
json.dump([dict(name=v.name, version=v.version, tags=v.tags, source=v.source,
                creation_timestamp=v.creation_timestamp) for v in vs], sys.stdout)
"""


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    models, versions = (100, 100) if args.quick else (1000, 100)
    total = models * versions
    tmp = scratch(args, "query")
    home = tmp / "reg"
    db = tmp / "mlflow.db"
    info(f"query: bulk-loading {total:,} versions into mlreg ...")
    mlreg_load = common.bulk_load_mlreg(home, models, versions)
    info(f"  {mlreg_load:.1f} s; into MLflow (SQLite) ...")
    mlflow_load = common.bulk_load_mlflow(db, models, versions)
    info(f"  {mlflow_load:.1f} s")
    env = common.mlreg_env(home)
    uri = common.mlflow_uri(db)
    reg = common.mlreg_registry(home)
    client = common.mlflow_client(db)
    regfile = str(reg.path)

    # -- sanity: both answer the same set ------------------------------------------------------
    n_mlreg = len(reg.list_models().filter("TAGS->>'stage' = 'prod'").fetchall())
    n_mlflow = len(client.search_model_versions("tags.stage = 'prod'"))
    if n_mlreg != models or n_mlflow != models:
        raise SystemExit(f"expected {models} prod versions, got mlreg {n_mlreg}, MLflow {n_mlflow}")

    # -- fresh process -----------------------------------------------------------------------------
    mlreg = bin_path("mlreg")
    info("query: fresh-process listing, alternating ...")
    fresh = alternate({
        "floor": lambda: run([BENCH_PYTHON, "-c", FLOOR_FRESH, regfile], env=env).seconds,
        "mlreg": lambda: run([mlreg, "list", "--tag", "stage=prod", "--format", "json"], env=env).seconds,
        "mlflow": lambda: run([BENCH_PYTHON, "-c", MLFLOW_FRESH, uri], env=env).seconds,
    }, runs=args.runs, warmup=args.warmup, slow=slow_cases(args, "mlflow"))
    ff = {k: fig(v) for k, v in fresh.items()}

    # -- in-process ----------------------------------------------------------------------------------
    import duckdb

    def floor_inproc() -> float:
        t0 = time.perf_counter()
        con = duckdb.connect(regfile, read_only=True)
        con.execute("SELECT * FROM model_list WHERE TAGS->>'stage' = 'prod'").fetchall()
        con.close()
        return time.perf_counter() - t0

    def mlreg_inproc() -> float:
        t0 = time.perf_counter()
        reg.list_models().filter("TAGS->>'stage' = 'prod'").fetchall()
        return time.perf_counter() - t0

    def mlflow_inproc() -> float:
        t0 = time.perf_counter()
        client.search_model_versions("tags.stage = 'prod'")
        return time.perf_counter() - t0

    info("query: in-process listing, alternating ...")
    inproc = alternate({"floor": floor_inproc, "mlreg": mlreg_inproc, "mlflow": mlflow_inproc},
                       runs=args.runs, warmup=args.warmup)
    fi = {k: fig(v) for k, v in inproc.items()}

    # -- one-by-one registration rate on a small sample --------------------------------------------
    import mlflow
    import numpy as np
    import pickle

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    model_path = tmp / "clf.pkl"
    common.write_sklearn_model(model_path)
    with open(model_path, "rb") as f:
        clf = pickle.load(f)
    X = np.random.default_rng(0).normal(size=(10, common.N_FEATURES))
    # MLflow's log_model takes seconds (it infers pip requirements in a subprocess): fewer per run
    per_run, per_run_mlflow = (2, 1) if args.quick else (10, 3)
    seq = itertools.count()
    sample_home = tmp / "rate"
    rate_reg = common.mlreg_registry(sample_home)
    mlflow.set_tracking_uri(common.mlflow_uri(tmp / "rate-mlflow.db"))
    mlflow.set_registry_uri(common.mlflow_uri(tmp / "rate-mlflow.db"))
    (tmp / "mlruns").mkdir()
    rclient = mlflow.MlflowClient()
    tags = {"stage": "testing", "owner": "bench", "dataset": "synthetic"}

    def mlreg_rate() -> float:
        t0 = time.perf_counter()
        for _ in range(per_run):
            rate_reg.log_model(clf, "clf", f"v{next(seq)}", sample_input_data=X, tags=tags,
                               metrics={"accuracy": 0.93, "f1": 0.91})
        return per_run / (time.perf_counter() - t0)

    def mlflow_rate() -> float:
        t0 = time.perf_counter()
        for _ in range(per_run_mlflow):
            with mlflow.start_run():
                info_ = mlflow.sklearn.log_model(clf, name="model", registered_model_name="clf", input_example=X)
                mlflow.log_metrics({"accuracy": 0.93, "f1": 0.91})
            for k, v in tags.items():
                rclient.set_model_version_tag("clf", info_.registered_model_version, k, v)
        return per_run_mlflow / (time.perf_counter() - t0)

    info(f"query: one-by-one log rate, {per_run} (MLflow {per_run_mlflow}) logs per run, alternating ...")
    rates = alternate({"mlreg": mlreg_rate, "mlflow": mlflow_rate}, runs=args.runs, warmup=args.warmup,
                      slow=slow_cases(args, "mlflow"))
    fr = {k: fig(v, unit="logs/s", better="higher") for k, v in rates.items()}

    r_fresh = ff["mlreg"]["median"]
    r_in = fi["mlreg"]["median"]
    rows = [
        row(f"4. `mlreg list --tag stage=prod --format json`, {total:,} versions (fresh process)",
            ff["mlreg"], ff["floor"], "DuckDB read-only query + JSON",
            [peer("MLflow `search_model_versions` (fresh process)", ff["mlflow"])],
            goal="≤ 0.6 s", passed=r_fresh <= 0.6,
            note=None if r_fresh <= 0.6 else f"{r_fresh - 0.6:.2f} s over the goal ({ratio(ff['mlreg'], ff['floor']):.2f}× the floor)"),
        row(f"4. `list_models()` filtered on a tag, {total:,} versions (in-process)",
            fi["mlreg"], fi["floor"], "DuckDB read-only query",
            [peer("MLflow `search_model_versions`", fi["mlflow"])],
            goal="≤ 0.2 s", passed=r_in <= 0.2,
            note=None if r_in <= 0.2 else f"{r_in - 0.2:.2f} s over the goal ({ratio(fi['mlreg'], fi['floor']):.2f}× the floor)"),
        row(f"4. Register {total:,} versions (bulk, through the store layer)",
            fig([mlreg_load]), None, None, [peer("MLflow (bulk SQL into its SQLite)", fig([mlflow_load]))],
            note="one measurement each; method in benchmarks/common.py"),
        row("4. Register one by one: `log_model` rate (sklearn, 3 tags, 2 metrics, in-process)",
            fr["mlreg"], None, None, [peer("MLflow `log_model` + register + 3 tags + 2 metrics", fr["mlflow"])],
            note=(f"at these rates {total:,} one-by-one registrations would take "
                  f"{total / fr['mlreg']['median'] / 3600:.1f} h with mlreg, "
                  f"{total / fr['mlflow']['median'] / 3600:.1f} h with MLflow")),
    ]
    emit(rows, args)


if __name__ == "__main__":
    main()
