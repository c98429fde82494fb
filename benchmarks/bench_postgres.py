"""Workload 9: a shared registry on PostgreSQL, beside MLflow on the same server.

One private PostgreSQL 15 cluster on 127.0.0.1 (started here, stopped at the end); mlreg's
registry is a schema of database ``mlreg``, MLflow's tracking and registry store is the
database ``mlflow`` (``postgresql+psycopg://``, its schema made by MLflow itself, untimed).

- `log_model` rate in one process: a small scikit-learn model with 3 tags and 2 metrics
  (goal: at least 2x MLflow's `mlflow.sklearn.log_model` + registration + 3 tags);
- `set_tag` rate in one process (goal: at least 2x MLflow's `set_model_version_tag`);
- `mlreg list --tag stage=prod --format json` with 100,000 versions (quick: 10,000) in a
  fresh process (goals: at most 0.8 s, at least 10x faster than a fresh process running
  MLflow's `search_model_versions("tags.stage = 'prod'")` on the same data);
- 8 processes x 10 `mlreg log` into the one registry (quick: 4 x 5): all present, wall
  time no worse than 8 processes x 10 MLflow log_model + registration.

Both registries are bulk-loaded by SQL straight into their tables (the same rows:
1,000 models x 100 versions, stage/owner/dataset tags, prod on the latest version).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from harness import (BENCH_PYTHON, alternate, bin_path, clean_env, emit, fig, info, main_args, peer, peers_wanted,
                     quick_runs, ratio, row, run, scratch, skipped_peer)

import common

SCRIPT = "bench_postgres.py"

MLFLOW_FRESH = """
import json, sys, logging
logging.disable(logging.WARNING)
from mlflow import MlflowClient
c = MlflowClient(sys.argv[1], sys.argv[1])
vs = c.search_model_versions("tags.stage = 'prod'")
json.dump([dict(name=v.name, version=v.version, tags=v.tags, source=v.source,
                creation_timestamp=v.creation_timestamp) for v in vs], sys.stdout)
"""

# one machine's job: N `mlreg log` commands, one after another
MLREG_LOGGER = """
import subprocess, sys
mlreg, model, sample, tag, n = sys.argv[1:6]
for i in range(int(n)):
    subprocess.run([mlreg, "log", model, "-n", "conc", "-V", f"{tag}-{i}", "--sample-input", sample,
                    "-t", "stage=dev"], check=True, stdout=subprocess.DEVNULL)
"""

MLFLOW_LOGGER = """
import logging, pickle, sys, warnings
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])
mlflow.set_experiment("bench")
clf = pickle.load(open(sys.argv[2], "rb"))
X = np.random.default_rng(0).normal(size=(10, int(sys.argv[5])))
for i in range(int(sys.argv[4])):
    with mlflow.start_run():
        mlflow.sklearn.log_model(clf, name="model", registered_model_name="conc", input_example=X[:2])
