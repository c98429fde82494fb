"""Promotions: mlreg promote (policy, compare-and-set, --expect), racing promotions in
processes (exactly one wins), protected aliases, alias history and --as-of on alias list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cli import MLREG_BIN, subprocess_env

POLICY = '[policy]\nname = "production"\n\n[rules]\naccurate = "metric.acc >= 0.4"\n' \
         'no_worse = "not alias.prod.exists or metric.acc >= alias.prod.metric.acc"\n'


@pytest.fixture(params=["duckdb", "postgresql"])
def backend(request) -> str:
    """The registry's backend: a DuckDB file, or a database of the session's PostgreSQL server."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_home")
    return request.param


@pytest.fixture
def three(backend, cli, logged, model_file, sample_csv):
    """m/1 (acc 0.5), m/2 (acc 0.75), m/3 (acc 0.3)."""
    for version, acc in (("2", "0.75"), ("3", "0.3")):
        run = cli("log", model_file, "--name", "m", "--version", version, "--sample-input", sample_csv,
                  "--metric", f"acc={acc}")
        assert run.exit_code == 0, run
    return logged


@pytest.fixture
def policy(tmp_path) -> Path:
    path = tmp_path / "production.toml"
    path.write_text(POLICY)
    return path


def _holder(cli, alias: str = "PROD") -> str | None:
    rows = json.loads(cli("alias", "list", "m", "--format", "json").stdout)
    return next((r["VERSION"] for r in rows if r["ALIAS"] == alias), None)


def test_promote_checks_the_policy_and_moves_the_alias(cli, three, policy):
    run = cli("promote", "m", "1", "--to", "prod", "--policy", policy)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Promoted m/1 to PROD (no version held it)\n")
    assert _holder(cli) == "1"
    run = cli("promote", "m", "3", "--to", "prod", "--policy", policy)
    assert run.exit_code == 7
    assert run.stderr == "Error: promotion of m/3 to PROD refused: rules failed (production: accurate, no_worse)\n"
    assert _holder(cli) == "1"
    run = cli("promote", "m", "2", "--to", "prod", "--policy", policy, "--format", "json")
    assert run.exit_code == 0
    doc = json.loads(run.stdout)
    assert (doc["version"], doc["previous"], doc["moved"], doc["alias"]) == ("2", "1", True, "PROD")
    assert doc["policies"][0]["passed"] is True
    assert _holder(cli) == "2"
    assert cli("show", "m", "prod", "--format", "json").stdout == cli("show", "m", "2", "--format", "json").stdout


def test_promote_expect(cli, three):
    run = cli("promote", "m", "1", "--to", "prod", "--expect", "2")
    assert (run.exit_code, run.stderr) == (
        4, "Error: alias PROD of m is held by no version, not version 2 (--expect); nothing changed\n")
    assert cli("promote", "m", "1", "--to", "prod", "--expect", "none").exit_code == 0
    run = cli("promote", "m", "2", "--to", "prod", "--expect", "none")
    assert run.exit_code == 4 and _holder(cli) == "1"
    assert cli("promote", "m", "2", "--to", "prod", "--expect", "1").exit_code == 0
    assert _holder(cli) == "2"


RACER = """
import sys
from mlreg.cli.app import main
sys.argv = ["mlreg", "promote", "m", sys.argv[1], "--to", "prod", "--expect", "none", "--policy", sys.argv[2]]
main()
"""


