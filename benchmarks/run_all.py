"""Run every workload and print one markdown table (what `make bench` / `make bench-quick` do).

Each workload is a script in this folder that prints its rows as JSON with --json
(see harness.py). Scripts run one after another, never at once: the machine has two
cores and every figure is a comparison measured within one script's run.

    python benchmarks/run_all.py [--quick] [--runs N] [--warmup N] [--peers all|once|skip]
                                 [--only NAME ...] [--output FILE] [--json-output FILE] [--strict]

--quick: reduced sizes, 3 runs without warm-up (2 in the scripts whose every run is
seconds of fresh processes: log, large, predict, stages), and the slow peers (MLflow: seconds
to import, to create its store, to log one model) not measured unless --peers once (each
measured in a single run: about 5 more minutes) or --peers all; about 2 minutes on two
idle cores. The report ends with the wall time of every script and of the whole run.

Exit status: 0 when every script ran (a goal that is not met is shown as such in the
table; with --strict it also exits 1); 1 when a script failed (named, with the end of its
output, at the end of the report and of stderr).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
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
    ("bench_stages.py", "remote stages (S3, GCS, Azure, SFTP)"),
    ("bench_postgres.py", "shared registry (PostgreSQL)"),
    ("bench_spark.py", "scoring on Spark"),
    ("bench_promotion.py", "promotion in CI"),
]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("mlreg", "duckdb", "typer", "psycopg", "mlflow", "gto", "scikit-learn", "numpy"):
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


def run_script(script: Path, args: argparse.Namespace) -> tuple[list[dict], str | None, float, list[str]]:
    """Run one workload script; returns (rows, error or None, seconds, last lines of its
    stderr). Its progress (stderr) is passed through as it comes; stdout is the JSON."""
    argv = [BENCH_PYTHON, str(script), "--json"]
    if args.quick:
        argv.append("--quick")
    if args.runs is not None:
        argv += ["--runs", str(args.runs)]
    if args.warmup is not None:
        argv += ["--warmup", str(args.warmup)]
    if args.peers is not None:
        argv += ["--peers", args.peers]
    env = clean_env()
    env["PYTHONPATH"] = str(HERE) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    tail: collections.deque[str] = collections.deque(maxlen=25)
    t0 = time.perf_counter()
    # its own process group, so that a timeout or Ctrl-C also stops the servers it started
    p = subprocess.Popen(argv, env=env, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, errors="replace", start_new_session=True)

    def pump() -> None:
        for line in p.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _killpg(p)

    timer = threading.Timer(args.timeout, kill)
    timer.start()
    try:
        out = p.stdout.read()
        p.wait()
    except BaseException:
        _killpg(p)
        raise
    finally:
        timer.cancel()
        reader.join(timeout=5)
    seconds = time.perf_counter() - t0
    if timed_out.is_set():
        return [], f"timed out after {args.timeout:g} s", seconds, list(tail)
    if p.returncode != 0:
        return [], f"exit {p.returncode}", seconds, list(tail)
    try:
        rows = json.loads(out)
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "workload" in r for r in rows):
            raise ValueError("not a list of rows")
    except ValueError as exc:
        return [], f"printed no valid JSON rows ({exc}): {out[-300:]!r}", seconds, list(tail)
    return rows, None, seconds, list(tail)


def _killpg(p: subprocess.Popen) -> None:
    """Stop a script and everything it started: SIGTERM (the harness then removes its
    scratch directory), SIGKILL after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            p.wait(timeout=grace or None)
            return
        except subprocess.TimeoutExpired:
            continue


_EXC = re.compile(r"^(?:[\w.]+(?:Error|Exception|Failed|Exit|Interrupt)\b|Error: )")


def _error_line(tail: list[str]) -> str:
    """The most telling line of a failed script's stderr: the last exception or error
    message in it, else its last line."""
    lines = [ln.strip() for ln in tail if ln.strip()]
    for text in reversed(lines):
        if _EXC.match(text):
            return text[:300]
    return ("last output: " + lines[-1][:300]) if lines else ""


