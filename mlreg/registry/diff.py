"""What differs between two model versions, section by section: description, tags,
metrics (with the delta of numbers), signatures, environment, requirements, files
(sha256 and size) and creation context. Pure: it compares two snapshots."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from mlreg.registry.snapshot import VersionSnapshot

SECTIONS = ("description", "tag", "metric", "signature", "environment", "requirements", "file", "context")


@dataclass(frozen=True)
class Change:
    """One difference: SECTION/KEY was ``a`` in the first version and is ``b`` in the
    second (None: absent there); ``delta`` is b - a when both are numbers."""

    section: str
    key: str
    a: Any
    b: Any
    delta: float | int | None = None


@dataclass(frozen=True)
class VersionDiff:
    a: str  # NAME/VERSION
    b: str
    a_id: str
    b_id: str
    changes: tuple[Change, ...]

    @property
    def identical(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "a_id": self.a_id, "b_id": self.b_id, "identical": self.identical,
                "changes": [{"section": c.section, "key": c.key, "a": c.a, "b": c.b, "delta": c.delta}
                            for c in self.changes]}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys (lists stay values): {"a": {"b": 1}} -> {"a.b": 1}."""
    if isinstance(value, Mapping) and not value and not prefix:
        return {}
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k in sorted(value):
            out.update(flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _delta(a: float, b: float) -> float | int:
    """b - a, without the noise of binary floating point (0.95 - 0.91 is 0.04)."""
    d = b - a
    return d if isinstance(d, int) else float(f"{d:.12g}")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, allow_nan=True) == json.dumps(b, sort_keys=True, allow_nan=True)


def _compare(section: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if key in a and key in b and _same(va, vb):
            continue
        delta = _delta(va, vb) if va is not None and vb is not None and _number(va) and _number(vb) else None
        out.append(Change(section, key, va, vb, delta))
    return out


def _files(s: VersionSnapshot) -> dict[str, Any]:
    sizes = s.sizes or {}
    return {path: {"sha256": sha, "size": sizes.get(path)} for path, sha in s.files.items()}


def _signatures(s: VersionSnapshot) -> dict[str, Any]:
    return {f"{method}.{part}": sig.get(part, []) for method, sig in s.signatures.items() for part in ("inputs", "outputs")}


def compare(a: VersionSnapshot, b: VersionSnapshot) -> VersionDiff:
    """Every difference between ``a`` and ``b``, in section order, keys sorted."""
    changes: list[Change] = []
    descriptions = ({"": a.description} if a.description is not None else {},
                    {"": b.description} if b.description is not None else {})
    changes += _compare("description", *descriptions)
    changes += _compare("tag", a.tags, b.tags)
    changes += _compare("metric", flatten(a.metrics), flatten(b.metrics))
    changes += _compare("signature", _signatures(a), _signatures(b))
    changes += _compare("environment", flatten(a.environment), flatten(b.environment))
    changes += _compare("requirements", a.requirements, b.requirements)
    changes += _compare("file", _files(a), _files(b))
    changes += _compare("context", flatten(a.context), flatten(b.context))
    return VersionDiff(a.ref, b.ref, a.id, b.id, tuple(changes))
