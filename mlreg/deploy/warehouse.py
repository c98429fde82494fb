"""The WAREHOUSE platform: a model's target method as a vectorized DuckDB function.

The function takes the signature's input features as arguments (in order) and returns
the output feature, or a STRUCT of the named outputs when there are several. It is an
Arrow function: DuckDB hands it whole vectors of rows (2,048 at a time in DuckDB 2.0, so
a million-row query calls the model ~500 times). Batch `predict` therefore does not go
through SQL: it streams large Arrow batches (``runtime.scorer.BATCH_BYTES``) through the same
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

from mlreg.data import readers, writers
from mlreg.deploy import frames, sql_functions
from mlreg.deploy.base import Deployment, Platform, PlatformContext
from mlreg.deploy.options import check_known, parse_bool
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import InvalidInput
from mlreg.records import ModelRow
from mlreg.runtime import loading
from mlreg.runtime.scorer import Scorer, batch_rows, forget, scorer_for
from mlreg.runtime.spec import ScoringSpec

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from mlreg.stage import Stage

#: the seed's options: those for all deployments, then those for warehouse deployments
DEFAULTS: dict[str, Any] = {
    "output_with_input_features": False,
    "keep_order": True,
    "permanent_udf_stage_location": None,
    "relax_version": False,
    "replace_udf": False,
}
#: where a deployment's own copy of its package goes, under permanent_udf_stage_location
COPIES = "mlreg-deployments"


class EnvironmentMismatch(InvalidInput):
    """The environment differs from the one the model was logged in (deploy refused)."""


def deployment_stage(ctx: PlatformContext, location: str) -> "Stage":
    """Where permanent deployments keep their copy of the model package. A folder of its
    own under ``location``, so that it never mixes with a registry stage's packages."""
    from mlreg.stage import open_stage

    return open_stage(_copies(location), ctx.database, ctx.stage_options)


def _copies(location: str) -> str:
    return location.rstrip("/") + "/" + COPIES


class WarehousePlatform(Platform):
    platform = TargetPlatform.WAREHOUSE

    def check_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        check_known(options, DEFAULTS, "warehouse")
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

    def scoring_spec(self, ctx: PlatformContext, row: ModelRow, deployment: Deployment) -> ScoringSpec:
        spec = super().scoring_spec(ctx, row, deployment)
        location, package = deployment.details.get("location"), deployment.details.get("package")
        if location and package:
            return ScoringSpec(spec.package.relocated(_copies(location), package), spec.target_method,
                               spec.signature, spec.deployment, spec.options)
        return spec

    def create(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment,
               secrets: dict[str, Any]) -> dict[str, Any]:
        signature = spec.model_signature()
        check_function_name(deployment.name, signature)
        diffs = loading.environment_differences(spec.package)
        if diffs and not deployment.options.get("relax_version"):
            raise EnvironmentMismatch(
                f"cannot deploy {spec.package.label}: this environment differs from the one it was logged in: "
                + "; ".join(diffs)
                + ". Install the recorded versions, or pass options={'relax_version': True} "
                "(--option relax_version=true) to deploy anyway"
            )
        if diffs:
            warnings.warn(
                f"deploying {spec.package.label} as {deployment.name} although this environment differs from "
                "the one it was logged in (relax_version): " + "; ".join(diffs),
                loading.EnvironmentWarning,
                stacklevel=4,
            )
        details: dict[str, Any] = {"function": deployment.name}
        if diffs:
            details["environment_differences"] = diffs
        location = deployment.options.get("permanent_udf_stage_location")
        if deployment.permanent and location:
            details["location"] = location
            details["package"] = copy_package(ctx, spec, location, deployment.name)
            spec = ScoringSpec(spec.package.relocated(_copies(location), details["package"]), spec.target_method,
                               spec.signature, spec.deployment, spec.options)
        try:
            # load now: a model that cannot be loaded here is refused at deploy time
            scorer_for(spec, warn=False)
        except BaseException:
            self.delete(ctx, Deployment(**{**deployment.__dict__, "details": details}))
            raise
        return details

    def predict(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, data: Any) -> Any:
        scorer = scorer_for(spec)
        data = _local_input(data, spec)
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

            rows = batch_rows(len(scorer.input_names))
            schema, batches = _scored(scorer, data.schema, data.to_batches(max_chunksize=rows), with_inputs)
            return pa.Table.from_batches(list(batches), schema=schema)
        if kind == "relation":
            return _to_relation(*_scored(scorer, *_relation_source(scorer, data, with_inputs), with_inputs))
        with _file_source(scorer, deployment, data, with_inputs) as (input_schema, source):
            return _to_relation(*_scored(scorer, input_schema, source, with_inputs))

    def predict_file(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, source: Path,
                     output: Path, output_format: str | None = None) -> int:
        """Score a file into a file, streaming large batches; returns the rows written."""
        scorer = scorer_for(spec)
        with_inputs = bool(deployment.options.get("output_with_input_features"))
        fmt = output_format or readers.format_of(output, "output")
        with _file_source(scorer, deployment, source, with_inputs) as (input_schema, batches):
            return writers.write_file(*_scored(scorer, input_schema, batches, with_inputs), output, fmt)

    def delete(self, ctx: PlatformContext, deployment: Deployment) -> None:
        forget(deployment.name, deployment.model_id)
        package = deployment.details.get("package")
        location = deployment.details.get("location")
        if package and location:
            try:
                deployment_stage(ctx, location).delete(package)
            except OSError:
                pass  # already gone, or the location is unreachable: the record goes anyway


