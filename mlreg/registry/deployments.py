"""Deployments: deploy, predict, list, get, delete, and SQL over warehouse functions.

The registry owns names, records and history; the platform (``mlreg.deploy.<platform>``)
owns everything that runs, and gets only a context and the scoring spec of what it
runs. Temporary deployments live only in this process and vanish when it exits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlreg.deploy.base import Deployment, Platform, get_platform, platform_of
from mlreg.deploy.options import replace_requested
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists, InvalidInput, NotFound
from mlreg.names import validate_name
from mlreg.records import DEPLOYMENT, DEPLOYMENT_OPTION, DROP, SET, Change, ModelRow
from mlreg.registry.core import RegistryCore
from mlreg.runtime.spec import ScoringSpec

if TYPE_CHECKING:
    from mlreg.store import StoreReader
    from mlreg.store.base import Relation

# (registry URL, deployment name) -> Deployment, for temporary deployments
_TEMPORARY: dict[tuple[str, str], Deployment] = {}

#: the columns of ``list_deployments()`` and their types: the original's ten first (STAGE_PATH
#: is the ``permanent_udf_stage_location`` option), then mlreg's own, then the names mlreg
#: gave three of them before (NAME, PLATFORM, CREATED_TIME), kept for code written then
DEPLOYMENT_COLUMNS = (
    ("MODEL_NAME", "VARCHAR"), ("MODEL_VERSION", "VARCHAR"), ("DEPLOYMENT_NAME", "VARCHAR"),
    ("CREATION_TIME", "TIMESTAMPTZ"), ("TARGET_METHOD", "VARCHAR"), ("TARGET_PLATFORM", "VARCHAR"),
    ("SIGNATURE", "JSON"), ("OPTIONS", "JSON"), ("STAGE_PATH", "VARCHAR"), ("ROLE", "VARCHAR"),
    ("MODEL_ID", "VARCHAR"), ("DETAILS", "JSON"), ("PERMANENT", "BOOLEAN"), ("STATUS", "VARCHAR"),
    ("NAME", "VARCHAR"), ("PLATFORM", "VARCHAR"), ("CREATED_TIME", "TIMESTAMPTZ"),
)


class Deployments:
    """The deployments of a registry."""

    def __init__(self, core: RegistryCore):
        self._core = core

    # -- lookup ------------------------------------------------------------------------------
    def _temporary(self) -> dict[str, Deployment]:
        url = self._core.url
        return {name: d for (where, name), d in _TEMPORARY.items() if where == url}

    def get(self, deployment_name: str) -> Deployment:
        """The deployment of that name in this registry (temporary or permanent)."""
        validate_name(deployment_name, "deployment name")
        temp = self._temporary().get(deployment_name)
        if temp is not None:
            return temp
        with self._core.read() as reader:
            dep = reader.deployment(deployment_name)
            if dep is None:
                known = sorted(set(self._temporary()) | {d.name for d in reader.deployments()})
                raise NotFound(
                    f"deployment {deployment_name} does not exist in this registry; "
                    + (f"deployments: {', '.join(known)}" if known else "it has no deployments")
                )
        return dep

    def of_model(self, model_name: str, model_version: str, deployment_name: str) -> Deployment:
        dep = self.get(deployment_name)
        if (dep.model_name, dep.model_version) != (model_name, model_version):
            raise NotFound(
                f"deployment {deployment_name} is of model {dep.model_name}/{dep.model_version}, "
                f"not {model_name}/{model_version}"
            )
        return dep

    def _find(self, deployment_name: str) -> Deployment | None:
        try:
            return self.get(deployment_name)
        except NotFound:
            return None

    def _row(self, reader: "StoreReader", dep: Deployment) -> ModelRow:
        row = reader.version(dep.model_name, dep.model_version)
        if row is None or row.id != dep.model_id:
            raise NotFound(
                f"deployment {dep.name} is of a model {dep.model_name}/{dep.model_version} "
                "that no longer exists; delete the deployment and deploy again"
            )
        return row

    def scoring_spec(self, dep: Deployment, reader: "StoreReader | None" = None) -> ScoringSpec:
        """What the deployment runs: its model version's method, from the package its
        platform loads."""
        if reader is None:
            with self._core.read() as fresh:
                row = self._row(fresh, dep)
        else:
            row = self._row(reader, dep)
        return get_platform(dep.platform).scoring_spec(self._core.platform_context(), row, dep)

    # -- deploy ----------------------------------------------------------------------------------
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
        validate_name(deployment_name, "deployment name")
        plat = platform_of(platform)
        if not isinstance(permanent, bool):
            raise InvalidInput(f"permanent must be True or False, not {permanent!r}")
        if plat is TargetPlatform.SERVICE:
            permanent = True
        if options is not None and not isinstance(options, Mapping):
            raise InvalidInput("options must be a mapping of option name to value")
        opts = dict(options or {})
        target = get_platform(plat)
        recorded, secrets = target.check_options(opts)
        replace = replace_requested(opts)
        row = self._core.resolve(model_name, model_version)
        methods = row.manifest.get("target_methods", [])
        if target_method not in methods:
            raise InvalidInput(
                f"model {model_name}/{model_version} has no target method {target_method!r}; it has: {', '.join(methods)}"
            )
        if plat in (TargetPlatform.WAREHOUSE, TargetPlatform.SPARK):
            self._check_function_name(deployment_name, plat)
        existing = self._find(deployment_name)
        if existing is not None and not replace:
            raise _exists(existing)
        dep = Deployment(
            name=deployment_name, model_id=row.id, model_name=model_name, model_version=model_version,
            platform=plat, target_method=target_method,
            signature=row.manifest.get("signatures", {}).get(target_method, {}),
            options=recorded, created_time=self._core.clock(), role=self._core.session.role, permanent=permanent,
        )
        ctx = self._core.platform_context()
        spec = target.scoring_spec(ctx, row, dep)
        # build the new deployment before dropping the old, so a failed replacement leaves
        # the old one working: a warehouse function holds nothing exclusive, a service on a
        # port of its own neither. A service that needs the old one's port can only start
        # once the old one stopped: everything that can be checked is checked before.
        swap_after = existing is not None and existing.platform is plat and (
            plat is TargetPlatform.WAREHOUSE or target.runs_beside(existing, dep))
        if existing is not None and not swap_after:
            target.prepare(ctx, spec, dep)
            self._teardown(existing)
        dep.details = target.create(ctx, spec, dep, secrets) or {}
        try:
            if permanent or (existing is not None and existing.permanent):
                self._record(dep, replace, permanent)
        except BaseException:
            target.delete(ctx, dep)
            raise
        if swap_after:
            self._teardown(existing)  # type: ignore[arg-type]
        key = (self._core.url, deployment_name)
        if permanent:
            _TEMPORARY.pop(key, None)
        else:
            _TEMPORARY[key] = dep
        return dep

    def _check_function_name(self, name: str, platform: TargetPlatform) -> None:
        """SQL function names ignore case, in DuckDB and in Spark SQL: refuse a warehouse
        (or spark) deployment whose name differs from another's of that platform only in
        case (`mlreg sql` and `register_functions` could not tell them apart)."""
        with self._core.read() as reader:
            names = {d.name for d in reader.deployments(platform=platform.value)}
        names |= {n for n, d in self._temporary().items() if d.platform is platform}
        clash = sorted(n for n in names if n != name and n.lower() == name.lower())
        if clash:
            raise AlreadyExists(
                f"{platform.value} deployment {clash[0]} exists, and SQL function names ignore case: "
                f"choose a name other than {name}"
            )

    def _record(self, dep: Deployment, replace: bool, permanent: bool) -> None:
        """Record (or, for a temporary one replacing a permanent one, only un-record) a
        deployment: one transaction, with a DROP event for what it replaces, a SET event
        for it and one SET event per option."""
        with self._core.write() as writer:
            current = writer.deployment(dep.name)
            if current is not None:
                if not replace:  # created by another process since we looked
                    raise _exists(current)
                writer.remove_deployment(dep.name, [Change(DROP, DEPLOYMENT, dep.name, json.dumps(_summary(current)))])
            if not permanent:
                return
            self._core.row(writer, dep.model_name, dep.model_version)
            changes = [Change(SET, DEPLOYMENT, dep.name, None, json.dumps(_summary(dep)))]
            changes += [Change(SET, DEPLOYMENT_OPTION, f"{dep.name}/{option}", None, json.dumps(value))
                        for option, value in dep.options.items()]
            writer.add_deployment(dep, changes)

    # -- scoring -------------------------------------------------------------------------------
    def predict(self, dep: Deployment, data: Any) -> Any:
        """Score ``data`` with the deployment (a frame of ``list_models()``-style is scored
        as its DuckDB relation)."""
        from mlreg.frame import DataFrame  # here: only scoring needs it

        if isinstance(data, DataFrame):
            data = data.relation
        spec = self.scoring_spec(dep)
        return get_platform(dep.platform).predict(self._core.platform_context(), spec, dep, data)

    def predict_file(
        self,
        deployment_name: str,
        source: str | Path,
        output: str | Path | None = None,
        input_stream: IO[bytes] | None = None,
        output_format: str | None = None,
        master: str | None = None,
        conf: Mapping[str, str] | None = None,
    ) -> Any:
        """Score a Parquet/CSV/JSON file (``"-"``: ``input_stream``, format sniffed).
        With ``output``, write the predictions there (format by extension unless
        ``output_format``), all or nothing, and return the number of rows; without,
        return them as a relation. A spark deployment reads a file or directory and
        writes a directory, on a Spark session of ``master`` with ``conf``."""
        from mlreg.data import readers

        dep = self.get(deployment_name)
        if dep.platform is TargetPlatform.SPARK:
            return self._predict_spark(dep, str(source), output, output_format, master, conf)
        if master is not None or conf:
            raise InvalidInput(f"--master and --conf apply to spark deployments; {dep.name} is a {dep.platform.value} deployment")
        if str(source) == "-":
            if input_stream is None:
                raise InvalidInput("input '-' needs an input stream")
            with readers.spooled(input_stream) as path:
                return self._predict_path(dep, path, output, output_format)
        return self._predict_path(dep, Path(source), output, output_format)

    def _predict_spark(self, dep: Deployment, source: str, output: str | Path | None, fmt: str | None,
                       master: str | None, conf: Mapping[str, str] | None) -> int:
        from mlreg.data import readers
        from mlreg.deploy.spark import SparkPlatform

        if source == "-" or output is None or str(output) == "-":
            raise InvalidInput(f"spark deployment {dep.name} reads --input PATH and writes --output PATH "
                               "(not standard input or output)")
        if fmt is not None and fmt not in readers.FORMATS:
            raise InvalidInput(f"unknown output format {fmt!r}; known: {', '.join(readers.FORMATS)}")
        spec = self.scoring_spec(dep)
        return SparkPlatform().predict_path(self._core.platform_context(), spec, dep, source, str(output), fmt,
                                            master, conf)

    def spark_specs(self) -> Sequence[tuple[Deployment, ScoringSpec]]:
        """Every permanent spark deployment, and this process's temporary ones, with the
        spec of what it runs (``mlreg.spark.register_functions``)."""
        with self._core.read() as reader:
            deps = {d.name: d for d in reader.deployments(platform=TargetPlatform.SPARK.value)}
            deps.update({n: d for n, d in self._temporary().items() if d.platform is TargetPlatform.SPARK})
            return [(d, self.scoring_spec(d, reader)) for _, d in sorted(deps.items())]

    def _predict_path(self, dep: Deployment, path: Path, output: str | Path | None, fmt: str | None) -> Any:
        from mlreg.data import readers

        if output is None:
            return self.predict(dep, path)
        if fmt is not None and fmt not in readers.FORMATS:
            raise InvalidInput(f"unknown output format {fmt!r}; known: {', '.join(readers.FORMATS)}")
        spec = self.scoring_spec(dep)
        return get_platform(dep.platform).predict_file(self._core.platform_context(), spec, dep, path, Path(output), fmt)

    # -- listing ------------------------------------------------------------------------------
    def list(self, model_name: str | None = None, model_version: str | None = None) -> "Relation":
        if model_name is not None and model_version is not None:
            with self._core.read() as reader:
                row = self._core.row(reader, model_name, model_version)
                perm = reader.deployments(model_id=row.id)
            temps = [d for d in self._temporary().values() if d.model_id == row.id]
        else:
            with self._core.read() as reader:
                perm = reader.deployments()
            temps = list(self._temporary().values())
        shadowed = {d.name for d in temps}
        return self.frame(sorted([d for d in perm if d.name not in shadowed] + temps, key=lambda d: d.name))

    def frame(self, deps: Sequence[Deployment]) -> "Relation":
        """Deployments, with their status, as a relation."""
        from mlreg.store import relations

        return relations.from_rows(DEPLOYMENT_COLUMNS, [
            (d.model_name, d.model_version, d.name, d.created_time, d.target_method, d.platform.value,
             json.dumps(d.signature), json.dumps(d.options), d.options.get("permanent_udf_stage_location"), d.role,
             d.model_id, json.dumps(d.details), d.permanent, get_platform(d.platform).status(d),
             d.name, d.platform.value, d.created_time)
            for d in deps
        ])

    # -- deleting ------------------------------------------------------------------------------
    def _platform(self, dep: Deployment) -> Platform:
        return get_platform(dep.platform)

    def _teardown(self, dep: Deployment) -> None:
        self._platform(dep).delete(self._core.platform_context(), dep)
        _TEMPORARY.pop((self._core.url, dep.name), None)

    def delete(self, dep: Deployment) -> None:
        """Tear the deployment down and remove it from the registry."""
        self._teardown(dep)
        if not dep.permanent:
            return
        with self._core.write() as writer:
            writer.remove_deployment(dep.name, [Change(DROP, DEPLOYMENT, dep.name, json.dumps(_summary(dep)))])

    def teardown_model(self, model_id: str) -> None:
        """Stop every deployment of a model version (its records go with the version)."""
        with self._core.read() as reader:
            deps = reader.deployments(model_id=model_id)
        deps += [d for d in self._temporary().values() if d.model_id == model_id]
        for dep in deps:
            self._teardown(dep)

    # -- SQL ------------------------------------------------------------------------------------
    def sql(self, query: str, models: "Relation", history: "Relation") -> "Relation | None":
        from mlreg.deploy import sql_session

        with self._core.read() as reader:
            deps = {d.name: d for d in reader.deployments()}
        deps.update(self._temporary())
        functions = [(d, self._spec_loader(d)) for d in deps.values()]
        return sql_session.run_sql(query, {"models": models, "history": history, "deployments": self.list()}, functions)

    def _spec_loader(self, dep: Deployment) -> Callable[[], ScoringSpec]:
        return lambda: self.scoring_spec(dep)


def _summary(dep: Deployment) -> dict[str, Any]:
    return {"platform": dep.platform.value, "target_method": dep.target_method,
            "permanent": dep.permanent, "options": dep.options}


def _exists(dep: Deployment) -> AlreadyExists:
    return AlreadyExists(
        f"deployment {dep.name} already exists (of {dep.model_name}/{dep.model_version}); "
        "pass options={'replace_udf': True} (--option replace_udf=true) to replace it, or delete it first"
    )
