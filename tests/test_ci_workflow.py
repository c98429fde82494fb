"""The GitHub Actions workflow of the README ("A complete workflow"), run step by step as
a runner runs it: each `run:` step in `bash -e -o pipefail` with the job's env, GITHUB_*
variables, a fresh GITHUB_OUTPUT file per step (read back into steps.<id>.outputs) and
GITHUB_STEP_SUMMARY; `${{ }}` expressions and `if:` conditions evaluated; a failing step
ends the job. What a runner provides and this machine has not is the test's: `uses:`
actions and the `pip install` step are skipped (mlreg is installed in this virtualenv),
the secrets are a file registry and a local stage, and `gh` is a script on PATH that
records the comment it was asked to post."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.cli import subprocess_env

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent

TRAIN = """\
import os, pickle, sys
sys.path.insert(0, os.environ["MLREG_TEST_REPO"])
from tests.fixtures.models import SumModel
pickle.dump(SumModel(), open("model.pkl", "wb"))
open("sample.csv", "w").write("a,b\\n1.0,2.0\\n3.0,4.5\\n")
open("accuracy.txt", "w").write(os.environ["ACCURACY"])
"""

GH = """#!/bin/sh
# records `gh pr comment N --body-file F`
echo "$@" >> "$GH_LOG"
cat "$5" >> "$GH_LOG"
"""


def _blocks(kind: str) -> list[str]:
    text = README.read_text()
    start = text.index("### A complete workflow")
    section = text[start:text.index("\n## ", start)]
    return re.findall(rf"```{kind}\n(.*?)```", section, re.S)


@dataclass
class Job:
    workdir: Path
    context: dict
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    summary: str = ""

    def value(self, expr: str) -> str:
        expr = expr.strip()
        if expr.startswith("'") and expr.endswith("'"):
            return expr[1:-1]
        parts = expr.split(".")
        if parts[0] == "steps":
            return self.outputs.get(parts[1], {}).get(parts[3], "")
        node: object = self.context
        for p in parts:
            node = node.get(p, "") if isinstance(node, dict) else ""
        return str(node)

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: self.value(m.group(1)), text)

    def condition(self, text: str | None) -> bool:
        if text is None:
            return True
        clauses = [c.strip() for c in text.split("&&")]
        for clause in clauses:
            left, op, right = re.fullmatch(r"(.+?)\s*(==|!=)\s*(.+)", clause).groups()
            equal = self.value(left) == self.value(right)
            if equal != (op == "=="):
                return False
        return True


def run_workflow(workdir: Path, workflow: dict, job: Job, env: dict[str, str]) -> int:
    """Run the job's steps; the exit code of the step that failed, or 0."""
    spec = workflow["jobs"]["model"]
    for i, step in enumerate(spec["steps"]):
        name = step.get("name") or step.get("uses") or step.get("run")
        if "uses" in step or step.get("run", "").startswith("pip install"):
            continue  # the runner's actions and the installation: provided here already
        if not job.condition(step.get("if")):
            continue
        out, summary = workdir / f"output_{i}", workdir / f"summary_{i}"
        out.write_text("")
        summary.write_text("")
        step_env = dict(env)
        step_env.update({k: job.expand(str(v)) for k, v in spec.get("env", {}).items()})
        step_env.update({k: job.expand(str(v)) for k, v in step.get("env", {}).items()})
        step_env.update(GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary))
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c",
                               job.expand(step["run"])], cwd=workdir, env=step_env, capture_output=True, text=True)
        job.ran.append(name)
        job.summary += summary.read_text()
        if "id" in step:
            job.outputs[step["id"]] = parse_outputs(out.read_text())
        if proc.returncode != 0:
            job.ran[-1] += f" (exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1]})"
            return proc.returncode
    return 0


def parse_outputs(text: str) -> dict[str, str]:
    """A GITHUB_OUTPUT file as the runner reads it (key=value, and key<<DELIMITER blocks)."""
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[key] = "\n".join(body)
        elif line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


