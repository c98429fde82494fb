"""Run every workload and print one markdown table (what `make bench` / `make bench-quick` do).

Each workload is a script in this folder that prints its rows as JSON with --json
(see harness.py). Scripts run one after another, never at once: the machine has two
cores and every figure is a comparison measured within one script's run.

    python benchmarks/run_all.py [--quick] [--runs N] [--warmup N] [--only NAME ...]
                                 [--output FILE] [--json-output FILE] [--strict]

Exit status: 0 when every script ran (a goal that is not met is shown as such in the
table; with --strict it also exits 1); 1 when a script failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import BENCH_PYTHON, clean_env, info, markdown, row  # noqa: E402

# (script, what it covers); the order of the table
WORKLOADS = [
    ("bench_cold_start.py", "1. cold start"),
    ("bench_log.py", "2. register a small model"),
    ("bench_metadata.py", "3. metadata writes"),
    ("bench_query.py", "4. query at scale"),
    ("bench_large.py", "5. large model"),
    ("bench_predict.py", "6. batch scoring"),
    ("bench_concurrency.py", "7. concurrency"),
    ("bench_service.py", "8. service"),
    ("bench_s3.py", "remote stage (S3)"),
]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("mlreg", "duckdb", "typer", "mlflow", "gto", "scikit-learn", "numpy"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gib() -> str:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "?"


def run_script(script: Path, args: argparse.Namespace) -> tuple[list[dict], str | None, float]:
    argv = [BENCH_PYTHON, str(script), "--json"]
    if args.quick:
        argv.append("--quick")
    if args.runs is not None:
        argv += ["--runs", str(args.runs)]
    if args.warmup is not None:
        argv += ["--warmup", str(args.warmup)]
    env = clean_env()
    env["PYTHONPATH"] = str(HERE) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    try:
        # stderr (progress) goes straight through; stdout is the JSON
        p = subprocess.run(argv, env=env, cwd=HERE.parent, stdout=subprocess.PIPE, text=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {args.timeout:g} s", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        return [], f"exit {p.returncode}", seconds
    try:
        rows = json.loads(p.stdout)
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "workload" in r for r in rows):
            raise ValueError("not a list of rows")
    except ValueError as exc:
        return [], f"printed no valid JSON rows ({exc}): {p.stdout[-300:]!r}", seconds
    return rows, None, seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="reduced sizes; under 3 minutes on 2 idle cores")
    p.add_argument("--runs", type=int, default=None, help="measured runs per case (default 5; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up runs per case (default 1)")
    p.add_argument("--only", nargs="*", default=None, help="run only these scripts (e.g. bench_log)")
    p.add_argument("--output", type=Path, help="also write the markdown report to this file")
    p.add_argument("--json-output", type=Path, help="also write every row as JSON to this file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per script (default 3600)")
    args = p.parse_args()

    started = dt.datetime.now().astimezone()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows: list[dict] = []
    failed: list[str] = []
    timings: list[str] = []
    for script, what in WORKLOADS:
        name = script.removesuffix(".py")
        if args.only and name not in args.only and script not in args.only:
            continue
        path = HERE / script
        if not path.exists():
            info(f"== {script}: not present, skipped")
            rows.append(row(f"{what}", None, note=f"`benchmarks/{script}` is not in the tree yet", script=script))
            continue
        info(f"== {script} ({what}) ...")
        got, error, seconds = run_script(path, args)
        timings.append(f"{script} {seconds:.0f} s")
        info(f"== {script}: {'FAILED: ' + error if error else 'done'} in {seconds:.0f} s")
        if error:
            failed.append(script)
            rows.append(row(f"{what}", None, note=f"`{script}` failed: {error}", script=script))
        for r in got:
            r.setdefault("script", script)
        rows.extend(got)
    elapsed = time.perf_counter() - t0
    load_after = os.getloadavg()

    cmd = "make bench-quick" if args.quick else "make bench"
    goals = [r for r in rows if r.get("pass") is not None]
    met = sum(1 for r in goals if r["pass"])
    header = [
        f"## mlreg benchmarks{' (quick)' if args.quick else ''}",
        "",
        f"Run {started:%Y-%m-%d %H:%M %Z} with `{cmd}` in {elapsed:.0f} s; "
        f"{os.cpu_count()} cores ({_cpu()}), {_mem_gib()} RAM, Python {platform.python_version()}, "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        f"Versions: {_versions()}.",
        "Figures: median of the measured runs (min–max), each comparison measured in the same run, "
        "alternating A/B; a rate or throughput is higher-is-better, a time lower-is-better.",
        "",
    ]
    footer = [
        "",
        f"Goals met: {met} of {len(goals)}."
        + (f" Scripts that failed: {', '.join(failed)}." if failed else "")
        + f" Time per script: {'; '.join(timings)}.",
    ]
    report = "\n".join(header) + "\n" + markdown(rows) + "\n" + "\n".join(footer) + "\n"
    print(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
    if args.json_output:
        args.json_output.parent.mkdir(parents=True, exist_ok=True)
        args.json_output.write_text(json.dumps({"started": started.isoformat(), "quick": args.quick,
                                                "seconds": elapsed, "rows": rows}, indent=1, default=str))
    if failed:
        return 1
    if args.strict and met < len(goals):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
