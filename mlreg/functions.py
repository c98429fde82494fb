"""Functions for frame expressions: ``from mlreg import functions``, as the seed's
``from snowflake.snowpark import functions``.

    from mlreg import functions as F
    lm = registry.list_models()
    lm.select("NAME", "VERSION", F.parse_json(lm["TAGS"]).getField("stage")).show()
    lm.filter(F.parse_json(F.col("METRICS"))["test_accuracy"] > 0.9).show()
    lm.group_by("NAME").agg(F.count("VERSION").alias("VERSIONS")).show()

Functions take Columns or column names (``count("ID")`` is ``count(col("ID"))``), except
``lit`` (a value) and ``sql_expr`` (DuckDB SQL text). Importing this module imports DuckDB,
not pandas, pyarrow or numpy.
"""

from __future__ import annotations

from typing import Any

from mlreg.frame.column import CaseColumn, Column, Compiled, aggregate, call, col, lit, sql_expr, to_column
from mlreg.frame.names import Scope

__all__ = [
    "Column", "avg", "coalesce", "col", "column", "count", "count_distinct", "lit", "lower", "max", "mean",
    "min", "parse_json", "sql_expr", "sum", "upper", "when",
]

column = col


def parse_json(e: Column | str) -> Column:
    """The value as JSON (a JSON column as it is; text is parsed, and must be JSON), whose
    fields ``["key"]`` / ``.getField("key")`` and elements ``[0]`` are JSON values too."""
    source = to_column(e)

    def build(scope: Scope) -> Compiled:
        a = source._build(scope)
        sql = a.sql if a.json else f"CAST({a.sql} AS JSON)"
        return Compiled(sql, f"PARSE_JSON({a.text})", json=True)

    return Column(build)


def count(e: Column | str) -> Column:
    """Non-null values; ``count("*")`` counts rows."""
    return aggregate("count", e)


def count_distinct(*e: Column | str) -> Column:
    """Distinct non-null values (of a combination of columns, given several)."""
    return call("count", *e, prefix="DISTINCT ")


def sum(e: Column | str) -> Column:  # noqa: A001 - Snowpark's name
    return aggregate("sum", e)


def min(e: Column | str) -> Column:  # noqa: A001
    return aggregate("min", e)


def max(e: Column | str) -> Column:  # noqa: A001
    return aggregate("max", e)


def avg(e: Column | str) -> Column:
    return aggregate("avg", e)


mean = avg


def upper(e: Column | str) -> Column:
    """Upper-cased text (a JSON string is read as its text)."""
    return call("upper", e, text_args=True)


def lower(e: Column | str) -> Column:
    return call("lower", e, text_args=True)


def coalesce(*e: Column | str) -> Column:
    """The first non-null of the columns."""
    return call("coalesce", *e)


def when(condition: Column | str, value: Any) -> CaseColumn:
    """``when(cond, value).when(cond2, value2).otherwise(default)``: SQL CASE (a str
    condition is SQL text)."""
    return CaseColumn([]).when(condition, value)
