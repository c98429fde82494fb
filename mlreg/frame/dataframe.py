"""DataFrame: a Snowpark-style frame over a DuckDB relation.

Every transformation returns a new DataFrame over a new lazy relation; nothing runs until
an action (``collect``, ``show``, ``count``, ``to_pandas``...). ``df.relation`` is the
DuckDB relation itself, for anything DuckDB does that this layer does not.

Where Snowpark and DuckDB read the same call differently, the rule is:

- a string that names a column is that column (Snowpark); any other string that is not a
  bare identifier is DuckDB SQL, used as written: ``select("NAME, TAGS->>'stage' AS s")``,
  ``filter("NAME = 'm'")``, ``sort("CREATION_TIME DESC")`` (DuckDB, as before); a bare
  identifier that names no column is an error naming it and listing the columns;
- ``count()`` is the number of rows (Snowpark); ``count("*")`` with an argument is
  DuckDB's ``count`` aggregate, a one-row frame (as before);
- ``show()`` prints Snowpark's table format; ``limit(n, offset)`` and ``distinct()`` mean
  the same in both;
- ``columns`` and ``schema`` name columns as Snowpark does (``NAME``, or quoted
  when not a plain upper-case identifier: ``'"stage"'``); Row fields and
  ``relation.columns`` use the names as they are (``stage``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple

import duckdb

from mlreg.errors import InvalidInput
from mlreg.frame.column import Column, aggregate, col, lit, to_column
from mlreg.frame.names import Scope, display_name, looks_like_name, normalize, quote_ident, snowflake_name
from mlreg.frame.row import Row


class Field(NamedTuple):
    name: str       # as in DataFrame.columns
    datatype: str   # the DuckDB type: VARCHAR, JSON, TIMESTAMP WITH TIME ZONE, DOUBLE...


class Schema(tuple):
    """The columns of a frame and their DuckDB types: a tuple of :class:`Field`
    (``schema.names``, ``schema.fields``, as on Snowpark's ``StructType``)."""

    @property
    def fields(self) -> list[Field]:
        return list(self)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self]

    def __repr__(self) -> str:
        return "Schema(" + ", ".join(f"{f.name} {f.datatype}" for f in self) + ")"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _flatten(cols: tuple[Any, ...]) -> list[Any]:
    """``f("A", "B")`` or ``f(["A", "B"])``, as Snowpark takes them."""
    if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
        return list(cols[0])
    return list(cols)


def _item(column: Column, scope: Scope) -> str:
    """A select-list item: a plain column keeps its name; an expression gets its alias, or
    the name Snowflake would give it."""
    compiled = column._build(scope)
    if compiled.ref is not None and column._alias is None:
        return compiled.sql
    return f"{compiled.sql} AS {quote_ident(column._alias or snowflake_name(compiled.text))}"


def _ascending(ascending: Any, count: int) -> list[bool] | None:
    if ascending is None:
        return None
    if isinstance(ascending, (bool, int)):
        return [bool(ascending)] * count  # Snowpark refuses one flag for several columns
    if isinstance(ascending, (list, tuple)):
        if len(ascending) != count:
            raise InvalidInput(f"The length of col ({count}) should be same with the length of "
                               f"ascending ({len(ascending)}).")
        return [bool(a) for a in ascending]
    raise TypeError(f"ascending can only be boolean or list, but got {type(ascending)}")


def format_table(names: list[str], rows: list[tuple[Any, ...]], max_width: int = 50) -> str:
    """Rows as Snowpark's ``DataFrame.show`` prints them (a port of its ``_show_string``):
    quoted names, values by ``str`` (``NULL`` for None), multi-line values on several lines,
    cells past ``max_width`` cut with ``...``."""
    header = [quote_ident(n) for n in names]
    width = [len(h) for h in header]
    body: list[list[str]] = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            texts = str(value).split("\n") if value is not None else ["NULL"]
            for text in texts:
                width[i] = min(max_width, max(len(text), width[i]))
            cells.append(texts)
        for line in range(max(len(c) for c in cells)):
            body.append([c[line] if len(c) > line else "" for c in cells])
    width = [w + 2 for w in width]
    rule = "-" * (sum(width) + len(width) + 1) + "\n"

    def line_of(segments: list[str]) -> str:
        if not segments:
            return "|" + "|".join(" " * w for w in width) + "|\n"
        tokens = [(s[: max_width - 3] + "...").ljust(w) if len(s) > max_width else s.ljust(w)
                  for s, w in zip(segments, width)]
        return "|" + "|".join(tokens) + "|\n"

    rows_text = "".join(line_of(b) for b in body) if body else line_of([])
    return rule + line_of(header) + rule + rows_text + rule


