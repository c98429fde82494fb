"""Column expressions, Snowpark-style, compiled to DuckDB SQL text.

A :class:`Column` is a recipe: it is compiled against the frame it is used in, so names
resolve as Snowpark resolves them and JSON columns behave like Snowflake VARIANTs.

- Names resolve as :mod:`mlreg.frame.names` says (``col("name")`` finds ``NAME``).
- SQL: identifiers are double-quoted and values are rendered by DuckDB's own constant
  expressions (``duckdb.ConstantExpression``); no user value is spliced into SQL text.
  Only text the user passes *as SQL* (``filter("...")``, ``sql_expr``) is used as written.
- JSON: ``parse_json(c)``, ``c["key"]`` and ``c.getField("key")`` give JSON values
  (``json_extract`` with a JSON pointer). Compared with a Python value, a JSON value is
  read as that value's type, as Snowflake coerces a VARIANT: a string compares with the
  JSON string's text, a number with the JSON number, a boolean with the JSON boolean.
- Output names: an expression selected without an alias is named as Snowflake names it
  (``PARSE_JSON("TAGS")['STAGE']``, see :func:`mlreg.frame.names.snowflake_name`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import duckdb

from mlreg.errors import InvalidInput
from mlreg.frame.names import Scope, normalize, quote_ident

_MISSING = object()


def render(value: Any) -> str:
    """A Python value as a SQL constant, rendered by DuckDB."""
    return str(duckdb.ConstantExpression(value))


def _value_text(value: Any) -> str:
    """A literal as Snowpark writes it in SQL (``1 :: INT``), from which Snowflake names columns."""
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") + " :: BOOLEAN"
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, int):
        return f"{value} :: INT"
    if isinstance(value, float):
        return f"'{value}' :: FLOAT"
    return render(value)


class Compiled(NamedTuple):
    sql: str                    # DuckDB SQL text
    text: str                   # Snowflake-style text, from which output names are made
    json: bool = False          # a JSON value (VARIANT semantics)
    ref: str | None = None      # the column name, for a plain column reference
    value: Any = _MISSING       # the Python value, for a literal


Build = Callable[[Scope], Compiled]

_CAST_TYPES = {
    "VARCHAR": ("string", "str", "varchar", "text", "stringtype"),
    "BIGINT": ("int", "integer", "bigint", "long", "integertype", "longtype"),
    "DOUBLE": ("float", "double", "real", "number", "floattype", "doubletype"),
    "BOOLEAN": ("bool", "boolean", "booleantype"),
    "DATE": ("date", "datetype"),
    "TIMESTAMP": ("timestamp", "timestamp_ntz", "timestamptype"),
    "TIMESTAMPTZ": ("timestamptz", "timestamp_tz", "timestamp_ltz"),
    "JSON": ("json", "variant", "varianttype", "object", "array"),
}
_CAST = {alias: sql for sql, aliases in _CAST_TYPES.items() for alias in aliases}


class Column:
    """An expression over a frame's columns: ``col("NAME") == "my_model"``,
    ``parse_json(col("TAGS"))["stage"]``, ``col("X").alias("Y")``.

    Python's ``and``/``or``/``not`` cannot be overloaded: combine conditions with
    ``&``, ``|`` and ``~``.
    """

    __slots__ = ("_build", "_alias", "_order")

    def __init__(self, build: Build, alias: str | None = None, order: tuple[str, str | None] | None = None):
        self._build = build
        self._alias = alias
        self._order = order

    # -- naming and ordering -----------------------------------------------------------
    def alias(self, name: str) -> Column:
        """Name the column; an unquoted name is upper-cased (``'"x"'`` keeps ``x``)."""
        return Column(self._build, normalize(name), self._order)

    as_ = name = alias

    def _sorted(self, direction: str, nulls: str | None = None) -> Column:
        return Column(self._build, self._alias, (direction, nulls))  # nulls None: the direction's default

    def asc(self) -> Column:
        """Ascending, nulls first (Snowpark's default)."""
        return self._sorted("ASC")

    def desc(self) -> Column:
        """Descending, nulls last (Snowpark's default)."""
        return self._sorted("DESC")

    def asc_nulls_first(self) -> Column:
        return self._sorted("ASC", "FIRST")

    def asc_nulls_last(self) -> Column:
        return self._sorted("ASC", "LAST")

    def desc_nulls_first(self) -> Column:
        return self._sorted("DESC", "FIRST")

    def desc_nulls_last(self) -> Column:
        return self._sorted("DESC", "LAST")

    # -- comparisons and logic -----------------------------------------------------------
    def _binary(self, op: str, other: Any, reverse: bool = False, compare: bool = False) -> Column:
        right_col = lit(other)

        def build(scope: Scope) -> Compiled:
            a, b = self._build(scope), right_col._build(scope)
            if compare:
                a, b = _coerce(a, b), _coerce(b, a)
            if reverse:
                a, b = b, a
            return Compiled(f"({a.sql} {op} {b.sql})", f"({a.text} {op} {b.text})")

        return Column(build)

    def __eq__(self, other: Any) -> Column:  # type: ignore[override]
        return self._binary("=", other, compare=True)

    def __ne__(self, other: Any) -> Column:  # type: ignore[override]
        return self._binary("!=", other, compare=True)

    def __lt__(self, other: Any) -> Column:
        return self._binary("<", other, compare=True)

    def __le__(self, other: Any) -> Column:
        return self._binary("<=", other, compare=True)

    def __gt__(self, other: Any) -> Column:
        return self._binary(">", other, compare=True)

    def __ge__(self, other: Any) -> Column:
        return self._binary(">=", other, compare=True)

    def __and__(self, other: Any) -> Column:
        return self._binary("AND", other)

    def __rand__(self, other: Any) -> Column:
        return self._binary("AND", other, reverse=True)

    def __or__(self, other: Any) -> Column:
        return self._binary("OR", other)

    def __ror__(self, other: Any) -> Column:
        return self._binary("OR", other, reverse=True)

    def __invert__(self) -> Column:
        return self._unary(lambda a: Compiled(f"(NOT {a.sql})", f"NOT {a.text}"))

    def __add__(self, other: Any) -> Column:
        return self._binary("+", other)

    def __radd__(self, other: Any) -> Column:
        return self._binary("+", other, reverse=True)

    def __sub__(self, other: Any) -> Column:
        return self._binary("-", other)

    def __rsub__(self, other: Any) -> Column:
        return self._binary("-", other, reverse=True)

    def __mul__(self, other: Any) -> Column:
        return self._binary("*", other)

    def __rmul__(self, other: Any) -> Column:
        return self._binary("*", other, reverse=True)

    def __truediv__(self, other: Any) -> Column:
        return self._binary("/", other)

    def __rtruediv__(self, other: Any) -> Column:
        return self._binary("/", other, reverse=True)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError("a Column has no truth value: combine conditions with '&', '|' and '~', "
                        "not 'and', 'or', 'not'")

    def _unary(self, make: Callable[[Compiled], Compiled]) -> Column:
        return Column(lambda scope: make(self._build(scope)))

    def is_null(self) -> Column:
        return self._unary(lambda a: Compiled(f"({a.sql} IS NULL)", f"{a.text} IS NULL"))

    def is_not_null(self) -> Column:
        return self._unary(lambda a: Compiled(f"({a.sql} IS NOT NULL)", f"{a.text} IS NOT NULL"))

    isNull, isNotNull = is_null, is_not_null

    def isin(self, *values: Any) -> Column:
        """In a list of values (``isin("a", "b")`` or ``isin(["a", "b"])``); an empty list is false."""
        if len(values) == 1 and isinstance(values[0], (list, tuple, set, frozenset)):
            values = tuple(values[0])
        items = [lit(v) for v in values]

        def build(scope: Scope) -> Compiled:
            a = self._build(scope)
            if not items:
                return Compiled("FALSE", f"{a.text} IN ()")
            bs = [item._build(scope) for item in items]
            a = _coerce(a, bs[0])
            return Compiled(f"({a.sql} IN ({', '.join(b.sql for b in bs)}))",
                            f"{a.text} IN ({', '.join(b.text for b in bs)})")

        return Column(build)

    in_ = isin

    def like(self, pattern: Any) -> Column:
        """SQL LIKE (case-sensitive, ``%`` and ``_`` wildcards); a JSON value is read as text."""
        right = lit(pattern)

        def build(scope: Scope) -> Compiled:
            a, b = _as_text(self._build(scope)), right._build(scope)
            return Compiled(f"({a.sql} LIKE {b.sql})", f"{a.text} LIKE {b.text}")

        return Column(build)

    # -- JSON and types ------------------------------------------------------------------
    def getField(self, key: str | int) -> Column:
        """A field of a JSON object (``"key"``) or an element of a JSON array (``0``), as
        JSON; missing is NULL. Same as ``column[key]``."""
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise TypeError(f"a JSON field is a str key or an int index, not {type(key).__name__}")
        pointer = render("/" + str(key).replace("~", "~0").replace("/", "~1"))  # a JSON pointer
        shown = str(key) if isinstance(key, int) else _value_text(key)

        def build(scope: Scope) -> Compiled:
            a = self._build(scope)
            return Compiled(f"json_extract({a.sql}, {pointer})", f"{a.text}[{shown}]", json=True)

        return Column(build)

    getItem = __getitem__ = getField

    def cast(self, to: Any) -> Column:
        """Convert to a type: ``"string"``, ``"int"``, ``"double"``, ``"boolean"``,
        ``"date"``, ``"timestamp"``, ``"timestamptz"``, ``"json"`` (or a Snowpark type such
        as ``StringType()``). A JSON string cast to string loses its quotes."""
        return self._cast("CAST", to)

    astype = cast

    def try_cast(self, to: Any) -> Column:
        """Like :meth:`cast`, but NULL where the value does not convert."""
        return self._cast("TRY_CAST", to)

    def _cast(self, how: str, to: Any) -> Column:
        key = (to if isinstance(to, str) else type(to).__name__).lower()
        if key not in _CAST:
            raise InvalidInput(f"cannot cast to {to!r}: use one of {', '.join(sorted(_CAST))}")
        target = _CAST[key]
        label = to.upper() if isinstance(to, str) else target

        def build(scope: Scope) -> Compiled:
            a = self._build(scope)
            text = f"{how} ({a.text} AS {label})"
            if a.json and target == "VARCHAR":
                return Compiled(_as_text(a).sql, text)
            return Compiled(f"{how}({a.sql} AS {target})", text, json=target == "JSON")

        return Column(build)

    def __repr__(self) -> str:
        return f"Column[{self._build(Scope(None)).text}]"


def _as_text(a: Compiled) -> Compiled:
    """A JSON value read as text (a JSON string without its quotes), as Snowflake casts a
    VARIANT to VARCHAR; anything else unchanged."""
    if not a.json:
        return a
    return a._replace(sql=f"json_extract_string({a.sql}, '$')", json=False)


def _coerce(a: Compiled, other: Compiled) -> Compiled:
    """A JSON value compared with a literal is read as the literal's type."""
    if not a.json or other.value is _MISSING or other.value is None:
        return a
    value = other.value
    if isinstance(value, str):
        return _as_text(a)
    kind = "BOOLEAN" if isinstance(value, bool) else "DOUBLE" if isinstance(value, (int, float)) else None
    return a._replace(sql=f"TRY_CAST({a.sql} AS {kind})", json=False) if kind else a


# -- constructors (public through mlreg.functions) --------------------------------------
def col(name: str) -> Column:
    """A column of the frame it is used in, by name (resolved as :mod:`mlreg.frame.names` says)."""
    if isinstance(name, Column):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a column name is a str, not {type(name).__name__}")

    def build(scope: Scope) -> Compiled:
        raw = scope.resolve(name)
        return Compiled(quote_ident(raw), quote_ident(raw), raw in scope.json, ref=raw)

    return Column(build)


def lit(value: Any) -> Column:
    """A literal value (a Column is returned as it is)."""
    if isinstance(value, Column):
        return value
    sql, text = render(value), _value_text(value)
    return Column(lambda scope: Compiled(sql, text, value=value))


def to_column(value: Any) -> Column:
    """A Column, or a column name: what Snowpark's functions take (``ColumnOrName``)."""
    if isinstance(value, Column):
        return value
    if isinstance(value, str):
        return col(value)
    raise TypeError(f"expected a Column or a column name, not {type(value).__name__}")


def call(name: str, *args: Any, json: bool = False, text_args: bool = False, prefix: str = "") -> Column:
    """The SQL function ``name`` over columns or names (``text_args``: JSON read as text)."""
    cols = [to_column(a) for a in args]

    def build(scope: Scope) -> Compiled:
        parts = [c._build(scope) for c in cols]
        if text_args:
            parts = [_as_text(p) for p in parts]
        text_prefix = f" {prefix}" if prefix else ""  # Snowpark writes COUNT( DISTINCT "X")
        return Compiled(f"{name}({prefix}{', '.join(p.sql for p in parts)})",
                        f"{name.upper()}({text_prefix}{', '.join(p.text for p in parts)})", json=json)

    return Column(build)


ONE = Column(lambda scope: Compiled("1", "1"))  # count(1), written as Snowpark writes it

AGGREGATES = {"count": "count", "sum": "sum", "min": "min", "max": "max", "avg": "avg",
              "average": "avg", "mean": "avg", "median": "median"}


def aggregate(function: str, column: Any) -> Column:
    """An aggregate by name (``"sum"``, ``"count"``...), as ``group_by(...).agg(("X", "sum"))``
    takes it; ``count`` of ``"*"`` counts rows (``COUNT(1)``, as Snowpark writes it)."""
    name = AGGREGATES.get(function.lower()) if isinstance(function, str) else None
    if name is None:
        raise InvalidInput(f"unknown aggregate function {function!r}: use one of {', '.join(AGGREGATES)}")
    if name == "count" and isinstance(column, str) and column == "*":
        return call("count", ONE)
    return call(name, column)


def sql_expr(sql: str) -> Column:
    """A column from DuckDB SQL text, used as written (the user's own SQL)."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput("sql_expr needs SQL text")
    return Column(lambda scope: Compiled(f"({sql})", sql))


class CaseColumn(Column):
    """``when(cond, value).when(cond2, value2).otherwise(default)``."""

    __slots__ = ("_cases", "_default")

    def __init__(self, cases: list[tuple[Column, Column]], default: Column | None = None):
        self._cases, self._default = cases, default
        super().__init__(self._compile)

    def _compile(self, scope: Scope) -> Compiled:
        sql, text = "(CASE", "CASE "  # Snowpark writes CASE  WHEN (two spaces)
        for cond, value in self._cases:
            c, v = cond._build(scope), value._build(scope)
            sql += f" WHEN {c.sql} THEN {v.sql}"
            text += f" WHEN {c.text} THEN {v.text}"
        if self._default is not None:
            d = self._default._build(scope)
            sql += f" ELSE {d.sql}"
            text += f" ELSE {d.text}"
        return Compiled(sql + " END)", text + " END")

    def when(self, condition: Any, value: Any) -> CaseColumn:
        """Another branch; a str condition is SQL text, as in Snowpark."""
        cond = condition if isinstance(condition, Column) else sql_expr(condition)
        return CaseColumn(self._cases + [(cond, lit(value))], self._default)

    def otherwise(self, value: Any) -> CaseColumn:
        return CaseColumn(self._cases, lit(value))

    else_ = otherwise
