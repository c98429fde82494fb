"""Workload 7: concurrent registration into one registry, like for like.

Two shapes, each measured for both tools (quick: 4 workers x 2 logs, one round):

- in-process: 8 worker processes, each importing its tool once and logging 10 models one
  after another (mlreg: `ModelRegistry.log_model` into one registry file; MLflow:
  `mlflow.pyfunc.log_model` with `registered_model_name` into one SQLite registry);
- fresh processes: 8 workers, each running 10 fresh processes one after another (80 in
  all): `mlreg log` for mlreg; for MLflow, which has no registry CLI, `python -c` that
  imports MLflow and runs the same `log_model` + register once.

The model is a small custom (pure Python) model, so the work is the registry's, not a
framework's. Rounds: 3 of each in full mode, 1 in quick mode (a round is itself 80 operations).
Reported: wall time from the first start to the last exit, and how many of the versions
are present afterwards (goal: all of them). MLflow's SQLite store is created before the
round (common.mlflow_db), with its artifacts in the scratch directory. Quick mode leaves
MLflow out unless --peers once/all.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable

from harness import (BENCH_PYTHON, alternate, bin_path, emit, fig, info, main_args, peer, peers_wanted, row, scratch,
                     skipped_peer)

import common

WORKERS = 8  # quick mode: QUICK_WORKERS
#: shape -> (what mlreg runs, what MLflow runs)
SHAPES = {
    "inprocess": ("in-process `log_model`", "in-process `log_model` + register"),
    # the name the single row of this workload had before: compare.py matches rows by name
    "cli": ("`mlreg log`", "fresh `python -c` `log_model` + register processes"),
}
QUICK_WORKERS = 4

MLFLOW_WORKER = """
import logging, pickle, sys, warnings
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
import mlflow, mlflow.pyfunc
uri, model_path, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
with open(model_path, "rb") as f:
    tiny = pickle.load(f)

class Wrapper(mlflow.pyfunc.PythonModel):
    def __init__(self, model):
        self.model = model
    def predict(self, context, model_input, params=None):
        return self.model.predict(model_input)

