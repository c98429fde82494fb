"""A writer or reader process for tests/test_reliability_concurrency.py.

    python -m tests.data.concurrency_worker writer W N OUT   log N versions, set tags/metrics
    python -m tests.data.concurrency_worker reader DONE OUT  run `mlreg list`/`history` until DONE exists

Each prints "ready", waits for a line on stdin (the start signal, so that every process
starts together), works, and writes a JSON summary to OUT. Failures are recorded, not
raised: the test asserts there are none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path


def wait_for_start() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def writer(w: int, n: int, out: Path) -> None:
    import mlreg
    from mlreg import AlreadyExists, model_registry
    from tests.data.harness import SIGNATURES
    from tests.fixtures.models import SumModel

    registry = model_registry.ModelRegistry(mlreg.connect())
    wait_for_start()
    done: list[str] = []
    errors: list[str] = []
    race = "lost"
    for i in range(n):
        steps = [
            # versions of two model names every worker logs into
            lambda: registry.log_model(SumModel(), f"model{i % 2}", f"{w}.{i}", signatures=SIGNATURES,
                                       tags={"worker": str(w), "i": str(i)}, metrics={"i": i}),
            # tags and metrics on the shared models, distinct keys...
            lambda: registry.set_tag("shared", "1", f"w{w}-{i}", f"{w}:{i}"),
            lambda: registry.set_metric("shared", "2", f"w{w}-{i}", [w, i]),
            # ...and one key every worker overwrites
            lambda: registry.set_tag("shared", "2", "last", f"{w}:{i}"),
        ]
        if i == n // 2:
            def race_step() -> None:
                nonlocal race
                try:
                    registry.log_model(SumModel(), "race", "1", signatures=SIGNATURES, tags={"winner": str(w)})
                    race = "won"
                except AlreadyExists:
                    race = "refused"
            steps.append(race_step)
        for k, step in enumerate(steps):
            try:
                step()
                done.append(f"{i}.{k}")
            except Exception:  # noqa: BLE001 - the worker reports every failure
                errors.append(traceback.format_exc())
    out.write_text(json.dumps({"done": done, "errors": errors, "race": race}))


def reader(done_flag: Path, out: Path) -> None:
    from tests.data.harness import MLREG, env

    wait_for_start()
    runs: list[dict] = []
    while not done_flag.exists() and len(runs) < 8:
        for cmd in (["list", "--format", "json"], ["history", "--format", "json"]):
            proc = subprocess.run([MLREG, *cmd], env=env(), capture_output=True, text=True)
            ok = proc.returncode == 0
            rows = None
            if ok:
                try:
                    rows = len(json.loads(proc.stdout))
                except ValueError:
                    ok = False
            runs.append({"cmd": cmd[0], "rc": proc.returncode, "ok": ok, "rows": rows, "stderr": proc.stderr})
    out.write_text(json.dumps(runs))


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "writer":
        writer(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    else:
        reader(Path(sys.argv[2]), Path(sys.argv[3]))
