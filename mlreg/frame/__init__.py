"""Snowpark-style frames over DuckDB relations: what ``list_models()``, ``get_history()``
and the deployment listings return.

    from mlreg import functions as F
    lm.filter(F.col("NAME") == "my_model").select("VERSION", F.parse_json(lm["TAGS"])["stage"]).show()

``DataFrame(relation)`` wraps a ``duckdb.DuckDBPyRelation``; ``df.relation`` gives it back.
Expressions are built in :mod:`mlreg.frame.column`, functions are in :mod:`mlreg.functions`.
"""

from mlreg.frame.column import Column
from mlreg.frame.dataframe import DataFrame, Field, GroupedData, Schema
from mlreg.frame.row import Row

__all__ = ["Column", "DataFrame", "Field", "GroupedData", "Row", "Schema"]
