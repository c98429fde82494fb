"""What runs on a Spark executor: the functions Spark ships there by reference (mlreg
must be installed on the executors), each given a picklable ScoringSpec.

Each Python worker process verifies the package's checksums and loads the model once
(``runtime.scorer.scorer_for`` caches it per process; Spark reuses its Python workers),
then scores batch after batch. The executor's environment is compared with the one the
model was logged in: a difference is refused (InvalidInput naming it) unless the
deployment has ``relax_version``. Nothing here imports pyspark.
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from mlreg.errors import InvalidInput
from mlreg.runtime import loading
from mlreg.runtime.scorer import Scorer, scorer_for
from mlreg.runtime.spec import ScoringSpec

if TYPE_CHECKING:
    import pyarrow as pa

_LOCK = threading.Lock()
# specs whose environment this process has checked
_CHECKED: set[tuple[str | None, str, str, str]] = set()


def scorer(spec: ScoringSpec) -> Scorer:
    """The spec's scorer in this process: environment checked, package verified and
    loaded on first use."""
    key = (spec.deployment, spec.package.model_id, spec.target_method, spec.package.location)
    with _LOCK:
        if key not in _CHECKED:
            diffs = loading.environment_differences(spec.package)
            if diffs and not spec.options.get("relax_version"):
                raise InvalidInput(
                    f"{spec.label}: this Spark executor's environment differs from the one the model was logged in: "
                    + "; ".join(diffs) + ". Install the recorded versions on the executors, or deploy with "
                    "relax_version=true to score anyway"
                )
            if diffs:
                warnings.warn(f"{spec.label}: scoring in a different environment (relax_version): " + "; ".join(diffs),
                              loading.EnvironmentWarning, stacklevel=2)
            _CHECKED.add(key)
    return scorer_for(spec, warn=False)


def score_batches(spec: ScoringSpec, columns: list[str], with_inputs: bool,
                  batches: Iterable["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
    """``DataFrame.mapInArrow``'s function: the outputs of each batch (after its columns
    when ``with_inputs``). ``columns``: the input columns feeding the signature, in its order."""
    import pyarrow as pa

    model = scorer(spec)
    schema = model.output_schema()
    for batch in batches:
        table = pa.Table.from_batches([batch])
        features = table.select(columns).rename_columns(model.input_names)
        out = model.score(features) if batch.num_rows else schema.empty_table()
        if with_inputs:
            out = pa.Table.from_arrays(table.columns + out.columns, names=table.column_names + out.column_names)
        yield from out.combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=out.schema)]


def score_series(spec: ScoringSpec, arguments: Iterable[Any]) -> Iterator[Any]:
    """A scalar pandas UDF's body: for each batch (a tuple of pandas Series, one per
    signature input, in order) the output Series, or a DataFrame of several outputs
    (Spark makes it the struct)."""
    import pyarrow as pa

    model = scorer(spec)
    names = model.input_names
    for args in arguments:
        series = args if isinstance(args, tuple) else (args,)
        table = pa.Table.from_arrays([_arrow(s) for s in series], names=names)
        out = model.score(table).to_pandas()
        yield out.iloc[:, 0] if len(model.output_names) == 1 else out


def _arrow(series: Any) -> Any:
    import pyarrow as pa

    return pa.Array.from_pandas(series)
