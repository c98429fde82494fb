"""Shared benchmark harness: time things fairly on a small, shared, noisy machine.

Every workload script in benchmarks/ imports this module (``from harness import ...``;
run_all.py puts benchmarks/ on sys.path, and a script run directly has its own folder
there already). The API, all of it:

Measuring
    run(argv, env=None, cwd=None, timeout=600, check=True) -> Proc
        Run one fresh process; wall time measured around fork+exec+wait, peak RSS of
        the child from wait4() (no psutil). ``Proc`` has .seconds .returncode .stdout
        .stderr .max_rss (bytes) .cpu (user+sys seconds). check=True raises
        CommandFailed on a non-zero exit.
    alternate(cases, runs=5, warmup=1, slow=None) -> dict[name, list[float]]
        ``cases`` maps a name to a zero-argument callable that returns the figure of one
        run (seconds, or a rate). Runs every case ``warmup`` times (discarded), then
        ``runs`` rounds in which each case runs once; the order alternates each round
        (A B C, C B A, A B C, ...) so that drift of the machine hits every case alike.
        ``slow`` ({name: (runs, warmup)}) lets a slow peer take part in fewer rounds;
        ``slow_cases(args, *names)`` builds it (1 run, no warm-up, with ``--peers once``).
    time_commands(commands, runs=5, warmup=1, env=None, cwd=None, slow=None)
        ``alternate`` over fresh processes: ``commands`` maps a name to an argv list.
    timed(fn) -> float
        Seconds one call of ``fn()`` took (perf_counter).
    rss_now() / rss_peak() / reset_peak()
        This process's resident set size, its high-water mark since the last
        ``reset_peak()``, in bytes (from /proc/self/status; reset via clear_refs).

Reporting
    fig(values, unit="s", better="lower") -> dict
        Summary of a list of values: {"median", "min", "max", "n", "unit", "better"}.
    row(workload, mlreg, floor=None, floor_name=None, peers=None, goal=None, passed=None,
        note=None, script=None) -> dict
        One table row. ``mlreg`` and ``floor`` are ``fig`` dicts; ``peers`` is a list of
        {"name": str, **fig}. ``goal`` is text ("<= 1.2x floor"), ``passed`` True/False/None.
    peer(name, figure, note=None) -> dict
        One entry of ``peers``.
    markdown(rows) -> str
        The table: workload | mlreg | floor | ratio to floor | peer(s) | mlreg vs peer | goal.
        "ratio to floor" is mlreg / floor in the row's unit (for seconds, 1.10x means 10 %
        slower than the floor; for a rate, 0.90x means 90 % of the floor's rate).
        "mlreg vs peer" is how many times faster mlreg is (peer time / mlreg time, or
        mlreg rate / peer rate; for memory, how many times less it takes).
    main_args(description, argv=None, extra=None) -> argparse.Namespace
        The common options every script takes: --quick, --json, --runs N, --warmup N,
        --peers all|once|skip, --keep (keep the scratch directory); ``extra(parser)`` may
        add more. Defaults: 5 runs after 1 warm-up, every peer like mlreg; quick mode: 3
        runs, no warm-up, and the slow peers (MLflow) skipped (``--peers once``: measured
        in one run). ``args.cheap_warmup`` is the warm-up for cheap in-process cases: 1
        unless --warmup is given. With --json, sys.stdout is pointed at stderr until ``emit`` (libraries
        under test print to stdout).
    quick_runs(args, n)
        In quick mode (and without --runs), ``n`` runs per case instead of 3.
    peers_wanted(args) -> bool
        Whether to set up and measure the slow peers at all (False with ``--peers skip``);
        a script that skips one lists it with ``skipped_peer(args, name)``.
    emit(rows, args)
        Print ``rows``: a JSON list with --json (what run_all.py merges), else the table.
        A peer measured in a single run (``--peers once``) is marked so in its cell.

Environment
    BENCH_PYTHON    the interpreter of the bench venv (sys.executable)
    bin_path(name)  a console script of the bench venv (mlreg, mlflow, gto)
    scratch(args, name) -> Path
        A fresh scratch directory under $BENCH_TMP (default: the system temp dir),
        removed at exit unless --keep.
    clean_env(**extra) -> dict
        os.environ without MLREG_*/MLFLOW_* settings, with NO_COLOR=1, telemetry of the
        peers off (MLFLOW_DISABLE_TELEMETRY, DO_NOT_TRACK) and ``extra``. Importing this
        module also turns that telemetry off in the current process.

A row dict is plain JSON, so a script that cannot import this module may still print
``[{"workload": ..., "mlreg": {"median": ..., "min": ..., "max": ..., "n": ...,
"unit": "s", "better": "lower"}, ...}]`` and be merged.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
BENCH_PYTHON = sys.executable
# peers must not phone home (MLflow 3 has usage telemetry; the network is not ours to use)
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
os.environ.update(NO_TELEMETRY)


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Proc:
    argv: list[str]
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    max_rss: int  # bytes, of the child process (and its waited-for descendants)
    cpu: float = 0.0  # user + system CPU seconds of the child (and its waited-for descendants)


class CommandFailed(RuntimeError):
    pass


def run(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> Proc:
    """Run a fresh process and time it (wall clock, fork to reap). Output goes to temp
    files, read after the clock stops; peak RSS is the child's own, from wait4()."""
    argv = [str(a) for a in argv]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
        p.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        proc = Proc(argv, seconds, code, out.read(), err.read(), usage.ru_maxrss * 1024,
                    usage.ru_utime + usage.ru_stime)
    if code == -9 and seconds >= timeout:
        raise CommandFailed(f"timed out after {timeout:g} s: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    if check and code != 0:
        raise CommandFailed(
            f"exit {code}: {' '.join(argv)}\n--- stderr ---\n{proc.stderr[-3000:]}\n--- stdout ---\n{proc.stdout[-1000:]}"
        )
    return proc


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(
    cases: Mapping[str, Callable[[], float]],
    runs: int = 5,
    warmup: int = 1,
    log: bool = True,
    slow: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, list[float]]:
    """Warm up every case, then run them in alternating order; each callable returns the
    figure of one run. Returns every measured figure per case.

    ``slow`` maps a case name to its own (runs, warmup), fewer than the others': such a
    case takes part in the first rounds only (for slow peers in quick mode)."""
    names = list(cases)
    slow = dict(slow or {})
    plan = {n: slow.get(n, (runs, warmup)) for n in names}
    for i in range(max(w for _r, w in plan.values()) if plan else 0):
        for name in names:
            if i < plan[name][1]:
                cases[name]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for i in range(max(r for r, _w in plan.values()) if plan else 0):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            if i < plan[name][0]:
                out[name].append(cases[name]())
    if log:
        for name, values in out.items():
            if values:
                info(f"  {name}: median {statistics.median(values):.4g} (min {min(values):.4g}, max {max(values):.4g})")
    return out


def slow_cases(args: argparse.Namespace, *names: str) -> dict[str, tuple[int, int]]:
    """The ``slow`` argument of :func:`alternate`: with ``--peers once`` (quick mode) the
    named (slow peer) cases run once without warm-up; otherwise like every other case."""
    if peers_mode(args) != "once":
        return {}
    return {n: (1, 0) for n in names}


def peers_mode(args: argparse.Namespace | None) -> str:
    """``all`` (full mode: peers measured like mlreg), ``once`` or ``skip``."""
    return getattr(args, "peers", None) or "all"


def peers_wanted(args: argparse.Namespace | None) -> bool:
    """Whether the slow peers (MLflow) are set up and measured in this run."""
    return peers_mode(args) != "skip"


SKIPPED = "not measured in quick mode"


def skipped_peer(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """A peer entry for a slow peer left out of this run (``--peers skip``): the table keeps
    it, with "–" and, in the same cell, why."""
    return peer(name, None, note=SKIPPED)


def time_commands(
    commands: Mapping[str, Sequence[str]],
    runs: int = 5,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    slow: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, list[float]]:
    """Fresh-process wall times of each command, alternating A/B."""
    cases = {name: (lambda argv=argv: run(argv, env=env, cwd=cwd).seconds) for name, argv in commands.items()}
    return alternate(cases, runs=runs, warmup=warmup, slow=slow)


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) * 1024 if m else 0


def rss_now() -> int:
    return _status("VmRSS")


def rss_peak() -> int:
    return _status("VmHWM")


def reset_peak() -> None:
    """Reset this process's peak-RSS mark (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# -- reporting ------------------------------------------------------------------------------


def fig(values: Iterable[float], unit: str = "s", better: str = "lower") -> dict[str, Any]:
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values")
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "unit": unit,
        "better": better,
    }


def row(
    workload: str,
    mlreg: dict[str, Any] | None,
    floor: dict[str, Any] | None = None,
    floor_name: str | None = None,
    peers: list[dict[str, Any]] | None = None,
    goal: str | None = None,
    passed: bool | None = None,
    note: str | None = None,
    script: str | None = None,
) -> dict[str, Any]:
    return {
        "workload": workload,
        "mlreg": mlreg,
        "floor": floor,
        "floor_name": floor_name,
        "peers": peers or [],
        "goal": goal,
        "pass": passed,
        "note": note,
        "script": script or Path(sys.argv[0]).name,
    }


def peer(name: str, figure: dict[str, Any] | None, note: str | None = None) -> dict[str, Any]:
    out = {"name": name, **(figure or {"median": None})}
    if note:
        out["note"] = note
    return out


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    ax = abs(x)
    if ax >= 10000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_fig(f: dict[str, Any] | None) -> str:
    if not f or f.get("median") is None:
        return "–"
    unit = f.get("unit", "s")
    text = f"{_num(f['median'])} {unit}"
    if f.get("n", 1) > 1 and f["min"] != f["max"]:
        text += f" ({_num(f['min'])}–{_num(f['max'])})"
    return text


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """a / b of the medians (None when either is missing or zero)."""
    if not a or not b or not a.get("median") or not b.get("median"):
        return None
    return a["median"] / b["median"]


def speedup(mlreg: dict[str, Any] | None, other: dict[str, Any] | None) -> float | None:
    """How many times faster mlreg is than ``other`` (> 1: mlreg wins)."""
    r = ratio(mlreg, other)
    if r is None:
        return None
    return 1 / r if mlreg.get("better", "lower") == "lower" else r


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = ["workload", "mlreg", "floor", "ratio to floor", "peer(s)", "mlreg vs peer", "goal", "pass"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for r in rows:
        floor = r.get("floor")
        floor_txt = "–"
        if floor:
            floor_txt = fmt_fig(floor) + (f" ({r['floor_name']})" if r.get("floor_name") else "")
        fr = ratio(r.get("mlreg"), floor)
        peers = r.get("peers") or []
        # a peer's own note (not measured / measured in one run) goes in its cell
        peer_txt = "<br>".join(f"{p['name']}: {fmt_fig(p)}" + (f" ({p['note']})" if p.get("note") else "")
                               for p in peers) or "–"
        sp = []
        memory = (r.get("mlreg") or {}).get("unit") in ("B", "KiB", "MiB", "GiB")
        win, lose = ("less", "more") if memory else ("faster", "slower")
        for p in peers:
            if p.get("median") is None:
                sp.append("–")
                continue
            s = speedup(r.get("mlreg"), p)
            sp.append(f"{s:.1f}× {win}" if s is not None and s >= 1 else
                      (f"{1 / s:.1f}× {lose}" if s else "n/a"))
        status = {True: "✅ pass", False: "❌ fail", None: "–"}[r.get("pass")]
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in [
                    r["workload"],
                    fmt_fig(r.get("mlreg")),
                    floor_txt,
                    f"{fr:.2f}×" if fr is not None else "–",
                    peer_txt,
                    "<br>".join(sp) or "–",
                    r.get("goal") or "–",
                    status,
                ]
            )
            + " |"
        )
        if r.get("note"):
            notes.append(f"- **{r['workload']}**: {r['note']}")
    out = "\n".join(lines)
    if notes:
        out += "\n\nNotes:\n" + "\n".join(notes)
    return out


_STDOUT = None


def main_args(description: str, argv: Sequence[str] | None = None, extra: Callable | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="reduced sizes (make bench-quick)")
    p.add_argument("--json", action="store_true", help="print the rows as a JSON list (for run_all.py)")
    p.add_argument("--runs", type=int, default=None, help="measured runs per case (default 5; quick 3)")
    p.add_argument("--warmup", type=int, default=None,
                   help="warm-up runs per case, discarded (default 1; quick 0)")
    p.add_argument("--peers", choices=("all", "once", "skip"), default=None,
                   help="slow peers (MLflow): measured like mlreg (all, the default), in one run without "
                        "warm-up (once), or not at all (skip, the quick-mode default)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    if extra:
        extra(p)
    args = p.parse_args(argv)
    # stopped by run_all.py (timeout, Ctrl-C): exit normally, so that atexit removes the
    # scratch directory
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.json:
        # libraries under test print to stdout (MLflow does): keep it clean for the JSON
        global _STDOUT
        _STDOUT = sys.stdout
        sys.stdout = sys.stderr
    if args.runs is None:
        args.runs = 3 if args.quick else 5
        args.runs_given = False
    else:
        args.runs_given = True
    # cheap in-process cases (a fraction of a second a run) keep one warm-up even in quick
    # mode, so that first-call imports are not what they measure
    args.cheap_warmup = args.warmup if args.warmup is not None else 1
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    if args.peers is None:
        args.peers = "skip" if args.quick else "all"
    return args


def _quick_notes(rows: Sequence[dict[str, Any]], args: argparse.Namespace) -> None:
    """Say so in the peer's cell when it took part in a single run (``--peers once``)."""
    if not getattr(args, "quick", False) and peers_mode(args) == "all":
        return
    for r in rows:
        for p in r.get("peers") or []:
            if p.get("median") is not None and p.get("n") == 1 and (r.get("mlreg") or {}).get("n", 1) > 1 \
                    and not p.get("note"):
                p["note"] = "1 run, no warm-up"


def quick_runs(args: argparse.Namespace, runs: int) -> None:
    """In quick mode, unless --runs was given, measure ``runs`` runs per case: for the
    scripts whose every run is several seconds of fresh processes."""
    if getattr(args, "quick", False) and not getattr(args, "runs_given", True):
        args.runs = runs


def emit(rows: Sequence[dict[str, Any]], args: argparse.Namespace) -> None:
    _quick_notes(rows, args)
    out = _STDOUT or sys.stdout
    if args.json:
        print(json.dumps(list(rows), indent=1), file=out, flush=True)
    else:
        print(markdown(rows), file=out, flush=True)


def info(msg: str) -> None:
    """Progress goes to stderr; stdout is for the table / JSON."""
    print(msg, file=sys.stderr, flush=True)


# -- environment ----------------------------------------------------------------------------


def bin_path(name: str) -> str:
    """A console script installed beside the bench interpreter."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed in the bench environment ({sys.executable})")
    return found


def scratch(args: argparse.Namespace | None, name: str) -> Path:
    base = os.environ.get("BENCH_TMP") or tempfile.gettempdir()
    path = Path(tempfile.mkdtemp(prefix=f"mlreg-bench-{name}-", dir=base))
    if not (args is not None and getattr(args, "keep", False)):
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    else:
        info(f"scratch directory kept: {path}")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLREG_", "MLFLOW_"))}
    env["NO_COLOR"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    env.update(NO_TELEMETRY)
    env.update({k: str(v) for k, v in extra.items()})
    return env
