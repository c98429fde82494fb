"""The CLI's main path, run the way a user runs it after `pip install mlreg[...]`.

Run with the Python of the environment under test (tests/test_packaging.py does, in fresh
virtual environments that have the built wheel installed):

    python smoke.py WORKDIR --model custom|sklearn

It trains nothing heavy: the model scores 2*a + b, either as a class of this script
(pickled by value with cloudpickle: needs only the core install) or as a scikit-learn
LinearRegression (needs the sklearn extra). Every step runs the `mlreg` console script of
this environment; the first failure prints the command, its exit code and output, and
exits 1. The last line is `smoke: N steps passed`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

MLREG = Path(sys.executable).parent / "mlreg"
steps = 0


class Doubler:
    """A custom model: score = 2*a + b, on whatever table-like input it is given."""

    def predict(self, X):  # noqa: N803 - scikit-learn's spelling
        import numpy as np

        return np.asarray(X["a"], dtype=float) * 2 + np.asarray(X["b"], dtype=float)


def fail(text: str) -> None:
    print(f"smoke: FAILED after {steps} steps: {text}", file=sys.stderr)
    sys.exit(1)


def mlreg(*args: str, env: dict[str, str], expect: int = 0) -> str:
    global steps
    proc = subprocess.run([str(MLREG), *args], capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != expect:
        fail(f"mlreg {' '.join(args)} exited {proc.returncode} (expected {expect})\n"
             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    noise = [w for w in ("Traceback", "Warning", "warning") if w in proc.stderr]
    if noise:
        fail(f"mlreg {' '.join(args)} printed {noise[0]} on stderr: {proc.stderr}")
    steps += 1
    return proc.stdout


def check(cond: bool, what: str) -> None:
    if not cond:
        fail(what)


def write_model(kind: str, path: Path) -> None:
    if kind == "custom":
        import cloudpickle

        path.write_bytes(cloudpickle.dumps(Doubler()))
        return
    import pickle

    import numpy as np
    from sklearn.linear_model import LinearRegression

    X = np.array([[1.0, 2.0], [3.0, 4.5], [0.0, 1.0], [5.0, -1.0]])
    path.write_bytes(pickle.dumps(LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--model", choices=["custom", "sklearn"], default="custom")
    opts = ap.parse_args()
    work = opts.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLREG_")}
    env.update(MLREG_HOME=str(work / "home"), MLREG_CONFIG=str(work / "config.toml"), NO_COLOR="1")

    version = mlreg("--version", env=env).split()
    check(version == ["mlreg", metadata.version("mlreg")], f"--version says {version}, metadata {metadata.version('mlreg')}")

    write_model(opts.model, work / "model.pkl")
    (work / "sample.csv").write_text("a,b\n1.0,2.0\n3.0,4.5\n")
    (work / "customers.csv").write_text("a,b\n1.0,2.0\n3.0,4.5\n0.5,-1.0\n")
    expected = [4.0, 10.5, 0.0]

    mlreg("create", env=env)
    model_id = mlreg("log", str(work / "model.pkl"), "--name", "smoke", "--version", "1",
                     "--sample-input", str(work / "sample.csv"), "--tag", "stage=testing",
                     "--metric", "rmse=0.25", env=env).strip()
    check(len(model_id) == 32, f"log printed {model_id!r}, not an ID")
    rows = json.loads(mlreg("list", "--format", "json", env=env))
    check([(r["ID"], r["NAME"], r["TYPE"]) for r in rows] == [(model_id, "smoke", opts.model)], f"list: {rows}")

    mlreg("tag", "set", "smoke", "1", "stage", "prod", env=env)
    check(mlreg("tag", "get", "smoke", "1", "stage", env=env).strip() == "prod", "tag get")
    mlreg("metric", "set", "smoke", "1", "mae", "0.5", env=env)
    check(mlreg("metric", "get", "smoke", "1", "mae", env=env).strip() == "0.5", "metric get")

    mlreg("deploy", "create", "smoke", "1", "smoke_score", env=env)
    mlreg("predict", "smoke_score", "--input", str(work / "customers.csv"), "--output", str(work / "scores.csv"), env=env)
    lines = (work / "scores.csv").read_text().split()
    check([round(float(v), 6) for v in lines[1:]] == expected, f"predict wrote {lines}")
    out = json.loads(mlreg("sql", f"SELECT smoke_score(a, b) AS s FROM '{work / 'customers.csv'}'", "--format", "json", env=env))
    check([round(r["s"], 6) for r in out] == expected, f"sql returned {out}")

    verified = json.loads(mlreg("verify", "--format", "json", env=env))
    check([(r["ID"], r["OK"]) for r in verified] == [(model_id, True)], f"verify: {verified}")
    events = json.loads(mlreg("history", "smoke", "1", "--format", "json", env=env))
    kinds = {e["ATTRIBUTE_NAME"] for e in events}
    check({"REGISTRATION", "TAG", "METRIC", "DEPLOYMENT"} <= kinds, f"history has {sorted(kinds)}")

    mlreg("delete", "smoke", "1", "--yes", env=env)
    check(json.loads(mlreg("list", "--format", "json", env=env)) == [], "list after delete")
    print(f"smoke: {steps} steps passed ({opts.model} model, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
