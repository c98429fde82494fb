"""One model version's fields, read once, as plain values: what a policy checks, what
``diff`` compares and what a model card shows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from mlreg import jsonvalue
from mlreg.records import DESCRIPTION, METRIC, TAG


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return jsonvalue.loads(value)
    return value if value is not None else {}


@dataclass(frozen=True)
class VersionSnapshot:
    """Everything recorded about one model version (at one moment)."""

    id: str
    name: str
    version: str
    type: str
    created: datetime | None
    role: str
    description: str | None
    tags: dict[str, str]
    metrics: dict[str, Any]
    signatures: dict[str, Any]  # method -> {"inputs": [...], "outputs": [...]}
    environment: dict[str, Any]
    requirements: dict[str, list[str]]  # {"pip": [...], "conda": [...]}
    context: dict[str, Any]
    files: dict[str, str]  # path -> sha256
    #: path -> size in bytes, when the package was read (None: not read, or deleted)
    sizes: dict[str, int] | None = field(default=None)
    deleted: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> "VersionSnapshot":
        """From ``describe_model``'s record (the listing row, MANIFEST and FILES)."""
        manifest = record.get("MANIFEST") or {}
        signatures = manifest.get("signatures")
        if not signatures:
            inputs, outputs = _json(record.get("INPUT_SPEC")), _json(record.get("OUTPUT_SPEC"))
            signatures = {m: {"inputs": inputs.get(m, []), "outputs": outputs.get(m, [])}
                          for m in sorted(set(inputs) | set(outputs))}
        return cls(
            id=record["ID"], name=record["NAME"], version=record["VERSION"], type=record.get("TYPE") or "",
            created=record.get("CREATION_TIME"), role=record.get("CREATION_ROLE") or "",
            description=record.get("DESCRIPTION"),
            tags=dict(_json(record.get("TAGS"))), metrics=dict(_json(record.get("METRICS"))),
            signatures=signatures, environment=dict(_json(record.get("CREATION_ENVIRONMENT_SPEC"))),
            requirements={"pip": list(manifest.get("pip_requirements") or []),
                          "conda": list(manifest.get("conda_dependencies") or [])},
            context=dict(_json(record.get("CREATION_CONTEXT"))), files=dict(record.get("FILES") or {}),
        )

    @classmethod
    def from_attributes(cls, base: "VersionSnapshot", values: Mapping[str, Mapping[str, str]],
                        deleted: bool = False) -> "VersionSnapshot":
        """``base`` with the description, tags and metrics of ``values`` (attribute ->
        key -> JSON text), e.g. as they were at some moment."""
        description = values.get(DESCRIPTION, {}).get("")
        return cls(
            id=base.id, name=base.name, version=base.version, type=base.type, created=base.created, role=base.role,
            description=json.loads(description) if description is not None else None,
            tags={k: json.loads(v) for k, v in sorted(values.get(TAG, {}).items())},
            metrics={k: jsonvalue.loads(v) for k, v in sorted(values.get(METRIC, {}).items())},
            signatures=base.signatures, environment=base.environment, requirements=base.requirements,
            context=base.context, files=base.files, sizes=base.sizes, deleted=deleted,
        )

    def with_sizes(self, sizes: dict[str, int]) -> "VersionSnapshot":
        from dataclasses import replace

        return replace(self, sizes=sizes)

    def fields(self) -> dict[str, Any]:
        """The fields a policy rule reads (except age, verified and alias: see gate)."""
        return {
            "id": self.id, "name": self.name, "version": self.version, "type": self.type, "role": self.role,
            "created": self.created.isoformat() if self.created else None,
            "description": self.description, "tag": self.tags, "metric": self.metrics,
            "signature": self.signatures, "environment": self.environment, "requirements": self.requirements,
            "context": self.lineage() | self.context, "files": self.files,
        }

    def lineage(self) -> dict[str, Any]:
        """The creation context's git and CI facts as flat keys: git_commit, git_branch,
        git_dirty, ci_provider, ci_job, ci_run_url (those recorded)."""
        out: dict[str, Any] = {}
        for group in ("git", "ci"):
            values = self.context.get(group)
            if isinstance(values, dict):
                for key, value in values.items():
                    if value is not None:
                        out[f"{group}_{key}"] = value
        return out
