"""Where a model can be deployed (the seed's ``deploy_platforms``)."""

from enum import Enum


class TargetPlatform(str, Enum):
    WAREHOUSE = "warehouse"  # a vectorized DuckDB SQL function
    SERVICE = "service"  # an HTTP inference server managed by mlreg
    SPARK = "spark"  # scored by Spark executors (a Spark DataFrame, files, Spark SQL functions)
    # the seed's name for its container platform: an alias, so it *is* SERVICE
    # (``TargetPlatform.SNOWPARK_CONTAINER_SERVICES is TargetPlatform.SERVICE``)
    SNOWPARK_CONTAINER_SERVICES = "service"


#: platform names accepted as text beside the values (``"SNOWPARK_CONTAINER_SERVICES"``,
#: any case, is the service platform, as ``--platform`` and deploy(platform=...) write it)
ALIASES = {"snowpark_container_services": TargetPlatform.SERVICE}
