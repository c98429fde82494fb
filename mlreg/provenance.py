"""CREATION_CONTEXT (who, where, which commit, which CI run) and
CREATION_ENVIRONMENT_SPEC (Python, platform, package versions), and the comparison
of a recorded environment with the current one at load time."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from mlreg._version import __version__

_REQ_NAME = re.compile(r"^\s*(?:[A-Za-z0-9_.\-]+::)?([A-Za-z0-9][A-Za-z0-9_.\-]*)")


def requirement_name(spec: str) -> str | None:
    """The distribution name of a pip or conda requirement (``channel::pkg >=1``)."""
    m = _REQ_NAME.match(spec)
    return m.group(1) if m else None


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a broken distribution's metadata
        return None


def environment_spec(packages: Iterable[str]) -> dict[str, Any]:
    versions = {}
    for name in sorted(set(packages)):
        v = installed_version(name)
        if v is not None:
            versions[name] = v
    return {
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "mlreg": __version__,
        "packages": versions,
    }


def environment_differences(spec: Mapping[str, Any]) -> list[str]:
    """Each way the current environment differs from a recorded one that matters for
    loading: the Python minor version, and the version of each recorded package."""
    diffs = []
    recorded_py = str(spec.get("python", ""))
    current_py = platform.python_version()
    if recorded_py and recorded_py.split(".")[:2] != current_py.split(".")[:2]:
        diffs.append(f"python {recorded_py} recorded, {current_py} installed")
    for name, version in sorted((spec.get("packages") or {}).items()):
        now = installed_version(name)
        if now is None:
            diffs.append(f"{name} {version} recorded, not installed")
        elif now != version:
            diffs.append(f"{name} {version} recorded, {now} installed")
    return diffs


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_context(cwd: Path) -> dict[str, Any] | None:
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return None
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"commit": commit, "branch": branch, "dirty": bool(status)}


def ci_context(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The CI provider, job and run URL, from the variables each provider sets."""
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo, run = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
        return {
            "provider": "github-actions",
            "job": env.get("GITHUB_JOB"),
            "run_url": f"{server}/{repo}/actions/runs/{run}" if repo and run else None,
        }
    if env.get("GITLAB_CI") == "true":
        return {"provider": "gitlab-ci", "job": env.get("CI_JOB_NAME"), "run_url": env.get("CI_JOB_URL")}
    if env.get("CIRCLECI") == "true":
        return {"provider": "circleci", "job": env.get("CIRCLE_JOB"), "run_url": env.get("CIRCLE_BUILD_URL")}
    if env.get("JENKINS_URL"):
        return {"provider": "jenkins", "job": env.get("JOB_NAME"), "run_url": env.get("BUILD_URL")}
    if env.get("BUILDKITE") == "true":
        return {"provider": "buildkite", "job": env.get("BUILDKITE_LABEL"), "run_url": env.get("BUILDKITE_BUILD_URL")}
    if env.get("TF_BUILD") == "True":
        return {"provider": "azure-pipelines", "job": env.get("SYSTEM_JOBDISPLAYNAME"), "run_url": None}
    if env.get("CI", "").lower() in ("true", "1"):
        return {"provider": "unknown", "job": None, "run_url": None}
    return None


def creation_context(role: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    return {
        "user": role,
        "host": socket.gethostname(),
        "cwd": str(cwd),
        "git": git_context(cwd),
        "ci": ci_context(env),
    }
