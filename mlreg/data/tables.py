"""Data in, tables out: turn whatever a user or a model hands over (pandas, numpy,
pyarrow, DuckDB relations, records, torch/TensorFlow tensors) into pandas frames, and
frames back into the arrays a framework wants.

Layout conventions (those of Snowpark ML), so that every conversion is reversible:
- a numpy array of 1 dimension is one feature; of 2, one feature per column; of more, one
  feature whose cells are arrays of ``shape[1:]``;
- a torch or TensorFlow tensor is one feature: scalar when 1-D, else cells of ``shape[1:]``;
- a list/tuple of arrays or tensors is one feature per element, each as a tensor;
- a dict of arrays is one feature per key.
A feature with a shape is a column whose cells are numpy arrays.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from mlreg.data.signature import FeatureSpec


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def is_tensor(obj: Any) -> bool:
    """A torch or TensorFlow tensor (judged by class module, without importing either)."""
    mod = _module(obj)
    return (mod.startswith("torch") or mod.startswith("tensorflow")) and hasattr(obj, "shape") and hasattr(obj, "dtype")


def is_array(obj: Any) -> bool:
    return _module(obj) == "numpy" and hasattr(obj, "ndim") and hasattr(obj, "dtype")


def is_arrow(obj: Any) -> bool:
    return _module(obj).startswith("pyarrow") and hasattr(obj, "schema") and hasattr(obj, "num_rows")


def is_relation(obj: Any) -> bool:
    return _module(obj).startswith("duckdb") and hasattr(obj, "to_arrow_table")


def is_frame(obj: Any) -> bool:
    return _module(obj).startswith("pandas") and hasattr(obj, "columns") and hasattr(obj, "dtypes")


def is_series(obj: Any) -> bool:
    return _module(obj).startswith("pandas") and hasattr(obj, "dtype") and hasattr(obj, "index") and not hasattr(obj, "columns")


def tensor_to_numpy(t: Any) -> Any:
    if _module(t).startswith("torch"):
        return t.detach().cpu().numpy()
    return t.numpy()


def as_numpy(obj: Any) -> Any:
    import numpy as np

    if is_tensor(obj):
        return tensor_to_numpy(obj)
    return np.asarray(obj)


def _rows(arr: Any) -> list[Any]:
    """An N-d array as a list of N cells of shape ``arr.shape[1:]``."""
    return list(arr) if arr.ndim > 1 else arr


def arrow_to_relation(table: Any) -> Any:
    """An Arrow table as a DuckDB relation of a private in-memory connection."""
    from mlreg.data.readers import connect

    return connect().from_arrow(table)


def arrow_to_pandas(table: Any) -> "pd.DataFrame":
    """Keep integer, boolean and string columns with nulls as pandas' nullable dtypes
    (the default conversion would turn an int column with a null into float64)."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
    }
    if len(set(table.column_names)) != len(table.column_names):
        raise InvalidInput(f"input has duplicate column names: {table.column_names}")
    columns = {}
    for name, col in zip(table.column_names, table.columns):
        if col.null_count and col.type in mapping:
            columns[name] = col.to_pandas(types_mapper=mapping.get)
        elif pa.types.is_decimal(col.type):
            columns[name] = col.cast(pa.float64()).to_pandas()
        else:
            columns[name] = col.to_pandas()
        if col.type == pa.null():
            columns[name] = columns[name].astype(object)
    return pd.DataFrame(columns)


def is_sequence_of_arrays(data: Any) -> bool:
    return (
        isinstance(data, (list, tuple))
        and len(data) > 0
        and all((is_array(x) or is_tensor(x)) and len(x.shape) >= 1 for x in data)
    )


def to_frame(data: Any, prefix: str) -> "pd.DataFrame":
    """Any supported data as a DataFrame, naming unnamed features ``<prefix>_<i>``."""
    import pandas as pd

    if is_frame(data):
        if len(set(map(str, data.columns))) != len(data.columns):
            raise InvalidInput(f"input has duplicate column names: {list(map(str, data.columns))}")
        return data.rename(columns=str) if not all(isinstance(c, str) for c in data.columns) else data
    if is_series(data):
        return data.to_frame(str(data.name) if data.name is not None else f"{prefix}_0")
    if is_relation(data):
        return arrow_to_pandas(data.to_arrow_table())
    if is_arrow(data):
        return arrow_to_pandas(data)
    if isinstance(data, dict):
        if not data:
            raise InvalidInput("input is an empty dict")
        cols = {}
        for k, v in data.items():
            arr = as_numpy(v)
            cols[str(k)] = _rows(arr) if arr.ndim else [arr.item()]
        return _frame(cols)
    if is_sequence_of_arrays(data):
        return _frame({f"{prefix}_{i}": _rows(as_numpy(x)) for i, x in enumerate(data)})
    if is_tensor(data):
        arr = tensor_to_numpy(data)
        if arr.ndim == 0:
            raise InvalidInput("input is a 0-dimensional tensor; it needs a row dimension")
        return _frame({f"{prefix}_0": _rows(arr)})
    if isinstance(data, (list, tuple)):
        if not data:
            raise InvalidInput("input is an empty list")
        if all(isinstance(r, dict) for r in data):
            return pd.DataFrame.from_records(list(data))
        data = _list_to_array(data)
    if is_array(data):
        if data.ndim == 0:
            raise InvalidInput("input is a scalar; it needs a row dimension")
        if data.ndim == 1:
            return _frame({f"{prefix}_0": data})
        if data.ndim == 2:
            return _frame({f"{prefix}_{i}": data[:, i] for i in range(data.shape[1])})
        return _frame({f"{prefix}_0": _rows(data)})
    raise InvalidInput(
        f"unsupported data of type {type(data).__name__}; pass a pandas DataFrame, numpy array, "
        "pyarrow Table, DuckDB relation, list of records or tensors"
    )


