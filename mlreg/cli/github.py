"""GitHub Actions outputs: ``--github-output`` appends ``key=value`` lines to the file
named by ``$GITHUB_OUTPUT``; ``--summary`` appends Markdown to ``$GITHUB_STEP_SUMMARY``.
Outside GitHub Actions (the variable unset) each is a no-op with a warning."""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Mapping

import typer

from mlreg.cli.output import Output

GithubOutputOpt = Annotated[bool, typer.Option(
    "--github-output", help="Append the key results (key=value) to the file named by $GITHUB_OUTPUT.")]
SummaryOpt = Annotated[bool, typer.Option(
    "--summary", help="Append the result as Markdown to the file named by $GITHUB_STEP_SUMMARY.")]


def _target(variable: str, option: str, out: Output) -> str | None:
    path = os.environ.get(variable)
    if not path:
        out.warning(f"{option}: ${variable} is not set (not running in GitHub Actions); nothing written")
        return None
    return path


def _line(key: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{key}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"  # GitHub's multi-line syntax
    return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(enabled: bool, values: Mapping[str, object], out: Output) -> None:
    if not enabled:
        return
    path = _target("GITHUB_OUTPUT", "--github-output", out)
    if path is None:
        return
    text = "".join(_line(k, _text(v)) for k, v in values.items())
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def write_summary(enabled: bool, markdown: str, out: Output) -> None:
    if not enabled:
        return
    path = _target("GITHUB_STEP_SUMMARY", "--summary", out)
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(markdown if markdown.endswith("\n") else markdown + "\n")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