failed = 0
for i in range(count):  # count 1: the fresh-process shape
    try:
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=Wrapper(tiny),
                                    registered_model_name=f"w{worker}", pip_requirements=["cloudpickle"])
    except Exception as exc:
        failed += 1
        print(f"worker {worker} log {i}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
sys.exit(1 if failed else 0)
"""


MLREG_WORKER = """
import pickle, sys
import pandas as pd
import mlreg
from mlreg import model_registry
home, model_path, sample_csv, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
session = mlreg.connect(home=home, stage=home + "/stage", role="bench")
registry = model_registry.ModelRegistry(session)
with open(model_path, "rb") as f:
    tiny = pickle.load(f)
sample = pd.read_csv(sample_csv)
for i in range(1, count + 1):
    registry.log_model(tiny, f"w{worker}", str(i), sample_input_data=sample, tags={"worker": worker},
                       metrics={"i": i})
"""


def _spawn_all(cmds: list[list[str]], env: dict, cwd: Path) -> tuple[float, list[int], list[str]]:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    errs = []
    codes = []
    for p in procs:
        _out, err = p.communicate()
        codes.append(p.returncode)
        errs.append(err)
    return time.perf_counter() - t0, codes, errs


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    workers = QUICK_WORKERS if args.quick else WORKERS
    per = 2 if args.quick else 10
    total = workers * per
    tmp = scratch(args, "conc")
    model = common.write_tiny_model(tmp / "tiny.pkl")
    sample = common.write_sample_csv(tmp / "sample.csv")
    mlreg = bin_path("mlreg")
    rounds = iter(range(10**6))
    present: dict[str, list[int]] = {f"{tool}_{shape}": [] for tool in ("mlreg", "mlflow") for shape in SHAPES}
    failures: dict[str, list[str]] = {"mlreg": [], "mlflow": []}

    def mlreg_round(shape: str) -> float:
        home = tmp / f"reg-{next(rounds)}"
        reg = common.mlreg_registry(home)
        env = common.mlreg_env(home)
        if shape == "cli":
            loop = (f'for i in $(seq 1 {per}); do "{mlreg}" -q log "{model}" --name "w$W" --version "$i" '
                    f'--sample-input "{sample}" --tag worker="$W" --metric i="$i" > /dev/null || exit 1; done')
            cmds = [["bash", "-c", loop.replace("$W", str(w))] for w in range(workers)]
        else:
            cmds = [[BENCH_PYTHON, "-c", MLREG_WORKER, str(home), str(model), str(sample), str(w), str(per)]
                    for w in range(workers)]
        seconds, codes, errs = _spawn_all(cmds, common.pythonpath_env(env), tmp)
        n = len(reg.list_models().fetchall())
        present[f"mlreg_{shape}"].append(n)
        failures["mlreg"] += [e.strip().splitlines()[-1] for e, c in zip(errs, codes) if c != 0 and e.strip()]
        return seconds

    def mlflow_round(shape: str) -> float:
        d = tmp / f"mlflow-{next(rounds)}"
        d.mkdir()
        db = d / "mlflow.db"
        # create the schema first, as a team would once (artifacts under d/mlruns)
        common.mlflow_db(db, d / "mlruns")
        client = common.mlflow_client(db)
        client.search_registered_models()
        uri = common.mlflow_uri(db)
        if shape == "cli":  # MLflow has no registry CLI: one `python -c` per log_model + register
            cmds = [["bash", "-c", f'for i in $(seq 1 {per}); do "$0" -c "$1" "$2" "$3" {w} 1 || exit 1; done',
                     BENCH_PYTHON, MLFLOW_WORKER, uri, str(model)] for w in range(workers)]
        else:
            cmds = [[BENCH_PYTHON, "-c", MLFLOW_WORKER, uri, str(model), str(w), str(per)] for w in range(workers)]
        env = common.pythonpath_env(common.mlreg_env(tmp))
        seconds, codes, errs = _spawn_all(cmds, env, d)
        n = sum(len(client.search_model_versions(f"name = 'w{w}'")) for w in range(workers))
        present[f"mlflow_{shape}"].append(n)
        failures["mlflow"] += [ln for e in errs for ln in e.strip().splitlines() if ln.startswith("worker ")]
        return seconds

    info(f"concurrency: {workers} workers x {per} logs" + (", alternating ..." if peers_wanted(args) else " ..."))
    # a round is 8 x N processes, itself many operations: quick mode measures one round of
    # each, full mode at most 3 (no warm-up round: the first round of each side pays the
    # same cold caches, and they alternate)
    runs, warm = (1, 0) if args.quick else (min(args.runs, 3), 0)
    cases: dict[str, Callable[[], float]] = {}
    for shape in SHAPES:
        cases[f"mlreg_{shape}"] = lambda shape=shape: mlreg_round(shape)
        if peers_wanted(args):
            cases[f"mlflow_{shape}"] = lambda shape=shape: mlflow_round(shape)
    t = alternate(cases, runs=runs, warmup=warm)
    f = {k: fig(v) for k, v in t.items()}
    rows = []
    for shape, (what, peer_what) in SHAPES.items():
        got = present[f"mlreg_{shape}"]
        ok = bool(got) and all(n == total for n in got)
        note = f"mlreg: {min(got)}–{max(got)} of {total} present per round"
        theirs = present[f"mlflow_{shape}"]
        if theirs:
            note += f"; MLflow: {min(theirs)}–{max(theirs)} of {total} present per round"
        if failures["mlflow"]:
            note += f"; MLflow errors ({len(failures['mlflow'])}), e.g. {failures['mlflow'][0][:160]}"
        if failures["mlreg"]:
            note += f"; mlreg errors ({len(failures['mlreg'])}), e.g. {failures['mlreg'][0][:160]}"
        peer_name = f"MLflow on SQLite, {workers} processes × {per} {peer_what}"
        mine, theirs_fig = f[f"mlreg_{shape}"], f.get(f"mlflow_{shape}")
        passed = ok and (theirs_fig is None or mine["median"] <= theirs_fig["median"])
        if theirs_fig is not None and mine["median"] > theirs_fig["median"]:
            note += f"; {mine['median'] / theirs_fig['median']:.2f}× MLflow's wall time"
        rows.append(row(
            f"7. Concurrency: {workers} processes × {per} {what}, one registry (wall time)", mine, None, None,
            [peer(peer_name, theirs_fig) if theirs_fig is not None else skipped_peer(args, peer_name)],
            goal=f"all {total} present, no slower than MLflow", passed=passed, note=note))
    emit(rows, args)


if __name__ == "__main__":
    main()
