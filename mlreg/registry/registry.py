"""The registry: the relational API of the seed (pass model_name and model_version)."""

from __future__ import annotations

import json
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import duckdb

from mlreg import _faults, jsonvalue
from mlreg.errors import AlreadyExists, InvalidInput, MlregError, NotFound
from mlreg.names import validate_key, validate_name, validate_tag_value
from mlreg.registry.deployments import DeploymentsMixin, _from_row, _SELECT
from mlreg.registry.maintenance import MaintenanceMixin, VerifyResult
from mlreg.registry.metadata import MetadataMixin
from mlreg.registry.rows import ModelRow
from mlreg.session import Session
from mlreg.stage import Stage, open_stage
from mlreg.store import Store, attributes

# Imported where used, so that listing and metadata commands never load the packaging,
# model-handler or environment code: mlreg.registry.logging, mlreg.handlers,
# mlreg.context, mlreg.package.verify.

__all__ = ["DEFAULT_DATABASE", "EnvironmentWarning", "ModelRegistry", "ModelRow", "VerifyResult"]

DEFAULT_DATABASE = "MODEL_REGISTRY"


class EnvironmentWarning(UserWarning):
    """The current environment differs from the one a model was logged in."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ModelRegistry(MetadataMixin, DeploymentsMixin, MaintenanceMixin):
    """A registry: one DuckDB file ``<home>/<database_name>.duckdb`` and its stage."""

    def __init__(
        self,
        session: Session,
        database_name: str | None = None,
        create_if_not_exists: bool = False,
        clock: Callable[[], datetime] | None = None,
    ):
        self._session = session
        self._database = validate_name(database_name or session.database, "database name")
        self._store = Store(session.registry_path(self._database))
        self._clock = clock or _now
        self._stage_cache: Stage | None = None
        if not self._store.exists():
            if create_if_not_exists:
                self._store.create_or_upgrade()
            else:
                raise NotFound(
                    f"registry {self._database} does not exist at {self._store.path}; create it with "
                    f"model_registry.create_model_registry(session, database_name={self._database!r}) or `mlreg create`"
                )

    # -- plumbing ------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self._session

    @property
    def database_name(self) -> str:
        return self._database

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def store(self) -> Store:
        return self._store

    @property
    def stage(self) -> Stage:
        if self._stage_cache is None:
            self._stage_cache = open_stage(self._session.stage, self._database, self._session.stage_options)
        return self._stage_cache

    def _model_row(self, con: duckdb.DuckDBPyConnection, model_name: str, model_version: str) -> ModelRow:
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        row = con.execute(
            "SELECT id, name, version, type, uri, manifest, files FROM models WHERE name = ? AND version = ?",
            [model_name, model_version],
        ).fetchone()
        if row is None:
            raise NotFound(f"The model {model_name}/{model_version} does not exist in the current registry.")
        return ModelRow(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]))

    def get_model(self, model_name: str, model_version: str) -> ModelRow:
        """The registry row of one model version (NotFound when absent)."""
        validate_name(model_name, "model name")  # before opening the file
        validate_name(model_version, "model version")
        with self._store.read() as con:
            return self._model_row(con, model_name, model_version)

    def exists(self, model_name: str, model_version: str) -> bool:
        """Whether that model version is registered."""
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        sql = "SELECT 1 FROM models WHERE name = ? AND version = ?"
        return bool(self._store.query(sql, [model_name, model_version]))

    def describe_model(self, model_name: str, model_version: str) -> dict[str, Any]:
        """The model's listing row (the columns of ``list_models``) plus its MANIFEST and
        FILES, in one read. Nothing is unpickled."""
        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        with self._store.read() as con:
            row = self._model_row(con, model_name, model_version)
            cur = con.execute("SELECT * FROM model_list WHERE ID = ?", [row.id])
            names = [d[0] for d in cur.description]
            record = dict(zip(names, cur.fetchall()[0]))
        record.update({"MANIFEST": row.manifest, "FILES": row.files})
        return record

    def _record(
        self,
        con: duckdb.DuckDBPyConnection,
        row: ModelRow,
        operation: str,
        attribute: str,
        key: str | None,
        old: str | None,
        new: str | None,
        values: dict[str, str] | None = None,
    ) -> None:
        """Append one event, and bring the current values up to date with it (``values``:
        the current values of that attribute, when the caller has read them)."""
        event_id = con.execute(
            "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
            [self._clock(), row.id, row.name, row.version, self._session.role, operation, attribute, key, old, new],
        ).fetchall()[0][0]
        attributes.apply(con, row.id, operation, attribute, key, new, event_id, values)

    # -- logging ---------------------------------------------------------------------------
    def log_model(
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
        """Serialize the model, publish its package to the stage and register it.

        All or nothing: a failure at any point leaves the model unregistered (at most an
        orphan package on the stage, which `gc` removes). Returns the new model's ID.
        """
        import uuid

        from mlreg.registry import logging as logpkg

        validate_name(model_name, "model name")
        validate_name(model_version, "model version")
        if description is not None and not isinstance(description, str):
            raise InvalidInput(f"description must be a string, not {type(description).__name__}")
        tag_values = {validate_key(k, "tag name"): validate_tag_value(v, k) for k, v in (tags or {}).items()}
        metric_values = {validate_key(k, "metric name"): jsonvalue.dumps(v) for k, v in (metrics or {}).items()}
        opts = logpkg.check_options(options)
        paths = logpkg.check_code_paths(code_paths)
        conda = logpkg.check_string_list(conda_dependencies, "conda_dependencies")
        pip = logpkg.check_string_list(pip_requirements, "pip_requirements")
        self.check_new_version(model_name, model_version)

        model_id = uuid.uuid4().hex
        stage = self.stage
        with self._inflight(model_id):
            workdir = stage.begin(model_id)
            try:
                built = logpkg.build_package(
                    root=workdir, model=model, model_id=model_id, model_name=model_name,
                    model_version=model_version, code_paths=paths, conda_dependencies=conda,
                    pip_requirements=pip, options=opts, sample_input_data=sample_input_data,
                    signatures=signatures,
                )
                stage.publish(model_id, workdir, built.files)
            except BaseException:
                stage.abort(model_id, workdir)
                raise
            _faults.checkpoint("log:commit")
            try:
                self._commit_log(model_id, model_name, model_version, built, description, tag_values, metric_values)
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
            return not self._store.query("SELECT 1 FROM models WHERE id = ?", [model_id])
        except Exception:
            return False

    def check_new_version(self, model_name: str, model_version: str, con: Any = None) -> None:
        """AlreadyExists (saying how to get the existing one) when the version is registered."""
        sql = "SELECT id FROM models WHERE name = ? AND version = ?"
        rows = (con.execute(sql, [model_name, model_version]).fetchall() if con is not None
                else self._store.query(sql, [model_name, model_version]))
        if rows:
            raise AlreadyExists(
                f"Model {model_name}/{model_version} already exists. Unable to log the model. "
                f"Get it with ModelReference(registry, model_name={model_name!r}, model_version={model_version!r}) "
                f"or `mlreg show {model_name} {model_version}`"
            )

    def _commit_log(self, model_id, model_name, model_version, built, description, tags, metrics) -> None:
        from mlreg import context

        role = self._session.role
        ctx = context.creation_context(role)
        sigs = built.manifest["signatures"]
        inputs = {m: s["inputs"] for m, s in sigs.items()}
        outputs = {m: s["outputs"] for m, s in sigs.items()}
        uri = self.stage.uri(model_id)
        with self._store.write() as con:
            self.check_new_version(model_name, model_version, con)
            con.execute(
                "INSERT INTO models (id, name, version, type, uri, creation_time, creation_role, creation_context,"
                " creation_environment_spec, input_spec, output_spec, manifest, files)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [model_id, model_name, model_version, built.type_name, uri, self._clock(), role,
                 json.dumps(ctx), json.dumps(built.environment), json.dumps(inputs), json.dumps(outputs),
                 json.dumps(built.manifest, allow_nan=True), json.dumps(built.files)],
            )
            # the registration and its description, tags and metrics: a handful of statements
            events = [("REGISTRATION", None, json.dumps({"type": built.type_name, "uri": uri}))]
            if description is not None:
                events.append(("DESCRIPTION", "", json.dumps(description)))
            events += [("TAG", k, json.dumps(v, ensure_ascii=False)) for k, v in tags.items()]
            events += [("METRIC", k, v) for k, v in metrics.items()]
            now = self._clock()
            placeholders = ", ".join(["(?, ?, ?, ?, ?, 'SET', ?, ?, NULL, ?)"] * len(events))
            values = [x for attribute, key, value in events
                      for x in (now, model_id, model_name, model_version, role, attribute, key, value)]
            ids = con.execute(
                "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
                f" attribute_name, key, old_value, new_value) VALUES {placeholders} RETURNING event_id, attribute_name, key",
                values,
            ).fetchall()
            event_ids = {(attribute, key): event_id for event_id, attribute, key in ids}
            attributes.register(con, model_id, [(a, k, v, event_ids[(a, k)]) for a, k, v in events[1:]])

    # -- listing and history ------------------------------------------------------------------
    def list_models(self) -> duckdb.DuckDBPyRelation:
        """Every model version, in registration order (oldest first), as a DuckDB relation
        over a private copy of the registry: it holds no lock."""
        return self._store.snapshot("SELECT * FROM model_list")

    @contextmanager
    def models_in_place(self) -> Iterator[duckdb.DuckDBPyRelation]:
        """``list_models()`` read in place for one with-block, without copying the registry:
        faster for a single query fetched inside the block (what the command line does).
        It holds a shared lock until the block ends; the relation is unusable after it."""
        with self._store.in_place("SELECT * FROM model_list") as rel:
            yield rel

    @contextmanager
    def history_in_place(self) -> Iterator[duckdb.DuckDBPyRelation]:
        """``get_history()`` read in place for one with-block (see :meth:`models_in_place`)."""
        with self._store.in_place("SELECT * FROM history ORDER BY EVENT_ID") as rel:
            yield rel

    def get_history(self) -> duckdb.DuckDBPyRelation:
        """Every change to the registry, in order, as a DuckDB relation."""
        return self._store.snapshot("SELECT * FROM history ORDER BY EVENT_ID")

    def get_model_history(self, model_name: str, model_version: str) -> duckdb.DuckDBPyRelation:
        """Every change to one model version, in order."""
        row = self.get_model(model_name, model_version)
        return self._store.snapshot("SELECT * FROM history WHERE MODEL_ID = ? ORDER BY EVENT_ID", [row.id])

    # -- loading --------------------------------------------------------------------------------
    def package_dir(self, model_name: str, model_version: str, keep: bool = False) -> tuple[ModelRow, Path]:
        """A local directory holding the model's package, verified against its checksums
        (``keep``: for a load that follows at once, which then unpickles the very bytes
        that were checked instead of reading the model file again)."""
        from mlreg.package.verify import verify_dir

        row = self.get_model(model_name, model_version)
        path = self.stage.local_dir(row.id, row.files)
        verify_dir(path, row.files, f"{model_name}/{model_version}", keep=keep)
        return row, path

    def load_model(self, model_name: str, model_version: str) -> Any:
        """Verify the package, put its code paths on sys.path, warn about environment
        differences, and return the original Python object. Unpickling runs code from the
        package: load models only from registries you trust."""
        from mlreg import context, handlers

        row, path = self.package_dir(model_name, model_version, keep=True)
        manifest = row.manifest
        code_root = str(path / "code")
        if manifest.get("code_paths") and code_root not in sys.path:
            sys.path.insert(0, code_root)
        diffs = context.environment_differences(manifest.get("environment", {}))
        if diffs:
            warnings.warn(
                f"model {model_name}/{model_version} was logged in a different environment: " + "; ".join(diffs),
                EnvironmentWarning,
                stacklevel=2,
            )
        return handlers.get_handler(row.type).load(path, manifest.get("handler", {}))

    # -- deleting and housekeeping ----------------------------------------------------------------
    def delete_model(self, model_name: str, model_version: str, delete_artifact: bool = True) -> None:
        """Remove the model's entry (its history stays) and its deployments, and delete its
        package from the stage unless ``delete_artifact=False``."""
        row = self.get_model(model_name, model_version)
        # stop what runs first (services, functions), then drop the records
        deps = [_from_row(r) for r in self._store.query(_SELECT + " WHERE model_id = ?", [row.id])]
        deps += [d for d in self._temporary().values() if d.model_id == row.id]
        for dep in deps:
            self._teardown(dep)
        _faults.checkpoint("delete:commit")
        with self._store.write() as con:
            row = self._model_row(con, model_name, model_version)
            deployments = con.execute("SELECT name FROM deployments WHERE model_id = ?", [row.id]).fetchall()
            for (name,) in deployments:
                self._record(con, row, "DROP", "DEPLOYMENT", name, None, None)
            con.execute("DELETE FROM deployments WHERE model_id = ?", [row.id])
            con.execute("DELETE FROM models WHERE id = ?", [row.id])
            self._record(con, row, "DROP", "DELETION", None,
                         json.dumps({"type": row.type, "uri": row.uri}), json.dumps({"delete_artifact": delete_artifact}))
        _faults.checkpoint("delete:stage")
        if delete_artifact:
            self.stage.delete(row.id)