"""


# -- the server ---------------------------------------------------------------------------------
class Server:
    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.bindir = Path(shutil.which("initdb") or next(Path("/usr/lib/postgresql").glob("*/bin/initdb"))).parent
        self.port = 0

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.root, timeout=300)

    def start(self) -> None:
        self.root.mkdir(mode=0o700)
        if os.geteuid() == 0:
            self.root.parent.chmod(0o711)  # the postgres user passes through the scratch directory
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # a server as a team would run it (fsync on), a little more memory than the default
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c shared_buffers=256MB "
                  "-c max_connections=100", "start")

    def stop(self) -> None:
        if self.port:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, db: str, driver: str = "") -> str:
        return f"postgresql{driver}://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as c:
            c.execute(statement)


# -- bulk loads -----------------------------------------------------------------------------------
def bulk_load_mlreg(reg, url: str, models: int, versions: int) -> float:
    """models x versions copies of a template version, their events, current values and
    listing, by SQL (what a year of logging leaves)."""
    import psycopg

    t0 = time.perf_counter()
    reg.log_model(common.TinyModel(), "template", "1", sample_input_data=common.sample_records(),
                  tags={"stage": "none"})
    n = models * versions
    stage = f"CASE WHEN g.v = {versions} THEN 'prod' WHEN g.v = {versions - 1} THEN 'staging' ELSE 'archived' END"
    with psycopg.connect(url, autocommit=True) as c:
        c.execute('SET search_path TO "MODEL_REGISTRY"')
        with c.transaction():
            c.execute(f"CREATE TEMP TABLE g AS SELECT i, i / {versions} AS m, i % {versions} + 1 AS v,"
                      f" md5('bench-' || i) AS id, 'model-' || lpad((i / {versions})::text, 4, '0') AS name"
                      f" FROM generate_series(0, {n - 1}) i")
            c.execute("INSERT INTO models SELECT g.id, g.name, g.v::text, t.type, t.uri || g.id,"
                      " t.creation_time + g.i * interval '1 microsecond', t.creation_role, t.creation_context,"
                      " t.creation_environment_spec, t.input_spec, t.output_spec, t.manifest, t.files"
                      " FROM models t, g WHERE t.name = 'template'")
            ev = ("INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
                  " attribute_name, key, old_value, new_value) SELECT now(), g.id, g.name, g.v::text, 'bench', 'SET', ")
            c.execute(ev + "'REGISTRATION', NULL, NULL, '{\"type\":\"sklearn\"}' FROM g")
            tags = {"stage": stage, "owner": "'team-' || (g.m % 10)", "dataset": "'ds-' || (g.m % 7)"}
            # float8: metric values as mlreg writes them (a double in its shortest digits, 0.5 not 0.50)
            metrics = {"accuracy": "round(0.5 + (g.v % 50) / 100.0, 2)::float8",
                       "f1": "round(0.4 + (g.m % 50) / 100.0, 2)::float8"}
            for k, expr in tags.items():
                c.execute(ev + f"'TAG', '{k}', NULL, to_json({expr})::text FROM g")
            for k, expr in metrics.items():
                c.execute(ev + f"'METRIC', '{k}', NULL, ({expr})::text FROM g")
            c.execute("INSERT INTO attributes SELECT model_id, attribute_name, key, new_value, event_id FROM events"
                      " WHERE attribute_name IN ('TAG', 'METRIC') AND model_id IN (SELECT id FROM g)")
            tag_json = " || ',' || ".join(f"'\"{k}\":' || to_json({e})::text" for k, e in sorted(tags.items()))
            met_json = " || ',' || ".join(f"'\"{k}\":' || ({e})::text" for k, e in sorted(metrics.items()))
            c.execute("INSERT INTO listing (id, name, version, type, uri, creation_time, creation_role,"
                      " creation_context, creation_environment_spec, input_spec, output_spec, description, tags,"
                      " metrics) SELECT m.id, m.name, m.version, m.type, m.uri, m.creation_time, m.creation_role,"
                      " m.creation_context, m.creation_environment_spec, m.input_spec, m.output_spec, NULL,"
                      f" '{{' || {tag_json} || '}}', '{{' || {met_json} || '}}' FROM g JOIN models m ON m.id = g.id"
                      " ORDER BY g.i")
        c.execute("ANALYZE")
    return time.perf_counter() - t0


def bulk_load_mlflow(server: Server, uri: str, models: int, versions: int, artifacts: Path) -> float:
    """The same versions and tags in MLflow's tables (registered_models, model_versions,
    model_version_tags), by SQL, from a template version registered through MLflow."""
    import psycopg
    from mlflow import MlflowClient

    t0 = time.perf_counter()
    client = MlflowClient(uri, uri)
    client.create_registered_model("template")
    client.create_model_version("template", source=str(artifacts / "template"),
                                tags={"stage": "none", "owner": "x", "dataset": "y"})
    n = models * versions
    stage = f"CASE WHEN v = {versions} THEN 'prod' WHEN v = {versions - 1} THEN 'staging' ELSE 'archived' END"
    with psycopg.connect(server.url("mlflow"), autocommit=True) as c, c.transaction():
        cols = [r[0] for r in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name ="
                                        " 'model_versions' ORDER BY ordinal_position").fetchall()]
        rm_cols = [r[0] for r in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name ="
                                           " 'registered_models' ORDER BY ordinal_position").fetchall()]
        c.execute(f"CREATE TEMP TABLE g AS SELECT i, i / {versions} AS m, i % {versions} + 1 AS v,"
                  f" 'model-' || lpad((i / {versions})::text, 4, '0') AS name FROM generate_series(0, {n - 1}) i")
        over_rm = {"name": "g.name"}
        c.execute(f"INSERT INTO registered_models ({', '.join(rm_cols)}) SELECT DISTINCT ON (g.name) "
                  + ", ".join(over_rm.get(col, f"t.{col}") for col in rm_cols)
                  + " FROM registered_models t, g WHERE t.name = 'template' ORDER BY g.name")
        over = {"name": "g.name", "version": "g.v", "creation_time": "t.creation_time + g.i",
                "last_updated_time": "t.last_updated_time + g.i"}
        c.execute(f"INSERT INTO model_versions ({', '.join(cols)}) SELECT "
                  + ", ".join(over.get(col, f"t.{col}") for col in cols)
                  + " FROM model_versions t, g WHERE t.name = 'template'")
        tag_cols = [r[0] for r in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name ="
                                            " 'model_version_tags' ORDER BY ordinal_position").fetchall()]
        for k, expr in (("stage", stage), ("owner", "'team-' || (m % 10)"), ("dataset", "'ds-' || (m % 7)")):
            values = {"key": f"'{k}'", "value": expr, "name": "name", "version": "v"}
            c.execute(f"INSERT INTO model_version_tags ({', '.join(tag_cols)}) SELECT "
                      + ", ".join(values.get(col, f"(SELECT {col} FROM model_version_tags LIMIT 1)")
                                  for col in tag_cols)
                      + " FROM g")
    with psycopg.connect(server.url("mlflow"), autocommit=True) as c:
        c.execute("ANALYZE")
    return time.perf_counter() - t0


def mlflow_peer(args, figures: dict, with_mlflow: bool) -> list[dict]:
    return [peer("MLflow (PostgreSQL)", figures.get("mlflow"))] if with_mlflow else [skipped_peer(args, "MLflow")]


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    quick_runs(args, 3)
    models, versions = (100, 100) if args.quick else (1000, 100)
    procs, per_proc = (4, 5) if args.quick else (8, 10)
    with_mlflow = peers_wanted(args)
    tmp = scratch(args, "postgres")
    server = Server(tmp / "pg")
    info("postgres: starting a private PostgreSQL server ...")
    server.start()
    try:
        rows = _measure(args, tmp, server, models, versions, procs, per_proc, with_mlflow)
    finally:
        server.stop()
    emit(rows, args)


def _measure(args, tmp: Path, server: Server, models: int, versions: int, procs: int, per_proc: int,
             with_mlflow: bool) -> list[dict]:
    import pickle
    import warnings

    import numpy as np

    import mlreg
    from mlreg import model_registry

    warnings.simplefilter("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for db in ("mlreg", "rate", "conc", "mlflow", "mlflow_rate", "mlflow_conc"):
        server.sql(f"CREATE DATABASE {db}")
    stage = tmp / "stage"
    os.environ["XDG_STATE_HOME"] = str(tmp / "state")

    def registry(db: str):
        session = mlreg.connect(home=server.url(db), stage=str(stage), role="bench")
        model_registry.create_model_registry(session)
        return model_registry.ModelRegistry(session)

    sample_csv = common.write_sample_csv(tmp / "sample.csv")
    model_path = tmp / "clf.pkl"
    common.write_sklearn_model(model_path, sample_csv)
    with open(model_path, "rb") as f:
        clf = pickle.load(f)
    X = np.random.default_rng(0).normal(size=(10, common.N_FEATURES))
    rows: list[dict] = []

    if with_mlflow:
        import mlflow

        info("postgres: MLflow creates its schema in PostgreSQL (untimed) ...")
        for db in ("mlflow", "mlflow_rate", "mlflow_conc"):
            uri = server.url(db, "+psycopg")
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            mlflow.create_experiment("bench", artifact_location=str(tmp / "mlruns" / db))
            mlflow.MlflowClient(uri, uri).search_registered_models()

    # -- log_model and set_tag rates, one process --------------------------------------------------
    rate = registry("rate")
    per_run, per_run_mlflow = (3, 1) if args.quick else (10, 3)
    seq = iter(range(10 ** 6))

    def mlreg_log() -> float:
        t0 = time.perf_counter()
        for _ in range(per_run):
            rate.log_model(clf, "rate", str(next(seq)), sample_input_data=X,
                           tags={"stage": "dev", "owner": "a", "dataset": "b"}, metrics={"acc": 0.9, "f1": 0.8})
        return per_run / (time.perf_counter() - t0)

    def mlflow_log() -> float:
        import mlflow

        t0 = time.perf_counter()
        for _ in range(per_run_mlflow):
            with mlflow.start_run():
                info_ = mlflow.sklearn.log_model(clf, name="model", registered_model_name="rate", input_example=X[:2])
                mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
            v = info_.registered_model_version
            for k, val in (("stage", "dev"), ("owner", "a"), ("dataset", "b")):
                mlflow.MlflowClient().set_model_version_tag("rate", str(v), k, val)
        return per_run_mlflow / (time.perf_counter() - t0)

    cases = {"mlreg": mlreg_log}
    if with_mlflow:
        import mlflow

        rate_uri = server.url("mlflow_rate", "+psycopg")
        mlflow.set_tracking_uri(rate_uri)
        mlflow.set_registry_uri(rate_uri)
        mlflow.set_experiment("bench")
        cases["mlflow"] = mlflow_log
    info("postgres: log_model rate, alternating ...")
    logs = alternate(cases, runs=args.runs, warmup=args.cheap_warmup)
    lf = {k: fig(v, "versions/s", "higher") for k, v in logs.items()}
    r = ratio(lf["mlreg"], lf.get("mlflow"))
    rows.append(row("PostgreSQL: log_model rate, one process", lf["mlreg"],
                    peers=mlflow_peer(args, lf, with_mlflow),
                    goal=">= 2x MLflow", passed=(r >= 2) if r else None, script=SCRIPT))

    n_tags = 50 if args.quick else 200

    def mlreg_tags() -> float:
        t0 = time.perf_counter()
        for i in range(n_tags):
            rate.set_tag("rate", "0", "k", str(i))
        return n_tags / (time.perf_counter() - t0)

    def mlflow_tags() -> float:
        c = mlflow.MlflowClient()
        t0 = time.perf_counter()
        for i in range(n_tags):
            c.set_model_version_tag("rate", "1", "k", str(i))
        return n_tags / (time.perf_counter() - t0)

    cases = {"mlreg": mlreg_tags}
    if with_mlflow:
        cases["mlflow"] = mlflow_tags
    info("postgres: set_tag rate, alternating ...")
    tags = alternate(cases, runs=args.runs, warmup=args.cheap_warmup)
    tf = {k: fig(v, "tags/s", "higher") for k, v in tags.items()}
    r = ratio(tf["mlreg"], tf.get("mlflow"))
    rows.append(row("PostgreSQL: set_tag rate, one process", tf["mlreg"],
                    peers=mlflow_peer(args, tf, with_mlflow),
                    goal=">= 2x MLflow", passed=(r >= 2) if r else None, script=SCRIPT))

    # -- list --tag stage=prod, fresh process ---------------------------------------------------------
    total = models * versions
    info(f"postgres: bulk-loading {total:,} versions into mlreg ...")
    big = registry("mlreg")
    info(f"  {bulk_load_mlreg(big, server.url('mlreg'), models, versions):.1f} s")
    mlflow_uri = server.url("mlflow", "+psycopg")
    if with_mlflow:
        info(f"  into MLflow: {bulk_load_mlflow(server, mlflow_uri, models, versions, tmp / 'mlruns'):.1f} s")
    env = clean_env(MLREG_HOME=server.url("mlreg"), MLREG_STAGE=str(stage), MLREG_ROLE="bench",
                    XDG_STATE_HOME=str(tmp / "state"))
    mlreg_bin = bin_path("mlreg")
    got = run([mlreg_bin, "list", "--tag", "stage=prod", "--format", "json"], env=env)
    n_prod = got.stdout.count('"NAME"')
    if n_prod != models:
        raise SystemExit(f"expected {models} prod versions, mlreg listed {n_prod}")
    cases = {"mlreg": lambda: run([mlreg_bin, "list", "--tag", "stage=prod", "--format", "json"], env=env).seconds}
    if with_mlflow:
        cases["mlflow"] = lambda: run([BENCH_PYTHON, "-c", MLFLOW_FRESH, mlflow_uri], env=env).seconds
    info("postgres: fresh-process listing, alternating ...")
    fresh = alternate(cases, runs=args.runs, warmup=args.warmup)
    ff = {k: fig(v) for k, v in fresh.items()}
    speed = ratio(ff.get("mlflow"), ff["mlreg"])
    ok = ff["mlreg"]["median"] <= 0.8 and (speed is None or speed >= 10)
    rows.append(row(f"PostgreSQL: `mlreg list --tag stage=prod --format json`, {total:,} versions, fresh process",
                    ff["mlreg"],
                    peers=[peer("MLflow search_model_versions", ff.get("mlflow"))] if with_mlflow
                    else [skipped_peer(args, "MLflow")],
                    goal="<= 0.8 s and >= 10x MLflow", passed=ok if with_mlflow or args.quick else None,
                    script=SCRIPT))

    # -- concurrent logs ---------------------------------------------------------------------------------
    registry("conc")
    env_conc = clean_env(MLREG_HOME=server.url("conc"), MLREG_STAGE=str(stage), MLREG_ROLE="bench",
                         XDG_STATE_HOME=str(tmp / "state"))
    env_conc = common.pythonpath_env(env_conc)

    def mlreg_conc() -> float:
        tag = str(next(seq))
        t0 = time.perf_counter()
        ps = [subprocess.Popen([BENCH_PYTHON, "-c", MLREG_LOGGER, mlreg_bin, str(model_path), str(sample_csv),
                                f"{tag}-{p}", str(per_proc)], env=env_conc) for p in range(procs)]
        codes = [p.wait() for p in ps]
        seconds = time.perf_counter() - t0
        if codes != [0] * procs:
            raise SystemExit(f"concurrent mlreg logs failed: {codes}")
        return seconds

    def mlflow_conc() -> float:
        uri = server.url("mlflow_conc", "+psycopg")
        t0 = time.perf_counter()
        ps = [subprocess.Popen([BENCH_PYTHON, "-c", MLFLOW_LOGGER, uri, str(model_path), str(p), str(per_proc),
                                str(common.N_FEATURES)], env=common.pythonpath_env(common.mlreg_env(tmp)), cwd=tmp)
              for p in range(procs)]
        codes = [p.wait() for p in ps]
        seconds = time.perf_counter() - t0
        if codes != [0] * procs:
            raise SystemExit(f"concurrent MLflow logs failed: {codes}")
        return seconds

    cases = {"mlreg": mlreg_conc}
    if with_mlflow:
        cases["mlflow"] = mlflow_conc
    runs = 1  # minutes of fresh processes per run, for each tool
    info(f"postgres: {procs} processes x {per_proc} logs, alternating ...")
    conc = alternate(cases, runs=runs, warmup=0)
    cf = {k: fig(v) for k, v in conc.items()}
    present = registry("conc").list_models().count("*").fetchall()[0][0]
    expected = procs * per_proc * runs
    ok = present == expected and (not with_mlflow or cf["mlreg"]["median"] <= cf["mlflow"]["median"])
    rows.append(row(f"PostgreSQL: {procs} processes x {per_proc} `mlreg log`, wall time", cf["mlreg"],
                    peers=mlflow_peer(args, cf, with_mlflow),
                    goal="all present, <= MLflow", passed=ok if with_mlflow or args.quick else None,
                    note=f"{present} of {expected} versions present", script=SCRIPT))
    return rows


if __name__ == "__main__":
    main()
