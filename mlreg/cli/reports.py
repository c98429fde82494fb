"""Rendering of gate reports and diffs: table rows and Markdown (for --format markdown and
for GitHub's step summary). Pure functions of the core's results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlreg.cli.output import Table, dump_json, jsonable, markdown_table, text_cell

if TYPE_CHECKING:
    from mlreg.registry.diff import VersionDiff
    from mlreg.registry.gate import GateReport
    from mlreg.registry.promote import PromotionResult

GATE_COLUMNS = ["RULE", "RESULT", "VALUES", "REASON", "EXPRESSION"]
DIFF_COLUMNS = ["SECTION", "KEY", "A", "B", "DELTA"]


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'missing' if v is None else text_cell(jsonable(v))}" for k, v in values.items())


def gate_table(report: "GateReport") -> Table:
    return Table(list(GATE_COLUMNS), [
        (r.name, "pass" if r.passed else "FAIL", _values(r.values), r.reason or "", r.expression)
        for r in report.rules])


def gate_verdict(report: "GateReport") -> str:
    total, failed = len(report.rules), report.failed
    if not failed:
        return f"Gate passed: {report.model_name}/{report.model_version}, {total} of {total} rules of policy {report.policy}"
    return (f"Gate failed: {report.model_name}/{report.model_version}, {len(failed)} of {total} rules of policy "
            f"{report.policy} failed: {', '.join(failed)}")


def gate_markdown(report: "GateReport") -> str:
    verdict = "passed" if report.passed else "failed"
    lines = [f"### Gate {verdict}: {report.model_name}/{report.model_version}", "",
             f"Policy `{report.policy}` (sha256 `{report.policy_sha256[:12]}`): "
             f"{len(report.rules) - len(report.failed)} of {len(report.rules)} rules pass.", ""]
    table = gate_table(report)
    lines += markdown_table(table.columns, [[str(c) for c in row] for row in table.rows])
    return "\n".join(lines) + "\n"


def gate_outputs(report: "GateReport") -> dict[str, object]:
    return {"passed": report.passed, "failed": ",".join(report.failed), "name": report.model_name,
            "version": report.model_version, "id": report.model_id, "policy": report.policy,
            "policy_sha256": report.policy_sha256}


def _cell(section: str, value: Any) -> Any:
    if section == "file" and isinstance(value, dict):
        size = value.get("size")
        return f"{value.get('sha256')}" + (f" ({size} bytes)" if size is not None else "")
    return value


def diff_table(diff: "VersionDiff") -> Table:
    rows = [(c.section, c.key, _text(_cell(c.section, c.a)), _text(_cell(c.section, c.b)),
             "" if c.delta is None else text_cell(c.delta)) for c in diff.changes]
    return Table(list(DIFF_COLUMNS), rows)


def _text(value: Any) -> str:
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else text_cell(jsonable(value))


def diff_markdown(diff: "VersionDiff") -> str:
    lines = [f"### Diff {diff.a} → {diff.b}", ""]
    if diff.identical:
        return "\n".join(lines + ["No differences.", ""])
    lines.append(f"{len(diff.changes)} difference{'s' if len(diff.changes) != 1 else ''}.")
    lines.append("")
    table = diff_table(diff)
    lines += markdown_table(table.columns, [[str(c) for c in row] for row in table.rows])
    return "\n".join(lines) + "\n"


def diff_outputs(diff: "VersionDiff") -> dict[str, object]:
    return {"identical": diff.identical, "changes": len(diff.changes), "a": diff.a, "b": diff.b}


def json_text(value: Any) -> str:
    return dump_json(jsonable(value), indent=2) + "\n"


def promotion_message(result: "PromotionResult") -> str:
    target = f"{result.model_name}/{result.version} to {result.alias}"
    if not result.moved:
        return f"{result.alias} of {result.model_name} already names version {result.version}; nothing changed"
    was = "no version held it" if result.previous is None else f"it named version {result.previous}"
    return f"Promoted {target} ({was})"


def promotion_markdown(result: "PromotionResult") -> str:
    lines = [f"### Promoted {result.model_name}/{result.version} to {result.alias}" if result.moved else
             f"### {result.alias} of {result.model_name} already names {result.version}", "",
             f"Previous holder: {result.previous or 'none'}.", ""]
    for report in result.reports:
        lines.append(f"Policy `{report.policy}` (sha256 `{report.policy_sha256[:12]}`): "
                     f"{len(report.rules)} of {len(report.rules)} rules pass.")
    return "\n".join(lines).rstrip("\n") + "\n"


def promotion_outputs(result: "PromotionResult") -> dict[str, object]:
    return {"alias": result.alias, "version": result.version, "previous": result.previous or "",
            "moved": result.moved, "name": result.model_name}