def test_racing_promotions_in_processes_exactly_one_wins(cli, three, policy, tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", RACER, version, str(policy)], env=subprocess_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for version in ("1", "2", "1", "2")]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 4, 4, 4], results
    winner = next(err for code, err in results if code == 0)
    holder = _holder(cli)
    assert winner == f"Promoted m/{holder} to PROD (no version held it)\n"
    for code, err in results:
        if code == 4:
            assert err.startswith("Error: alias PROD of m is held by version") or "moved from" in err, err
    history = json.loads(cli("alias", "history", "m", "prod", "--format", "json").stdout)
    assert [(h["VERSION"], h["PREVIOUS"], h["TO"]) for h in history] == [(holder, None, None)]
    events = [e for e in json.loads(cli("history", "--format", "json").stdout) if e["ATTRIBUTE_NAME"] == "ALIAS"]
    assert len(events) == 1


def test_protected_alias_moves_only_by_promote(cli, three, policy, tmp_path):
    assert cli("alias", "set", "m", "prod", "1").exit_code == 0
    run = cli("alias", "protect", "m", "prod", "--policy", policy)
    assert (run.exit_code, run.stderr) == (0, "Protected alias PROD of m with policy production\n")
    run = cli("alias", "set", "m", "prod", "2")
    assert run.exit_code == 7
    assert run.stderr == ("Error: alias PROD of m is protected by policy production: move it with "
                          "`mlreg promote m VERSION --to PROD` (registry.promote), which applies it\n")
    assert cli("alias", "unset", "m", "prod").exit_code == 7
    assert _holder(cli) == "1"
    run = cli("promote", "m", "3", "--to", "prod")  # the stored policy applies
    assert run.exit_code == 7 and "production: accurate, no_worse" in run.stderr
    assert cli("promote", "m", "2", "--to", "prod").exit_code == 0
    assert _holder(cli) == "2"
    assert cli("alias", "unprotect", "m", "prod").exit_code == 0
    assert cli("alias", "set", "m", "prod", "3").exit_code == 0
    events = [(e["OPERATION"], e["KEY"]) for e in json.loads(cli("history", "--format", "json").stdout)
              if e["ATTRIBUTE_NAME"] == "ALIAS_POLICY"]
    assert events == [("SET", "PROD"), ("DROP", "PROD")]


def test_alias_history_and_as_of(cli, three, policy):
    assert cli("promote", "m", "1", "--to", "prod").exit_code == 0
    assert cli("promote", "m", "2", "--to", "prod", "--policy", policy).exit_code == 0
    assert cli("alias", "set", "m", "staging", "3").exit_code == 0
    history = json.loads(cli("alias", "history", "m", "prod", "--format", "json").stdout)
    assert [(h["ALIAS"], h["VERSION"], h["PREVIOUS"]) for h in history] == [("PROD", "1", None), ("PROD", "2", "1")]
    assert history[0]["TO"] == history[1]["FROM"] and history[1]["TO"] is None
    assert history[0]["POLICIES"] == [] and history[1]["POLICIES"][0]["policy"] == "production"
    every = json.loads(cli("alias", "history", "m", "--format", "json").stdout)
    assert [h["ALIAS"] for h in every] == ["PROD", "PROD", "STAGING"]
    t_first = history[0]["FROM"]
    past = json.loads(cli("alias", "list", "m", "--as-of", t_first, "--format", "json").stdout)
    assert [(r["ALIAS"], r["VERSION"]) for r in past] == [("PROD", "1")]
    card = cli("card", "m", "1").stdout
    assert f"| PROD | {t_first.replace('.', '.')[:19]}" in card.replace("+00:00", "")


def test_gate_reads_the_alias_holder(cli, three, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[rules]\nbetter = "metric.acc > alias.prod.metric.acc"\n')
    run = cli("gate", "m", "2", "--policy", path)
    assert run.exit_code == 7 and "no version of m holds alias PROD" in run.stdout
    assert cli("alias", "set", "m", "prod", "1").exit_code == 0
    assert cli("gate", "m", "2", "--policy", path).exit_code == 0
    assert cli("gate", "m", "3", "--policy", path).exit_code == 7
    assert cli("diff", "m@prod", "m@2", "--format", "json").exit_code == 0
    assert json.loads(cli("diff", "m@prod", "m@1", "--format", "json").stdout)["identical"] is True


def test_promote_with_the_real_console_script(three, policy):
    proc = subprocess.run([str(MLREG_BIN), "promote", "m", "2", "--to", "prod", "--policy", str(policy)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "Promoted m/2 to PROD (no version held it)\n")
