"""Scoring a deployed target method on Arrow data, for the warehouse platform.

A :class:`Scorer` holds a loaded model, its handler, the target method and its
signature. It scores one Arrow table at a time (validating it against the signature
first) and also serves as the body of the DuckDB scalar function. Models are loaded
once per process and cached.
"""

from __future__ import annotations

import inspect
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mlreg import context, handlers
from mlreg.errors import InvalidInput, MlregError, NotFound
from mlreg.data.signature import FeatureSpec, ModelSignature
from mlreg.package.verify import verify_dir

if TYPE_CHECKING:
    import pyarrow as pa

    from mlreg.deploy.base import Deployment
    from mlreg.registry.registry import ModelRegistry, ModelRow

# (model ID, package directory) -> the loaded model object
_MODELS: dict[tuple[str, str], Any] = {}
# (registry file, deployment name, model ID, target method, package location) -> Scorer
_SCORERS: dict[tuple[str, str, str, str, str], "Scorer"] = {}
_LOCK = threading.RLock()

#: bytes of input per batch handed to a model at once (bounded memory, few calls)
BATCH_BYTES = 32 * 1024 * 1024

_DUCKDB_TYPES = {
    "INT8": "TINYINT", "INT16": "SMALLINT", "INT32": "INTEGER", "INT64": "BIGINT",
    "UINT8": "UTINYINT", "UINT16": "USMALLINT", "UINT32": "UINTEGER", "UINT64": "UBIGINT",
    "FLOAT": "FLOAT", "DOUBLE": "DOUBLE", "BOOL": "BOOLEAN", "STRING": "VARCHAR",
    "BYTES": "BLOB", "TIMESTAMP_NTZ": "TIMESTAMP",
}


def duckdb_type(feature: FeatureSpec) -> Any:
    """The DuckDB type of a feature (a LIST per array dimension)."""
    import duckdb
    from duckdb import sqltypes

    t = getattr(sqltypes, _DUCKDB_TYPES[feature.dtype.value])
    for _ in feature.shape or ():
        t = duckdb.list_type(t)
    return t


def arrow_type(feature: FeatureSpec) -> "pa.DataType":
    import pyarrow as pa

    base = {
        "INT8": pa.int8(), "INT16": pa.int16(), "INT32": pa.int32(), "INT64": pa.int64(),
        "UINT8": pa.uint8(), "UINT16": pa.uint16(), "UINT32": pa.uint32(), "UINT64": pa.uint64(),
        "FLOAT": pa.float32(), "DOUBLE": pa.float64(), "BOOL": pa.bool_(), "STRING": pa.string(),
        "BYTES": pa.binary(), "TIMESTAMP_NTZ": pa.timestamp("us"),
    }[feature.dtype.value]
    for _ in feature.shape or ():
        base = pa.list_(base)
    return base


