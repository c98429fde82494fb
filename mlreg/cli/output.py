"""The one output sink: data to stdout in the chosen format, messages to stderr.

Every command that prints data hands a :class:`Table`, a record (one object), a
mapping (tags, metrics) or a single value to :class:`Output`; nothing else in the
CLI writes to stdout. Rich is imported only to draw a table on a terminal.

Stable JSON (scripts depend on it): ``json`` is one document (an array of objects
for tables, an object for a record or mapping, the bare value for a value);
``jsonl`` is one compact object per line. Keys are the column names (upper case,
as in the Python API's relations); timestamps are ISO 8601 with a UTC offset;
JSON-typed columns (TAGS, METRICS, ...) are nested JSON, not strings. NaN and
infinities are written ``NaN``, ``Infinity`` and ``-Infinity``.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence

from mlreg.cli.terminal import color_allowed, is_terminal  # noqa: F401 (part of this module's API)


#: on a terminal, columns at most this wide are kept on one line
KEEP_WHOLE = 40
#: ... and longer ones are folded, but not narrower than this
FOLD_MIN = 24


class Format(str, Enum):
    """Output formats shared by every data-printing command."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    markdown = "markdown"


@dataclass
class Table:
    """Rows of data with named columns. ``json_columns`` hold JSON text to be nested
    (not quoted) in json/jsonl output; ``utc_columns`` hold timestamps as UTC text
    ``YYYY-MM-DDTHH:MM:SS.ffffff`` that DuckDB wrote, ISO 8601 once rendered."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    json_columns: frozenset[str] = field(default_factory=frozenset)
    #: the JSON cells are compact JSON text already (DuckDB minified them)
    json_compact: bool = False
    utc_columns: frozenset[str] = field(default_factory=frozenset)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: a TIMESTAMPTZ as UTC text with microseconds; rendering trims it (see _utc_iso)
_UTC_TEXT = "strftime(timezone('UTC', {0}), '%Y-%m-%dT%H:%M:%S.%f') AS {0}"


def table_from_relation(rel: Any, utc_text: bool = False) -> Table:
    """Materialize a DuckDB relation (rows as plain Python values, no numpy/pandas);
    JSON columns come back minified by DuckDB, ready to be written as they are.

    ``utc_text``: timestamps with time zone come back as UTC text too, for a table that
    only gets rendered (``Output.table``): a thousand tz-aware datetimes cost more to make
    and to format than the rest of a listing."""
    columns = list(rel.columns)
    types = [str(t) for t in rel.types]
    unique = len(set(columns)) == len(columns)
    json_columns = frozenset(c for c, t in zip(columns, types) if t == "JSON")
    utc_columns = frozenset(c for c, t in zip(columns, types) if t == "TIMESTAMP WITH TIME ZONE"
                            and utc_text and unique)
    compact = bool(json_columns) and unique
    if compact or utc_columns:
        rel = rel.select(", ".join(f"json({_quoted(c)}) AS {_quoted(c)}" if c in json_columns and compact
                                   else _UTC_TEXT.format(_quoted(c)) if c in utc_columns else _quoted(c)
                                   for c in columns))
    return Table(columns, [tuple(r) for r in rel.fetchall()], json_columns, compact, utc_columns)


def _utc_iso(text: str | None, timespec: str) -> str | None:
    """UTC text from DuckDB as ``_iso`` writes the same instant as a datetime."""
    if text is None:
        return None
    if timespec == "seconds" or text.endswith(".000000"):
        return text[:19] + "+00:00"
    return text + "+00:00"


def _with_iso_times(data: Table, timespec: str) -> Table:
    at = [i for i, c in enumerate(data.columns) if c in data.utc_columns]
    rows = []
    for row in data.rows:
        cells = list(row)
        for i in at:
            cells[i] = _utc_iso(cells[i], timespec)
        rows.append(tuple(cells))
    return Table(data.columns, rows, data.json_columns, data.json_compact)


def table_from_records(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Table:
    return Table(list(columns), [tuple(r.get(c) for c in columns) for r in records])


# -- value conversion -----------------------------------------------------------------
def _iso(value: datetime, timespec: str = "auto") -> str:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.isoformat(timespec=timespec)


def jsonable(value: Any, is_json_text: bool = False) -> Any:
    """A cell as a JSON value."""
    if is_json_text and isinstance(value, str):
        import json

        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def json_fragment(value: Any, is_json_text: bool = False, compact: bool = False) -> str:
    """A cell as compact JSON text; JSON text that already is (minified by DuckDB) as it is.
    The common cells take a short way (this runs for every cell of a listing)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        if is_json_text:
            if compact:
                return value
        else:
            return _encode_string(value)
    elif isinstance(value, datetime):
        return '"' + _iso(value) + '"'
    return dump_json(jsonable(value, is_json_text))


