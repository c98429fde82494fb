"""Check a package directory against the sha256 recorded in the registry."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlreg.errors import IntegrityError
from mlreg.stage.base import sha256_file


@dataclass
class Report:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def summary(self) -> str:
        parts = []
        for label, names in (("changed", self.changed), ("missing", self.missing), ("extra", self.extra)):
            if names:
                parts.append(f"{label}: {', '.join(names[:5])}" + (f" (+{len(names) - 5} more)" if len(names) > 5 else ""))
        return "; ".join(parts)


def compare(expected: dict[str, str], actual: dict[str, str]) -> Report:
    report = Report()
    for rel, digest in sorted(expected.items()):
        if rel not in actual:
            report.missing.append(rel)
        elif actual[rel] != digest:
            report.changed.append(rel)
    report.extra = sorted(set(actual) - set(expected))
    return report


def hash_dir(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = sha256_file(full)
    return out


def verify_dir(root: Path, expected: dict[str, str], what: str) -> None:
    """Raise IntegrityError unless every expected file is present and unchanged.
    Extra files are reported by `verify` but do not stop a load."""
    actual = {}
    for rel in expected:
        p = root / rel
        if p.is_file() and not p.is_symlink():
            actual[rel] = sha256_file(p)
    report = compare(expected, actual)
    report.extra = []
    if not report.ok:
        raise IntegrityError(
            f"model package of {what} failed its checksum check ({report.summary()}); "
            "it was changed after it was logged, refusing to load it"
        )
