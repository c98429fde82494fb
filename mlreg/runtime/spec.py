"""What a process needs to load a model (:class:`PackageSpec`) and to call one of its
methods (:class:`ScoringSpec`), and nothing it must not see.

Both are plain values: they pickle (what a Spark executor receives) and, without the
stage options, convert to JSON (what a service's server process is given). The stage
options may hold credentials: they are left out of ``repr``, equality and ``to_json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

from mlreg.errors import InvalidInput
from mlreg.records import ModelRow

if TYPE_CHECKING:
    from mlreg.model_signature import ModelSignature


@dataclass(frozen=True)
class PackageSpec:
    """A model package on a stage, with the sha256 of each of its files (and their BLAKE3,
    for packages logged since it was recorded: what verification then checks)."""

    model_id: str
    model_name: str
    model_version: str
    model_type: str
    files: Mapping[str, str]  # every file of the package -> its sha256
    stage: str  # the stage URL; the package is ``<stage>/<database>/<package_id>``
    database: str
    package_id: str
    handler: Mapping[str, Any] = field(default_factory=dict)  # the handler's own manifest entry
    code_paths: tuple[str, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)  # as recorded when logged
    stage_options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    blake3: Mapping[str, str] = field(default_factory=dict)  # file -> BLAKE3-256 (empty for older packages)

    @classmethod
    def of(cls, row: ModelRow, stage: str, database: str,
           stage_options: Mapping[str, Any] | None = None) -> "PackageSpec":
        """The package of a registered version, on the registry's stage."""
        manifest = row.manifest
        return cls(
            model_id=row.id, model_name=row.name, model_version=row.version, model_type=row.type,
            files=dict(row.files), stage=stage, database=database, package_id=row.id,
            handler=dict(manifest.get("handler", {})), code_paths=tuple(manifest.get("code_paths", [])),
            environment=dict(manifest.get("environment", {})), stage_options=dict(stage_options or {}),
            blake3=dict(manifest.get("blake3", {})),
        )

    def relocated(self, stage: str, package_id: str) -> "PackageSpec":
        """The same package, copied elsewhere (a deployment's own copy)."""
        return replace(self, stage=stage, package_id=package_id)

    @property
    def label(self) -> str:
        return f"{self.model_name}/{self.model_version}"

    @property
    def location(self) -> str:
        return f"{self.stage.rstrip('/')}/{self.database}/{self.package_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "model_name": self.model_name, "model_version": self.model_version,
            "model_type": self.model_type, "files": dict(self.files), "stage": self.stage,
            "database": self.database, "package_id": self.package_id, "handler": dict(self.handler),
            "code_paths": list(self.code_paths), "environment": dict(self.environment),
            "blake3": dict(self.blake3),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], stage_options: Mapping[str, Any] | None = None) -> "PackageSpec":
        return cls(**{**doc, "code_paths": tuple(doc.get("code_paths", ())), "stage_options": dict(stage_options or {})})


@dataclass(frozen=True)
class ScoringSpec:
    """One target method of a package, as a deployment (or ``load_model``) calls it."""

    package: PackageSpec
    target_method: str
    signature: Mapping[str, Any]  # {"inputs": [...], "outputs": [...]}
    deployment: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # recorded options that affect scoring

    @classmethod
    def of(cls, row: ModelRow, target_method: str, package: PackageSpec, deployment: str | None = None,
           options: Mapping[str, Any] | None = None) -> "ScoringSpec":
        methods = row.manifest.get("target_methods", [])
        if target_method not in methods:
            raise InvalidInput(
                f"model {row.name}/{row.version} has no target method {target_method!r}; "
                f"it has: {', '.join(methods) or 'none'}"
            )
        signature = row.manifest.get("signatures", {}).get(target_method) or {}
        return cls(package, target_method, dict(signature), deployment, dict(options or {}))

    @property
    def label(self) -> str:
        """How messages name it: ``name/version`` (and the deployment)."""
        what = self.package.label
        return f"{what} (deployment {self.deployment})" if self.deployment else what

    def model_signature(self) -> "ModelSignature":
        from mlreg.model_signature import ModelSignature

        sig = self.signature
        if not sig or not sig.get("inputs") or not sig.get("outputs"):
            where = f"deployment {self.deployment}" if self.deployment else f"model {self.package.label}"
            raise InvalidInput(
                f"{where} has no signature for {self.target_method}; "
                "log the model with sample_input_data or signatures to deploy it"
            )
        return ModelSignature.from_dict(dict(sig))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict without the stage options (they may hold credentials)."""
        return {"package": self.package.to_json(), "target_method": self.target_method,
                "signature": dict(self.signature), "deployment": self.deployment, "options": dict(self.options)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], stage_options: Mapping[str, Any] | None = None) -> "ScoringSpec":
        return cls(PackageSpec.from_json(doc["package"], stage_options), doc["target_method"],
                   dict(doc.get("signature") or {}), doc.get("deployment"), dict(doc.get("options") or {}))
