"""mlreg gate, diff, card, --as-of and the GitHub Actions outputs, on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

POLICY = """[policy]
name = "production"

[rules]
accurate = "metric.acc >= 0.4"
reviewed = "tag.stage == 'testing'"
intact = "verified"
"""


@pytest.fixture
def two(cli, logged, model_file, sample_csv):
    """m/1 (from `logged`: tag stage=testing, metric acc=0.5, description first) and m/2."""
    run = cli("log", model_file, "--name", "m", "--version", "2", "--sample-input", sample_csv,
              "--tag", "owner=me", "--metric", "acc=0.75", "--metric", 'cm=[[1,2],[3,4]]')
    assert run.exit_code == 0, run
    return logged


@pytest.fixture
def policy(tmp_path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


# -- gate ---------------------------------------------------------------------------------------
def test_gate_passes_exit_0(cli, logged, policy):
    run = cli("gate", "m", "1", "--policy", policy)
    assert run.exit_code == 0, run
    assert run.stdout.splitlines() == [
        "RULE      RESULT  VALUES             REASON  EXPRESSION",
        "accurate  pass    metric.acc=0.5             metric.acc >= 0.4",
        "reviewed  pass    tag.stage=testing          tag.stage == 'testing'",
        "intact    pass    verified=true              verified",
    ]
    assert run.stderr == "Gate passed: m/1, 3 of 3 rules of policy production\n"


def test_gate_fails_exit_7_in_every_format(cli, two, policy):
    run = cli("gate", "m", "2", "--policy", policy)
    assert run.exit_code == 7
    assert "reviewed  FAIL    tag.stage=missing" in run.stdout
    assert run.stderr == "Gate failed: m/2, 1 of 3 rules of policy production failed: reviewed\n"
    run = cli("gate", "m", "2", "--policy", policy, "--format", "json")
    assert run.exit_code == 7
    doc = json.loads(run.stdout)
    assert (doc["passed"], doc["name"], doc["version"], doc["policy"]) == (False, "m", "2", "production")
    assert doc["rules"][1] == {"rule": "reviewed", "expression": "tag.stage == 'testing'", "passed": False,
                               "reason": "tag.stage is missing (tag has no 'stage')", "values": {"tag.stage": None}}
    run = cli("gate", "m", "2", "--policy", policy, "--format", "markdown")
    assert run.exit_code == 7
    assert run.stdout.startswith("### Gate failed: m/2\n\nPolicy `production` (sha256 `")
    assert "| reviewed | FAIL | tag.stage=missing | tag.stage is missing (tag has no 'stage') | tag.stage == 'testing' |" in run.stdout


def test_gate_broken_policy_exits_2_naming_rule_and_column(cli, logged, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[rules]\nok = "verified"\nbroken = "metric.acc >= >"\n')
    run = cli("gate", "m", "1", "--policy", bad)
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == "Error: policy bad, rule broken: expected a value, found '>' at column 15\n"
    run = cli("gate", "m", "1", "--policy", tmp_path / "none.toml")
    assert run.exit_code == 3 and run.stderr.startswith("Error: policy file ")


def test_gate_unknown_version_exits_3(cli, logged, policy):
    run = cli("gate", "m", "9", "--policy", policy)
    assert (run.exit_code, run.stderr) == (3, "Error: The model m/9 does not exist in the current registry.\n")


# -- diff ---------------------------------------------------------------------------------------
def test_diff_identical_in_every_format(cli, logged):
    run = cli("diff", "m@1", "m@1", "--exit-code")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "No differences between m/1 and m/1\n")
    doc = json.loads(cli("diff", "m@1", "m/1", "--format", "json").stdout)
    assert (doc["identical"], doc["changes"]) == (True, [])
    assert cli("diff", "m@1", "m@1", "--format", "markdown").stdout == "### Diff m/1 → m/1\n\nNo differences.\n"


def test_diff_different_in_every_format(cli, two):
    run = cli("diff", "m@1", "m@2")
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["SECTION", "KEY", "A", "B", "DELTA"]
    assert lines[1].split() == ["description", "first", "(absent)"]
    assert lines[2].split() == ["tag", "owner", "(absent)", "me"]
    assert lines[4].split() == ["metric", "acc", "0.5", "0.75", "0.25"]
    assert lines[5].split() == ["metric", "cm", "(absent)", "[[1,2],[3,4]]"]
    assert any(line.startswith("file         MANIFEST.json") and "bytes)" in line for line in lines)
    assert cli("diff", "m@1", "m@2", "--exit-code").exit_code == 1
    doc = json.loads(cli("diff", "m@1", "m@2", "--format", "json").stdout)
    assert doc["identical"] is False
    assert {"section": "metric", "key": "acc", "a": 0.5, "b": 0.75, "delta": 0.25} in doc["changes"]
    md = cli("diff", "m@1", "m@2", "--format", "markdown").stdout
    assert md.startswith("### Diff m/1 → m/2\n\n")
    assert "| metric | acc | 0.5 | 0.75 | 0.25 |" in md


def test_diff_bad_reference_exits_2(cli, logged):
    run = cli("diff", "m", "m@1")
    assert (run.exit_code, run.stderr) == (2, "Error: expected NAME@VERSION, got 'm'\n")


# -- card ---------------------------------------------------------------------------------------
def test_card_to_stdout_and_file(cli, logged, tmp_path):
    run = cli("card", "m", "1")
    assert run.exit_code == 0 and run.stdout.startswith("# m 1\n\nfirst\n\n## Intended use\n\nfirst\n")
    out = tmp_path / "card.md"
    run = cli("card", "m", "1", "--output", out)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", f"Wrote the model card of m/1 to {out}\n")
    assert out.read_text() == cli("card", "m", "1").stdout


# -- --as-of ------------------------------------------------------------------------------------
def _event_times(cli) -> list[str]:
    return [e["EVENT_TIMESTAMP"] for e in json.loads(cli("history", "--format", "json").stdout)]


def test_as_of_before_and_after_changes_and_deletion(cli, two):
    assert cli("tag", "set", "m", "1", "stage", "prod").exit_code == 0
    assert cli("metric", "set", "m", "1", "acc", "0.6").exit_code == 0
    assert cli("describe", "m", "1", "changed").exit_code == 0
    assert cli("delete", "m", "1", "--yes").exit_code == 0
    times = _event_times(cli)
    registered_2 = times[6]  # m/1: REGISTRATION, DESCRIPTION, TAG, METRIC; m/2: REGISTRATION, TAG, METRIC...
    before_changes, after_changes = times[-5], times[-2]
    # now: m/1 is gone
    assert cli("tag", "list", "m", "1").exit_code == 3
    # before the changes: the values m/1 had then
    assert cli("tag", "get", "m", "1", "stage", "--as-of", before_changes).stdout == "testing\n"
    assert cli("metric", "get", "m", "1", "acc", "--as-of", before_changes).stdout == "0.5\n"
    assert cli("describe", "m", "1", "--as-of", before_changes).stdout == "first\n"
    # after them (and before the deletion)
    assert json.loads(cli("tag", "list", "m", "1", "--as-of", after_changes, "--format", "json").stdout) == {
        "stage": "prod"}
    assert json.loads(cli("metric", "list", "m", "1", "--as-of", after_changes, "--format", "json").stdout) == {
        "acc": 0.6}
    assert cli("describe", "m", "1", "--as-of", after_changes).stdout == "changed\n"
    shown = json.loads(cli("show", "m", "1", "--as-of", after_changes, "--format", "json").stdout)
    assert (shown["DELETED"], shown["TAGS"], shown["DESCRIPTION"]) == (True, {"stage": "prod"}, "changed")
    listed = json.loads(cli("list", "--as-of", after_changes, "--format", "json").stdout)
    assert [(r["VERSION"], r["DELETED"]) for r in listed] == [("1", True), ("2", False)]
    listed = json.loads(cli("list", "--as-of", times[-1], "--format", "json").stdout)
    assert [r["VERSION"] for r in listed] == ["2"]
    assert cli("list", "--as-of", after_changes, "--tag", "stage=prod", "--columns", "VERSION",
               "--format", "csv").stdout == "VERSION\n1\n"
    assert cli("list", "--as-of", "2000-01-01", "--format", "json").stdout == "[]\n"
    assert registered_2 <= after_changes


def test_as_of_errors(cli, logged):
    run = cli("list", "--as-of", "yesterday")
    assert run.exit_code == 2 and run.stderr.startswith("Error: invalid --as-of 'yesterday': use ISO 8601")
    run = cli("tag", "get", "m", "1", "stage", "--as-of", "2000-01-01")
    assert (run.exit_code, run.stderr) == (
        3, "Error: The model m/1 did not exist in the registry at 2000-01-01T00:00:00+00:00.\n")
    run = cli("describe", "m", "1", "new text", "--as-of", "1d")
    assert (run.exit_code, run.stderr) == (2, "Error: --as-of reads the past; it cannot set a description\n")
    assert cli("describe", "m", "1").stdout == "first\n"


# -- GitHub Actions outputs ---------------------------------------------------------------------
def test_github_outputs_outside_actions_warn_and_write_nothing(cli, logged, policy, tmp_path):
    run = cli("gate", "m", "1", "--policy", policy, "--github-output", "--summary")
    assert run.exit_code == 0
    assert run.stderr.splitlines()[:2] == [
        "Warning: --github-output: $GITHUB_OUTPUT is not set (not running in GitHub Actions); nothing written",
        "Warning: --summary: $GITHUB_STEP_SUMMARY is not set (not running in GitHub Actions); nothing written"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("github")) == []


def test_github_outputs_inside_actions(cli, two, policy, tmp_path):
    out, summary = tmp_path / "github_output", tmp_path / "github_summary"
    out.write_text("")
    summary.write_text("")
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    run = cli("gate", "m", "2", "--policy", policy, "--github-output", "--summary", env=env)
    assert run.exit_code == 7
    lines = out.read_text().splitlines()
    assert lines[:5] == ["passed=false", "failed=reviewed", "name=m", "version=2", f"id={lines[4][3:]}"]
    assert summary.read_text().startswith("### Gate failed: m/2\n")
    run = cli("diff", "m@1", "m@2", "--github-output", "--summary", "--format", "json", env=env)
    assert run.exit_code == 0
    assert out.read_text().splitlines()[-4:] == ["identical=false", f"changes={len(json.loads(run.stdout)['changes'])}",
                                                 "a=m/1", "b=m/2"]
    assert "### Diff m/1 → m/2" in summary.read_text()
