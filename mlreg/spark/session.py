"""Starting Spark for `mlreg predict`, and mlreg's errors raised on executors made the
driver's own again.

An mlreg error raised in a Python worker reaches the driver as Spark's
``PythonException`` whose text holds the worker's traceback; :func:`executor_errors`
finds the last ``mlreg.errors.<Error>: message`` line in it and raises that error, with
its own exit code, instead.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Mapping

from mlreg import errors
from mlreg.errors import InvalidInput, MissingDependency, MlregError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
#: settings mlreg gives a session it starts (each can be overridden with --conf)
DEFAULT_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.execution.arrow.pyspark.enabled": "true"}

_ERROR_LINE = re.compile(r"mlreg\.errors\.(\w+): ([^\n]+)")


def start(master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None) -> "SparkSession":
    """A Spark session (the active one when there is one) whose Python workers run this
    interpreter unless ``conf`` says otherwise."""
    try:
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession
    except ImportError:
        raise MissingDependency("scoring on Spark", "spark") from None
    settings = {**DEFAULT_CONF, "spark.pyspark.python": sys.executable, **dict(conf or {})}
    os.environ.setdefault("PYSPARK_PYTHON", settings["spark.pyspark.python"])
    builder = SparkSession.builder.master(master).appName("mlreg")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except PySparkRuntimeError as e:
        raise InvalidInput(
            f"cannot start Spark ({first_line(e)}): it needs Java 17 or later (java on the PATH, or JAVA_HOME)"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def mlreg_error(exc: BaseException) -> MlregError | None:
    """The mlreg error an executor raised, as found in the text of Spark's exception."""
    found = _ERROR_LINE.findall(str(exc))
    if not found:
        return None
    name, message = found[-1]
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, MlregError):
        return cls(message.strip())
    return None


@contextmanager
def executor_errors() -> Iterator[None]:
    """Run Spark actions; an mlreg error raised on an executor is raised here as itself,
    and Spark's own errors (a path that does not exist, a bad input) as InvalidInput."""
    from pyspark.errors.exceptions.captured import CapturedException

    try:
        yield
    except CapturedException as e:
        found = mlreg_error(e)
        if found is not None:
            raise found from None
        raise InvalidInput(f"Spark: {first_line(e)}") from None
