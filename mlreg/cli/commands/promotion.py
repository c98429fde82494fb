"""Promotion in CI: ``mlreg gate``, ``mlreg promote``, ``mlreg diff``, ``mlreg card``."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.github import GithubOutputOpt, SummaryOpt, write_outputs, write_summary
from mlreg.cli.params import NameArg, VersionArg

PANEL = "Promotion"


class ReportFormat(str, Enum):
    """The formats of a report (gate, diff)."""

    table = "table"
    json = "json"
    markdown = "markdown"


ReportFormatOpt = Annotated[ReportFormat, typer.Option(
    "--format", case_sensitive=False, help="Output format: table, json or markdown.")]
PolicyOpt = Annotated[Path, typer.Option(
    "--policy", "-p", metavar="FILE", show_default=False,
    help="Policy file (TOML): a [rules] table of name = \"expression\".")]
RefArg = Annotated[str, typer.Argument(
    metavar="NAME@VERSION", show_default=False, help="A model version: NAME@VERSION (or NAME/VERSION).")]


def _emit(text: str) -> None:
    import sys

    sys.stdout.write(text)


@funnel
def gate(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    policy: PolicyOpt,
    fmt: ReportFormatOpt = ReportFormat.table,
    github_output: GithubOutputOpt = False,
    summary: SummaryOpt = False,
) -> None:
    """Check a model version against a policy: every rule with the values it read and
    pass or FAIL.

    Exit 0 when every rule passes, 7 ("gate failed") when any fails. A rule that reads a
    missing value (a metric the version lacks, an alias no version holds) fails with
    that reason; a malformed rule exits 2 naming the rule and the column. Nothing is
    changed. --github-output writes passed, failed, name, version, id, policy and
    policy_sha256.
    """
    from mlreg.cli import reports

    state = get_state(ctx)
    report = state.registry().gate(name, version, policy)
    if fmt is ReportFormat.json:
        _emit(reports.json_text(report.to_dict()))
    elif fmt is ReportFormat.markdown:
        _emit(reports.gate_markdown(report))
    else:
        state.out.table(reports.gate_table(report), Format.table)
    write_outputs(github_output, reports.gate_outputs(report), state.out)
    write_summary(summary, reports.gate_markdown(report), state.out)
    state.out.message(reports.gate_verdict(report))
    if not report.passed:
        raise typer.Exit(7)


@funnel
def diff(
    ctx: typer.Context,
    a: RefArg,
    b: RefArg,
    fmt: ReportFormatOpt = ReportFormat.table,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit 1 when the versions differ (like git diff --exit-code).")] = False,
    github_output: GithubOutputOpt = False,
    summary: SummaryOpt = False,
) -> None:
    """Show what differs between two model versions (also of two models).

    Description, tags, metrics (with the delta of numbers; nested metrics by dotted
    keys), signatures, environment, requirements, files (sha256 and size) and creation
    context. One row per difference: SECTION, KEY, A, B, DELTA; nothing when they are
    the same. --github-output writes identical, changes, a and b.
    """
    from mlreg.cli import reports

    state = get_state(ctx)
    result = state.registry().diff(a, b)
    if fmt is ReportFormat.json:
        _emit(reports.json_text(result.to_dict()))
    elif fmt is ReportFormat.markdown:
        _emit(reports.diff_markdown(result))
    elif result.changes:
        state.out.table(reports.diff_table(result), Format.table)
    write_outputs(github_output, reports.diff_outputs(result), state.out)
    write_summary(summary, reports.diff_markdown(result), state.out)
    if result.identical:
        state.out.message(f"No differences between {result.a} and {result.b}")
    if exit_code and not result.identical:
        raise typer.Exit(1)


@funnel
def promote(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    to: Annotated[str, typer.Option("--to", metavar="ALIAS", show_default=False,
                                    help="The alias to move (case-insensitive; kept upper-cased).")],
    policy: Annotated[Optional[Path], typer.Option(
        "--policy", "-p", metavar="FILE",
        help="Policy file (TOML) the version must pass (besides the alias's stored policy, if protected).")] = None,
    expect: Annotated[Optional[str], typer.Option(
        "--expect", metavar="VERSION|none",
        help="Move only if the alias names VERSION now ('none': if no version holds it); else exit 4.")] = None,
    fmt: ReportFormatOpt = ReportFormat.table,
    github_output: GithubOutputOpt = False,
    summary: SummaryOpt = False,
) -> None:
    """Move an alias to a version after its policies pass, atomically.

    The policy given, and the one stored with a protected alias, are checked first (exit
    7, nothing moved, when a rule fails); then the alias moves in one transaction that
    checks it still names the version it named when the policies were checked (and
    --expect's): of two racing promotions one wins, the other exits 4 and changes
    nothing. The history records the move (who, when, previous holder) and the policies'
    names, sha256 and results. --github-output writes alias, version, previous and moved.
    """
    from mlreg.cli import reports
    from mlreg.registry.aliases import UNSET

    state = get_state(ctx)
    wanted = UNSET if expect is None else (None if expect.lower() == "none" else expect)
    result = state.registry().promote(name, version, to, policy=policy, expect=wanted)
    if fmt is ReportFormat.json:
        _emit(reports.json_text(result.to_dict()))
    elif fmt is ReportFormat.markdown:
        _emit(reports.promotion_markdown(result))
    write_outputs(github_output, reports.promotion_outputs(result), state.out)
    write_summary(summary, reports.promotion_markdown(result), state.out)
    state.out.message(reports.promotion_message(result))


@funnel
def card(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write the card to FILE instead of stdout.")] = None,
) -> None:
    """Write the Markdown model card of a version, generated from the registry.

    Description, intended use (the tag intended_use, else the description), signature
    tables, metrics (matrices as tables), tags, environment, lineage (git commit,
    branch, CI run URL), alias history and checksums. The same registry state gives the
    same bytes, so a card can be committed and diffed.
    """
    state = get_state(ctx)
    text = state.registry().model_card(name, version)
    if output is None:
        _emit(text)
        return
    output.write_text(text, encoding="utf-8")
    state.out.message(f"Wrote the model card of {name}/{version} to {output}")


def register(app: typer.Typer) -> None:
    app.command("gate", rich_help_panel=PANEL)(gate)
    app.command("promote", rich_help_panel=PANEL)(promote)
    app.command("diff", rich_help_panel=PANEL)(diff)
    app.command("card", rich_help_panel=PANEL)(card)