def _runs(rows: list[dict], script: str) -> str:
    """How many measured runs the script's mlreg figures have (e.g. "3", "1–3")."""
    ns = sorted({(r.get("mlreg") or {}).get("n") for r in rows if r.get("script") == script} - {None})
    if not ns:
        return "–"
    return str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="reduced sizes; about 2 minutes on 2 idle cores")
    p.add_argument("--runs", type=int, default=None, help="measured runs per case (default 5; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up runs per case (default 1; quick 0)")
    p.add_argument("--peers", choices=("all", "once", "skip"), default=None,
                   help="slow peers (MLflow): measured like mlreg (all, the default), in one run (once), "
                        "or not at all (skip, the default with --quick)")
    p.add_argument("--only", nargs="*", default=None, help="run only these scripts (e.g. bench_log)")
    p.add_argument("--output", type=Path, help="also write the markdown report to this file")
    p.add_argument("--json-output", type=Path, help="also write every row as JSON to this file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    p.add_argument("--timeout", type=float, default=None, help="seconds per script (default 3600; quick 900)")
    args = p.parse_args()
    if args.timeout is None:
        args.timeout = 900.0 if args.quick else 3600.0

    started = dt.datetime.now().astimezone()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows: list[dict] = []
    failed: list[tuple[str, str, str]] = []  # (script, error, telling line of its stderr)
    timings: list[tuple[str, float, str]] = []  # (script, seconds, status)
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
        got, error, seconds, tail = run_script(path, args)
        timings.append((script, seconds, "FAILED" if error else "ok"))
        info(f"== {script}: {'FAILED: ' + error if error else 'done'} in {seconds:.0f} s "
             f"({time.perf_counter() - t0:.0f} s so far)")
        if error:
            why = _error_line(tail)
            failed.append((script, error, why))
            rows.append(row(f"{what}", None, note=f"`{script}` FAILED ({error})" + (f": {why}" if why else ""),
                            script=script))
        for r in got:
            r.setdefault("script", script)
        rows.extend(got)
    elapsed = time.perf_counter() - t0
    load_after = os.getloadavg()

    cmd = "make bench-quick" if args.quick else "make bench"
    goals = [r for r in rows if r.get("pass") is not None]
    met = sum(1 for r in goals if r["pass"])
    peers = args.peers or ("skip" if args.quick else "all")
    runs = args.runs or (3 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    method = ("Figures: median of the measured runs (min–max), each comparison measured in the same run, "
              "alternating A/B; a rate or throughput is higher-is-better, a time lower-is-better. "
              f"This run: {runs} runs per case after {warmup} warm-up(s), unless the script says otherwise.")
    if args.quick:
        method += (" Quick mode: reduced sizes and runs, for a smoke check and rough figures; the full figures "
                   "come from `make bench`.")
    if peers == "skip":
        method += (" Slow peers (MLflow) are not measured in this run: their cells say so, and a goal that is "
                   "relative to them is not judged (`--peers once` measures each in one run).")
    elif peers == "once":
        method += " Slow peers (MLflow) were measured in a single run without warm-up, as their cells say."
    header = [
        f"## mlreg benchmarks{' (quick)' if args.quick else ''}",
        "",
        f"Run {started:%Y-%m-%d %H:%M %Z} with `{cmd}` in {elapsed:.0f} s; "
        f"{os.cpu_count()} cores ({_cpu()}), {_mem_gib()} RAM, Python {platform.python_version()}, "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        f"Versions: {_versions()}.",
        method,
        "",
    ]
    footer = [
        "",
        f"Goals met: {met} of {len(goals)}" + (f" ({len(failed)} script(s) failed, their goals not counted)."
                                               if failed else "."),
        "",
        "| script | wall time | mlreg runs per figure | status |",
        "|---|---|---|---|",
        *[f"| {name} | {sec:.0f} s | {_runs(rows, name)} | {status} |" for name, sec, status in timings],
        f"| **total** | **{elapsed:.0f} s** ({elapsed / 60:.1f} min) | | "
        f"{'**' + str(len(failed)) + ' FAILED**' if failed else 'ok'} |",
    ]
    if failed:
        footer += ["", "**FAILED:**"] + [f"- `{name}`: {error}" + (f" — {why}" if why else "")
                                         for name, error, why in failed]
    report = "\n".join(header) + "\n" + markdown(rows) + "\n" + "\n".join(footer) + "\n"
    print(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
    if args.json_output:
        args.json_output.parent.mkdir(parents=True, exist_ok=True)
        args.json_output.write_text(json.dumps({"started": started.isoformat(), "quick": args.quick,
                                                "seconds": elapsed,
                                                "scripts": [{"script": n, "seconds": sec, "status": st}
                                                            for n, sec, st in timings],
                                                "failed": [{"script": n, "error": e, "detail": w}
                                                           for n, e, w in failed],
                                                "rows": rows}, indent=1, default=str))
    info(f"== total wall time {elapsed:.0f} s ({elapsed / 60:.1f} min): "
         + "; ".join(f"{name} {sec:.0f} s" for name, sec, _status in timings))
    if failed:
        bar = "=" * 72
        info(f"{bar}\nBENCHMARK FAILURE: {len(failed)} of {len(timings)} script(s) failed; their rows are missing:")
        for name, error, why in failed:
            info(f"  {name}: {error}" + (f"\n      {why}" if why else ""))
        info(bar)
        return 1
    if args.strict and met < len(goals):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
