"""Turning files named on the command line into the Python values the core takes:
the MODEL of ``log``, its sample input and signatures, and metric files.

Heavy libraries are imported here only when such a file is actually read.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from mlreg.errors import InvalidInput

SAMPLE_READERS = {
    ".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv",
    ".parquet": "read_parquet", ".pq": "read_parquet",
    ".json": "read_json", ".jsonl": "read_json", ".ndjson": "read_json",
}


def _cwd_on_path() -> None:
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _import_reference(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"model {spec!r}: no such file, and not a module:attribute reference")
    _cwd_on_path()
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"model {spec!r}: cannot import module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidInput(f"model {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def read_model(spec: str, type_name: str | None = None) -> Any:
    """MODEL of ``mlreg log``: a model file or directory (read by the handlers), or
    ``module:attribute``. The working directory is on sys.path for both."""
    from mlreg import handlers

    _cwd_on_path()
    if Path(spec).exists():
        return handlers.load_model_file(spec, type_name)
    if ":" in spec and not spec.startswith(("/", ".")):
        return _import_reference(spec)
    raise InvalidInput(f"model file {spec} does not exist (nor is it a module:attribute reference)")


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
    plain CSV of numbers (``read_plain_numbers``: starting DuckDB costs more than reading it)."""
    reader = SAMPLE_READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput(
            f"sample input {path}: unknown file type {path.suffix or '(none)'}; use .csv, .tsv, .parquet or .json"
        )
    if not path.is_file():
        raise InvalidInput(f"sample input {path} does not exist or is not a file")
    if reader == "read_csv":
        frame = read_plain_numbers(path)
        if frame is not None:
            return frame
    import duckdb

    try:
        rel = getattr(duckdb, reader)(str(path))
        rel.limit(1).fetchall()  # parse now, so a bad file is reported as such
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot read sample input {path}: {first}") from None
    return rel


def read_json_file(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} {path} is not valid JSON: {exc}") from None


def read_signatures(path: Path) -> dict[str, Any]:
    data = read_json_file(path, "signatures file")
    if not isinstance(data, dict):
        raise InvalidInput(
            f"signatures file {path} must hold an object mapping each target method to "
            '{"inputs": [...], "outputs": [...]}'
        )
    return data


def read_metric_file(path: Path) -> Any:
    """A metric value from a .json or .npy file."""
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
