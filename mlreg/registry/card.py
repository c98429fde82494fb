"""Model cards: a Markdown page about one model version, generated from the registry.

Stable: the same registry state gives the same bytes (no generation time, keys
sorted), so a card can be committed and diffed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from mlreg.registry.snapshot import VersionSnapshot

#: the tag a card's "Intended use" comes from (else the description's first paragraph)
INTENDED_USE_TAG = "intended_use"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif isinstance(value, datetime):
        text = _time(value)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def _time(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.isoformat(timespec="seconds")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _is_matrix(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and all(isinstance(r, list) and r for r in value)
            and len({len(r) for r in value}) == 1)


def _signature_rows(specs: list[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    keys = ["name", "type"] + sorted({k for s in specs for k in s} - {"name", "type"})
    return [k.upper() for k in keys], [[s.get(k) for k in keys] for s in specs]


def render(snapshot: VersionSnapshot, alias_history: Sequence[Mapping[str, Any]] = ()) -> str:
    """The Markdown card of a version. ``alias_history``: rows with ALIAS, FROM, TO
    (times; TO None while it holds the alias)."""
    s = snapshot
    lines = [f"# {s.name} {s.version}", ""]
    if s.description:
        lines += [s.description, ""]
    lines += ["## Intended use", ""]
    intended = s.tags.get(INTENDED_USE_TAG) or (s.description.split("\n\n")[0] if s.description else None)
    lines += [intended or f"Not stated (set the tag `{INTENDED_USE_TAG}` or a description).", ""]
    lines += ["## Model", ""] + table(["FIELD", "VALUE"], [
        ["ID", s.id], ["Type", s.type], ["Created", s.created], ["Created by", s.role]]) + [""]
    lines += ["## Signatures", ""]
    if not s.signatures:
        lines += ["None recorded.", ""]
    for method in sorted(s.signatures):
        for part in ("inputs", "outputs"):
            specs = s.signatures[method].get(part) or []
            lines += [f"### {method} {part}", ""]
            if specs:
                columns, rows = _signature_rows(specs)
                lines += table(columns, rows) + [""]
            else:
                lines += ["None.", ""]
    lines += ["## Metrics", ""]
    scalars = [[k, v] for k, v in sorted(s.metrics.items()) if not _is_matrix(v)]
    if scalars:
        lines += table(["METRIC", "VALUE"], scalars) + [""]
    for name, value in sorted(s.metrics.items()):
        if _is_matrix(value):
            lines += [f"### {name}", ""] + table([""] + [str(i) for i in range(len(value[0]))],
                                                 [[str(i)] + row for i, row in enumerate(value)]) + [""]
    if not s.metrics:
        lines += ["None recorded.", ""]
    lines += ["## Tags", ""]
    lines += (table(["TAG", "VALUE"], sorted(s.tags.items())) if s.tags else ["None."]) + [""]
    env = s.environment
    lines += ["## Environment", ""] + table(["FIELD", "VALUE"], [
        ["Python", env.get("python")], ["Platform", env.get("platform")], ["mlreg", env.get("mlreg")]]
        + [[f"package {k}", v] for k, v in sorted((env.get("packages") or {}).items())]
        + [["pip requirement", r] for r in s.requirements.get("pip", [])]
        + [["conda dependency", r] for r in s.requirements.get("conda", [])]) + [""]
    lineage = s.lineage()
    lines += ["## Lineage", ""]
    lines += (table(["FIELD", "VALUE"], [[k, lineage[k]] for k in sorted(lineage)]) if lineage
              else ["No git commit or CI run recorded."]) + [""]
    lines += ["## Alias history", ""]
    lines += (table(["ALIAS", "FROM", "TO"], [[r["ALIAS"], r["FROM"], r.get("TO") or "now"] for r in alias_history])
              if alias_history else ["This version has held no alias."]) + [""]
    lines += ["## Checksums", ""]
    sizes = s.sizes or {}
    lines += table(["FILE", "SHA256", "BYTES"], [[p, s.files[p], sizes.get(p)] for p in sorted(s.files)])
    return "\n".join(lines) + "\n"
