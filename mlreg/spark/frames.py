"""Scoring a Spark DataFrame with a spec (``DataFrame.mapInArrow``: whole Arrow batches,
no pandas round trip), and the files `mlreg predict` reads and writes through Spark.

Input columns are matched to the signature on the driver, by name (exactly, else
case-insensitively), so that a missing or mistyped column is named before any task runs.
Imports pyspark: imported only by the Spark entry points.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlreg.errors import InvalidInput
from mlreg.runtime.spec import ScoringSpec
from mlreg.spark import executor
from mlreg.spark.types import feature_type, output_schema, quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlreg.model_signature import ModelSignature

_NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double"}
#: output formats -> Spark data source and its options
_WRITERS = {"parquet": ("parquet", {}), "csv": ("csv", {"header": "true"}),
            "tsv": ("csv", {"header": "true", "sep": "\t"}), "json": ("json", {}), "jsonl": ("json", {})}


def is_spark_frame(data: Any) -> bool:
    """A pyspark DataFrame (classic or Spark Connect), told without importing pyspark."""
    return (type(data).__module__ or "").startswith("pyspark.sql") and type(data).__name__ == "DataFrame"


def input_columns(signature: "ModelSignature", df: "DataFrame", label: str) -> list[str]:
    """The columns of ``df`` feeding the signature's inputs, in its order. A missing
    column, or one of a type that cannot hold the feature, is an error naming it."""
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    by_lower: dict[str, list[str]] = {}
    for c in types:
        by_lower.setdefault(c.lower(), []).append(c)
    out = []
    for f in signature.inputs:
        if f.name in types:
            name = f.name
        elif len(by_lower.get(f.name.lower(), [])) == 1:
            name = by_lower[f.name.lower()][0]
        else:
            have = ", ".join(list(types)[:20]) + (" ..." if len(types) > 20 else "")
            raise InvalidInput(f"{label}: input is missing column {f.name!r} (expected {f.describe()}); it has: {have}")
        want, got = feature_type(f), types[name]
        if want != got and not (want in _NUMERIC and got in _NUMERIC):
            raise InvalidInput(f"{label}: input column {name!r} is {got}; expected {f.describe()} ({want})")
        out.append(name)
    return out


def predict(spec: ScoringSpec, df: "DataFrame", with_inputs: bool = False) -> "DataFrame":
    """``df`` scored: the outputs (after its columns when ``with_inputs``), one row per
    row, lazily (Spark runs it when an action asks)."""
    from pyspark.sql.types import StructType, _parse_datatype_string

    signature = spec.model_signature()
    columns = input_columns(signature, df, spec.label)
    outputs = _parse_datatype_string(output_schema(signature))
    if with_inputs:
        clash = sorted({f.lower() for f in df.columns} & {f.name.lower() for f in outputs.fields})
        if clash:
            raise InvalidInput(
                f"output column(s) {', '.join(clash)} have the name of an input column; rename the input column(s) "
                "or deploy with output_with_input_features=False"
            )
        schema = StructType(df.schema.fields + outputs.fields)
    else:
        df = df.select(*[quote(c) for c in columns])
        schema = outputs
    return df.mapInArrow(functools.partial(executor.score_batches, spec, columns, with_inputs), schema)


# -- files ----------------------------------------------------------------------------------
def format_of(path: str, what: str) -> str:
    """parquet, csv, tsv, json or jsonl: from the name's extension, else (a directory
    Spark wrote) from its data files'."""
    from mlreg.data.readers import EXTENSIONS

    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None and what == "input" and os.path.isdir(path):
        for child in sorted(Path(path).rglob("*")):
            if child.is_file() and not child.name.startswith((".", "_")):
                suffixes = [s.lower() for s in child.suffixes]
                fmt = next((EXTENSIONS[s] for s in reversed(suffixes) if s in EXTENSIONS), None)
                break
    if fmt is None:
        raise InvalidInput(
            f"cannot tell the format of {what} {path} from its name; use one of: {', '.join(sorted(EXTENSIONS))}"
        )
    return fmt


def read(spark: "SparkSession", path: str) -> "DataFrame":
    """A Parquet, CSV, TSV or JSON file, or a directory of them (Spark's parts)."""
    if "://" not in path and not os.path.exists(path):
        raise InvalidInput(f"cannot read input {path}: no such file or directory")
    fmt = format_of(path, "input")
    reader = spark.read
    if fmt == "parquet":
        return reader.parquet(path)
    if fmt in ("csv", "tsv"):
        return reader.csv(path, header=True, inferSchema=True, sep="\t" if fmt == "tsv" else ",")
    return reader.json(path, multiLine=fmt == "json" and _json_array(path))


def _json_array(path: str) -> bool:
    """A .json file holding one JSON array (rather than a record per line)."""
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(4096).lstrip()[:1] == b"["


def write(df: "DataFrame", output: str, fmt: str | None = None) -> None:
    """Write ``df`` as Spark does (a directory of parts), all or nothing for a local
    path: into a hidden sibling directory, renamed into place when complete."""
    fmt = fmt or format_of(output, "output")
    if fmt not in _WRITERS:
        raise InvalidInput(f"unknown output format {fmt!r}; known: {', '.join(_WRITERS)}")
    source, options = _WRITERS[fmt]
    if "://" in output:
        df.write.format(source).options(**options).mode("errorifexists").save(output)
        return
    target = Path(output)
    if target.exists():
        raise InvalidInput(f"cannot write {output}: it exists; remove it or choose another path")
    if not target.parent.resolve().is_dir():
        raise InvalidInput(f"cannot write {output}: directory {target.parent} does not exist")
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        df.write.format(source).options(**options).save(str(tmp.resolve()))
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
