"""Deployments, relational form: deploy, predict, list, get, delete.

The registry owns names, records and history; the platform backend
(``mlreg.deploy.<platform>``) owns everything that runs. Temporary deployments live
only in this process and vanish when it exits.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

import duckdb

from mlreg.deploy.base import Deployment, get_backend, platform_of
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists, InvalidInput, NotFound
from mlreg.names import validate_name

if TYPE_CHECKING:
    pass

# (registry path, deployment name) -> Deployment, for temporary deployments
_TEMPORARY: dict[tuple[str, str], Deployment] = {}

DEPLOYMENT_COLUMNS = (
    "NAME", "MODEL_ID", "MODEL_NAME", "MODEL_VERSION", "PLATFORM", "TARGET_METHOD",
    "SIGNATURE", "OPTIONS", "DETAILS", "CREATED_TIME", "ROLE", "PERMANENT", "STATUS",
)


def _from_row(r: tuple) -> Deployment:
    return Deployment(
        name=r[0], model_id=r[1], model_name=r[2], model_version=r[3],
        platform=TargetPlatform(r[4]), target_method=r[5],
        signature=json.loads(r[6]) if r[6] else {}, options=json.loads(r[7]) if r[7] else {},
        details=json.loads(r[8]) if r[8] else {}, created_time=r[9], role=r[10], permanent=True,
    )


_SELECT = ("SELECT name, model_id, model_name, model_version, platform, target_method, signature,"
           " options, details, created_time, role FROM deployments")


class DeploymentsMixin:
    """Relies on ``_store``, ``_model_row``, ``_record``, ``_clock``, ``_session`` of the registry."""

    # -- lookup ------------------------------------------------------------------------------
    def _temporary(self) -> dict[str, Deployment]:
        prefix = str(self._store.path)
        return {name: d for (path, name), d in _TEMPORARY.items() if path == prefix}

    def find_deployment(self, deployment_name: str) -> Deployment:
        """The deployment of that name in this registry (temporary or permanent)."""
        validate_name(deployment_name, "deployment name")
        temp = self._temporary().get(deployment_name)
        if temp is not None:
            return temp
        rows = self._store.query(_SELECT + " WHERE name = ?", [deployment_name])
        if not rows:
            known = sorted(set(self._temporary()) | {r[0] for r in self._store.query("SELECT name FROM deployments")})
            raise NotFound(
                f"deployment {deployment_name} does not exist in this registry; "
                + (f"deployments: {', '.join(known)}" if known else "it has no deployments")
            )
        return _from_row(rows[0])

    def _deployment_of(self, model_name: str, model_version: str, deployment_name: str) -> Deployment:
        dep = self.find_deployment(deployment_name)
        if (dep.model_name, dep.model_version) != (model_name, model_version):
            raise NotFound(
                f"deployment {deployment_name} is of model {dep.model_name}/{dep.model_version}, "
                f"not {model_name}/{model_version}"
            )
        return dep

    # -- the seed's methods ----------------------------------------------------------------------
    def deploy(
        self,
        model_name: str,
        model_version: str,
        deployment_name: str,
        target_method: str = "predict",
        permanent: bool = False,
        platform: TargetPlatform | str = TargetPlatform.WAREHOUSE,
        options: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Deploy the model's ``target_method`` under ``deployment_name`` (unique in the
        registry). SERVICE deployments are always permanent."""
        validate_name(deployment_name, "deployment name")
        plat = platform_of(platform)
        if plat is TargetPlatform.SERVICE:
            permanent = True
        opts = dict(options or {})
        if not isinstance(options or {}, Mapping):
            raise InvalidInput("options must be a mapping of option name to value")
        backend = get_backend(plat)
        recorded, secrets = backend.check_options(opts)
        row = self.get_model(model_name, model_version)
        methods = row.manifest.get("target_methods", [])
        if target_method not in methods:
            raise InvalidInput(
                f"model {model_name}/{model_version} has no target method {target_method!r}; it has: {', '.join(methods)}"
            )
        replace = bool(opts.get("replace_udf") or opts.get("replace"))
        existing = None
        try:
            existing = self.find_deployment(deployment_name)
        except NotFound:
            pass
        if existing is not None and not replace:
            raise AlreadyExists(
                f"deployment {deployment_name} already exists (of {existing.model_name}/{existing.model_version}); "
                "pass options={'replace_udf': True} to replace it, or delete it first"
            )
        dep = Deployment(
            name=deployment_name, model_id=row.id, model_name=model_name, model_version=model_version,
            platform=plat, target_method=target_method,
            signature=row.manifest.get("signatures", {}).get(target_method, {}),
            options=recorded, created_time=self._clock(), role=self._session.role, permanent=permanent,
        )
        if existing is not None:
            self._teardown(existing)
        dep.details = backend.create(self, row, dep, secrets) or {}
        if not permanent:
            _TEMPORARY[(str(self._store.path), deployment_name)] = dep
            return dep
        try:
            with self._store.write() as con:
                model = self._model_row(con, model_name, model_version)
                con.execute("DELETE FROM deployments WHERE name = ?", [deployment_name])
                con.execute(
                    "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [dep.name, dep.model_id, dep.model_name, dep.model_version, plat.value, target_method,
                     json.dumps(dep.signature), json.dumps(recorded), json.dumps(dep.details),
                     dep.created_time, dep.role],
                )
                value = {"platform": plat.value, "target_method": target_method, "options": recorded}
                self._record(con, model, "SET", "DEPLOYMENT", deployment_name, None, json.dumps(value))
        except BaseException:
            backend.delete(self, dep)
            raise
        return dep

    def predict(self, model_name: str, model_version: str, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with the deployment; returns the same kind of frame as given."""
        dep = self._deployment_of(model_name, model_version, deployment_name)
        return get_backend(dep.platform).predict(self, dep, data)

    def predict_deployment(self, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with a deployment found by name alone (what `mlreg predict` uses)."""
        dep = self.find_deployment(deployment_name)
        return get_backend(dep.platform).predict(self, dep, data)

    def list_deployments(self, model_name: str | None = None, model_version: str | None = None) -> duckdb.DuckDBPyRelation:
        """Deployments (of one model version, or all), with their status, as a relation."""
        if model_name is not None and model_version is not None:
            row = self.get_model(model_name, model_version)
            perm = [_from_row(r) for r in self._store.query(_SELECT + " WHERE model_id = ? ORDER BY name", [row.id])]
            temps = [d for d in self._temporary().values() if d.model_id == row.id]
        else:
            perm = [_from_row(r) for r in self._store.query(_SELECT + " ORDER BY name")]
            temps = list(self._temporary().values())
        return self._relation(sorted(perm + temps, key=lambda d: d.name))

    def get_deployment(self, model_name: str, model_version: str, deployment_name: str) -> duckdb.DuckDBPyRelation:
        """One deployment as a one-row relation."""
        return self._relation([self._deployment_of(model_name, model_version, deployment_name)])

    def delete_deployment(self, model_name: str, model_version: str, deployment_name: str) -> None:
        """Tear the deployment down and remove it from the registry."""
        self._delete(self._deployment_of(model_name, model_version, deployment_name))

    def delete_deployment_by_name(self, deployment_name: str) -> None:
        self._delete(self.find_deployment(deployment_name))

    # -- internals --------------------------------------------------------------------------------
    def _teardown(self, dep: Deployment) -> None:
        get_backend(dep.platform).delete(self, dep)
        _TEMPORARY.pop((str(self._store.path), dep.name), None)

    def _delete(self, dep: Deployment) -> None:
        self._teardown(dep)
        if not dep.permanent:
            return
        with self._store.write() as con:
            con.execute("DELETE FROM deployments WHERE name = ?", [dep.name])
            model = con.execute("SELECT 1 FROM models WHERE id = ?", [dep.model_id]).fetchone()
            if model is not None:
                row = self._model_row(con, dep.model_name, dep.model_version)
                old = {"platform": dep.platform.value, "target_method": dep.target_method, "options": dep.options}
                self._record(con, row, "DROP", "DEPLOYMENT", dep.name, json.dumps(old), None)

    def _relation(self, deps: list[Deployment]) -> duckdb.DuckDBPyRelation:
        mem = duckdb.connect(":memory:")
        mem.execute(
            "CREATE TABLE deployments (NAME VARCHAR, MODEL_ID VARCHAR, MODEL_NAME VARCHAR, MODEL_VERSION VARCHAR,"
            " PLATFORM VARCHAR, TARGET_METHOD VARCHAR, SIGNATURE JSON, OPTIONS JSON, DETAILS JSON,"
            " CREATED_TIME TIMESTAMPTZ, ROLE VARCHAR, PERMANENT BOOLEAN, STATUS VARCHAR)"
        )
        for d in deps:
            status = get_backend(d.platform).status(d)
            mem.execute(
                "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [d.name, d.model_id, d.model_name, d.model_version, d.platform.value, d.target_method,
                 json.dumps(d.signature), json.dumps(d.options), json.dumps(d.details),
                 d.created_time, d.role, d.permanent, status],
            )
        return mem.table("deployments")
