"""The one Scorer: a loaded model's target method, called on validated input.

It takes a pandas DataFrame or an Arrow table, checks it against the method's signature
(naming a missing or mistyped column in one line), calls the model through its handler,
and returns the outputs: a pandas frame (:meth:`Scorer.score_frame`) or an Arrow table
of the signature's output schema, one row per input row (:meth:`Scorer.score`). Every
platform scores through it. Scorers are cached per process (:func:`scorer_for`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlreg.errors import InvalidInput, MlregError
from mlreg.runtime import loading
from mlreg.runtime.spec import ScoringSpec

if TYPE_CHECKING:
    import pyarrow as pa

    from mlreg.model_signature import FeatureSpec

_LOCK = threading.RLock()
# (deployment, model ID, target method, package location) -> Scorer
_SCORERS: dict[tuple[str | None, str, str, str], "Scorer"] = {}

#: bytes of input per batch handed to a model at once (bounded memory, few calls)
BATCH_BYTES = 32 * 1024 * 1024


def arrow_type(feature: "FeatureSpec") -> "pa.DataType":
    import pyarrow as pa

    base = {
        "INT8": pa.int8(), "INT16": pa.int16(), "INT32": pa.int32(), "INT64": pa.int64(),
        "UINT8": pa.uint8(), "UINT16": pa.uint16(), "UINT32": pa.uint32(), "UINT64": pa.uint64(),
        "FLOAT": pa.float32(), "DOUBLE": pa.float64(), "BOOL": pa.bool_(), "STRING": pa.string(),
        "BYTES": pa.binary(), "TIMESTAMP_NTZ": pa.timestamp("us"),
    }[feature.dtype.value]
    for _ in feature.shape or ():
        base = pa.list_(base)
    return base


def batch_rows(n_features: int) -> int:
    """Rows per batch: about BATCH_BYTES of 8-byte features, at least one DuckDB vector."""
    return max(2048, min(1 << 20, BATCH_BYTES // (8 * max(n_features, 1))))


class Scorer:
    """One target method of a loaded model, ready to score tables."""

    def __init__(self, spec: ScoringSpec, model: Any):
        from mlreg import handlers

        self.spec = spec
        self.model = model
        self.handler = handlers.get_handler(spec.package.model_type)
        self.method = spec.target_method
        self.signature = spec.model_signature()
        self.input_names = [f.name for f in self.signature.inputs]
        self.output_names = [f.name for f in self.signature.outputs]
        self.name = f"deployment {spec.deployment}" if spec.deployment else f"model {spec.package.label}"

    # -- schema ---------------------------------------------------------------------------
    def output_schema(self) -> "pa.Schema":
        import pyarrow as pa

        return pa.schema([pa.field(f.name, arrow_type(f)) for f in self.signature.outputs])

    def input_columns(self, columns: list[str]) -> list[str]:
        """The columns of ``columns`` that feed the signature's inputs, in signature order
        (matched exactly, else case-insensitively as SQL does). Names a missing one."""
        by_lower: dict[str, list[str]] = {}
        for c in columns:
            by_lower.setdefault(c.lower(), []).append(c)
        out = []
        for f in self.signature.inputs:
            if f.name in columns:
                out.append(f.name)
            elif len(by_lower.get(f.name.lower(), [])) == 1:
                out.append(by_lower[f.name.lower()][0])
            else:
                have = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
                raise InvalidInput(f"input is missing column {f.name!r} (expected {f.describe()}); it has: {have}")
        return out

    # -- scoring --------------------------------------------------------------------------
    def call(self, data: Any) -> Any:
        """Validate ``data`` (pandas or Arrow) and return a pandas frame of the outputs;
        an exception the model raises propagates as it is."""
        return self.handler.predict_table(self.model, self.method, data, self.signature)

    def score_frame(self, data: Any) -> Any:
        """:meth:`call`, with a model that fails on valid input reported as such, in one line."""
        try:
            return self.call(data)
        except MlregError:
            raise
        except Exception as e:  # noqa: BLE001 - the model's own error, whatever its type: reported as its own
            lines = str(e).strip().splitlines()
            raise InvalidInput(
                f"{self.name}: {self.method} failed: {type(e).__name__}" + (f": {lines[0]}" if lines else "")
            ) from e

    def score(self, table: "pa.Table") -> "pa.Table":
        """Validate an Arrow table and return the outputs as an Arrow table of the
        signature's output schema, one row per input row."""
        import pyarrow as pa

        # all-float features (the usual case) convert to pandas in one multi-threaded
        # step, to the very frame the handlers' own conversion would build, only faster
        floats = all(pa.types.is_floating(t) for t in table.schema.types)
        frame = self.score_frame(table.to_pandas() if floats and table.num_columns else table)
        if len(frame) != table.num_rows:
            raise InvalidInput(f"{self.name}: {self.method} returned {len(frame)} rows for {table.num_rows}")
        schema = self.output_schema()
        missing = [n for n in self.output_names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"{self.name}: {self.method} did not return output(s) "
                f"{', '.join(missing)} of its signature; it returned: {', '.join(map(str, frame.columns))}"
            )
        columns = []
        for field in schema:
            try:
                columns.append(pa.array(frame[field.name], from_pandas=True).cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
                raise InvalidInput(
                    f"{self.name}: output {field.name!r} does not fit its signature type "
                    f"{field.type}: {str(e).splitlines()[0]}"
                ) from None
        return pa.Table.from_arrays(columns, schema=schema)


def scorer_for(spec: ScoringSpec, path: Path | None = None, warn: bool = True) -> Scorer:
    """The cached scorer of a spec, loading (and first verifying) its package on first use
    in this process. ``path``: a local copy of the package to load instead of fetching
    it; ``warn``: warn when the environment differs from the one the model was logged in."""
    key = (spec.deployment, spec.package.model_id, spec.target_method,
           str(path) if path is not None else spec.package.location)
    with _LOCK:
        scorer = _SCORERS.get(key)
        if scorer is None:
            spec.model_signature()  # no signature: refused before anything is loaded
            model = loading.load_shared(spec.package, path, spec.label, warn=warn)
            scorer = _SCORERS[key] = Scorer(spec, model)
        return scorer


def forget(deployment: str, model_id: str | None = None) -> None:
    """Drop this process's cached scorers of a deployment (it was deleted or replaced)."""
    with _LOCK:
        for key in [k for k in _SCORERS if k[0] == deployment and (model_id is None or k[1] == model_id)]:
            del _SCORERS[key]


def forget_all() -> None:
    """Drop every cached scorer and shared model (as a fresh process would start)."""
    with _LOCK:
        _SCORERS.clear()
    loading.forget_models()