def _local_input(data: Any, spec: ScoringSpec) -> Any:
    """What the original's ``predict`` took beside frames: a NumPy array (its columns in
    the signature's order) or a list of rows or of records. Those become a pandas
    DataFrame, so the result is a pandas DataFrame."""
    from mlreg.data import tables

    if tables.is_array(data) or tables.is_tensor(data) or isinstance(data, (list, tuple)):
        return tables.frame_to_input(data, spec.model_signature().inputs)
    return data


def _scored(scorer: Scorer, input_schema: Any, source: Iterable[Any], with_inputs: bool) -> tuple[Any, Iterable[Any]]:
    """The schema and the scored batches of a source of input batches."""
    names = [str(n) for n in input_schema.names]
    columns = scorer.input_columns(names)
    schema = frames.output_schema(input_schema if with_inputs else None, scorer.output_schema())
    return schema, frames.scored_batches(source, scorer.score, columns, scorer.input_names, with_inputs)


def _to_relation(schema: "pa.Schema", batches: Iterable["pa.RecordBatch"]) -> "duckdb.DuckDBPyRelation":
    """Scored batches as a relation over an in-memory table of their own."""
    capture = writers.Capture()
    con = readers.connect()
    con.register("scored", writers.reader(schema, capture.wrap(batches)))
    try:
        con.execute("CREATE TABLE predictions AS SELECT * FROM scored")
    except Exception as e:  # noqa: BLE001 - translated below
        con.close()
        capture.reraise(e, "scoring failed")
    con.unregister("scored")
    return con.table("predictions")


def _relation_source(scorer: Scorer, rel: "duckdb.DuckDBPyRelation", with_inputs: bool) -> tuple[Any, Iterable[Any]]:
    import duckdb

    columns = scorer.input_columns([str(c) for c in rel.columns])  # a missing column fails here, named
    if not with_inputs:
        rel = rel.project(", ".join(frames.quote_ident(c) for c in columns))
    try:
        source = rel.to_arrow_reader(batch_rows(len(columns)))
    except duckdb.Error as e:
        raise InvalidInput(f"cannot read input: {readers.read_error(e)}") from None
    return source.schema, _read(source)


@contextmanager
def _file_source(scorer: Scorer, deployment: Deployment, path: Any, with_inputs: bool) -> Iterator[tuple[Any, Iterable[Any]]]:
    """The schema and batches of a file: Parquet through pyarrow (read in order, only the
    needed columns), CSV and JSON through DuckDB's readers (keep_order=False lets DuckDB
    read them in parallel without restoring the order)."""
    fmt = readers.format_of(readers.check_input(path))
    rows = batch_rows(len(scorer.input_names))
    if fmt == "parquet":
        pf = readers.parquet_file(path)
        schema = pf.schema_arrow
        columns = scorer.input_columns([str(n) for n in schema.names])
        if not with_inputs:
            schema = _pa_schema([schema.field(c) for c in columns])
        yield schema, readers.parquet_batches(pf, path, rows, None if with_inputs else columns)
        return
    con = readers.connect()
    try:
        if not deployment.options.get("keep_order", True):
            con.execute("SET preserve_insertion_order = false")
        yield _relation_source(scorer, readers.read_file(con, path, fmt), with_inputs)
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
            raise InvalidInput(f"cannot read input: {readers.read_error(e)}") from None
        yield batch


def copy_package(ctx: PlatformContext, spec: ScoringSpec, location: str, name: str) -> str:
    """Copy the verified model package to the deployment's stage location; returns its
    ID there (unique per deployment, so a replaced deployment's copy outlives the swap)."""
    source = loading.verified(spec.package)
    files = dict(spec.package.files)
    stage = deployment_stage(ctx, location)
    package_id = f"{name}-{uuid.uuid4().hex[:12]}"
    try:
        workdir = stage.begin(package_id)
    except OSError as e:
        raise InvalidInput(f"cannot use permanent_udf_stage_location {location}: {e.strerror or e}") from None
    try:
        for rel in files:
            target = workdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target)
        stage.publish(package_id, workdir, files)
    except BaseException:
        stage.abort(package_id, workdir)
        raise
    return package_id


def check_function_name(name: str, signature: Any) -> None:
    """Refuse a deployment name that is a DuckDB function's (``abs``, ``sum``, ...): in SQL
    it would overload or fail to replace the built-in one."""
    import duckdb

    con = readers.connect()
    try:
        taken = con.execute(
            "SELECT 1 FROM duckdb_functions() WHERE lower(function_name) = lower(?) LIMIT 1", [name]
        ).fetchall()
        if not taken:
            sql_functions.register(con, name, sql_functions.positional(lambda *arrays: None, len(signature.inputs)),
                                   signature)
    except duckdb.CatalogException:  # the name is a catalog entry of DuckDB's ("user", "count")
        taken = [(1,)]
    finally:
        con.close()
    if taken:
        raise InvalidInput(f"deployment name {name!r} is taken by a DuckDB built-in function; choose another name")
