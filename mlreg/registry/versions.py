"""Model versions: log (package, publish, register), look up, list, history, load, delete."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlreg import _faults, jsonvalue
from mlreg.errors import AlreadyExists, InvalidInput, MlregError
from mlreg.names import validate_key, validate_name, validate_tag_value, validate_text
from mlreg.records import DESCRIPTION, METRIC, REGISTRATION, SET, TAG, Change, ModelRow, NewVersion
from mlreg.registry.aliases import user_aliases
from mlreg.registry.core import RegistryCore
from mlreg.store import VersionFilter

if TYPE_CHECKING:
    from mlreg.store.base import Relation, TextRows

    from mlreg.registry.deployments import Deployments
    from mlreg.registry.packaging import BuiltPackage

# Imported where used, so that listing and metadata commands never load the packaging,
# model-handler or environment code: mlreg.registry.packaging, mlreg.provenance,
# mlreg.runtime.loading.


def duplicate(model_name: str, model_version: str) -> AlreadyExists:
    """The error for a version that is registered already, saying how to get it."""
    return AlreadyExists(
        f"Model {model_name}/{model_version} already exists. Unable to log the model. "
        f"Get it with ModelReference(registry, model_name={model_name!r}, model_version={model_version!r}) "
        f"or `mlreg show {model_name} {model_version}`"
    )


class Versions:
    """The model versions of a registry."""

    def __init__(self, core: RegistryCore, deployments: "Callable[[], Deployments]"):
        self._core = core
        self._deployments = deployments

    # -- looking up -----------------------------------------------------------------------
    def get(self, model_name: str, model_version: str) -> ModelRow:
        return self._core.resolve(model_name, model_version)

    def exists(self, model_name: str, model_version: str) -> bool:
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        with self._core.read() as reader:
            return reader.version(model_name, model_version) is not None

    def check_new(self, model_name: str, model_version: str) -> None:
        """AlreadyExists (saying how to get the existing one) when the version is registered."""
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        with self._core.read() as reader:
            if reader.version(model_name, model_version) is not None:
                raise duplicate(model_name, model_version)
            info = reader.model(model_name)
        if info is not None and model_version.upper() in user_aliases(info):
            raise InvalidInput(f"{model_version} is an alias of model {model_name}; a version may not be named "
                               "like an alias: choose another version name, or unset the alias first")

    def describe(self, model_name: str, model_version: str) -> dict[str, Any]:
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        with self._core.read() as reader:
            row = self._core.row(reader, model_name, model_version)
            record = reader.listing_row(row.id)
        record.update({"MANIFEST": row.manifest, "FILES": row.files})
        return record

    # -- listing and history ------------------------------------------------------------------
    def list(self) -> "Relation":
        return self._core.store.list_versions()

    def history(self, model_name: str | None = None, model_version: str | None = None) -> "Relation":
        if model_name is None or model_version is None:
            return self._core.store.history()
        return self._core.store.history(self.get(model_name, model_version).id)

    def scan(self, name: str | None = None, tags: Mapping[str, str] | None = None) -> AbstractContextManager["Relation"]:
        """The versions (of that name, with those tag values) read in place for one query
        fetched inside the with-block: no copy, filtered by the store."""
        return self._core.store.scan_versions(VersionFilter(name=name, tags=dict(tags or {})))

    def listing_text(self, name: str | None, tags: Mapping[str, str] | None, columns: Sequence[str],
                     limit: int | None) -> "TextRows":
        """The ``columns`` of the versions (of that name, with those tag values) as text,
        in one query, as a scan fetched for printing gives them (see
        ``MetadataStore.listing_text``)."""
        return self._core.store.listing_text(VersionFilter(name=name, tags=dict(tags or {})), columns, limit)

    def scan_history(self) -> AbstractContextManager["Relation"]:
        """Every event read in place for one query fetched inside the with-block."""
        return self._core.store.scan_history()

    # -- logging ----------------------------------------------------------------------------------
    def log(
        self,
        model: Any,
        model_name: str,
        model_version: str,
        code_paths: Sequence[str | Path] | None = None,
        conda_dependencies: Sequence[str] | None = None,
        description: str | None = None,
        options: Mapping[str, Any] | None = None,
        pip_requirements: Sequence[str] | None = None,
        sample_input_data: Any = None,
        signatures: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> str:
        import uuid

        from mlreg.registry import packaging

        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        if description is not None:
            validate_text(description, "description")
        tag_values = {validate_key(k, "tag name"): validate_tag_value(v, k) for k, v in (tags or {}).items()}
        metric_values = {validate_key(k, "metric name"): jsonvalue.dumps(v) for k, v in (metrics or {}).items()}
        opts = packaging.check_options(options)
        paths = packaging.check_code_paths(code_paths)
        conda = packaging.check_string_list(conda_dependencies, "conda_dependencies")
        pip = packaging.check_pip_requirements(pip_requirements)
        self.check_new(model_name, model_version)

        model_id = uuid.uuid4().hex
        stage = self._core.stage
        registry_id = self._core.store.registry_id()
        with self._core.store.inflight(model_id):
            workdir = stage.begin(model_id, owner=registry_id)
            try:
                built = packaging.build_package(
                    root=workdir, model=model, model_id=model_id, model_name=model_name,
                    model_version=model_version, code_paths=paths, conda_dependencies=conda,
                    pip_requirements=pip, options=opts, sample_input_data=sample_input_data,
                    signatures=signatures, registry_id=registry_id,
                )
                stage.publish(model_id, workdir, built.files)
            except BaseException:
                stage.abort(model_id, workdir)
                raise
            _faults.checkpoint("log:commit")
            try:
                self._register(model_id, model_name, model_version, built, description, tag_values, metric_values)
            except BaseException as exc:
                # An MlregError from the store means the transaction did not commit. Anything
                # else (an interrupt, a failing close) may come after the COMMIT: then delete
                # the package only when it is certainly not registered; in doubt leave it,
                # `gc` removes it if it is an orphan.
                if isinstance(exc, MlregError) or self._certainly_unregistered(model_id):
                    stage.delete(model_id)
                raise
        return model_id

    def _certainly_unregistered(self, model_id: str) -> bool:
        try:
            with self._core.read() as reader:
                return model_id not in reader.version_ids()
        except Exception:  # noqa: BLE001 - in doubt, the package stays (gc removes an orphan)
            return False

    def _register(self, model_id: str, model_name: str, model_version: str, built: "BuiltPackage",
                  description: str | None, tags: dict[str, str], metrics: dict[str, str]) -> None:
        from mlreg import provenance

        role = self._core.session.role
        sigs = built.manifest["signatures"]
        uri = self._core.stage.uri(model_id)
        version = NewVersion(
            id=model_id, name=model_name, version=model_version, type=built.type_name, uri=uri,
            creation_time=self._core.clock(), creation_role=role,
            creation_context=provenance.creation_context(role), environment=built.environment,
            input_spec={m: s["inputs"] for m, s in sigs.items()},
            output_spec={m: s["outputs"] for m, s in sigs.items()},
            manifest=built.manifest, files=built.files,
        )
        changes = [Change(SET, REGISTRATION, None, None, json.dumps({"type": built.type_name, "uri": uri}))]
        if description is not None:
            changes.append(Change(SET, DESCRIPTION, "", None, json.dumps(description)))
        changes += [Change(SET, TAG, k, None, json.dumps(v, ensure_ascii=False)) for k, v in tags.items()]
        changes += [Change(SET, METRIC, k, None, v) for k, v in metrics.items()]
        with self._core.write() as writer:
            try:
                writer.register(version, changes)
            except AlreadyExists:  # registered by another process since we looked
                raise duplicate(model_name, model_version) from None

    # -- loading and deleting ---------------------------------------------------------------------
    def load(self, model_name: str, model_version: str) -> Any:
        from mlreg.runtime import loading

        row = self.get(model_name, model_version)
        return loading.load(self._core.package(row))

    def delete(self, model_name: str, model_version: str, delete_artifact: bool = True) -> None:
        row = self.get(model_name, model_version)
        self._deployments().teardown_model(row.id)  # stop what runs first (services, functions)
        _faults.checkpoint("delete:commit")
        with self._core.write() as writer:
            row = self._core.row(writer, model_name, model_version)
            writer.delete_version(row, delete_artifact)
        _faults.checkpoint("delete:stage")
        if delete_artifact:
            self._core.stage.delete(row.id)
