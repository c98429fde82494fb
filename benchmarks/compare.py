"""Compare two benchmark runs and flag every workload that got more than 25% worse.

    python benchmarks/compare.py BASE.json NEW.json [--threshold 0.25] [--output FILE]

BASE and NEW are what ``run_all.py --json-output`` writes (``make bench-quick`` writes
``.venv-bench/bench-quick.json``, ``make bench`` ``.venv-bench/bench.json``); a JSON list
of rows, as one script prints with ``--json``, works too. Before a release: run
``make bench-quick`` on main, keep its JSON, run it on the branch, compare the two.

What is compared, per workload (rows are matched by script and workload name):

1. mlreg's figure divided by its floor's, when both runs measured a floor in the same
   unit. The floor ran alternately with mlreg in the same run, so the speed and load of
   the machine at the time cancel out of the ratio: on a shared 2-core machine absolute
   times of the same code differ by more than 25% between two runs an hour apart, the
   ratios far less. This is the figure the README's goals are stated in.
2. Otherwise, mlreg's figure divided by a peer's (MLflow, GTO) measured in both runs, for
   the same reason.
3. Otherwise mlreg's own figure (bulk loads, peak memory, the service's latencies):
   memory is stable between runs, times are not, so such a flag asks for a second run
   before it is believed. The report names the basis of every comparison.

Direction comes from the figure (``better``: a time is lower-is-better, a rate or
throughput higher-is-better). "Worse by 25%" means 1.25x the time, or 1/1.25 = 0.8x the
rate: the same slowdown of the same work, either way it is reported. A goal that passed
in BASE and fails in NEW is reported too, but only the threshold decides the exit status.

Exit status: 0 when no workload is worse by more than the threshold; 1 when one is, when
a workload of BASE is missing from NEW, or when NEW records a failed script; 2 when a
file cannot be read or the runs are not comparable (quick against full).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

THRESHOLD = 0.25


class BadInput(Exception):
    pass


def load(path: Path) -> dict[str, Any]:
    """A run: ``{"quick": bool | None, "failed": [...], "rows": [...]}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: {exc}") from None
    if isinstance(data, list):
        data = {"rows": data}
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "workload" in r for r in rows):
        raise BadInput(f"{path}: not a benchmark run (run_all.py --json-output writes one)")
    return {"quick": data.get("quick"), "failed": data.get("failed") or [], "rows": rows}


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return (row.get("script") or "", row["workload"])


def _median(figure: Any) -> float | None:
    value = figure.get("median") if isinstance(figure, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _ratio(row: dict[str, Any], other: Any) -> float | None:
    mine, theirs = row.get("mlreg"), other
    if _median(mine) is None or _median(theirs) is None or mine.get("unit") != theirs.get("unit"):
        return None
    return _median(mine) / _median(theirs)


def _peers(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in row.get("peers") or [] if isinstance(p, dict) and p.get("name")}


def figures(base: dict[str, Any], new: dict[str, Any]) -> tuple[str, float, float] | None:
    """(basis, base value, new value) of the most robust figure both rows have."""
    b, n = _ratio(base, base.get("floor")), _ratio(new, new.get("floor"))
    if b is not None and n is not None:
        return "ratio to floor", b, n
    for name, peer in _peers(base).items():
        other = _peers(new).get(name)
        b, n = _ratio(base, peer), _ratio(new, other)
        if b is not None and n is not None:
            return f"ratio to {name}", b, n
    b, n = _median(base.get("mlreg")), _median(new.get("mlreg"))
    if b is not None and n is not None and base["mlreg"].get("unit") == new["mlreg"].get("unit"):
        return f"mlreg ({base['mlreg'].get('unit', '')})", b, n
    return None


def worse_factor(base: float, new: float, better: str) -> float:
    """How many times worse NEW is (> 1: worse; < 1: better), direction-aware."""
    return new / base if better == "lower" else base / new


def compare(base_run: dict[str, Any], new_run: dict[str, Any], threshold: float = THRESHOLD) -> tuple[list[dict], list[str]]:
    """One result per workload of BASE, and the problems that make the comparison fail."""
    if base_run["quick"] is not None and new_run["quick"] is not None and base_run["quick"] != new_run["quick"]:
        raise BadInput("one run is quick (make bench-quick), the other full (make bench): compare like with like")
    new_rows = {_key(r): r for r in new_run["rows"]}
    results, problems = [], []
    for failed in new_run["failed"]:
        problems.append(f"{failed.get('script', '?')} failed in NEW: {failed.get('error', '')}")
    for row in base_run["rows"]:
        key = _key(row)
        other = new_rows.get(key)
        if row.get("mlreg") is None:  # a script that failed or was missing in BASE
            results.append({"workload": row["workload"], "basis": "–", "verdict": "not measured in BASE"})
            continue
        if other is None or other.get("mlreg") is None:
            problems.append(f"{row['workload']}: measured in BASE, missing from NEW")
            continue
        got = figures(row, other)
        if got is None:
            results.append({"workload": row["workload"], "basis": "–", "verdict": "not comparable"})
            continue
        basis, b, n = got
        better = row["mlreg"].get("better", "lower")
        factor = worse_factor(b, n, better)
        regressed = factor > 1 + threshold
        goal_lost = row.get("pass") is True and other.get("pass") is False
        verdict = "WORSE" if regressed else ("ok, goal now missed" if goal_lost else "ok")
        results.append({"workload": row["workload"], "basis": basis, "base": b, "new": n, "better": better,
                        "factor": factor, "regressed": regressed, "goal_lost": goal_lost, "verdict": verdict})
        if regressed:
            problems.append(f"{row['workload']}: {_change(factor)} ({basis} {_num(b)} -> {_num(n)})")
    base_keys = {_key(r) for r in base_run["rows"]}
    results += [{"workload": r["workload"], "basis": "–", "verdict": "only in NEW"}
                for r in new_run["rows"] if _key(r) not in base_keys]
    return results, problems


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _change(factor: float) -> str:
    if abs(factor - 1) < 0.005:
        return "same"
    return f"{(factor - 1) * 100:.0f}% worse" if factor > 1 else f"{(1 / factor - 1) * 100:.0f}% better"


def report(results: list[dict], problems: list[str], threshold: float) -> str:
    lines = [f"| workload | compared | base | new | change | verdict (worse than {threshold:.0%} fails) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        if "factor" not in r:
            lines.append(f"| {r['workload']} | {r['basis']} | – | – | – | {r['verdict']} |")
            continue
        lines.append(f"| {r['workload']} | {r['basis']} ({r['better']} is better) | {_num(r['base'])} | "
                     f"{_num(r['new'])} | {_change(r['factor'])} | {'**WORSE**' if r['regressed'] else r['verdict']} |")
    lines.append("")
    if problems:
        lines.append(f"{len(problems)} problem(s):")
        lines += [f"- {p}" for p in problems]
    else:
        lines.append(f"No workload is more than {threshold:.0%} worse.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", type=Path, help="JSON of the reference run (e.g. main)")
    p.add_argument("new", type=Path, help="JSON of the run to check (e.g. the release branch)")
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help="flag a workload worse by more than this fraction (default 0.25)")
    p.add_argument("--output", type=Path, help="also write the report to this file")
    args = p.parse_args(argv)
    try:
        results, problems = compare(load(args.base), load(args.new), args.threshold)
    except BadInput as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    text = report(results, problems, args.threshold)
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
