"""A registered model's method as a vectorized Spark function (a scalar-iterator pandas
UDF: Spark hands it Arrow batches, converted to pandas Series).

The function's body is ``executor.score_series`` with the ScoringSpec bound to it: each
Python worker verifies and loads the package once, then scores batch after batch. Its
return type comes from the signature (a struct of the named outputs when there are
several). Imports pyspark: imported only by the Spark entry points.
"""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import pandas as pd
from pyspark.sql.functions import pandas_udf

from mlreg.errors import InvalidInput
from mlreg.runtime.spec import ScoringSpec
from mlreg.spark import executor
from mlreg.spark.types import return_type


class SparkFunction:
    """A model's target method as a Spark column function.

    Call it with the input columns: with no argument, the columns named as the
    signature's inputs; with column names, matched to the inputs by name when every
    name is one of them (in any order, case-insensitively), else by position; with
    Column expressions, by position. ``udf`` is the pandas UDF itself (what
    ``spark.udf.register`` takes; SQL passes arguments by position).
    """

    def __init__(self, spec: ScoringSpec):
        self.spec = spec
        self.signature = spec.model_signature()
        self.input_names = [f.name for f in self.signature.inputs]
        self.return_type = return_type(self.signature)
        self.udf = make_udf(spec, len(self.input_names), self.return_type)

    def __repr__(self) -> str:
        return f"SparkFunction({self.spec.label}, {self.spec.target_method}({', '.join(self.input_names)}) -> {self.return_type})"

    def columns(self, args: tuple[Any, ...]) -> list[Any]:
        """The arguments of a call, in signature order."""
        from pyspark.sql.functions import col

        from mlreg.spark.types import quote

        if not args:
            return [col(quote(n)) for n in self.input_names]
        if all(isinstance(a, str) for a in args):
            by_lower = {a.lower(): a for a in args}
            if len(by_lower) == len(args) and set(by_lower) == {n.lower() for n in self.input_names}:
                return [col(quote(by_lower[n.lower()])) for n in self.input_names]
        if len(args) != len(self.input_names):
            raise InvalidInput(
                f"{self.spec.label} {self.spec.target_method} takes {len(self.input_names)} input(s) "
                f"({', '.join(self.input_names)}); got {len(args)}"
            )
        return [col(quote(a)) if isinstance(a, str) else a for a in args]

    def __call__(self, *args: Any) -> Any:
        return self.udf(*self.columns(args))


def make_udf(spec: ScoringSpec, n_inputs: int, returns: str) -> Any:
    """The pandas UDF scoring ``spec``: one Series per input, in signature order."""
    if n_inputs == 1:
        def one(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
            return executor.score_series(spec, batches)

        body: Any = one
    else:
        def many(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
            return executor.score_series(spec, batches)

        body = many
    body.__name__ = spec.deployment or f"{spec.package.model_name}_{spec.target_method}"
    return pandas_udf(body, returns)
