"""What deploy does with data around a scorer: the kinds of input `predict` takes, scored
batches (the outputs, after the inputs when asked), and the output schema.

Files are read by ``mlreg.data.readers`` and written by ``mlreg.data.writers``; only the
warehouse platform (``deploy/warehouse.py``) works with DuckDB itself.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa


def kind_of(data: Any) -> str:
    """'pandas', 'arrow', 'relation' or 'path'; anything else is refused."""
    module = type(data).__module__ or ""
    if isinstance(data, (str, os.PathLike)):
        return "path"
    if module.startswith("pandas") and hasattr(data, "columns"):
        return "pandas"
    if module.startswith("pyarrow") and hasattr(data, "schema") and hasattr(data, "num_rows"):
        return "arrow"
    if module.startswith("duckdb") and hasattr(data, "to_arrow_reader"):
        return "relation"
    raise InvalidInput(
        f"cannot score data of type {type(data).__name__}: pass a pandas DataFrame, a pyarrow Table, "
        "a DuckDB relation, or the path of a Parquet, CSV or JSON file"
    )


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (never spliced unquoted)."""
    return '"' + str(name).replace('"', '""') + '"'


def scored_batches(
    source: Iterable["pa.RecordBatch"],
    score: Callable[["pa.Table"], "pa.Table"],
    feature_columns: list[str],
    feature_names: list[str],
    with_inputs: bool,
) -> Iterator["pa.RecordBatch"]:
    """Score each batch of ``source``: the features (``feature_columns`` renamed to the
    signature's ``feature_names``) go to ``score``; the result is the outputs, after the
    input columns when ``with_inputs``."""
    import pyarrow as pa

    for batch in source:
        table = pa.Table.from_batches([batch])
        features = table.select(feature_columns).rename_columns(feature_names)
        out = score(features)
        if with_inputs:
            out = pa.Table.from_arrays(table.columns + out.columns, names=table.column_names + out.column_names)
        yield from out.to_batches()


def output_schema(input_schema: "pa.Schema | None", outputs: "pa.Schema") -> "pa.Schema":
    """The schema of scored batches: the outputs, after the inputs when given; an output
    named like an input column is refused rather than silently shadowing it."""
    import pyarrow as pa

    if input_schema is None:
        return outputs
    check_clash(input_schema.names, outputs.names)
    return pa.schema(list(input_schema) + list(outputs))


def check_clash(inputs: list[str], outputs: list[str]) -> None:
    clash = sorted(set(inputs) & set(outputs))
    if clash:
        raise InvalidInput(
            f"output column(s) {', '.join(clash)} have the name of an input column; rename the input column(s) "
            "or deploy with output_with_input_features=False"
        )
