"""Workload 7: concurrent registration into one registry.

8 worker processes, each running 10 `mlreg log` commands one after another (80 fresh
processes, all writing one registry file; quick: 4 x 2, one round), against the same with MLflow:
8 worker processes, each importing MLflow once and running 10 `mlflow.pyfunc.log_model`
calls with `registered_model_name` into one SQLite registry (MLflow has no CLI for it;
importing it once per worker rather than once per log is generous to MLflow). The model
is a small custom (pure Python) model, so the work is the registry's, not a framework's.
Rounds: 3 of each in full mode, 1 in quick mode (a round is itself 80 operations).
Reported: wall time from the first start to the last exit, and how many of the versions
are present afterwards (goal: all of them). MLflow's SQLite store is created before the
round (common.mlflow_db), with its artifacts in the scratch directory. Quick mode leaves
MLflow out unless --peers once/all.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness import (BENCH_PYTHON, alternate, bin_path, emit, fig, info, main_args, peer, peers_wanted, row, scratch,
                     skipped_peer)

import common

WORKERS = 8  # quick mode: QUICK_WORKERS
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
for i in range(count):
    try:
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=Wrapper(tiny),
                                    registered_model_name=f"w{worker}", pip_requirements=["cloudpickle"])
    except Exception as exc:
        failed += 1
        print(f"worker {worker} log {i}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
sys.exit(1 if failed else 0)
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
    present: dict[str, list[int]] = {"mlreg": [], "mlflow": []}
    failures: dict[str, list[str]] = {"mlreg": [], "mlflow": []}

    def mlreg_round() -> float:
        home = tmp / f"reg-{next(rounds)}"
        reg = common.mlreg_registry(home)
        env = common.mlreg_env(home)
        loop = (f'for i in $(seq 1 {per}); do "{mlreg}" -q log "{model}" --name "w$W" --version "$i" '
                f'--sample-input "{sample}" --tag worker="$W" --metric i="$i" > /dev/null || exit 1; done')
        cmds = [["bash", "-c", loop.replace("$W", str(w))] for w in range(workers)]
        seconds, codes, errs = _spawn_all(cmds, env, tmp)
        n = len(reg.list_models().fetchall())
        present["mlreg"].append(n)
        failures["mlreg"] += [e.strip().splitlines()[-1] for e, c in zip(errs, codes) if c != 0 and e.strip()]
        return seconds

    def mlflow_round() -> float:
        d = tmp / f"mlflow-{next(rounds)}"
        d.mkdir()
        db = d / "mlflow.db"
        # create the schema first, as a team would once (artifacts under d/mlruns)
        common.mlflow_db(db, d / "mlruns")
        client = common.mlflow_client(db)
        client.search_registered_models()
        cmds = [[BENCH_PYTHON, "-c", MLFLOW_WORKER, common.mlflow_uri(db), str(model), str(w), str(per)]
                for w in range(workers)]
        env = common.pythonpath_env(common.mlreg_env(tmp))
        seconds, codes, errs = _spawn_all(cmds, env, d)
        n = sum(len(client.search_model_versions(f"name = 'w{w}'")) for w in range(workers))
        present["mlflow"].append(n)
        failures["mlflow"] += [ln for e in errs for ln in e.strip().splitlines() if ln.startswith("worker ")]
        return seconds

    info(f"concurrency: {workers} workers x {per} logs" + (", alternating ..." if peers_wanted(args) else " ..."))
    # a round is 8 x N processes, itself many operations: quick mode measures one round of
    # each, full mode at most 3 (no warm-up round: the first round of each side pays the
    # same cold caches, and they alternate)
    runs, warm = (1, 0) if args.quick else (min(args.runs, 3), 0)
    cases = {"mlreg": mlreg_round, "mlflow": mlflow_round}
    if not peers_wanted(args):
        del cases["mlflow"]
    t = alternate(cases, runs=runs, warmup=warm)
    for k in present:
        present[k] = present[k][warm:]
    f = {k: fig(v) for k, v in t.items()}
    ok = all(n == total for n in present["mlreg"])
    note = f"mlreg: {min(present['mlreg'])}–{max(present['mlreg'])} of {total} present per round"
    if present["mlflow"]:
        note += f"; MLflow: {min(present['mlflow'])}–{max(present['mlflow'])} of {total} present per round"
    if failures["mlflow"]:
        note += f"; MLflow errors ({len(failures['mlflow'])}), e.g. {failures['mlflow'][0][:160]}"
    if failures["mlreg"]:
        note += f"; mlreg errors ({len(failures['mlreg'])}), e.g. {failures['mlreg'][0][:160]}"
    peer_name = f"MLflow on SQLite, {workers} processes × {per} `log_model` + register"
    rows = [row(f"7. Concurrency: {workers} processes × {per} `mlreg log`, one registry (wall time)",
                f["mlreg"], None, None,
                [peer(peer_name, f["mlflow"]) if "mlflow" in f else skipped_peer(args, peer_name)],
                goal=f"all {total} present", passed=ok, note=note)]
    emit(rows, args)


if __name__ == "__main__":
    main()
