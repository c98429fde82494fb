"""Where a model can be deployed (the seed's ``deploy_platforms``)."""

from enum import Enum


class TargetPlatform(str, Enum):
    WAREHOUSE = "warehouse"  # a vectorized DuckDB SQL function
    SERVICE = "service"  # an HTTP inference server managed by mlreg
    SPARK = "spark"  # scored by Spark executors (a Spark DataFrame, files, Spark SQL functions)
