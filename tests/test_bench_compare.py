"""benchmarks/compare.py, the regression guard between two benchmark runs, on two small
hand-written runs (tests/data/bench/): which workloads it flags, in which direction, and
its exit status. No benchmark runs here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "bench"
SCRIPT = REPO / "benchmarks" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("bench_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verdicts(compare, base: Path, new: Path, threshold: float = 0.25) -> dict[str, str]:
    results, _problems = compare.compare(compare.load(base), compare.load(new), threshold)
    return {r["workload"]: r["verdict"] for r in results}


def test_flags_the_workloads_worse_by_more_than_a_quarter(compare):
    assert verdicts(compare, DATA / "base.json", DATA / "new.json") == {
        "help": "WORSE",  # a time: 1.2x -> 1.6x its floor
        "list on a busy machine": "ok",  # 50% slower, and so was its floor: the ratio did not move
        "set_tag": "WORSE",  # a rate: 2x -> 1.5x its floor's, 1.33x worse
        "log_model rate": "ok",  # a rate that went up: better
        "peak memory": "ok",  # 20% more: within the threshold
        "requests/s": "ok",  # compared through the peer measured in both runs
        "near its goal": "ok, goal now missed",  # 2% worse: reported, not failed
        "new in this run": "only in NEW",
    }


def test_report_and_exit_status(compare, capsys):
    assert compare.main([str(DATA / "base.json"), str(DATA / "new.json")]) == 1
    out = capsys.readouterr().out
    assert "| help | ratio to floor (lower is better) | 1.2 | 1.6 | 33% worse | **WORSE** |" in out
    assert "| set_tag | ratio to floor (higher is better) | 2 | 1.5 | 33% worse | **WORSE** |" in out
    assert "| log_model rate | mlreg (logs/s) (higher is better) | 10 | 12 | 20% better | ok |" in out
    assert out.endswith(
        "3 problem(s):\n"
        "- help: 33% worse (ratio to floor 1.2 -> 1.6)\n"
        "- set_tag: 33% worse (ratio to floor 2 -> 1.5)\n"
        "- dropped from the new run: measured in BASE, missing from NEW\n"
    )


def test_a_run_against_itself_passes(compare, capsys):
    assert compare.main([str(DATA / "new.json"), str(DATA / "new.json")]) == 0
    assert capsys.readouterr().out.endswith("No workload is more than 25% worse.\n")


def test_threshold_and_direction(compare):
    assert compare.worse_factor(10.0, 12.5, "lower") == pytest.approx(1.25)  # 1.25x the time
    assert compare.worse_factor(10.0, 8.0, "higher") == pytest.approx(1.25)  # 0.8x the rate
    assert compare.worse_factor(10.0, 8.0, "lower") == pytest.approx(0.8)  # faster: better
    loose = verdicts(compare, DATA / "base.json", DATA / "new.json", threshold=0.5)
    assert "WORSE" not in loose.values()
    strict = verdicts(compare, DATA / "base.json", DATA / "new.json", threshold=0.1)
    assert strict["peak memory"] == "WORSE" and strict["requests/s"] == "ok"


def test_a_failed_script_in_the_new_run_fails(compare, tmp_path, capsys):
    new = json.loads((DATA / "base.json").read_text())
    new["failed"] = [{"script": "bench_metadata.py", "error": "exit 1", "detail": "RuntimeError: boom"}]
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert compare.main([str(DATA / "base.json"), str(tmp_path / "new.json")]) == 1
    assert "- bench_metadata.py failed in NEW: exit 1\n" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    ({"quick": False}, "one run is quick (make bench-quick), the other full (make bench): compare like with like"),
    ({"rows": "nope"}, "not a benchmark run (run_all.py --json-output writes one)"),
])
def test_runs_that_cannot_be_compared_exit_2(compare, tmp_path, capsys, change, message):
    new = {**json.loads((DATA / "base.json").read_text()), **change}
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert compare.main([str(DATA / "base.json"), str(tmp_path / "new.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("Error: ") and message in captured.err


def test_a_list_of_rows_is_a_run(compare, tmp_path):
    rows = json.loads((DATA / "base.json").read_text())["rows"]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    assert set(verdicts(compare, tmp_path / "rows.json", DATA / "base.json").values()) == {"ok"}


def test_command_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(DATA / "base.json"), str(DATA / "new.json"),
                           "--output", str(tmp_path / "report.md")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr == ""
    assert (tmp_path / "report.md").read_text() == proc.stdout and "**WORSE**" in proc.stdout
