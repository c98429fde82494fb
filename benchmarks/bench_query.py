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
- A tag write at that scale, in-process: `set_tag` on one version (each a durable
  transaction of its own), and the same inside `registry.batch()`, against MLflow's
  `MlflowClient.set_model_version_tag` on the same version of its registry; and the bound
  of a single write at that size, measured as in workload 3: DuckDB itself attaching a copy
  of the registry file, inserting one event and detaching (which checkpoints).
- How long registering took: the bulk load of each, and the one-by-one rate of a real
  `log_model` (a small scikit-learn model, 3 tags, 2 metrics) against MLflow's
  `mlflow.sklearn.log_model` + registration + 3 tags, measured on a small sample.

Quick mode: 3 runs, no warm-up (1 for the in-process cases), and MLflow (its bulk load, its fresh-process and
in-process queries, its log rate) left out unless --peers once/all.
"""

from __future__ import annotations

import itertools
import logging
import time

from harness import (BENCH_PYTHON, alternate, bin_path, emit, fig, info, main_args, peer, peers_wanted, ratio, row,
                     run, scratch, skipped_peer, slow_cases)

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
    with_mlflow = peers_wanted(args)
    info(f"query: bulk-loading {total:,} versions into mlreg ...")
    mlreg_load = common.bulk_load_mlreg(home, models, versions)
    info(f"  {mlreg_load:.1f} s" + ("; into MLflow (SQLite) ..." if with_mlflow else ""))
    if with_mlflow:
        mlflow_load = common.bulk_load_mlflow(db, models, versions)
        info(f"  {mlflow_load:.1f} s")
    env = common.mlreg_env(home)
    uri = common.mlflow_uri(db)
    reg = common.mlreg_registry(home)
    client = common.mlflow_client(db) if with_mlflow else None
    regfile = str(reg.store.path)

    # -- sanity: both answer the same set ------------------------------------------------------
    n_mlreg = len(reg.list_models().filter("TAGS->>'stage' = 'prod'").fetchall())
    n_mlflow = len(client.search_model_versions("tags.stage = 'prod'")) if with_mlflow else models
    if n_mlreg != models or n_mlflow != models:
        raise SystemExit(f"expected {models} prod versions, got mlreg {n_mlreg}, MLflow {n_mlflow}")

    # -- fresh process -----------------------------------------------------------------------------
    mlreg = bin_path("mlreg")
    info("query: fresh-process listing, alternating ...")
    fresh_cases = {
        "floor": lambda: run([BENCH_PYTHON, "-c", FLOOR_FRESH, regfile], env=env).seconds,
        "mlreg": lambda: run([mlreg, "list", "--tag", "stage=prod", "--format", "json"], env=env).seconds,
        "mlflow": lambda: run([BENCH_PYTHON, "-c", MLFLOW_FRESH, uri], env=env).seconds,
    }
    if not with_mlflow:
        del fresh_cases["mlflow"]
    fresh = alternate(fresh_cases, runs=args.runs, warmup=args.warmup, slow=slow_cases(args, "mlflow"))
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
    inproc_cases = {"floor": floor_inproc, "mlreg": mlreg_inproc, "mlflow": mlflow_inproc}
    if not with_mlflow:
        del inproc_cases["mlflow"]
    inproc = alternate(inproc_cases, runs=args.runs, warmup=args.cheap_warmup)
    fi = {k: fig(v) for k, v in inproc.items()}

    # -- tag writes on one version of the full registry ---------------------------------------------
    writes = 5 if args.quick else 20
    target = ("model-0007", "42")  # in both registries, a version in the middle of the file
    wseq = itertools.count()

    def write_rate(op) -> float:
        t0 = time.perf_counter()
        for _ in range(writes):
            op(next(wseq))
        return writes / (time.perf_counter() - t0)

    import shutil

    bound_db = tmp / "bound.duckdb"
    shutil.copyfile(regfile, bound_db)
    engine = duckdb.connect(":memory:")
    engine.execute("SET threads = 1")

    def bound_op(i: int) -> None:
        engine.execute(f"ATTACH '{bound_db}' AS b (READ_WRITE)")
        engine.execute(
            "INSERT INTO b.events (event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value) VALUES (now(), 'x', 'm', '1', 'bench', 'SET', 'TAG',"
            " 'note', NULL, ?)", [f'"n{i}"'])
        engine.execute("DETACH b")

    def mlreg_batched() -> float:
        with reg.batch():
            return write_rate(lambda i: reg.set_tag(*target, "note", f"b{i}"))

    write_cases = {
        "mlreg": lambda: write_rate(lambda i: reg.set_tag(*target, "note", f"n{i}")),
        "batch": mlreg_batched,
        "bound": lambda: write_rate(bound_op),
        "mlflow": lambda: write_rate(lambda i: client.set_model_version_tag(*target, "note", f"n{i}")),
    }
    if not with_mlflow:
        del write_cases["mlflow"]
    info("query: tag writes at scale, alternating ...")
    wrote = alternate(write_cases, runs=args.runs, warmup=args.cheap_warmup)
    fw = {k: fig(v, unit="writes/s", better="higher") for k, v in wrote.items()}

    # -- one-by-one registration rate on a small sample --------------------------------------------
    import numpy as np
    import pickle

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
    if with_mlflow:
        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        # its store made beforehand, artifacts under tmp/mlruns (not the working directory's)
        rate_uri = common.mlflow_db(tmp / "rate-mlflow.db", tmp / "mlruns")
        mlflow.set_tracking_uri(rate_uri)
        mlflow.set_registry_uri(rate_uri)
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
    rate_cases = {"mlreg": mlreg_rate, "mlflow": mlflow_rate}
    if not with_mlflow:
        del rate_cases["mlflow"]
    rates = alternate(rate_cases, runs=args.runs, warmup=args.cheap_warmup, slow=slow_cases(args, "mlflow"))
    fr = {k: fig(v, unit="logs/s", better="higher") for k, v in rates.items()}

    r_fresh = ff["mlreg"]["median"]
    r_in = fi["mlreg"]["median"]

    def mlflow_peer(name: str, figures: dict, key: str = "mlflow") -> dict:
        return peer(name, figures[key]) if key in figures else skipped_peer(args, name)

    hours = f"{total / fr['mlreg']['median'] / 3600:.1f} h with mlreg"
    if "mlflow" in fr:
        hours += f", {total / fr['mlflow']['median'] / 3600:.1f} h with MLflow"
    rows = [
        row(f"4. `mlreg list --tag stage=prod --format json`, {total:,} versions (fresh process)",
            ff["mlreg"], ff["floor"], "DuckDB read-only query + JSON",
            [mlflow_peer("MLflow `search_model_versions` (fresh process)", ff)],
            goal="≤ 0.6 s", passed=r_fresh <= 0.6,
            note=None if r_fresh <= 0.6 else f"{r_fresh - 0.6:.2f} s over the goal ({ratio(ff['mlreg'], ff['floor']):.2f}× the floor)"),
        row(f"4. `list_models()` filtered on a tag, {total:,} versions (in-process)",
            fi["mlreg"], fi["floor"], "DuckDB read-only query",
            [mlflow_peer("MLflow `search_model_versions`", fi)],
            goal="≤ 0.2 s", passed=r_in <= 0.2,
            note=None if r_in <= 0.2 else f"{r_in - 0.2:.2f} s over the goal ({ratio(fi['mlreg'], fi['floor']):.2f}× the floor)"),
        row(f"4. `set_tag` on one version of the {total:,}-version registry (in-process)",
            fw["mlreg"], None, None, [mlflow_peer("MLflow `set_model_version_tag`", fw)],
            note="each write durable on return, as a single write of workload 3"),
        row(f"4. `set_tag` in `registry.batch()` on one version of the {total:,}-version registry (in-process)",
            fw["batch"], None, None, [mlflow_peer("MLflow `set_model_version_tag`", fw)]),
        row(f"4. Bound of a single write on the {total:,}-version registry (DuckDB itself: attach a copy of "
            "the file, insert one event, detach)", fw["bound"], None, None,
            [mlflow_peer("MLflow `set_model_version_tag`", fw)],
            note=f"mlreg's `set_tag` is {fw['mlreg']['median'] / fw['bound']['median']:.2f}× this bound"),
        row(f"4. Register {total:,} versions (bulk, through the store layer)",
            fig([mlreg_load]), None, None,
            [peer("MLflow (bulk SQL into its SQLite)", fig([mlflow_load])) if with_mlflow
             else skipped_peer(args, "MLflow (bulk SQL into its SQLite)")],
            note="one measurement each; method in benchmarks/common.py"),
        row("4. Register one by one: `log_model` rate (sklearn, 3 tags, 2 metrics, in-process)",
            fr["mlreg"], None, None, [mlflow_peer("MLflow `log_model` + register + 3 tags + 2 metrics", fr)],
            note=f"at these rates {total:,} one-by-one registrations would take {hours}"),
    ]
    emit(rows, args)


if __name__ == "__main__":
    main()