class DataFrame:
    """A Snowpark-style DataFrame over a DuckDB relation (``DataFrame(relation)``)."""

    __slots__ = ("_rel",)

    def __init__(self, relation: duckdb.DuckDBPyRelation):
        self._rel = relation

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        """The DuckDB relation itself: every DuckDB method (``write_parquet``, ``pl``,
        ``aggregate``...) with DuckDB's own semantics."""
        return self._rel

    def _scope(self) -> Scope:
        return Scope(self._rel.columns, self._rel.types)

    def _derive(self, what: str, make: Callable[[duckdb.DuckDBPyRelation], duckdb.DuckDBPyRelation]) -> DataFrame:
        try:
            return DataFrame(make(self._rel))
        except duckdb.Error as exc:  # DuckDB binds at once: a bad name or bad SQL text
            raise InvalidInput(f"invalid {what}: {_first_line(exc)}") from None

    # -- transformations -----------------------------------------------------------------
    def select(self, *cols: Any) -> DataFrame:
        """Columns by name or :class:`Column` expression (``select("NAME", col("TAGS")["stage"])``),
        or DuckDB SQL text (``select("NAME, VERSION")``, see the module docstring)."""
        items = _flatten(cols)
        if not items:
            raise InvalidInput("select() needs at least one column")
        scope = self._scope()
        parts = []
        for item in items:
            if isinstance(item, str):
                raw = scope.find(item)
                if raw is not None:
                    parts.append(quote_ident(raw))
                elif looks_like_name(item):
                    raise scope.unknown(item)
                else:
                    parts.append(item)  # the user's DuckDB SQL, as before
            elif isinstance(item, Column):
                parts.append(_item(item, scope))
            else:
                raise TypeError(f"select() takes column names and Columns, not {type(item).__name__}")
        return self._derive("select", lambda r: r.select(", ".join(parts)))

    def filter(self, condition: Column | str) -> DataFrame:
        """Rows where a :class:`Column` condition holds, or a SQL condition (DuckDB SQL: both
        Snowpark and DuckDB take a string as SQL)."""
        if isinstance(condition, Column):
            sql = condition._build(self._scope()).sql
        elif isinstance(condition, str):
            sql = condition
        else:
            raise TypeError(f"filter() takes a Column or SQL text, not {type(condition).__name__}")
        return self._derive("filter", lambda r: r.filter(sql))

    where = filter

    def sort(self, *cols: Any, ascending: bool | int | list[bool | int] | None = None) -> DataFrame:
        """Order by names or Columns (``col("X").desc()``); ``ascending`` is one flag for all
        or one per column, and overrides a Column's own direction but not its null order.
        Nulls come first ascending, last descending (Snowpark's defaults). No columns: by
        all columns. A string that is neither a column nor a name is DuckDB order text
        (``"X DESC"``), used as written."""
        scope = self._scope()
        items = _flatten(cols) or [col(quote_ident(n)) for n in scope.names or []]
        orders = _ascending(ascending, len(items))
        parts = []
        for i, item in enumerate(items):
            if isinstance(item, str) and scope.find(item) is None and not looks_like_name(item):
                parts.append(item)
                continue
            column = to_column(item)
            direction, nulls = column._order or ("ASC", None)
            if orders is not None:
                direction = "ASC" if orders[i] else "DESC"
            nulls = nulls or ("FIRST" if direction == "ASC" else "LAST")
            parts.append(f"{column._build(scope).sql} {direction} NULLS {nulls}")
        return self._derive("sort", lambda r: r.order(", ".join(parts)))

    order_by = orderBy = sort

    def order(self, order_sql: str) -> DataFrame:
        """DuckDB's ``order``: SQL order text, e.g. ``"CREATION_TIME DESC"``."""
        return self._derive("order", lambda r: r.order(order_sql))

    def limit(self, n: int, offset: int = 0) -> DataFrame:
        """The first ``n`` rows after ``offset`` (the same in Snowpark and DuckDB)."""
        for what, value in (("n", n), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"limit {what} must be a non-negative integer, not {value!r}")
        return self._derive("limit", lambda r: r.limit(n, offset))

    def distinct(self) -> DataFrame:
        return self._derive("distinct", lambda r: r.distinct())

    def with_column(self, col_name: str, column: Column) -> DataFrame:
        """Add a column, or replace the one of that name (the new one comes last, as in
        Snowpark); an unquoted name is upper-cased."""
        return self.with_columns([col_name], [column])

    withColumn = with_column

    def with_columns(self, col_names: list[str], values: list[Column]) -> DataFrame:
        if len(col_names) != len(values):
            raise InvalidInput(f"with_columns: {len(col_names)} names for {len(values)} columns")
        new = {normalize(n): lit(v) for n, v in zip(col_names, values)}
        keep = [quote_ident(n) for n in self._rel.columns if n not in new]
        return self.select(*keep, *(c.alias(quote_ident(n)) for n, c in new.items()))

    def drop(self, *cols: Any) -> DataFrame:
        """Without these columns (names or column references)."""
        scope = self._scope()
        gone = {to_column(c)._build(scope).ref for c in _flatten(cols)}
        if None in gone:
            raise InvalidInput("drop() takes column names or column references, not expressions")
        keep = [quote_ident(n) for n in self._rel.columns if n not in gone]
        if not keep:
            raise InvalidInput("cannot drop every column of a frame")
        return self.select(*keep)

    def group_by(self, *cols: Any) -> GroupedData:
        """Groups for :meth:`GroupedData.agg`: ``group_by("NAME").agg(count("ID"))``."""
        return GroupedData(self, [to_column(c) for c in _flatten(cols)])

    groupBy = group_by

    def agg(self, *exprs: Any) -> DataFrame:
        """Aggregates over the whole frame (one row)."""
        return self.group_by().agg(*exprs)

    # -- actions -------------------------------------------------------------------------
    def collect(self) -> list[Row]:
        """Every row, as :class:`Row` objects (``row.NAME``, ``row["NAME"]``, ``row[0]``)."""
        names = tuple(self._rel.columns)
        return [Row._make(names, values) for values in self._rel.fetchall()]

    def first(self, n: int | None = None) -> Row | None | list[Row]:
        """The first row (None when empty); with ``n``, a list of the first ``n`` rows
        (all of them when ``n`` is negative), as in Snowpark."""
        if n is None:
            rows = self.limit(1).collect()
            return rows[0] if rows else None
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidInput(f"Invalid type of argument passed to first(): {type(n)}")
        return self.collect() if n < 0 else self.limit(n).collect()

    def count(self, *args: Any, **kwargs: Any) -> Any:
        """The number of rows (Snowpark). With arguments, DuckDB's ``count`` aggregate as a
        frame, as before: ``count("*").fetchall()[0][0]``."""
        if args or kwargs:
            return self._derive("count", lambda r: r.count(*args, **kwargs))
        return self._rel.aggregate("count(*)").fetchall()[0][0]

    def show(self, n: int = 10, max_width: int = 50) -> None:
        """Print the first ``n`` rows in Snowpark's table format (see :func:`format_table`)."""
        print(self._show_string(n, max_width))  # noqa: T201 - printing is what show is for

    def _show_string(self, n: int = 10, max_width: int = 50) -> str:
        return format_table(list(self._rel.columns), self.limit(n)._rel.fetchall(), max_width)

    def to_pandas(self) -> Any:
        """A pandas DataFrame (JSON columns as JSON text). Imports pandas, here only."""
        return self._rel.df()

    toPandas = to_pandas

    def to_arrow(self) -> Any:
        """A pyarrow Table. Imports pyarrow, here only."""
        return self._rel.to_arrow_table()

    @property
    def columns(self) -> list[str]:
        """Column names as Snowpark gives them (see the module docstring)."""
        return [display_name(n) for n in self._rel.columns]

    @property
    def schema(self) -> Schema:
        return Schema(Field(display_name(n), str(t)) for n, t in zip(self._rel.columns, self._rel.types))

    # -- DuckDB's forms, kept for existing code ------------------------------------------
    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rel.fetchall()

    def df(self) -> Any:
        return self.to_pandas()

    fetchdf = df
    to_arrow_table = to_arrow

    # -- access to columns -----------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        """``df["NAME"]`` or ``df[0]``: a Column of this frame; ``df[["A", "B"]]``: a select."""
        if isinstance(key, (list, tuple)):
            return self.select(*key)
        if isinstance(key, Column):
            return key
        names = self._rel.columns
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(names) <= key < len(names):
                raise IndexError(f"column index {key} out of range for {len(names)} columns")
            return col(quote_ident(names[key]))
        if isinstance(key, str):
            return col(quote_ident(self._scope().resolve(key)))
        raise TypeError(f"a frame is indexed by a column name or position, not {type(key).__name__}")

    def __getattr__(self, name: str) -> Column:
        """``df.NAME``: a column, resolved as ``col`` resolves names."""
        if name.startswith("_"):
            raise AttributeError(name)
        scope = self._scope()
        raw = scope.find(name)
        if raw is None:
            raise AttributeError(f"DataFrame has no attribute or column {name!r}; "
                                 f"the columns are: {', '.join(scope.names or [])}")
        return col(quote_ident(raw))

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("a DataFrame is not iterable: use collect() for its rows")

    def __repr__(self) -> str:
        return "DataFrame[" + ", ".join(f"{f.name}: {f.datatype}" for f in self.schema) + "]"


