"""The WAREHOUSE platform: a model's target method as a vectorized DuckDB function.

The function takes the signature's input features as arguments (in order) and returns
the output feature, or a STRUCT of the named outputs when there are several. It is an
Arrow function: DuckDB hands it whole vectors of rows (2,048 at a time in DuckDB 2.0, so
a million-row query calls the model ~500 times). Batch `predict` therefore does not go
through SQL: it streams large Arrow batches (``scoring.BATCH_BYTES``) through the same
scoring code, so a file is scored in a few calls of the model.

Temporary deployments exist only in the deploying process (the registry keeps them);
permanent ones are recorded in the registry and registered again by every process that
asks for a SQL connection (``registry.sql``, `mlreg sql`).
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from mlreg import context
from mlreg.deploy import frames, scoring
from mlreg.deploy.base import Backend, Deployment
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import InvalidInput, MlregError

if TYPE_CHECKING:
    import duckdb

    from mlreg.registry.registry import ModelRegistry, ModelRow
    from mlreg.stage import Stage

#: the seed's options: those for all deployments, then those for warehouse deployments
DEFAULTS: dict[str, Any] = {
    "output_with_input_features": False,
    "keep_order": True,
    "permanent_udf_stage_location": None,
    "relax_version": False,
    "replace_udf": False,
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class EnvironmentMismatch(InvalidInput):
    """The environment differs from the one the model was logged in (deploy refused)."""


def parse_bool(name: str, value: Any) -> bool:
    """True/False, or their spellings on a command line (``--option keep_order=false``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidInput(f"option {name} must be true or false, not {value!r}")


def deployment_stage(registry: "ModelRegistry", location: str) -> "Stage":
    """Where permanent deployments keep their copy of the model package. A folder of its
    own under ``location``, so that it never mixes with a registry stage's packages."""
    from mlreg.stage import open_stage

    return open_stage(location.rstrip("/") + "/mlreg-deployments", registry.database_name, registry.session.stage_options)


class WarehouseBackend(Backend):
    platform = TargetPlatform.WAREHOUSE

    def check_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise InvalidInput(
                f"unknown warehouse deployment option(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}"
            )
        recorded = dict(DEFAULTS)
        for name, value in options.items():
            if name == "permanent_udf_stage_location":
                if value is not None and (not isinstance(value, (str, Path)) or not str(value).strip()
                                          or any(c in str(value) for c in "\n\r\x00")):
                    raise InvalidInput("option permanent_udf_stage_location must be a directory path or URL")
                recorded[name] = str(value) if value is not None else None
            else:
                recorded[name] = parse_bool(name, value)
        return recorded, {}

    def create(self, registry: "ModelRegistry", row: "ModelRow", deployment: Deployment, secrets: dict[str, Any]) -> dict[str, Any]:
        signature = scoring.signature_of(deployment)
        check_function_name(deployment.name, signature)
        diffs = context.environment_differences(row.manifest.get("environment", {}))
        if diffs and not deployment.options.get("relax_version"):
            raise EnvironmentMismatch(
                f"cannot deploy {row.name}/{row.version}: this environment differs from the one it was logged in: "
                + "; ".join(diffs)
                + ". Install the recorded versions, or pass options={'relax_version': True} "
                "(--option relax_version=true) to deploy anyway"
            )
        if diffs:
            from mlreg.registry.registry import EnvironmentWarning

            warnings.warn(
                f"deploying {row.name}/{row.version} as {deployment.name} although this environment differs from "
                "the one it was logged in (relax_version): " + "; ".join(diffs),
                EnvironmentWarning,
                stacklevel=4,
            )
        details: dict[str, Any] = {"function": deployment.name}
        if diffs:
            details["environment_differences"] = diffs
        location = deployment.options.get("permanent_udf_stage_location")
        if deployment.permanent and location:
            details["location"] = location
            details["package"] = copy_package(registry, row, location, deployment.name)
        deployment.details = details
        try:
            # load now: a model that cannot be loaded here is refused at deploy time
            scoring.scorer_for(registry, deployment, quiet=True)
        except BaseException:
            self.delete(registry, deployment)
            raise
        return details

    def predict(self, registry: "ModelRegistry", deployment: Deployment, data: Any) -> Any:
        scorer = scoring.scorer_for(registry, deployment)
        kind = frames.kind_of(data)
        with_inputs = bool(deployment.options.get("output_with_input_features"))
        if kind == "pandas":
            out = scorer.score_frame(data)
            if not with_inputs:
                return out
            import pandas as pd

            frames.check_clash(list(map(str, data.columns)), list(map(str, out.columns)))
            return pd.concat([data, out], axis=1)
        if kind == "arrow":
            import pyarrow as pa

            rows = scoring.batch_rows(len(scorer.input_names))
            schema, batches = _scored(scorer, data.schema, data.to_batches(max_chunksize=rows), with_inputs)
            return pa.Table.from_batches(list(batches), schema=schema)
        if kind == "relation":
            return frames.to_relation(*_scored(scorer, *_relation_source(scorer, data, with_inputs), with_inputs))
        with _file_source(scorer, deployment, data, with_inputs) as (input_schema, source):
            return frames.to_relation(*_scored(scorer, input_schema, source, with_inputs))

    def predict_file(self, registry: "ModelRegistry", deployment: Deployment, source: Path, output: Path,
                     output_format: str | None = None) -> int:
        """Score a file into a file, streaming large batches; returns the rows written."""
        scorer = scoring.scorer_for(registry, deployment)
        with_inputs = bool(deployment.options.get("output_with_input_features"))
        fmt = output_format or frames.format_of(output, "output")
        with _file_source(scorer, deployment, source, with_inputs) as (input_schema, batches):
            return frames.write_file(*_scored(scorer, input_schema, batches, with_inputs), output, fmt)

    def delete(self, registry: "ModelRegistry", deployment: Deployment) -> None:
        scoring.forget(str(registry.path), deployment.name)
        package = deployment.details.get("package")
        location = deployment.details.get("location")
        if package and location:
            try:
                deployment_stage(registry, location).delete(package)
            except OSError:
                pass  # already gone, or the location is unreachable: the record goes anyway


def _scored(scorer: scoring.Scorer, input_schema: Any, source: Iterable[Any], with_inputs: bool) -> tuple[Any, Iterable[Any]]:
    """The schema and the scored batches of a source of input batches."""
    names = [str(n) for n in input_schema.names]
    columns = scorer.input_columns(names)
    schema = frames.output_schema(input_schema if with_inputs else None, scorer.output_schema())
    return schema, frames.scored_batches(source, scorer.score, columns, scorer.input_names, with_inputs)


def _relation_source(scorer: scoring.Scorer, rel: "duckdb.DuckDBPyRelation", with_inputs: bool) -> tuple[Any, Iterable[Any]]:
    import duckdb

    columns = scorer.input_columns([str(c) for c in rel.columns])  # a missing column fails here, named
    if not with_inputs:
        rel = rel.project(", ".join(frames.quote_ident(c) for c in columns))
    try:
        source = rel.to_arrow_reader(scoring.batch_rows(len(columns)))
    except duckdb.Error as e:
        raise InvalidInput(f"cannot read input: {frames.read_error(e)}") from None
    return source.schema, _read(source)


@contextmanager
def _file_source(scorer: scoring.Scorer, deployment: Deployment, path: Any, with_inputs: bool) -> Iterator[tuple[Any, Iterable[Any]]]:
    """The schema and batches of a file: Parquet through pyarrow (read in order, only the
    needed columns), CSV and JSON through DuckDB's readers (keep_order=False lets DuckDB
    read them in parallel without restoring the order)."""
    fmt = frames.format_of(frames.check_input(path))
    rows = scoring.batch_rows(len(scorer.input_names))
    if fmt == "parquet":
        pf = frames.parquet_file(path)
        schema = pf.schema_arrow
        columns = scorer.input_columns([str(n) for n in schema.names])
        if not with_inputs:
            schema = _pa_schema([schema.field(c) for c in columns])
        yield schema, frames.parquet_batches(pf, path, rows, None if with_inputs else columns)
        return
    con = frames.connect()
    try:
        if not deployment.options.get("keep_order", True):
            con.execute("SET preserve_insertion_order = false")
        yield _relation_source(scorer, frames.read_file(con, path, fmt), with_inputs)
    finally:
        con.close()


def _pa_schema(fields: list[Any]) -> Any:
    import pyarrow as pa

    return pa.schema(fields)


def _read(source: Any) -> Iterable[Any]:
    """Batches of a DuckDB Arrow reader, with DuckDB's read errors made ours."""
    import duckdb
    import pyarrow as pa

    it = iter(source)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (duckdb.Error, pa.ArrowException, OSError) as e:  # DuckDB's errors reach us through Arrow
            raise InvalidInput(f"cannot read input: {frames.read_error(e)}") from None
        yield batch


def copy_package(registry: "ModelRegistry", row: "ModelRow", location: str, name: str) -> str:
    """Copy the verified model package to the deployment's stage location; returns its
    ID there (unique per deployment, so a replaced deployment's copy outlives the swap)."""
    _, source = registry.package_dir(row.name, row.version)
    stage = deployment_stage(registry, location)
    package_id = f"{name}-{uuid.uuid4().hex[:12]}"
    try:
        workdir = stage.begin(package_id)
    except OSError as e:
        raise InvalidInput(f"cannot use permanent_udf_stage_location {location}: {e.strerror or e}") from None
    try:
        for rel in row.files:
            target = workdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target)
        stage.publish(package_id, workdir, row.files)
    except BaseException:
        stage.abort(package_id, workdir)
        raise
    return package_id


