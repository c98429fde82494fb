"""Workload 5: log and load a large model (a NumPy array inside a custom model).

1 GiB (quick: 128 MiB) of float64 in a custom model object, logged to a local stage and
loaded back, each in a fresh child process that first makes the same call on a small
model (so first-use imports are not counted), then reports the time of the call alone and
its peak resident memory above the baseline taken just before the call (peak reset via
/proc/self/clear_refs). Floor: `cp` of the same bytes (the model's pickle file) to a new
file on the same filesystem; for logging, which makes the package durable (fsync) before
publishing it, `cp` followed by `sync` of the copy (plain `cp` is shown too). Goals: log
and load throughput >= 0.8x the floor's; peak memory <= 1.2x the model's size above
baseline (1.2 GiB for 1 GiB). Peer: MLflow `mlflow.sklearn.log_model` (cloudpickle
format, with registration) and `mlflow.sklearn.load_model` of the same object.
Quick mode: 128 MiB, 2 runs (two fresh processes each), no warm-up, MLflow left out unless
--peers once/all (with once, its one load reads the model its one log wrote: no separate
MLflow set-up process).
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
import time
from pathlib import Path

from harness import (BENCH_PYTHON, alternate, emit, fig, info, main_args, peer, peers_mode, peers_wanted, quick_runs,
                     ratio, reset_peak, row, rss_now, rss_peak, run, scratch, skipped_peer, slow_cases)

import common

GiB = 1 << 30
MiB = 1 << 20


def _measure(fn) -> dict:
    import gc

    gc.collect()
    reset_peak()
    base = rss_now()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    peak = rss_peak()
    del result
    return {"seconds": seconds, "peak_above": max(peak - base, 0)}


def child(argv: list[str]) -> None:
    """Run in a fresh process: one timed log or load; prints one JSON object."""
    import logging

    import numpy as np

    mode = argv[0]
    small = common.ArrayModel(np.ones(1024))
    sample = np.ones((5, 4))
    # each child first does the same call on a small model, so that the timed call measures
    # the data path, not first-use imports (pandas for the signature, the handler, ...)
    if mode == "mlreg-log":
        home, version, size = Path(argv[1]), argv[2], int(argv[3])
        reg = common.mlreg_registry(home)
        reg.log_model(small, "small", version, sample_input_data=sample)
        model = common.ArrayModel(np.ones(size // 8))
        out = _measure(lambda: reg.log_model(model, "big", version, sample_input_data=sample))
    elif mode == "mlreg-load":
        home, version = Path(argv[1]), argv[2]
        reg = common.mlreg_registry(home)
        reg.load_model("small", version)
        out = _measure(lambda: reg.load_model("big", version))
    elif mode in ("mlflow-log", "mlflow-load"):
        logging.disable(logging.WARNING)
        import warnings

        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.sklearn

        uri = argv[1]
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        if mode == "mlflow-log":
            size = int(argv[2])

            def log(model, name):
                with mlflow.start_run():
                    return mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                                    serialization_format="cloudpickle")

            log(small, "small")
            model = common.ArrayModel(np.ones(size // 8))
            out = _measure(lambda: log(model, "big"))
        else:
            mlflow.sklearn.load_model("models:/small/1")
            out = _measure(lambda: mlflow.sklearn.load_model(argv[2]))
    else:
        raise SystemExit(f"unknown child mode {mode}")
    print(json.dumps(out))


def _fmt(f: dict) -> str:
    from harness import fmt_fig

    return fmt_fig(f)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    args = main_args(__doc__.splitlines()[0])
    quick_runs(args, 2)
    size = 128 * MiB if args.quick else GiB
    label = "128 MiB" if args.quick else "1 GiB"
    tmp = scratch(args, "large")
    env = common.pythonpath_env(common.mlreg_env(tmp / "reg"))
    me = str(Path(__file__).resolve())

    def child_run(*a) -> dict:
        p = run([BENCH_PYTHON, me, "--child", *map(str, a)], env=env, cwd=tmp)
        return json.loads(p.stdout.strip().splitlines()[-1])

    # one logged model of each to load, and its pickle as the bytes cp copies
    info(f"large: setting up ({label}) ...")
    load_home = tmp / "load-reg"
    child_run("mlreg-log", load_home, "1", size)
    reg = common.mlreg_registry(load_home)
    from mlreg.runtime import loading

    package = loading.verified(reg.scoring_spec("big", "1").package)
    src = max(package.rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    nbytes = src.stat().st_size
    mlflow_dir = tmp / "mlflow"
    mlflow_dir.mkdir()
    if peers_wanted(args):
        uri = common.mlflow_db(mlflow_dir / "mlflow.db", mlflow_dir / "mlruns")
        if peers_mode(args) == "all":
            # with --peers once the one "mlflow log" run (before "mlflow load" in the first
            # round) registers big/1 itself
            run([BENCH_PYTHON, me, "--child", "mlflow-log", uri, size], env=env, cwd=mlflow_dir)
    mlflow_model_uri = "models:/big/1"

    seq = itertools.count(1)
    # peak memory of every run; the last ones (after the warm-up) are the measured ones
    mem: dict[str, list[float]] = {"mlreg log": [], "mlreg load": [], "mlflow log": [], "mlflow load": []}

    def copy(durable: bool) -> float:
        dst = tmp / "copy.bin"
        argv = ["sh", "-c", 'cp "$0" "$1" && sync "$1"', src, dst] if durable else ["cp", src, dst]
        s = run(argv).seconds
        dst.unlink()
        return nbytes / s / MiB

    def mlreg_log() -> float:
        home = tmp / f"log-{next(seq)}"
        r = child_run("mlreg-log", home, "1", size)
        shutil.rmtree(home, ignore_errors=True)
        mem["mlreg log"].append(r["peak_above"])
        return nbytes / r["seconds"] / MiB

    def mlreg_load() -> float:
        r = child_run("mlreg-load", load_home, "1")
        mem["mlreg load"].append(r["peak_above"])
        return nbytes / r["seconds"] / MiB

    def mlflow(*a: object, key: str) -> float:
        p = run([BENCH_PYTHON, me, "--child", *map(str, a)], env=env, cwd=mlflow_dir)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        mem[key].append(r["peak_above"])
        return nbytes / r["seconds"] / MiB

    info(f"large: {nbytes / MiB:.0f} MiB pickle; timing log/load/cp, alternating ...")
    cases = {
        "cp": lambda: copy(False),
        "cp+sync": lambda: copy(True),
        "mlreg log": mlreg_log,
        "mlreg load": mlreg_load,
        "mlflow log": lambda: mlflow("mlflow-log", uri, size, key="mlflow log"),
        "mlflow load": lambda: mlflow("mlflow-load", uri, mlflow_model_uri, key="mlflow load"),
    }
    if not peers_wanted(args):
        del cases["mlflow log"], cases["mlflow load"]
    slow = slow_cases(args, "mlflow log", "mlflow load")
    t = alternate(cases, runs=args.runs, warmup=args.warmup, slow=slow)
    f = {k: fig(v, unit="MiB/s", better="higher") for k, v in t.items()}
    m = {k: fig([x / GiB for x in v[-len(t[k]):]], unit="GiB", better="lower") for k, v in mem.items() if k in t}

    def mlflow_peer(op: str, figures: dict) -> dict:
        name = f"MLflow sklearn {op}"
        return peer(name, figures[f"mlflow {op}"]) if f"mlflow {op}" in figures else skipped_peer(args, name)

    rows = []
    # logging writes durably (fsync before the package is published): its floor is a
    # durable copy; loading reads, verifies and unpickles: its floor is a plain copy
    for op, floor_key, floor_name in (("log", "cp+sync", "`cp` + `sync` of the same bytes"),
                                       ("load", "cp", "`cp` of the same bytes")):
        r = ratio(f[f"mlreg {op}"], f[floor_key])
        plain = ratio(f[f"mlreg {op}"], f["cp"])
        rows.append(row(
            f"5. Large model ({label}): {op} throughput", f[f"mlreg {op}"], f[floor_key], floor_name,
            [mlflow_peer(op, f)],
            goal="≥ 0.8× cp", passed=r >= 0.8,
            note=(f"{r:.2f}× the floor" + (f"; {plain:.2f}× a plain `cp` ({_fmt(f['cp'])})" if op == "log" else "")
                  + ("" if r >= 0.8 else f"; {0.8 - r:.2f}× short of the goal"))))
    for op in ("log", "load"):
        peak = m[f"mlreg {op}"]["median"]
        limit = 1.2 * size / GiB
        rows.append(row(
            f"5. Large model ({label}): {op} peak memory above baseline", m[f"mlreg {op}"], None, None,
            [mlflow_peer(op, m)],
            goal=f"≤ {limit:.2f} GiB (1.2× the model)", passed=peak <= limit,
            note=None if peak <= limit else f"{peak - limit:.2f} GiB over the goal"))
    emit(rows, args)


if __name__ == "__main__":
    main()
