"""Registered models as Spark functions.

- :func:`spark_udf`: a model's target method as a vectorized Spark column function;
  ``ModelReference.spark_udf`` and ``ModelRegistry.spark_udf`` return one.
- :func:`register_functions`: every permanent Spark deployment of a registry (and this
  process's temporary ones) as a SQL function of a Spark session.
- Spark deployments (``deploy --platform spark``, ``mlreg.deploy.spark``) score Spark
  DataFrames with ``predict`` and files with `mlreg predict`.

What an executor receives is a :class:`~mlreg.runtime.spec.ScoringSpec`; each Python
worker verifies the package's checksums and loads it once (``executor``). Executors need
mlreg and the model's framework installed, in the versions the model was logged with.
Importing this package does not import pyspark; its functions do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mlreg.runtime.spec import ScoringSpec
    from mlreg.spark.udf import SparkFunction

__all__ = ["predict", "register_functions", "spark_udf"]


def _check_session(spark: Any) -> None:
    from mlreg.errors import InvalidInput

    if type(spark).__name__ != "SparkSession" or not (type(spark).__module__ or "").startswith("pyspark.sql"):
        raise InvalidInput(f"spark must be a pyspark SparkSession, not {type(spark).__name__}")


def spark_udf(spark: "SparkSession", spec: "ScoringSpec") -> "SparkFunction":
    """The spec's method as a vectorized Spark function of ``spark``'s DataFrames."""
    _check_session(spark)
    from mlreg.spark.udf import SparkFunction

    return SparkFunction(spec)


def predict(spec: "ScoringSpec", df: "DataFrame", with_inputs: bool = False) -> "DataFrame":
    """``df`` scored by the spec's method (lazily): the outputs, after ``df``'s columns
    when ``with_inputs``."""
    from mlreg.spark.frames import predict as _predict

    return _predict(spec, df, with_inputs)


def register_functions(spark: "SparkSession", registry: Any) -> list[str]:
    """Make every permanent Spark deployment of ``registry`` (a ModelRegistry), and the
    temporary ones of this process, a SQL function of ``spark``: ``spark.sql("SELECT
    churn_v1(age, tenure) FROM customers")``. Arguments go by position, in signature
    order. Returns the names registered."""
    _check_session(spark)
    from mlreg.spark.udf import SparkFunction

    names = []
    for dep, spec in registry.deployments.spark_specs():
        spark.udf.register(dep.name, SparkFunction(spec).udf)
        names.append(dep.name)
    return names
