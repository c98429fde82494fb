"""A scorer as a vectorized DuckDB scalar function: one Arrow array per input feature
in, one array out (a STRUCT of the named outputs when there are several).

DuckDB 2.0 calls an Arrow function once per 2,048-row vector, so batch ``predict`` does
not go through SQL: it streams large Arrow batches through the same scorer.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable

from mlreg.errors import MlregError

if TYPE_CHECKING:
    import duckdb

    from mlreg.model_signature import FeatureSpec, ModelSignature
    from mlreg.runtime.scorer import Scorer

_DUCKDB_TYPES = {
    "INT8": "TINYINT", "INT16": "SMALLINT", "INT32": "INTEGER", "INT64": "BIGINT",
    "UINT8": "UTINYINT", "UINT16": "USMALLINT", "UINT32": "UINTEGER", "UINT64": "UBIGINT",
    "FLOAT": "FLOAT", "DOUBLE": "DOUBLE", "BOOL": "BOOLEAN", "STRING": "VARCHAR",
    "BYTES": "BLOB", "TIMESTAMP_NTZ": "TIMESTAMP",
}


def duckdb_type(feature: "FeatureSpec") -> Any:
    """The DuckDB type of a feature (a LIST per array dimension)."""
    import duckdb
    from duckdb import sqltypes

    t = getattr(sqltypes, _DUCKDB_TYPES[feature.dtype.value])
    for _ in feature.shape or ():
        t = duckdb.list_type(t)
    return t


def return_type(signature: "ModelSignature") -> Any:
    import duckdb

    outputs = signature.outputs
    if len(outputs) == 1:
        return duckdb_type(outputs[0])
    return duckdb.struct_type({f.name: duckdb_type(f) for f in outputs})


def call(scorer: "Scorer", arrays: tuple) -> Any:
    """Score one vector of rows given as one Arrow array per input feature."""
    import pyarrow as pa

    table = pa.Table.from_arrays([_array(a) for a in arrays], names=scorer.input_names)
    out = scorer.score(table)
    if out.num_columns == 1:
        return out.column(0).combine_chunks()
    return pa.StructArray.from_arrays([c.combine_chunks() for c in out.columns], names=out.column_names)


def lazy_body(load: Callable[[], "Scorer"], n_inputs: int, failures: list[BaseException] | None = None) -> Callable[..., Any]:
    """A function body that loads its model on first call (``mlreg sql`` registers every
    deployment, but only the ones a query uses should cost a model load). mlreg errors
    raised while scoring are appended to ``failures`` (DuckDB re-raises them wrapped)."""

    def body(*arrays: Any) -> Any:
        scorer = load()
        try:
            return call(scorer, arrays)
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


def register(con: "duckdb.DuckDBPyConnection", name: str, fn: Any, signature: "ModelSignature") -> None:
    con.create_function(  # type: ignore[call-overload]  # DuckDB's stubs lack type="arrow" with side_effects
        name, fn, [duckdb_type(f) for f in signature.inputs], return_type(signature),
        type="arrow", null_handling="special", side_effects=False,
    )


def _array(a: Any) -> Any:
    return a.combine_chunks() if hasattr(a, "combine_chunks") else a
