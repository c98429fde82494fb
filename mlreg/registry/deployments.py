"""Deployments, relational form: deploy, predict, list, get, delete.

The registry owns names, records and history; the platform backend
(``mlreg.deploy.<platform>``) owns everything that runs. Temporary deployments live
only in this process and vanish when it exits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Mapping

import duckdb

from mlreg.deploy.base import Deployment, get_backend, platform_of
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists, InvalidInput, NotFound
from mlreg.names import validate_name

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
        registry). WAREHOUSE: a DuckDB SQL function (temporary unless ``permanent``);
        SERVICE: an HTTP server, always permanent. A permanent deployment, and each of its
        options, is recorded in the history."""
        validate_name(deployment_name, "deployment name")
        plat = platform_of(platform)
        if not isinstance(permanent, bool):
            raise InvalidInput(f"permanent must be True or False, not {permanent!r}")
        if plat is TargetPlatform.SERVICE:
            permanent = True
        if options is not None and not isinstance(options, Mapping):
            raise InvalidInput("options must be a mapping of option name to value")
        opts = dict(options or {})
        backend = get_backend(plat)
        recorded, secrets = backend.check_options(opts)
        replace = _flag("replace_udf", opts.get("replace_udf", opts.get("replace", False)))
        row = self.get_model(model_name, model_version)
        methods = row.manifest.get("target_methods", [])
        if target_method not in methods:
            raise InvalidInput(
                f"model {model_name}/{model_version} has no target method {target_method!r}; it has: {', '.join(methods)}"
            )
        if plat is TargetPlatform.WAREHOUSE:
            self._check_function_name(deployment_name)
        existing = self._find_or_none(deployment_name)
        if existing is not None and not replace:
            raise _exists(existing)
        dep = Deployment(
            name=deployment_name, model_id=row.id, model_name=model_name, model_version=model_version,
            platform=plat, target_method=target_method,
            signature=row.manifest.get("signatures", {}).get(target_method, {}),
            options=recorded, created_time=self._clock(), role=self._session.role, permanent=permanent,
        )
        # a warehouse function holds nothing exclusive: build the new one before dropping
        # the old, so a failed replacement leaves the old one working. A service may hold
        # a port the new one needs, so it goes first.
        swap_after = existing is not None and existing.platform is plat is TargetPlatform.WAREHOUSE
        if existing is not None and not swap_after:
            self._teardown(existing)
        dep.details = backend.create(self, row, dep, secrets) or {}
        try:
            if permanent or (existing is not None and existing.permanent):
                self._commit_deployment(dep, replace, permanent)
        except BaseException:
            backend.delete(self, dep)
            raise
        if swap_after:
            self._teardown(existing)  # type: ignore[arg-type]
        key = (str(self._store.path), deployment_name)
        if permanent:
            _TEMPORARY.pop(key, None)
        else:
            _TEMPORARY[key] = dep
        return dep

    def predict(self, model_name: str, model_version: str, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with the deployment. ``data`` is a pandas DataFrame, a pyarrow
        Table, a DuckDB relation or the path of a Parquet/CSV/JSON file; the result is the
        same kind of frame (a relation for a path), one row per input row."""
        dep = self._deployment_of(model_name, model_version, deployment_name)
        return get_backend(dep.platform).predict(self, dep, data)

    def predict_deployment(self, deployment_name: str, data: Any) -> Any:
        """Score ``data`` with a deployment found by name alone."""
        dep = self.find_deployment(deployment_name)
        return get_backend(dep.platform).predict(self, dep, data)

    def predict_file(
        self,
        deployment_name: str,
        source: str | Path,
        output: str | Path | None = None,
        input_stream: IO[bytes] | None = None,
        output_format: str | None = None,
    ) -> Any:
        """Score a Parquet/CSV/JSON file (``"-"``: ``input_stream``, format sniffed).
        With ``output``, write the predictions there (format by extension unless
        ``output_format``), all or nothing, and return the number of rows; without,
        return them as a relation. What `mlreg predict` uses."""
        from mlreg.deploy import frames

        dep = self.find_deployment(deployment_name)
        if str(source) == "-":
            if input_stream is None:
                raise InvalidInput("input '-' needs an input stream")
            with frames.spooled(input_stream) as path:
                return self._predict_path(dep, path, output, output_format)
        return self._predict_path(dep, Path(source), output, output_format)

    def list_deployments(self, model_name: str | None = None, model_version: str | None = None) -> duckdb.DuckDBPyRelation:
        """Deployments (of one model version, or all), with their status, as a relation."""
        if model_name is not None and model_version is not None:
            row = self.get_model(model_name, model_version)
            perm = [_from_row(r) for r in self._store.query(_SELECT + " WHERE model_id = ? ORDER BY name", [row.id])]
            temps = [d for d in self._temporary().values() if d.model_id == row.id]
        else:
            perm = [_from_row(r) for r in self._store.query(_SELECT + " ORDER BY name")]
            temps = list(self._temporary().values())
        shadowed = {d.name for d in temps}
        return self._relation(sorted([d for d in perm if d.name not in shadowed] + temps, key=lambda d: d.name))

    def get_deployment(self, model_name: str, model_version: str, deployment_name: str) -> duckdb.DuckDBPyRelation:
        """One deployment as a one-row relation."""
        return self._relation([self._deployment_of(model_name, model_version, deployment_name)])

    def get_deployment_by_name(self, deployment_name: str) -> duckdb.DuckDBPyRelation:
        """One deployment, found by name alone, as a one-row relation (`mlreg deploy show`)."""
        return self._relation([self.find_deployment(deployment_name)])

    def delete_deployment(self, model_name: str, model_version: str, deployment_name: str) -> None:
        """Tear the deployment down and remove it from the registry."""
        self._delete(self._deployment_of(model_name, model_version, deployment_name))

    def delete_deployment_by_name(self, deployment_name: str) -> None:
        """Tear down and remove a deployment found by name alone (`mlreg deploy delete`)."""
        self._delete(self.find_deployment(deployment_name))

    def sql(self, query: str) -> duckdb.DuckDBPyRelation | None:
        """Run DuckDB SQL in which every warehouse deployment (the permanent ones, and this
        process's temporary ones) is a function, and the registry's ``models``,
        ``history`` and ``deployments`` are tables (in-memory copies: changing them
        changes nothing in the registry). Returns the result of the last statement,
        materialized, or None when it has none. What `mlreg sql` runs."""
        from mlreg.deploy import frames, warehouse

        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("the SQL query is empty")
        con = frames.connect()
        for table, rel in (("models", self.list_models()), ("history", self.get_history()),
                           ("deployments", self.list_deployments())):
            _copy_table(con, table, rel)
        deps = {d.name: d for d in map(_from_row, self._store.query(_SELECT + " ORDER BY name"))}
        deps.update(self._temporary())
        failures: list[BaseException] = []
        warehouse.register_functions(con, self, deps.values(), failures)
        try:
            result = con.sql(query)
            if result is None:
                return None
            result.to_table("result")
        except duckdb.Error as e:
            if failures:  # raised by a deployment's function: ours, with its own exit code
                raise failures[0] from None
            raise InvalidInput(f"SQL error: {_udf_message(frames.first_line(e))}") from None
        return con.table("result")

    # -- internals --------------------------------------------------------------------------------
    def _predict_path(self, dep: Deployment, path: Path, output: str | Path | None, fmt: str | None) -> Any:
        from mlreg.deploy import frames

        backend = get_backend(dep.platform)
        if output is None:
            return backend.predict(self, dep, path)
        if fmt is not None and fmt not in frames.FORMATS:
            raise InvalidInput(f"unknown output format {fmt!r}; known: {', '.join(frames.FORMATS)}")
        if hasattr(backend, "predict_file"):
            return backend.predict_file(self, dep, path, Path(output), fmt)
        con = frames.connect()
        try:
            table = frames.read_file(con, path).to_arrow_table()
        finally:
            con.close()
        result = backend.predict(self, dep, table)
        return frames.write_file(result.schema, result.to_batches(), output, fmt)

    def _find_or_none(self, deployment_name: str) -> Deployment | None:
        try:
            return self.find_deployment(deployment_name)
        except NotFound:
            return None

    def _check_function_name(self, name: str) -> None:
        """SQL function names ignore case: refuse a warehouse deployment whose name differs
        from another's only in case (`mlreg sql` could not tell them apart)."""
        names = {r[0] for r in self._store.query("SELECT name FROM deployments WHERE platform = ?", [TargetPlatform.WAREHOUSE.value])}
        names |= {n for n, d in self._temporary().items() if d.platform is TargetPlatform.WAREHOUSE}
        clash = sorted(n for n in names if n != name and n.lower() == name.lower())
        if clash:
            raise AlreadyExists(
                f"warehouse deployment {clash[0]} exists, and SQL function names ignore case: "
                f"choose a name other than {name}"
            )

    def _commit_deployment(self, dep: Deployment, replace: bool, permanent: bool) -> None:
        """Record (or, for a temporary one replacing a permanent one, only un-record) a
        deployment: one transaction, with a DROP event for what it replaces, a SET event
        for it and one SET event per option."""
        with self._store.write() as con:
            current = con.execute(_SELECT + " WHERE name = ?", [dep.name]).fetchone()
            if current is not None:
                old = _from_row(current)
                if not replace:  # created by another process since we looked
                    raise _exists(old)
                con.execute("DELETE FROM deployments WHERE name = ?", [dep.name])
                self._record_drop(con, old)
            if not permanent:
                return
            model = self._model_row(con, dep.model_name, dep.model_version)
            con.execute(
                "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [dep.name, dep.model_id, dep.model_name, dep.model_version, dep.platform.value, dep.target_method,
                 json.dumps(dep.signature), json.dumps(dep.options), json.dumps(dep.details),
                 dep.created_time, dep.role],
            )
            self._record(con, model, "SET", "DEPLOYMENT", dep.name, None, json.dumps(_summary(dep)))
            for option, value in dep.options.items():
                self._record(con, model, "SET", "DEPLOYMENT_OPTION", f"{dep.name}/{option}", None, json.dumps(value))

    def _record_drop(self, con: duckdb.DuckDBPyConnection, dep: Deployment) -> None:
        if con.execute("SELECT 1 FROM models WHERE id = ?", [dep.model_id]).fetchone() is None:
            return
        row = self._model_row(con, dep.model_name, dep.model_version)
        self._record(con, row, "DROP", "DEPLOYMENT", dep.name, json.dumps(_summary(dep)), None)

    def _teardown(self, dep: Deployment) -> None:
        get_backend(dep.platform).delete(self, dep)
        _TEMPORARY.pop((str(self._store.path), dep.name), None)

    def _delete(self, dep: Deployment) -> None:
        self._teardown(dep)
        if not dep.permanent:
            return
        with self._store.write() as con:
            con.execute("DELETE FROM deployments WHERE name = ?", [dep.name])
            self._record_drop(con, dep)

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


def _summary(dep: Deployment) -> dict[str, Any]:
    return {"platform": dep.platform.value, "target_method": dep.target_method,
            "permanent": dep.permanent, "options": dep.options}


def _exists(dep: Deployment) -> AlreadyExists:
    return AlreadyExists(
        f"deployment {dep.name} already exists (of {dep.model_name}/{dep.model_version}); "
        "pass options={'replace_udf': True} (--option replace_udf=true) to replace it, or delete it first"
    )


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none"):
        return False
    raise InvalidInput(f"option {name} must be true or false, not {value!r}")


def _copy_table(con: duckdb.DuckDBPyConnection, name: str, rel: duckdb.DuckDBPyRelation) -> None:
    """A relation of another connection as a table of ``con``, JSON columns kept JSON."""
    from mlreg.deploy.frames import quote_ident

    con.register("_source", rel.to_arrow_table())
    cols = ", ".join(
        f"CAST({quote_ident(c)} AS JSON) AS {quote_ident(c)}" if str(t) == "JSON" else quote_ident(c)
        for c, t in zip(rel.columns, rel.types)
    )
    con.execute(f"CREATE TABLE {quote_ident(name)} AS SELECT {cols} FROM _source")
    con.unregister("_source")


def _udf_message(text: str) -> str:
    """DuckDB's wrapping of an exception raised in a deployment's function, unwrapped."""
    marker = "Python exception occurred while executing the UDF: "
    if marker in text:
        text = text.split(marker, 1)[1]
        for prefix in ("InvalidInput: ", "NotFound: ", "IntegrityError: "):
            text = text.removeprefix(prefix)
    return text
