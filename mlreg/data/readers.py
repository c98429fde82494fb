"""Files a user hands over, read into the values the core takes: batch input (``predict``,
the service client), sample input (``log --sample-input``), signatures and metric values.

One table of extensions (``EXTENSIONS``) and one sniffing function (``sniff``) decide the
format of every data file. Batch input may also come without an extension (its first bytes
tell) or on standard input (spooled to a temporary file: DuckDB reads files, not pipes).
CSV, TSV and JSON are read by DuckDB, Parquet by pyarrow or DuckDB; a small CSV of plain
numbers (the usual sample input) is read without starting DuckDB at all. pandas, numpy,
pyarrow and DuckDB are imported only when a file of that kind is read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator

from mlreg.errors import InvalidInput

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


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_error(exc: BaseException) -> str:
    """A reader's error on one line: its first paragraph (DuckDB's CSV errors name the
    line and column there, then list generic advice)."""
    paragraph = str(exc).strip().split("\n\n", 1)[0]
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(exc).__name__


# -- batch input ----------------------------------------------------------------------------
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


def read_table(path: str | Path, fmt: str | None = None) -> "pa.Table":
    """A whole Parquet, CSV or JSON file as an Arrow table (see :func:`read_file`)."""
    con = connect()
    try:
        return read_file(con, path, fmt).to_arrow_table()
    finally:
        con.close()


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


# -- sample input ---------------------------------------------------------------------------
TEXT_AS_CSV = ".txt"
"""Sample input may also be a ``.txt`` file, read as CSV (batch input of that name is sniffed)."""

# A plain sample file: a header of identifiers, then rows of plain decimal numbers
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\Z")  # fits in BIGINT
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]{1,2})?|[eE][-+]?[0-9]{1,2})\Z")
_PLAIN_MAX_BYTES = 64 * 1024
_PLAIN_MAX_ROWS = 2048


def _is_number(text: str) -> bool:
    try:
        float(text)  # also "nan", "inf", "infinity": DuckDB would read such a header as data
    except ValueError:
        return False
    return True


def read_plain_numbers(path: Path) -> Any | None:
    """A small CSV or TSV file of identifier column names over rows of plain decimal
    numbers (the usual sample input), as a pandas DataFrame, without starting DuckDB:
    a column is int64 when every value is an integer, else float64, the types DuckDB's
    reader gives it (BIGINT, DOUBLE). None for anything else (other names or values,
    empty cells, quotes, leading zeros, a larger file): DuckDB reads those."""
    try:
        if path.stat().st_size > _PLAIN_MAX_BYTES:
            return None
        text = path.read_bytes().decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    if "\r" in text:
        if not text.count("\r") == text.count("\r\n") == text.count("\n"):
            return None  # mixed line ends
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":  # the last line's end
        lines.pop()
    if not 2 <= len(lines) <= _PLAIN_MAX_ROWS + 1:
        return None
    header = lines[0]
    sep = "," if "," in header else "\t" if "\t" in header else "\n"  # "\n": one column
    names = header.split(sep)
    if not all(_NAME.match(n) and not _is_number(n) for n in names) or len({n.lower() for n in names}) != len(names):
        return None
    columns: list[list[str]] = [[] for _ in names]
    floats = [False] * len(names)
    for line in lines[1:]:
        cells = line.split(sep)
        if len(cells) != len(names):
            return None
        for i, cell in enumerate(cells):
            if not _INT.match(cell):
                if not _FLOAT.match(cell):
                    return None
                floats[i] = True
            columns[i].append(cell)
    try:
        import numpy as np
        import pandas as pd
    except ImportError:
        return None
    return pd.DataFrame({
        name: np.array([float(v) for v in col], dtype=np.float64) if is_float
        else np.array([int(v) for v in col], dtype=np.int64)
        for name, col, is_float in zip(names, columns, floats)
    })


def read_sample_input(path: Path) -> Any:
    """A few rows from a CSV/TSV, Parquet or JSON (records or lines) file, as a DuckDB
    relation (the core takes relations as sample input), or as a pandas DataFrame for a
    plain CSV of numbers (``read_plain_numbers``: starting DuckDB costs more than reading it).
    CSV and TSV are read with the dialect DuckDB sniffs, as the plain-number reader does."""
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = "csv" if suffix == TEXT_AS_CSV else EXTENSIONS.get(suffix)
    if fmt is None:
        raise InvalidInput(
            f"sample input {path}: unknown file type {path.suffix or '(none)'}; use .csv, .tsv, .parquet or .json"
        )
    if not path.is_file():
        raise InvalidInput(f"sample input {path} does not exist or is not a file")
    if fmt in ("csv", "tsv"):
        frame = read_plain_numbers(path)
        if frame is not None:
            return frame
    import duckdb

    read = {"csv": duckdb.read_csv, "tsv": duckdb.read_csv, "parquet": duckdb.read_parquet}.get(fmt, duckdb.read_json)
    try:
        rel = read(str(path))
        rel.limit(1).fetchall()  # parse now, so a bad file is reported as such
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot read sample input {path}: {first}") from None
    return rel


# -- JSON documents and metric values ---------------------------------------------------------
def read_json_file(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} {path} is not valid JSON: {exc}") from None


def read_signatures(path: Path) -> dict[str, Any]:
    """A signatures file: a JSON object mapping each target method to its signature."""
    data = read_json_file(path, "signatures file")
    if not isinstance(data, dict):
        raise InvalidInput(
            f"signatures file {path} must hold an object mapping each target method to "
            '{"inputs": [...], "outputs": [...]}'
        )
    return data


def read_metric_file(path: Path) -> Any:
    """A metric value from a .json or .npy file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_json_file(path, "metric file")
    if suffix == ".npy":
        import numpy as np

        try:
            return np.load(path, allow_pickle=False)
        except OSError as exc:
            raise InvalidInput(f"cannot read metric file {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InvalidInput(f"metric file {path} is not a NumPy .npy array: {exc}") from None
    raise InvalidInput(f"metric file {path} must be .json or .npy, not {suffix or '(no suffix)'}")