class GroupedData:
    """``df.group_by(...)``: aggregate with :meth:`agg`, or :meth:`count`, :meth:`sum`..."""

    def __init__(self, df: DataFrame, groups: list[Column]):
        self._df, self._groups = df, groups

    def agg(self, *exprs: Any) -> DataFrame:
        """Aggregates as Columns (``count("ID")``, ``max(col("X")).alias("M")``), as
        ``("COL", "sum")`` pairs, or as ``{"COL": "max"}`` dicts; the group columns come first."""
        items = _aggregates(exprs)
        if not items:
            raise InvalidInput("agg() needs at least one aggregate")
        scope = self._df._scope()
        select = ", ".join(_item(c, scope) for c in self._groups + items)
        groups = ", ".join(g._build(scope).sql for g in self._groups)
        return self._df._derive("aggregate", lambda r: r.aggregate(select, groups))

    def count(self) -> DataFrame:
        """Rows per group, in a column ``COUNT``."""
        return self.agg(aggregate("count", "*").alias("COUNT"))

    def _each(self, function: str, cols: tuple[Any, ...]) -> DataFrame:
        return self.agg(*(aggregate(function, c) for c in cols))

    def sum(self, *cols: Any) -> DataFrame:
        return self._each("sum", cols)

    def min(self, *cols: Any) -> DataFrame:
        return self._each("min", cols)

    def max(self, *cols: Any) -> DataFrame:
        return self._each("max", cols)

    def avg(self, *cols: Any) -> DataFrame:
        return self._each("avg", cols)

    mean = avg


def _aggregates(exprs: Any) -> list[Column]:
    out: list[Column] = []
    for expr in exprs:
        if isinstance(expr, Column):
            out.append(expr)
        elif isinstance(expr, tuple) and len(expr) == 2:
            out.append(aggregate(expr[1], expr[0]))
        elif isinstance(expr, dict):
            out.extend(aggregate(function, name) for name, function in expr.items())
        elif isinstance(expr, list):
            out.extend(_aggregates(expr))
        else:
            raise TypeError(f"agg() takes Columns, (column, function) pairs or dicts, not {type(expr).__name__}")
    return out