@pytest.fixture
def runner(tmp_path):
    import yaml

    (policy_text,), (workflow_text,) = _blocks("toml"), _blocks("yaml")
    workflow = yaml.safe_load(workflow_text)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "production.toml").write_text(policy_text)
    (repo / "train.py").write_text(TRAIN)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "gh").write_text(GH)
    (tools / "gh").chmod(0o755)
    home = tmp_path / "ci-registry"

    def run(event: str, ref: str, sha: str, accuracy: str, pr: int | None = None) -> tuple[int, Job]:
        context = {
            "github": {"sha": sha, "ref": ref, "event_name": event, "token": "ghs_test_token",
                       "event": {"pull_request": {"number": pr}} if pr else {}},
            "secrets": {"MLREG_HOME": str(home), "MLREG_DB_PASSWORD": ""},
            "vars": {"MLREG_STAGE": str(home / "stage")},
        }
        env = subprocess_env({
            "PATH": f"{tools}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_SHA": sha, "GITHUB_REF": ref,
            "GITHUB_EVENT_NAME": event, "GITHUB_REPOSITORY": "acme/iris", "GITHUB_RUN_ID": sha[:6],
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_JOB": "model", "GITHUB_WORKSPACE": str(repo),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"), "ACCURACY": accuracy,
            "MLREG_TEST_REPO": str(README.parent), "GH_LOG": str(tmp_path / "gh.log"),
        })
        for var in ("MLREG_HOME", "MLREG_STAGE", "MLREG_CONFIG_UNUSED"):
            env.pop(var, None)
        job = Job(repo, context)
        return run_workflow(repo, workflow, job, env), job

    run.home = home
    run.gh_log = tmp_path / "gh.log"
    return run


def _mlreg(home: Path, *args: str) -> str:
    env = subprocess_env({"MLREG_HOME": str(home), "MLREG_STAGE": str(home / "stage")})
    return subprocess.run([str(BIN / "mlreg"), *args], env=env, capture_output=True, text=True, check=True).stdout


def test_push_to_main_then_a_worse_pull_request_then_a_better_push(runner):
    # 1. the first push to main: logged, gated (no prod yet), promoted, card written
    code, job = runner("push", "refs/heads/main", "a" * 40, "0.90")
    assert code == 0, job.ran
    assert job.ran == ["mlreg create", "Train", "Log", "Gate", "Promote", "Model card"]
    assert job.outputs["log"]["version"] == "a" * 40 and len(job.outputs["log"]["id"]) == 32
    assert job.outputs["gate"]["passed"] == "true" and job.outputs["gate"]["failed"] == ""
    assert "### Gate passed: iris/" + "a" * 40 in job.summary
    assert (job.workdir / "MODEL_CARD.md").read_text().startswith("# iris " + "a" * 40)
    assert "| ci_provider | github-actions |" in (job.workdir / "MODEL_CARD.md").read_text()
    assert _mlreg(runner.home, "alias", "list", "iris", "--format", "csv").splitlines()[1] == f"PROD,{'a' * 40},false"

    # 2. a pull request with a worse model: the diff is commented, the gate fails, nothing moves
    code, job = runner("pull_request", "refs/pull/7/merge", "b" * 40, "0.85", pr=7)
    assert code == 7, job.ran
    assert job.ran[:4] == ["mlreg create", "Train", "Log", "Diff against production"]
    assert job.ran[4].startswith("Gate (exit 7: Gate failed: iris/" + "b" * 40)
    comment = runner.gh_log.read_text()
    assert comment.startswith("pr comment 7 --body-file diff.md\n### Diff iris/" + "a" * 40 + " → iris/" + "b" * 40)
    assert "| metric | accuracy | 0.9 | 0.85 | -0.05 |" in comment
    assert job.outputs["gate"]["passed"] == "false" and job.outputs["gate"]["failed"] == "no_worse"
    assert "### Gate failed" in job.summary
    assert _mlreg(runner.home, "alias", "list", "iris", "--format", "csv").splitlines()[1] == f"PROD,{'a' * 40},false"

    # 3. a better push to main: promoted over the previous holder
    code, job = runner("push", "refs/heads/main", "c" * 40, "0.95")
    assert code == 0, job.ran
    assert "Promote" in job.ran
    assert _mlreg(runner.home, "alias", "list", "iris", "--format", "csv").splitlines()[1] == f"PROD,{'c' * 40},false"