def _encode_string(text: str) -> str:
    global _encode_string
    from json.encoder import encode_basestring  # the C encoder, non-ASCII kept as is

    _encode_string = encode_basestring  # type: ignore[assignment]  # this runs for every string cell: import once
    return encode_basestring(text)


def dump_json(value: Any, indent: int | None = None) -> str:
    import json

    return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=True,
                      separators=None if indent else (",", ":"))


def text_cell(value: Any, is_json_text: bool = False, table: bool = False, compact: bool = False) -> str:
    """A cell as text for table/csv/tsv/markdown output (JSON as compact JSON text)."""
    if value is None:
        return ""
    if isinstance(value, str) and (not is_json_text or compact):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, datetime):
        return _iso(value, "seconds" if table else "auto")
    if is_json_text and isinstance(value, str):
        return dump_json(jsonable(value, True))
    if isinstance(value, (dict, list, tuple)):
        return dump_json(jsonable(value))
    return str(value)


class Output:
    """Writes data to stdout and messages to stderr (resolved at write time, so test
    runners that swap ``sys.stdout`` see everything)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    # -- messages (stderr) -----------------------------------------------------------
    def _err(self, label: str, color: str, text: str) -> None:
        stream = sys.stderr
        prefix = f"\x1b[{color}m{label}\x1b[0m" if color_allowed(stream) else label
        stream.write(f"{prefix} {text}\n" if label else f"{text}\n")
        stream.flush()

    def message(self, text: str) -> None:
        """Progress or confirmation for humans; silenced by --quiet."""
        if not self.quiet:
            self._err("", "", text)

    def warning(self, text: str) -> None:
        if not self.quiet:
            self._err("Warning:", "33", text)

    def error(self, text: str) -> None:
        self._err("Error:", "31", text)

    # -- data (stdout) -----------------------------------------------------------------
    def _write(self, text: str) -> None:
        sys.stdout.write(text)

    def lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self._write(line + "\n")

    def table(self, data: Table, fmt: Format) -> None:
        if data.utc_columns:
            data = _with_iso_times(data, "seconds" if fmt is Format.table else "auto")
        cols, jcols = data.columns, data.json_columns
        if fmt in (Format.json, Format.jsonl):
            # composed as text: JSON cells go in as the JSON text they are (no parse and
            # re-encode), everything else through the C encoder
            keys = [dump_json(c) + ":" for c in cols]
            flags = [c in jcols for c in cols]
            compact = data.json_compact
            objs = ("{" + ",".join(k + json_fragment(v, j, compact) for k, j, v in zip(keys, flags, row)) + "}"
                    for row in data.rows)
            if fmt is Format.jsonl:
                self.lines(objs)
            elif data.rows:
                self._write("[\n  " + ",\n  ".join(objs) + "\n]\n")
            else:
                self._write("[]\n")
            return
        is_table, compact = fmt is Format.table, data.json_compact
        flags = [c in jcols for c in cols]
        # a string cell that is not JSON to re-encode stays as it is: the common cell of a
        # listing, taken without a call (text_cell would return it unchanged)
        text_rows = [[v if type(v) is str and (compact or not j) else "" if v is None
                      else text_cell(v, j, is_table, compact) for v, j in zip(row, flags)] for row in data.rows]
        if fmt in (Format.csv, Format.tsv):
            import csv

            writer = csv.writer(sys.stdout, delimiter="," if fmt is Format.csv else "\t", lineterminator="\n")
            writer.writerow(cols)
            writer.writerows(text_rows)
        elif fmt is Format.markdown:
            self.lines(markdown_table(cols, text_rows))
        elif is_terminal(sys.stdout):
            self._rich_table(cols, text_rows)
        else:
            self.lines(plain_table(cols, text_rows))

    def record(self, record: Mapping[str, Any], fmt: Format, json_keys: Iterable[str] = ()) -> None:
        """One object: json → an object; csv/tsv/jsonl → one row; table/markdown → FIELD/VALUE lines."""
        jkeys = frozenset(json_keys)
        if fmt is Format.json:
            self._write(dump_json({k: jsonable(v, k in jkeys) for k, v in record.items()}, indent=2) + "\n")
        elif fmt in (Format.jsonl, Format.csv, Format.tsv):
            self.table(Table(list(record), [tuple(record.values())], jkeys), fmt)
        else:
            cols = ["FIELD", "VALUE"]
            text_rows = [[k, text_cell(v, k in jkeys, fmt is Format.table)] for k, v in record.items()]
            if fmt is Format.markdown:
                self.lines(markdown_table(cols, text_rows))
            elif is_terminal(sys.stdout):
                self._rich_table(cols, text_rows)
            else:
                self.lines(plain_table(cols, text_rows, header=False))

    def mapping(self, mapping: Mapping[str, Any], fmt: Format, key: str = "NAME", value: str = "VALUE") -> None:
        """Tags or metrics: json → one object; other formats → a KEY/VALUE table."""
        if fmt is Format.json:
            self._write(dump_json({k: jsonable(v) for k, v in mapping.items()}, indent=2) + "\n")
        else:
            self.table(Table([key, value], list(mapping.items())), fmt)

    def value(self, value: Any, fmt: Format, raw_string: bool = True) -> None:
        """One value: JSON in json/jsonl; otherwise a string as is (``raw_string``) and
        anything else as JSON."""
        if fmt in (Format.json, Format.jsonl) or not (raw_string and isinstance(value, str)):
            self._write(dump_json(jsonable(value)) + "\n")
        else:
            self._write((visible_text(value) if is_terminal(sys.stdout) else value) + "\n")

    def _rich_table(self, cols: list[str], rows: list[list[str]]) -> None:
        from rich import box
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(box=box.SIMPLE_HEAD, header_style="bold")
        least = 1 + 3 * len(cols)  # edges, padding and separators of SIMPLE_HEAD
        for i, c in enumerate(cols):
            width = max([len(c)] + [len(r[i]) for r in rows])
            # IDs, names, times stay whole (copy-paste); long values fold; headers never break
            whole = width <= KEEP_WHOLE
            least_here = width if whole else max(len(c), FOLD_MIN)
            table.add_column(c, no_wrap=whole, overflow="fold", min_width=least_here)
            least += least_here
        for r in rows:
            table.add_row(*map(visible_text, r))
        console = Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, markup=False)
        if least > console.width:  # wider than the terminal rather than a column dropped
            console.width = least
        console.print(table)


_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    """A character as the escape Python would write it (``\\x1b``, ``\\u202e``)."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _one_line(text: str) -> str:
    """``text`` on one line, nothing a terminal would act on: backslashes, line breaks, tabs,
    control characters (escape sequences, C1 codes) and invisible formatting characters
    (bidi overrides) written as their escapes."""
    return "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)


def visible_text(text: str) -> str:
    """A free text (a description) for a terminal: its lines and tabs kept, every other
    character a terminal would act on (escape sequences, C1 codes, bidi overrides) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else _escape(c) for c in text)


def _nothing_to_escape(text: str) -> bool:
    return text.isprintable() and "\\" not in text


def plain_table(cols: Sequence[str], rows: Sequence[Sequence[str]], header: bool = True) -> list[str]:
    """Columns aligned with two spaces, no trailing blanks; control characters escaped."""
    # most rows have nothing to escape: one check of the whole row instead of one per cell
    body = [r if _nothing_to_escape("".join(r)) else [_one_line(c) for c in r] for r in rows]
    allrows = ([list(cols)] if header else []) + body
    if not allrows:
        return []
    widths = [max(map(len, column)) for column in zip(*allrows)]
    # every column but the last padded to its width (str.ljust), in one format per row
    line = "  ".join([f"{{:<{w}}}" for w in widths[:-1]] + ["{}"])
    return [line.format(*r).rstrip() for r in allrows]


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def markdown_table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return out
