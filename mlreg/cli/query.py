"""Narrowing the relations the core returns (``list_models()``, ``get_history()``) for
``mlreg list`` and ``mlreg history``.

They are in-memory copies, so a ``--where`` expression cannot touch the registry.
User values (names, tag keys and values) go in as DuckDB constant expressions, never
as SQL text; ``--where``, ``--order-by`` and ``--columns`` are SQL by design, and a
bad one is a usage error (exit 2).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import duckdb

from mlreg.errors import IntegrityError, UsageError

HISTORY_COLUMNS = ["EVENT_ID", "EVENT_TIMESTAMP", "MODEL_NAME", "MODEL_VERSION", "ROLE", "OPERATION",
                   "ATTRIBUTE_NAME", "KEY", "OLD_VALUE", "NEW_VALUE"]


def _col(name: str) -> Any:
    return duckdb.ColumnExpression(name)


def _const(value: Any) -> Any:
    return duckdb.ConstantExpression(value)


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _user_sql(option: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "corrupt database file" in first.lower() or isinstance(exc, duckdb.IOException):
            # reading the registry failed, whatever the options: say so, not that an option is wrong
            raise IntegrityError(f"the registry file is corrupt: {first}") from None
        raise UsageError(f"invalid {option} expression: {first}") from None


def filter_models(
    rel: Any,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    where: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    columns: list[str] | None = None,
) -> Any:
    if name is not None:
        rel = rel.filter(_col("NAME") == _const(name))
    for key, value in (tags or {}).items():
        tag = duckdb.FunctionExpression("json_extract_string", _col("TAGS"), _const(_json_pointer(key)))
        rel = rel.filter(tag == _const(value))
    if where:
        rel = _user_sql("--where", lambda: rel.filter(where))
    if order_by:
        rel = _user_sql("--order-by", lambda: rel.order(order_by))
    if limit is not None:
        rel = rel.limit(limit)
    if columns:
        rel = select_columns(rel, columns)
    return rel


def select_columns(rel: Any, columns: list[str]) -> Any:
    """Known column names (any case) keep their canonical spelling; anything else is
    taken as SQL select expressions, e.g. ``TAGS->>'stage' AS stage``."""
    known = {c.upper(): c for c in rel.columns}
    if all(c.upper() in known for c in columns):
        return rel.select(*[_col(known[c.upper()]) for c in columns])
    return _user_sql("--columns", lambda: rel.select(", ".join(columns)))


def only_id(rel: Any, model_id: str) -> Any:
    return rel.filter(_col("ID") == _const(model_id))


def model_history(rel: Any, name: str | None, version: str | None, limit: int | None) -> Any:
    """Events of one model version (also after it was deleted), the last ``limit`` ones."""
    if name is not None:
        rel = rel.filter((_col("MODEL_NAME") == _const(name)) & (_col("MODEL_VERSION") == _const(version)))
    if limit is not None:
        rel = rel.order("EVENT_ID DESC").limit(limit).order("EVENT_ID")
    return rel


def fetch(rel: Any, option: str = "--where", utc_text: bool = False) -> Any:
    """Run the relation; an error raised while executing user SQL is a usage error.
    ``utc_text``: see ``table_from_relation`` (for a table that is only rendered)."""
    from mlreg.cli.output import table_from_relation

    return _user_sql(option, lambda: table_from_relation(rel, utc_text))
