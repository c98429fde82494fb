"""Fixtures shared by the workload scripts: models, registries and their bulk loaders.

Bulk loading (workloads 1 and 4). Registering 100,000 versions one ``log_model`` at a
time would take hours for either registry, so both are filled through their own store
layer, the same way for both:

- mlreg: one real ``log_model`` of a template version (so every column holds what a
  real registration writes), then ONE ``Store.write()`` transaction (mlreg's own locked
  write path) that copies the template row to every (name, version) with a fresh ID and
  inserts the same events a real registration records: REGISTRATION, three TAG events
  (stage, owner, dataset) and two METRIC events (accuracy, f1). Current tags and metrics
  are derived from those events by mlreg's views, exactly as for logged models.
- MLflow: one real ``create_registered_model`` + ``create_model_version`` (with the
  same three tags) through MlflowClient on SQLite, then its rows are copied in one
  SQLite transaction into ``registered_models``, ``model_versions`` and
  ``model_version_tags`` (MLflow keeps no per-version metrics: they live on runs).

The per-``log`` rate on a small sample (the honest figure for one-by-one registration)
is measured separately by bench_query.py.

Data: models ``model-0000`` .. ``model-{M-1}``, versions ``1`` .. ``V``; tag ``stage``
is ``prod`` on the latest version of each model, ``staging`` on the one before, and
``archived`` on the rest, so ``--tag stage=prod`` matches M rows.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

N_FEATURES = 4


class TinyModel:
    """A custom model with a predict method: cheap to import, pickle and call."""

    def __init__(self, weights: list[float] | None = None):
        self.weights = weights or [0.5, -0.25, 0.125, 1.0]

    def predict(self, rows: Any) -> Any:
        # a list of records, a pandas frame or a DuckDB relation: answer one score per row
        if hasattr(rows, "to_dict"):
            rows = rows.to_dict("records")
        elif hasattr(rows, "fetchall") and hasattr(rows, "columns"):
            cols = rows.columns
            rows = [dict(zip(cols, r)) for r in rows.fetchall()]
        return [{"score": sum(w * float(v) for w, v in zip(self.weights, r.values()))} for r in rows]


class ArrayModel:
    """A custom model holding a large NumPy array (workload 5)."""

    def __init__(self, array: Any):
        self.array = array

    def predict(self, rows: Any) -> Any:
        import numpy as np

        x = np.asarray(rows, dtype="float64")
        return x.sum(axis=1, keepdims=True) * float(self.array[:1].sum() if self.array.size else 0.0)


def sample_records(n: int = 5) -> list[dict[str, float]]:
    return [{f"x{j}": float(i + j) / 10 for j in range(N_FEATURES)} for i in range(n)]


def write_sample_csv(path: Path, n: int = 10) -> Path:
    recs = sample_records(n)
    lines = [",".join(recs[0])] + [",".join(str(v) for v in r.values()) for r in recs]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tiny_model(path: Path) -> Path:
    """A pickle of TinyModel that loads anywhere cloudpickle does (class by value)."""
    import cloudpickle

    import common

    cloudpickle.register_pickle_by_value(common)
    try:
        with open(path, "wb") as f:
            cloudpickle.dump(TinyModel(), f)
    finally:
        cloudpickle.unregister_pickle_by_value(common)
    return path


def write_sklearn_model(path: Path, sample_csv: Path | None = None) -> Path:
    """A small fitted LogisticRegression, pickled, and (optionally) a sample CSV.

    Both are the same bytes every time (fixed seed): they are made once per scikit-learn
    and NumPy version and copied from :func:`cache_dir` (importing scikit-learn takes
    seconds)."""
    import shutil
    from importlib.metadata import version

    cached = cache_dir() / f"logreg-sklearn-{version('scikit-learn')}-numpy-{version('numpy')}"
    if not (cached / "model.pkl").exists():
        cached.mkdir(parents=True, exist_ok=True)
        work = cached / f"tmp-{os.getpid()}"
        work.mkdir(exist_ok=True)
        _make_sklearn_model(work / "model.pkl", work / "sample.csv")
        os.replace(work / "sample.csv", cached / "sample.csv")
        os.replace(work / "model.pkl", cached / "model.pkl")  # last: marks the pair complete
        work.rmdir()
    shutil.copyfile(cached / "model.pkl", path)
    if sample_csv is not None:
        shutil.copyfile(cached / "sample.csv", sample_csv)
    return path


def _make_sklearn_model(path: Path, sample_csv: Path | None = None) -> Path:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, N_FEATURES))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    with open(path, "wb") as f:
        pickle.dump(clf, f, protocol=5)
    if sample_csv is not None:
        rows = ["x0,x1,x2,x3"] + [",".join(f"{v:.6f}" for v in X[i]) for i in range(10)]
        sample_csv.write_text("\n".join(rows) + "\n")
    return path


# -- mlreg -------------------------------------------------------------------------------------


def mlreg_env(home: Path, **extra: str) -> dict[str, str]:
    from harness import clean_env

    return clean_env(MLREG_HOME=str(home), MLREG_STAGE=str(home / "stage"), MLREG_ROLE="bench", **extra)


def mlreg_registry(home: Path):
    import mlreg
    from mlreg import model_registry

    session = mlreg.connect(home=home, stage=home / "stage", role="bench")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_registry.create_model_registry(session)
    return model_registry.ModelRegistry(session)


def bulk_load_mlreg(home: Path, models: int, versions: int) -> float:
    """Fill an mlreg registry with models × versions; returns the seconds it took
    (template log included). See the module docstring for the method."""
    t0 = time.perf_counter()
    reg = mlreg_registry(home)
    reg.log_model(TinyModel(), "template", "1", sample_input_data=sample_records(), tags={"stage": "none"})
    n = models * versions
    store = reg.store
    with store.file.write() as con:  # the raw connection, for bulk SQL
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'models' AND schema_name = 'main' "
            "ORDER BY column_index").fetchall()]
        gen = (
            f"SELECT i, i // {versions} AS m, i % {versions} + 1 AS v FROM range({n}) r(i)"
        )
        override = {
            "id": "md5(concat('bench-', g.i))",
            "name": "printf('model-%04d', g.m)",
            "version": "CAST(g.v AS VARCHAR)",
            "uri": "t.uri",
            "creation_time": "t.creation_time + to_microseconds(g.i)",
        }
        select = ", ".join(override.get(c, f"t.{c}") for c in cols)
        con.execute(f"CREATE TEMP TABLE g AS {gen}")
        con.execute(
            f"INSERT INTO models ({', '.join(cols)}) SELECT {select} FROM models t, g WHERE t.name = 'template'"
        )
        ev = (
            "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value) "
        )
        base = (
            "FROM g JOIN models m ON m.id = md5(concat('bench-', g.i))"
        )
        con.execute(
            ev + "SELECT m.creation_time, m.id, m.name, m.version, 'bench', 'SET', 'REGISTRATION', NULL, NULL,"
            " json_object('type', m.type, 'uri', m.uri) " + base
        )
        stage = (
            f"CASE WHEN g.v = {versions} THEN 'prod' WHEN g.v = {versions - 1} THEN 'staging' ELSE 'archived' END"
        )
        for key, value in (
            ("stage", stage),
            ("owner", "printf('team-%d', g.m % 10)"),
            ("dataset", "printf('ds-%d', g.m % 7)"),
        ):
            con.execute(
                ev + f"SELECT m.creation_time, m.id, m.name, m.version, 'bench', 'SET', 'TAG', '{key}', NULL,"
                f" to_json({value}) " + base
            )
        for key, value in (("accuracy", "round(0.5 + (g.v % 50) / 100.0, 2)"), ("f1", "round(0.4 + (g.m % 50) / 100.0, 2)")):
            con.execute(
                ev + f"SELECT m.creation_time, m.id, m.name, m.version, 'bench', 'SET', 'METRIC', '{key}', NULL,"
                f" to_json({value}) " + base
            )
        con.execute("DROP TABLE g")
        # the current tags/metrics tables are kept per event by mlreg; rebuild them once here
        from mlreg.store.duckdb import attributes

        attributes.rebuild(con)
    return time.perf_counter() - t0


# -- MLflow ------------------------------------------------------------------------------------


def mlflow_uri(path: Path) -> str:
    return f"sqlite:///{path}"


def cache_dir() -> Path:
    """Fixtures kept between runs: $BENCH_CACHE, else ``bench-cache`` in the bench venv."""
    import sys

    path = Path(os.environ.get("BENCH_CACHE") or Path(sys.prefix) / "bench-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


_TEMPLATE_SCRIPT = """
import logging, sys
logging.disable(logging.WARNING)
from mlflow import MlflowClient
u = sys.argv[1]
MlflowClient(tracking_uri=u, registry_uri=u).search_registered_models()
"""


def mlflow_db(db: Path, artifacts: Path) -> str:
    """A fresh MLflow SQLite store at ``db`` (tracking and registry), its default
    experiment's artifacts under ``artifacts``; returns its URI.

    MLflow creates its schema by running every Alembic migration, about 7 s on the bench
    machine: a team does that once, so it is not what any workload measures. The empty
    store is made once per MLflow version (by MLflow itself, in a child process) and kept
    in :func:`cache_dir`; each use copies the file and points the default experiment
    (created with the working directory's ``./mlruns``) at ``artifacts``, so that
    nothing is written outside the scratch directory."""
    import fcntl
    import shutil
    import subprocess
    import sys
    import tempfile
    from importlib.metadata import version

    from harness import clean_env

    cache = cache_dir()
    template = cache / f"mlflow-{version('mlflow')}-empty.db"
    if not template.exists():
        with open(cache / ".mlflow-template.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not template.exists():
                with tempfile.TemporaryDirectory(dir=cache) as work:
                    tmp_db = Path(work) / "mlflow.db"
                    subprocess.run([sys.executable, "-c", _TEMPLATE_SCRIPT, mlflow_uri(tmp_db)], cwd=work,
                                   env=clean_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    con = sqlite3.connect(tmp_db)
                    try:
                        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                                    ["@ARTIFACTS@"])
                        con.commit()
                    finally:
                        con.close()
                    os.replace(tmp_db, template)
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, db)
    artifacts.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    try:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                    [str(artifacts.resolve() / "0")])
        con.commit()
    finally:
        con.close()
    return mlflow_uri(db)


def mlflow_client(db: Path):
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow import MlflowClient

    uri = mlflow_uri(db)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def bulk_load_mlflow(db: Path, models: int, versions: int) -> float:
    """Fill MLflow's SQLite registry with the same models × versions and stage/owner/dataset
    tags; returns the seconds it took (template registration included)."""
    t0 = time.perf_counter()
    client = mlflow_client(db)
    client.create_registered_model("template")
    client.create_model_version("template", source=str(db.parent / "artifacts" / "template"),
                                tags={"stage": "none", "owner": "x", "dataset": "y"})
    con = sqlite3.connect(db)
    try:
        con.execute("BEGIN")

        def template(table: str) -> tuple[list[str], tuple]:
            cur = con.execute(f"SELECT * FROM {table} WHERE name = 'template' LIMIT 1")
            return [d[0] for d in cur.description], cur.fetchone()

        rm_cols, rm_row = template("registered_models")
        mv_cols, mv_row = template("model_versions")
        now = int(time.time() * 1000)

        def rows(cols, trow, overrides_fn, count_fn):
            for args in count_fn():
                over = overrides_fn(*args)
                yield tuple(over.get(c, v) for c, v in zip(cols, trow))

        con.executemany(
            f"INSERT INTO registered_models ({', '.join(rm_cols)}) VALUES ({', '.join('?' * len(rm_cols))})",
            rows(rm_cols, rm_row, lambda m: {"name": f"model-{m:04d}", "creation_time": now,
                                                "last_updated_time": now},
                 lambda: ((m,) for m in range(models))),
        )
        con.executemany(
            f"INSERT INTO model_versions ({', '.join(mv_cols)}) VALUES ({', '.join('?' * len(mv_cols))})",
            rows(mv_cols, mv_row,
                 lambda m, v: {"name": f"model-{m:04d}", "version": v, "creation_time": now + m * versions + v,
                               "last_updated_time": now + m * versions + v,
                               "source": f"{db.parent}/artifacts/model-{m:04d}/{v}",
                               "storage_location": f"{db.parent}/artifacts/model-{m:04d}/{v}"},
                 lambda: ((m, v) for m in range(models) for v in range(1, versions + 1))),
        )
        tag_cols = [d[0] for d in con.execute("SELECT * FROM model_version_tags LIMIT 0").description]
        ws = "default"

        def tags():
            for m in range(models):
                for v in range(1, versions + 1):
                    stage = "prod" if v == versions else "staging" if v == versions - 1 else "archived"
                    for k, val in (("stage", stage), ("owner", f"team-{m % 10}"), ("dataset", f"ds-{m % 7}")):
                        d = {"key": k, "value": val, "name": f"model-{m:04d}", "version": v, "workspace": ws}
                        yield tuple(d[c] for c in tag_cols)

        con.executemany(
            f"INSERT INTO model_version_tags ({', '.join(tag_cols)}) VALUES ({', '.join('?' * len(tag_cols))})",
            tags(),
        )
        con.execute("COMMIT")
    finally:
        con.close()
    return time.perf_counter() - t0


def dump_json(obj: Any) -> str:
    return json.dumps(obj, default=str)


def pythonpath_env(env: dict[str, str]) -> dict[str, str]:
    """Add benchmarks/ to PYTHONPATH (for child scripts that import harness/common)."""
    here = str(Path(__file__).resolve().parent)
    env = dict(env)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def cli_has(command: str) -> bool:
    """Whether the installed mlreg CLI has ``command`` (the CLI grows while we measure)."""
    from harness import bin_path, clean_env, run

    try:
        return run([bin_path("mlreg"), command, "--help"], env=clean_env(), check=False).returncode == 0
    except FileNotFoundError:
        return False