def batch_rows(n_features: int) -> int:
    """Rows per batch: about BATCH_BYTES of 8-byte features, at least one DuckDB vector."""
    return max(2048, min(1 << 20, BATCH_BYTES // (8 * max(n_features, 1))))


class Scorer:
    """One deployed target method, ready to score Arrow tables."""

    def __init__(self, deployment: "Deployment", model: Any, handler: Any, signature: ModelSignature):
        self.deployment = deployment
        self.model = model
        self.handler = handler
        self.method = deployment.target_method
        self.signature = signature
        self.input_names = [f.name for f in signature.inputs]
        self.output_names = [f.name for f in signature.outputs]

    # -- schema ---------------------------------------------------------------------------
    def output_schema(self) -> "pa.Schema":
        import pyarrow as pa

        return pa.schema([pa.field(f.name, arrow_type(f)) for f in self.signature.outputs])

    def input_columns(self, columns: list[str]) -> list[str]:
        """The columns of ``columns`` that feed the signature's inputs, in signature order
        (matched exactly, else case-insensitively as SQL does). Names a missing one."""
        by_lower: dict[str, list[str]] = {}
        for c in columns:
            by_lower.setdefault(c.lower(), []).append(c)
        out = []
        for f in self.signature.inputs:
            if f.name in columns:
                out.append(f.name)
            elif len(by_lower.get(f.name.lower(), [])) == 1:
                out.append(by_lower[f.name.lower()][0])
            else:
                have = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
                raise InvalidInput(f"input is missing column {f.name!r} (expected {f.describe()}); it has: {have}")
        return out

    # -- scoring --------------------------------------------------------------------------
    def score_frame(self, data: Any) -> Any:
        """Validate ``data`` (pandas or Arrow) and return a pandas frame of the outputs. A
        model that fails on valid input is reported as such, in one line."""
        try:
            return self.handler.predict_table(self.model, self.method, data, self.signature)
        except MlregError:
            raise
        except Exception as e:  # noqa: BLE001 - the model's own error, whatever its type
            lines = str(e).strip().splitlines()
            raise InvalidInput(
                f"deployment {self.deployment.name}: {self.method} failed: {type(e).__name__}"
                + (f": {lines[0]}" if lines else "")
            ) from e

    def score(self, table: "pa.Table") -> "pa.Table":
        """Validate an Arrow table and return the outputs as an Arrow table of the
        signature's output schema, one row per input row."""
        import pyarrow as pa

        # all-float features (the usual case) convert to pandas in one multi-threaded
        # step, to the very frame the handlers' own conversion would build, only faster
        floats = all(pa.types.is_floating(t) for t in table.schema.types)
        frame = self.score_frame(table.to_pandas() if floats and table.num_columns else table)
        if len(frame) != table.num_rows:
            raise InvalidInput(
                f"deployment {self.deployment.name}: {self.method} returned {len(frame)} rows for {table.num_rows}"
            )
        schema = self.output_schema()
        missing = [n for n in self.output_names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"deployment {self.deployment.name}: {self.method} did not return output(s) "
                f"{', '.join(missing)} of its signature; it returned: {', '.join(map(str, frame.columns))}"
            )
        columns = []
        for field in schema:
            try:
                columns.append(pa.array(frame[field.name], from_pandas=True).cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
                raise InvalidInput(
                    f"deployment {self.deployment.name}: output {field.name!r} does not fit its signature type "
                    f"{field.type}: {str(e).splitlines()[0]}"
                ) from None
        return pa.Table.from_arrays(columns, schema=schema)

    # -- the DuckDB scalar function ---------------------------------------------------------
    def parameter_types(self) -> list[Any]:
        return [duckdb_type(f) for f in self.signature.inputs]

    def return_type(self) -> Any:
        return sql_return_type(self.signature)

    def sql_function(self) -> Callable[..., Any]:
        """The body of the DuckDB scalar function: one Arrow array per argument in, one
        array out (a STRUCT of the named outputs when there are several)."""
        return positional(lambda *arrays: self._call(arrays), len(self.input_names))

    def _call(self, arrays: tuple) -> Any:
        import pyarrow as pa

        table = pa.Table.from_arrays([_array(a) for a in arrays], names=self.input_names)
        out = self.score(table)
        if out.num_columns == 1:
            return out.column(0).combine_chunks()
        return pa.StructArray.from_arrays([c.combine_chunks() for c in out.columns], names=out.column_names)


def sql_return_type(signature: ModelSignature) -> Any:
    import duckdb

    outputs = signature.outputs
    if len(outputs) == 1:
        return duckdb_type(outputs[0])
    return duckdb.struct_type({f.name: duckdb_type(f) for f in outputs})


def lazy_sql_function(load: Callable[[], Scorer], n_inputs: int, failures: list[BaseException] | None = None) -> Callable[..., Any]:
    """A function body that loads its model on first call (``mlreg sql`` registers every
    deployment, but only the ones a query uses should cost a model load). Our errors
    raised while scoring are appended to ``failures`` (DuckDB re-raises them wrapped)."""

    def body(*arrays: Any) -> Any:
        scorer = load()
        try:
            return scorer._call(arrays)
        except MlregError as e:
            if failures is not None:
                failures.append(e)
            raise

    return positional(body, n_inputs)


def positional(body: Callable[..., Any], n: int) -> Callable[..., Any]:
    # DuckDB checks the function's arity against the parameter types it is given
    def fn(*arrays: Any) -> Any:
        return body(*arrays)

    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"x{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(n)]
    )
    return fn


def _array(a: Any) -> Any:
    return a.combine_chunks() if hasattr(a, "combine_chunks") else a


def signature_of(deployment: "Deployment") -> ModelSignature:
    sig = deployment.signature
    if not sig or not sig.get("inputs") or not sig.get("outputs"):
        raise InvalidInput(
            f"deployment {deployment.name} has no signature for {deployment.target_method}; "
            "log the model with sample_input_data or signatures to deploy it"
        )
    return ModelSignature.from_dict(sig)


# -- loading ------------------------------------------------------------------------------------
def load_package(path: Path, row: "ModelRow") -> Any:
    """Load the model of a verified package directory (cached per process)."""
    key = (row.id, str(path))
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        code_root = str(path / "code")
        if row.manifest.get("code_paths") and code_root not in sys.path:
            sys.path.insert(0, code_root)
        model = handlers.get_handler(row.type).load(path, row.manifest.get("handler", {}))
        _MODELS[key] = model
        return model


def scorer_for(registry: "ModelRegistry", deployment: "Deployment", quiet: bool = False) -> Scorer:
    """The cached scorer of a deployment, loading its model on first use in this process.
    ``quiet`` skips the environment warning (``deploy`` has just checked it)."""
    from mlreg.deploy import warehouse

    location = deployment.details.get("location") or ""
    key = (str(registry.path), deployment.name, deployment.model_id, deployment.target_method, location)
    with _LOCK:
        if key in _SCORERS:
            return _SCORERS[key]
        signature = signature_of(deployment)
        if location:
            row = _same_model(deployment, registry.get_model(deployment.model_name, deployment.model_version))
            package = deployment.details.get("package") or deployment.name
            path = warehouse.deployment_stage(registry, location).local_dir(package, row.files)
            verify_dir(path, row.files, f"{row.name}/{row.version} (deployment {deployment.name})")
        else:
            row, path = registry.package_dir(deployment.model_name, deployment.model_version)
            _same_model(deployment, row)
        if not quiet and (row.id, str(path)) not in _MODELS:
            diffs = context.environment_differences(row.manifest.get("environment", {}))
            if diffs:
                from mlreg.registry.registry import EnvironmentWarning

                warnings.warn(
                    f"model {row.name}/{row.version} was logged in a different environment: " + "; ".join(diffs),
                    EnvironmentWarning,
                    stacklevel=3,
                )
        model = load_package(path, row)
        scorer = Scorer(deployment, model, handlers.get_handler(row.type), signature)
        _SCORERS[key] = scorer
        return scorer


def _same_model(deployment: "Deployment", row: "ModelRow") -> "ModelRow":
    if row.id != deployment.model_id:
        raise NotFound(
            f"deployment {deployment.name} is of a model {deployment.model_name}/{deployment.model_version} "
            "that no longer exists; delete the deployment and deploy again"
        )
    return row


def forget(registry_path: str, deployment_name: str) -> None:
    """Drop this process's cached scorers of a deployment (it was deleted or replaced)."""
    with _LOCK:
        for key in [k for k in _SCORERS if k[0] == registry_path and k[1] == deployment_name]:
            del _SCORERS[key]

