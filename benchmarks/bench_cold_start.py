"""Workload 1: cold start of a fresh process.

`mlreg --help` against its floor `python -c "import typer"` (goal <= 1.1x), and
`mlreg list` on a registry of 1,000 versions against `python -c "import typer, duckdb"`
(goal <= 1.3x); the listing is also shown, in its note, against that floor plus
`duckdb.connect()`: the start of a DuckDB instance, which any reader of the file pays
and the floor leaves out. Peers: `mlflow --help`, `gto --help`; for the listing, MLflow's
`search_model_versions` on the same 1,000 versions in a fresh process (full mode).
All commands run alternately in the same rounds. Quick mode: 9 runs after 1 warm-up (a run
is a fraction of a second, and 3 cold runs are too few for make bench-compare to tell a
regression from noise), and `mlflow --help` (5-10 s a run) is left out unless --peers
once/all.
"""

from __future__ import annotations

from harness import (BENCH_PYTHON, bin_path, emit, fig, info, main_args, peer, peers_wanted, quick_runs, ratio, row,
                     scratch, skipped_peer, slow_cases, time_commands)

import common


def main() -> None:
    args = main_args(__doc__.splitlines()[0])
    quick_runs(args, 9)
    tmp = scratch(args, "cold")
    home = tmp / "reg"
    info("cold start: bulk-loading 1,000 versions (10 models x 100) ...")
    common.bulk_load_mlreg(home, 10, 100)
    env = common.mlreg_env(home)
    mlreg = bin_path("mlreg")
    py = BENCH_PYTHON
    commands = {
        "floor: import typer": [py, "-c", "import typer"],
        "mlreg --help": [mlreg, "--help"],
        "gto --help": [bin_path("gto"), "--help"],
        "mlflow --help": [bin_path("mlflow"), "--help"],
        "floor: import typer, duckdb": [py, "-c", "import typer, duckdb"],
        "mlreg list": [mlreg, "list"],
        "import typer, duckdb + connect": [py, "-c", "import typer, duckdb; duckdb.connect()"],
    }
    if not peers_wanted(args):
        del commands["mlflow --help"]
    if not args.quick:
        db = tmp / "mlflow.db"
        info("cold start: bulk-loading the same 1,000 versions into MLflow (SQLite) ...")
        common.bulk_load_mlflow(db, 10, 100)
        commands["mlflow search_model_versions"] = [
            py, "-c",
            "import sys; from mlflow import MlflowClient; u=sys.argv[1]; c=MlflowClient(u, u); "
            "vs=c.search_model_versions(max_results=10000); print(len(vs))",
            common.mlflow_uri(db),
        ]
    info("cold start: timing fresh processes, alternating ...")
    t = time_commands(commands, runs=args.runs, warmup=args.cheap_warmup, env=env, cwd=tmp,
                      slow=slow_cases(args, "mlflow --help"))
    f = {k: fig(v) for k, v in t.items()}

    r1 = ratio(f["mlreg --help"], f["floor: import typer"])
    r2 = ratio(f["mlreg list"], f["floor: import typer, duckdb"])
    connect = f["import typer, duckdb + connect"]
    start_ms = (connect["median"] - f["floor: import typer, duckdb"]["median"]) * 1000
    list_note = (f"{ratio(f['mlreg list'], connect):.2f}× `import typer, duckdb` + `duckdb.connect()` "
                 f"({connect['median']:.3g} s; DuckDB's instance start, which any reader of the file pays, "
                 f"is {start_ms:.0f} ms of it)")
    rows = [
        row("1. Cold start: `mlreg --help`", f["mlreg --help"], f["floor: import typer"], "`import typer`",
            [peer("`mlflow --help`", f["mlflow --help"]) if "mlflow --help" in f
             else skipped_peer(args, "`mlflow --help`"),
             peer("`gto --help`", f["gto --help"])],
            goal="≤ 1.1× floor", passed=r1 <= 1.1,
            note=None if r1 <= 1.1 else f"{r1:.2f}× the floor: {(r1 - 1.1) * f['floor: import typer']['median'] * 1000:.0f} ms over the goal"),
        row("1. Cold start: `mlreg list`, 1,000 versions", f["mlreg list"], f["floor: import typer, duckdb"],
            "`import typer, duckdb`",
            [peer("MLflow `search_model_versions` (fresh process)", f["mlflow search_model_versions"])]
            if "mlflow search_model_versions" in f else [],
            goal="≤ 1.3× floor", passed=r2 <= 1.3,
            note=(list_note if r2 <= 1.3 else f"{r2:.2f}× the floor: {(r2 - 1.3) * f['floor: import typer, duckdb']['median'] * 1000:.0f} "
                  f"ms over the goal; {list_note}")),
    ]
    emit(rows, args)


if __name__ == "__main__":
    main()
