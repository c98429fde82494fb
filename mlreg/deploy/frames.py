"""The kinds of data `predict` takes and gives back, and the files it writes.

Input kinds: a pandas DataFrame, a pyarrow Table, a DuckDB relation, or a path to a
Parquet, CSV or JSON file (``-`` is standard input, spooled to a temporary file). Input
files are read by ``mlreg.data.readers`` (the one table of extensions and the one sniffing
function; its names are re-exported here for deploy's callers). Output files are written
by pyarrow or DuckDB; a written file appears whole or not at all (it is written to a
temporary file beside the target and renamed).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from mlreg.data.readers import (  # noqa: F401 - re-exported: deploy reads its input through these
    EXTENSIONS,
    FORMATS,
    check_input,
    connect,
    first_line,
    format_of,
    parquet_batches,
    parquet_file,
    read_error,
    read_file,
    sniff,
    spooled,
)
from mlreg.errors import InvalidInput, MlregError

if TYPE_CHECKING:
    import duckdb
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


def quote_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


class _Capture:
    """Remembers the first exception a batch generator raised, so that the error which
    reaches the user is ours (e.g. a validation error), not DuckDB's wrapping of it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def wrap(self, batches: Iterable["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        try:
            yield from batches
        except BaseException as e:
            self.error = e
            raise

    def reraise(self, exc: BaseException, what: str) -> None:
        if self.error is not None:
            raise self.error
        if isinstance(exc, MlregError):
            raise exc
        raise InvalidInput(f"{what}: {first_line(exc)}") from None


def reader(schema: "pa.Schema", batches: Iterable["pa.RecordBatch"]) -> "pa.RecordBatchReader":
    import pyarrow as pa

    return pa.RecordBatchReader.from_batches(schema, batches)


def to_relation(schema: "pa.Schema", batches: Iterable["pa.RecordBatch"]) -> "duckdb.DuckDBPyRelation":
    """Scored batches as a relation over an in-memory table of their own."""
    capture = _Capture()
    con = connect()
    con.register("scored", reader(schema, capture.wrap(batches)))
    try:
        con.execute("CREATE TABLE predictions AS SELECT * FROM scored")
    except Exception as e:  # noqa: BLE001 - translated below
        con.close()
        capture.reraise(e, "scoring failed")
    con.unregister("scored")
    return con.table("predictions")


_COPY_OPTIONS = {
    "parquet": "FORMAT parquet",
    "csv": "FORMAT csv, HEADER true",
    "tsv": "FORMAT csv, HEADER true, DELIMITER '\t'",
    "json": "FORMAT json, ARRAY true",
    "jsonl": "FORMAT json",
}


def write_file(
    schema: "pa.Schema",
    batches: Iterable["pa.RecordBatch"],
    path: str | Path,
    fmt: str | None = None,
) -> int:
    """Write scored batches to ``path`` atomically: a temporary file beside it, renamed
    when complete; on any error the temporary file is removed and ``path`` is untouched.
    Returns the number of rows written."""
    path = Path(path)
    fmt = fmt or format_of(path, "output")
    if fmt not in _COPY_OPTIONS:
        raise InvalidInput(f"unknown output format {fmt!r}; known: {', '.join(FORMATS)}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInput(f"cannot write {path}: directory {parent} does not exist")
    if path.is_dir():
        raise InvalidInput(f"cannot write {path}: it is a directory")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise InvalidInput(f"cannot write {path}: {e.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        rows = _write(schema, batches, tmp, fmt, path)
        _match_mode(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def _write(schema: "pa.Schema", batches: Iterable["pa.RecordBatch"], tmp: Path, fmt: str, path: Path) -> int:
    import pyarrow as pa

    nested = any(pa.types.is_nested(f.type) for f in schema)
    rows = 0
    if fmt == "parquet" or (fmt in ("csv", "tsv") and not nested):
        # pyarrow's writers stream batches straight out; no dictionary for floats (costly
        # to build and useless on continuous values)
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        try:
            if fmt == "parquet":
                dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
                writer: Any = pq.ParquetWriter(tmp, schema, use_dictionary=dictionary or False)
            else:
                writer = pcsv.CSVWriter(tmp, schema, write_options=pcsv.WriteOptions(delimiter="\t" if fmt == "tsv" else ","))
            with writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        except (pa.ArrowException, OSError) as e:
            raise InvalidInput(f"cannot write {path}: {first_line(e)}") from None
        return rows
    counter = [0]

    def counted(it: Iterable["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        for b in it:
            counter[0] += b.num_rows
            yield b

    capture = _Capture()
    con = connect()
    try:
        con.register("scored", reader(schema, capture.wrap(counted(batches))))
        try:
            con.execute(f"COPY (SELECT * FROM scored) TO {quote_string(str(tmp))} ({_COPY_OPTIONS[fmt]})")
        except Exception as e:  # noqa: BLE001 - translated below
            capture.reraise(e, f"cannot write {path}")
    finally:
        con.close()
    return counter[0]


def _match_mode(tmp: Path) -> None:
    # mkstemp creates 0600; give the output the mode a plain open() would (umask applies)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


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