def check_function_name(name: str, signature: Any) -> None:
    """Refuse a deployment name that is a DuckDB function's (``abs``, ``sum``, ...): in SQL
    it would overload or fail to replace the built-in one."""
    import duckdb

    con = frames.connect()
    try:
        taken = con.execute(
            "SELECT 1 FROM duckdb_functions() WHERE lower(function_name) = lower(?) LIMIT 1", [name]
        ).fetchall()
        if not taken:
            register(con, name, scoring.positional(lambda *arrays: None, len(signature.inputs)), signature)
    except duckdb.CatalogException:  # the name is a catalog entry of DuckDB's ("user", "count")
        taken = [(1,)]
    finally:
        con.close()
    if taken:
        raise InvalidInput(f"deployment name {name!r} is taken by a DuckDB built-in function; choose another name")


def register(con: "duckdb.DuckDBPyConnection", name: str, fn: Any, signature: Any) -> None:
    con.create_function(
        name, fn, [scoring.duckdb_type(f) for f in signature.inputs], scoring.sql_return_type(signature),
        type="arrow", null_handling="special", side_effects=False,
    )


def register_functions(con: "duckdb.DuckDBPyConnection", registry: "ModelRegistry", deployments: Iterable[Deployment],
                       failures: list[BaseException] | None = None) -> list[str]:
    """Register each warehouse deployment as a function of ``con``; each loads its model
    on first call. mlreg errors raised inside a function (a bad input, a changed package)
    are appended to ``failures``, so the caller can raise them rather than DuckDB's
    wrapping of them. Returns the names registered."""
    names = []
    for dep in deployments:
        if dep.platform is not TargetPlatform.WAREHOUSE:
            continue
        signature = scoring.signature_of(dep)

        def load(d: Deployment = dep) -> scoring.Scorer:
            try:
                return scoring.scorer_for(registry, d)
            except MlregError as e:
                if failures is not None:
                    failures.append(e)
                raise

        register(con, dep.name, scoring.lazy_sql_function(load, len(signature.inputs), failures), signature)
        names.append(dep.name)
    return names
