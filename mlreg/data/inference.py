"""Signatures inferred from data: the features of sample input and of what a model
returned for it. Layout conventions of the data: ``mlreg.data.tables``. pandas, numpy and
pyarrow are imported only when data of that kind is handed in.
"""

from __future__ import annotations

import datetime
import decimal
import numbers
from typing import TYPE_CHECKING, Any, Sequence

from mlreg.data import tables
from mlreg.data.signature import DataType, FeatureSpec, ModelSignature
from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd


def head(data: Any, n: int) -> Any:
    """The first ``n`` rows of any supported sample input, in a form a model accepts."""
    if tables.is_relation(data):
        return tables.arrow_to_pandas(data.limit(n).to_arrow_table())
    if tables.is_arrow(data):
        return tables.arrow_to_pandas(data.slice(0, n))
    if hasattr(data, "iloc"):
        return data.iloc[:n]
    if isinstance(data, dict):
        return {k: v[:n] for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        if not data:
            raise InvalidInput("sample input is an empty list")
        if all(isinstance(r, dict) for r in data):
            import pandas as pd

            return pd.DataFrame.from_records(list(data[:n]))
        if all(tables.is_array(x) or tables.is_tensor(x) for x in data):
            return type(data)(x[:n] for x in data)
        return data[:n]
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        if not len(data.shape):
            raise InvalidInput("sample input is a scalar; it needs a row dimension")
        return data[:n]
    raise InvalidInput(
        f"unsupported sample input of type {type(data).__name__}; pass a pandas DataFrame, numpy "
        "array, pyarrow Table, DuckDB relation, list of records or tensors"
    )


def infer_signature(
    input_data: Any,
    output_data: Any,
    input_feature_names: Sequence[str] | None = None,
    output_feature_names: Sequence[str] | None = None,
) -> ModelSignature:
    """Features of sample input and of what the model returned for it."""
    return ModelSignature(
        inputs=features_of(input_data, "input_feature", input_feature_names),
        outputs=features_of(output_data, "output_feature", output_feature_names),
    )


def features_of(data: Any, prefix: str, names: Sequence[str] | None = None) -> tuple[FeatureSpec, ...]:
    frame = tables.to_frame(data, prefix)
    if len(frame) == 0:
        raise InvalidInput("cannot infer a signature from data with no rows")
    if names is not None:
        if len(names) != len(frame.columns):
            raise InvalidInput(f"{len(names)} feature names given for {len(frame.columns)} features")
        frame = frame.set_axis([str(n) for n in names], axis=1)
    return tuple(_column_feature(str(name), frame[name]) for name in frame.columns)


def _column_feature(name: str, col: "pd.Series") -> FeatureSpec:
    import pandas as pd

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_feature(name, pd.Series(col.cat.categories))
    if isinstance(dtype, pd.DatetimeTZDtype):
        raise InvalidInput(f"column {name!r} holds time-zone-aware timestamps; convert them with .dt.tz_localize(None)")
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        at = dtype.pyarrow_dtype
        if pa.types.is_list(at) or pa.types.is_large_list(at) or pa.types.is_fixed_size_list(at):
            return _object_feature(name, col.to_numpy(dtype=object))
        if pa.types.is_decimal(at):
            return FeatureSpec(name, DataType.DOUBLE)
    if dtype == object:  # noqa: E721 - NumPy dtype equality, not a type check
        return _object_feature(name, col.to_numpy())
    try:
        return FeatureSpec(name, DataType.from_numpy_kind(dtype))
    except InvalidInput:
        raise InvalidInput(f"column {name!r} has type {dtype}, which a signature cannot describe") from None


def _object_feature(name: str, values: Any) -> FeatureSpec:
    """The type of a column of Python objects, from its non-null values."""
    import numpy as np
    import pandas as pd

    cells = [v for v in values if not (v is None or (not hasattr(v, "__len__") and pd.isna(v)))]
    if not cells:
        raise InvalidInput(f"column {name!r} holds only nulls, so its type cannot be inferred; pass signatures=")
    if all(isinstance(v, (list, tuple)) or hasattr(v, "shape") for v in cells):
        try:
            arrays = [np.asarray(v.detach().cpu() if hasattr(v, "detach") else v) for v in cells]
        except ValueError:
            raise InvalidInput(f"column {name!r} holds nested lists that are ragged inside a row; only the first dimension may vary") from None
        ndims = {a.ndim for a in arrays}
        if len(ndims) != 1 or 0 in ndims:
            raise InvalidInput(f"column {name!r} holds arrays of different numbers of dimensions")
        shape = tuple(
            dims.pop() if len(dims := {a.shape[i] for a in arrays}) == 1 else -1
            for i in range(ndims.pop())
        )
        flat = [x for a in arrays for x in a.ravel().tolist()]
        element = _object_feature(name, np.array(flat, dtype=object)) if arrays[0].dtype == object or not flat else None
        dtype = element.dtype if element else DataType.from_numpy_kind(np.result_type(*arrays))
        return FeatureSpec(name, dtype, shape)
    kinds = {_python_kind(v) for v in cells}
    if kinds == {DataType.INT64, DataType.DOUBLE}:
        kinds = {DataType.DOUBLE}
    if len(kinds) != 1 or None in kinds:
        found = sorted({type(v).__name__ for v in cells})
        raise InvalidInput(f"column {name!r} mixes values of types {', '.join(found)}; a feature has one type")
    kind = kinds.pop()
    assert kind is not None  # refused above
    return FeatureSpec(name, kind)


def _python_kind(v: Any) -> DataType | None:
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return DataType.BOOL
    if isinstance(v, str):
        return DataType.STRING
    if isinstance(v, (bytes, bytearray, memoryview)):
        return DataType.BYTES
    if isinstance(v, numbers.Integral):
        return DataType.INT64
    if isinstance(v, (numbers.Real, decimal.Decimal)):
        return DataType.DOUBLE
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            raise InvalidInput(f"time-zone-aware timestamp {v}: convert it to naive time (.replace(tzinfo=None))")
        return DataType.TIMESTAMP_NTZ
    return None
