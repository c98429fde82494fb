"""The kinds of data `predict` takes and gives back, and the files it reads and writes.

Input kinds: a pandas DataFrame, a pyarrow Table, a DuckDB relation, or a path to a
Parquet, CSV or JSON file (``-`` is standard input, spooled to a temporary file). Files
are read and written by DuckDB; a written file appears whole or not at all (it is
written to a temporary file beside the target and renamed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator

from mlreg.errors import InvalidInput, MlregError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# file extension -> format
EXTENSIONS = {
    ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".tsv": "tsv",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
FORMATS = ("parquet", "csv", "tsv", "json", "jsonl")


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


def sniff(path: Path) -> str:
    """The format of a file without a known extension, from its first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise InvalidInput(f"cannot read input {path}: {e.strerror}") from None
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def format_of(path: str | Path, what: str = "input") -> str:
    """The format of a file, from its extension (an input without one is sniffed)."""
    path = Path(path)
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is not None:
        return fmt
    if what == "input":
        return sniff(path)
    raise InvalidInput(
        f"cannot tell the format of output {path} from its extension; use one of: {', '.join(sorted(EXTENSIONS))}"
    )


def connect() -> "duckdb.DuckDBPyConnection":
    """A private in-memory DuckDB connection (no progress bar on our stderr)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    return con


def check_input(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"input file {path} does not exist")
    if path.is_dir():
        raise InvalidInput(f"input {path} is a directory, not a file")
    return path


def parquet_file(path: str | Path) -> Any:
    """A Parquet file opened by pyarrow (it streams column-pruned batches faster than a
    DuckDB scan turned into Arrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = check_input(path)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise InvalidInput(f"cannot read input {path} as parquet: {first_line(e)}") from None


def parquet_batches(pf: Any, path: str | Path, rows: int, columns: list[str] | None) -> Iterator["pa.RecordBatch"]:
    import pyarrow as pa

    it = pf.iter_batches(batch_size=rows, columns=columns)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            raise InvalidInput(f"cannot read input {path} as parquet: {first_line(e)}") from None
        yield batch


def read_file(con: "duckdb.DuckDBPyConnection", path: str | Path, fmt: str | None = None) -> "duckdb.DuckDBPyRelation":
    """A relation over a Parquet, CSV or JSON file; one clear error when it cannot be read."""
    import duckdb

    path = check_input(path)
    fmt = fmt or format_of(path)
    try:
        if fmt == "parquet":
            return con.read_parquet(str(path))
        if fmt in ("csv", "tsv"):
            return con.read_csv(str(path), sep="\t") if fmt == "tsv" else con.read_csv(str(path))
        return con.read_json(str(path))
    except duckdb.Error as e:
        raise InvalidInput(f"cannot read input {path} as {fmt}: {read_error(e)}") from None


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_error(exc: BaseException) -> str:
    """A reader's error on one line: its first paragraph (DuckDB's CSV errors name the
    line and column there, then list generic advice)."""
    paragraph = str(exc).strip().split("\n\n", 1)[0]
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(exc).__name__


@contextmanager
def spooled(stream: IO[bytes]) -> Iterator[Path]:
    """Standard input as a temporary file (DuckDB reads files, not pipes)."""
    fd, name = tempfile.mkstemp(prefix="mlreg-stdin-")
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(stream, f, 1 << 20)
        yield Path(name)
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


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