def tensor_sample(sample: Any) -> Any:
    """Sample input for a model that takes tensors (PyTorch, TensorFlow): tabular data (a
    frame, series, dict of arrays or list of records) as a frame whose columns are the
    features; arrays and tensors as a list, one per positional argument."""
    if is_frame(sample) or is_series(sample) or isinstance(sample, dict):
        return to_frame(sample, "input_feature")
    if isinstance(sample, list) and sample and all(isinstance(r, dict) for r in sample):
        return to_frame(sample, "input_feature")
    return list(sample) if is_sequence_of_arrays(sample) else [sample]


def _list_to_array(data: Sequence[Any]) -> Any:
    import numpy as np

    try:
        return np.asarray(data)
    except ValueError:  # ragged nested lists: one feature whose cells vary in length
        arr = np.empty(len(data), dtype=object)
        for i, row in enumerate(data):
            arr[i] = np.asarray(row)
        return arr


def _frame(cols: dict[str, Any]) -> "pd.DataFrame":
    import numpy as np
    import pandas as pd

    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise InvalidInput(f"input features have different numbers of rows: {sorted(lengths)}")
    out = {}
    for name, values in cols.items():
        if isinstance(values, list):
            cells = np.empty(len(values), dtype=object)
            for i, v in enumerate(values):
                cells[i] = v
            out[name] = pd.Series(cells, dtype=object)
        else:
            out[name] = pd.Series(values)
    return pd.DataFrame(out)


def frame_to_input(data: Any, features: Sequence["FeatureSpec"]) -> "pd.DataFrame":
    """Input data as a frame laid out for ``features``: arrays and tensors are matched
    to the signature (a 2-D array to N scalar features or to one feature of shape (N,))."""
    if is_frame(data) or is_series(data) or is_arrow(data) or is_relation(data) or isinstance(data, dict):
        return to_frame(data, "input_feature")
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, dict) for r in data):
        return to_frame(data, "input_feature")
    names = [f.name for f in features]
    if is_sequence_of_arrays(data):
        if len(data) != len(features):
            raise InvalidInput(f"input has {len(data)} arrays; the signature has {len(features)} features: {', '.join(names)}")
        return _frame({f.name: _rows(as_numpy(x)) for f, x in zip(features, data)})
    if isinstance(data, (list, tuple)) and data:
        data = _list_to_array(data)
    if is_array(data) or is_tensor(data):
        arr = as_numpy(data)
        if arr.ndim == 0:
            raise InvalidInput("input is a scalar; it needs a row dimension")
        if len(features) == 1 and (features[0].shape is not None or arr.ndim == 1):
            return _frame({names[0]: _rows(arr)})
        if arr.ndim == 2 and arr.shape[1] == len(features) and all(f.shape is None for f in features):
            return _frame({n: arr[:, i] for i, n in enumerate(names)})
        raise InvalidInput(
            f"input array of shape {tuple(arr.shape)} does not match the signature's "
            f"{len(features)} feature(s): {', '.join(names)}"
        )
    return to_frame(data, "input_feature")


def feature_arrays(frame: "pd.DataFrame", features: Sequence["FeatureSpec"]) -> list[Any]:
    """One numpy array per feature, of shape (N, *feature.shape): what tensor models take."""
    import numpy as np

    out = []
    for f in features:
        col = frame[f.name]
        dtype = f.dtype.numpy_dtype()
        nulls = col.isna()
        if nulls.any() and not (f.shape is None and f.dtype.is_float):
            raise InvalidInput(f"feature {f.name!r} has a null in row {int(nulls.to_numpy().argmax())}; an array of {f.dtype.value} cannot hold it")
        if f.shape is None:
            out.append(col.to_numpy(dtype=dtype, na_value=np.nan) if f.dtype.is_float else col.to_numpy(dtype=dtype))
        elif any(d < 0 for d in f.shape):
            raise InvalidInput(f"feature {f.name!r} has a variable shape {f.shape}; it cannot be stacked into one array")
        else:
            out.append(np.stack([np.asarray(c, dtype=dtype) for c in col]) if len(col) else np.empty((0, *f.shape), dtype))
    return out


_UNNAMED = re.compile(r"^input_feature_\d+$")


def natural_input(frame: "pd.DataFrame", features: Sequence["FeatureSpec"]) -> Any:
    """Features inferred from unnamed arrays (``input_feature_<i>``) back in the array
    layout they came from (a 1-D or 2-D array, or a list of arrays); named features as
    the frame. What a custom model logged with a numpy sample expects."""
    import numpy as np

    if not features or not all(_UNNAMED.match(f.name) for f in features):
        return frame
    arrays = feature_arrays(frame, features)
    if len(arrays) == 1:
        return arrays[0]
    if all(f.shape is None for f in features):
        return np.column_stack(arrays)
    return arrays


def output_frame(output: Any, names: Sequence[str] | None = None) -> "pd.DataFrame":
    """A method's output as a frame; columns renamed to ``names`` (the signature's
    outputs) when there are as many."""
    frame = to_frame(output, "output_feature")
    if names and len(names) == len(frame.columns) and list(frame.columns) != list(names):
        frame = frame.set_axis(list(names), axis=1)
    return frame
