"""Scored data written to files: Parquet, CSV, TSV, JSON or JSON Lines, from Arrow batches.

A written file appears whole or not at all: it is written to a temporary file beside the
target and renamed. Parquet and flat CSV/TSV are streamed by pyarrow's writers; JSON and
nested CSV by DuckDB's ``COPY``. pyarrow and DuckDB are imported only when a file is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from mlreg.data.readers import FORMATS, connect, first_line, format_of
from mlreg.errors import InvalidInput, MlregError

if TYPE_CHECKING:
    import pyarrow as pa


def quote_string(text: str) -> str:
    """A SQL string literal (never spliced unquoted)."""
    return "'" + str(text).replace("'", "''") + "'"


class Capture:
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

    capture = Capture()
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
