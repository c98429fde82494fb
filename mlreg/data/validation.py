"""Input data checked against a signature and converted to the feature types.

``validate_input`` is what a deployment runs before calling a model; ``check_column``
checks one column against its FeatureSpec. Errors name the feature, what it expects and
what was found. Integers are accepted for float features, and floats that are whole
numbers (what JSON with nulls becomes) for integer features; anything else of the wrong
kind is refused.
"""

from __future__ import annotations

import datetime
import decimal
import numbers
from typing import TYPE_CHECKING, Any, Sequence

from mlreg.data import tables
from mlreg.data.signature import FeatureSpec, ModelSignature
from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd


def validate_input(data: Any, signature: ModelSignature | Sequence[FeatureSpec]) -> "pd.DataFrame":
    """Check input data against a signature's inputs and return a frame of exactly those
    columns, in order, converted to the feature types. Extra columns are ignored."""
    features = signature.inputs if isinstance(signature, ModelSignature) else tuple(signature)
    frame = tables.frame_to_input(data, features)
    by_lower: dict[str, list[str]] = {}
    for c in frame.columns:
        by_lower.setdefault(str(c).lower(), []).append(c)
    columns = {}
    for f in features:
        if f.name in frame.columns:
            col = frame[f.name]
        elif len(by_lower.get(f.name.lower(), [])) == 1:  # DuckDB and SQL users may change case
            col = frame[by_lower[f.name.lower()][0]]
        else:
            have = ", ".join(map(str, frame.columns[:20])) + (" ..." if len(frame.columns) > 20 else "")
            raise InvalidInput(f"input is missing column {f.name!r} (expected {f.describe()}); it has: {have}")
        columns[f.name] = check_column(col, f)
    import pandas as pd

    # arrays, not Series: no alignment on an index that may repeat labels
    return pd.DataFrame({name: col.array for name, col in columns.items()}, index=frame.index)


_NULLABLE_INT = {
    "INT8": "Int8", "INT16": "Int16", "INT32": "Int32", "INT64": "Int64",
    "UINT8": "UInt8", "UINT16": "UInt16", "UINT32": "UInt32", "UINT64": "UInt64",
}


def _fail(f: "FeatureSpec", found: str) -> InvalidInput:
    return InvalidInput(f"feature {f.name!r} expects {f.describe()}, got {found}")


def _first(mask: Any) -> int:
    import numpy as np

    return int(np.flatnonzero(np.asarray(mask))[0])


def check_column(col: "pd.Series", f: "FeatureSpec") -> "pd.Series":
    nulls = col.isna().to_numpy()
    if not f.nullable and nulls.any():
        raise InvalidInput(f"feature {f.name!r} does not accept nulls; row {_first(nulls)} is null")
    if f.shape is not None:
        return _array_column(col, f, nulls)
    return _scalar_column(col, f, nulls)


def _scalar_column(col: "pd.Series", f: "FeatureSpec", nulls: Any) -> "pd.Series":
    import numpy as np
    import pandas as pd
    from pandas.api import types as pt

    target = f.dtype
    dtype = col.dtype
    if dtype == object or isinstance(dtype, pd.StringDtype):  # noqa: E721 - NumPy dtype equality
        return _object_column(col, f, nulls)
    if isinstance(dtype, pd.CategoricalDtype):
        return _scalar_column(col.astype(dtype.categories.dtype), f, nulls)
    is_bool = pt.is_bool_dtype(dtype)
    if target.is_integer:
        if is_bool or not pt.is_numeric_dtype(dtype):
            raise _fail(f, f"a column of type {dtype}")
        present = col[~nulls].to_numpy()
        if not pt.is_integer_dtype(dtype):
            present = present.astype("float64")
            whole = np.isfinite(present) & (present == np.floor(present))
            if not whole.all():
                raise _fail(f, f"the non-integer value {present[~whole][0].item()!r} in row {_row(nulls, ~whole)}")
            col = col.astype("float64")
        _check_range(f, present, nulls)
        return col.astype(_NULLABLE_INT[target.value] if nulls.any() else target.numpy_dtype())
    if target.is_float:
        if is_bool or not pt.is_numeric_dtype(dtype):
            raise _fail(f, f"a column of type {dtype}")
        return pd.Series(col.to_numpy(dtype=target.numpy_dtype(), na_value=np.nan), index=col.index, name=col.name)
    if target.value == "BOOL":
        if not is_bool:
            raise _fail(f, f"a column of type {dtype}")
        return col.astype("boolean") if nulls.any() else col.astype(bool)
    if target.value == "TIMESTAMP_NTZ":
        if not pt.is_datetime64_dtype(dtype) or isinstance(dtype, pd.DatetimeTZDtype):
            raise _fail(f, f"a column of type {dtype}")
        return col.astype("datetime64[ns]")
    raise _fail(f, f"a column of type {dtype}")


def _row(nulls: Any, bad_among_non_null: Any) -> int:
    import numpy as np

    positions = np.flatnonzero(~np.asarray(nulls))
    return int(positions[np.flatnonzero(bad_among_non_null)[0]])


def _check_range(f: "FeatureSpec", values: Any, nulls: Any) -> None:
    import numpy as np

    if not len(values):
        return
    info = np.iinfo(f.dtype.numpy_dtype())
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and info.min <= int(arr.min()) and int(arr.max()) <= info.max:
        return
    ints = [int(v) for v in arr.tolist()]
    bad = np.array([not (info.min <= v <= info.max) for v in ints])
    if bad.any():
        raise _fail(f, f"the value {ints[int(np.flatnonzero(bad)[0])]} in row {_row(nulls, bad)}, out of its range [{info.min}, {info.max}]")


_PY_KINDS: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "BYTES": (bytes, bytearray, memoryview),
    "BOOL": (bool,),
    "TIMESTAMP_NTZ": (datetime.datetime,),
}


# what pandas' infer_dtype may call a column of each feature type (it runs at C speed)
_INFERRED = {
    "STRING": {"string", "empty"}, "BYTES": {"bytes", "empty"}, "BOOL": {"boolean", "empty"},
    "TIMESTAMP_NTZ": {"datetime", "datetime64", "empty"}, "INT64": {"integer", "empty"},
    "FLOAT": {"integer", "floating", "mixed-integer-float", "decimal", "empty"},
}


def _object_column(col: "pd.Series", f: "FeatureSpec", nulls: Any) -> "pd.Series":
    import numpy as np
    import pandas as pd
    from pandas.api import types as pt

    values = col.to_numpy(dtype=object)
    target = f.dtype
    if target.is_integer:
        ok = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))  # noqa: E731
    elif target.is_float:
        ok = lambda v: isinstance(v, (numbers.Real, decimal.Decimal)) and not isinstance(v, (bool, np.bool_))  # noqa: E731
    elif target.value == "BOOL":
        ok = lambda v: isinstance(v, (bool, np.bool_))  # noqa: E731
    else:
        kinds = _PY_KINDS[target.value]
        ok = lambda v: isinstance(v, kinds)  # noqa: E731
    if pt.infer_dtype(values, skipna=True) not in _INFERRED.get(target.value, _INFERRED["FLOAT" if target.is_float else "INT64"]):
        for i, v in enumerate(values):  # find the offending value (pandas' C check said there is one)
            if not nulls[i] and not ok(v):
                raise _fail(f, f"the value {_short(v)} ({type(v).__name__}) in row {i}")
    present = values[~nulls]
    if target.is_integer:
        _check_range(f, present, nulls)
        return pd.Series(values, index=col.index, name=col.name).astype(
            _NULLABLE_INT[target.value] if nulls.any() else target.numpy_dtype()
        )
    if target.is_float:
        out = np.full(len(values), np.nan, dtype=target.numpy_dtype())
        out[~nulls] = [float(v) for v in present]
        return pd.Series(out, index=col.index, name=col.name)
    if target.value == "BOOL":
        return pd.Series(values, index=col.index, name=col.name).astype("boolean" if nulls.any() else bool)
    if target.value == "TIMESTAMP_NTZ":
        if any(v.tzinfo is not None for v in present):
            raise _fail(f, "time-zone-aware timestamps")
        return pd.to_datetime(pd.Series(values, index=col.index, name=col.name)).astype("datetime64[ns]")
    values = values.copy()
    values[nulls] = None
    if target.value == "BYTES":
        values[~nulls] = [bytes(v) for v in present]
    return pd.Series(values, index=col.index, name=col.name, dtype=object)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _array_column(col: "pd.Series", f: "FeatureSpec", nulls: Any) -> "pd.Series":
    import numpy as np
    import pandas as pd

    assert f.shape is not None
    cells = col.to_numpy(dtype=object)
    if not nulls.any() and -1 not in f.shape and len(cells):
        block = _stack(cells)
        if block is not None and block.shape[1:] == f.shape and _kind_ok(f.dtype, block, block.dtype.kind):
            block = block.astype(f.dtype.numpy_dtype(), copy=False)
            out = np.empty(len(cells), dtype=object)
            for i in range(len(cells)):
                out[i] = block[i]
            return pd.Series(out, index=col.index, name=col.name, dtype=object)
    out = np.empty(len(cells), dtype=object)
    for i, cell in enumerate(cells):
        if nulls[i]:
            out[i] = None
            continue
        if not (isinstance(cell, (list, tuple)) or hasattr(cell, "shape")):
            raise _fail(f, f"the scalar {_short(cell)} in row {i}")
        a = np.asarray(cell.detach().cpu() if hasattr(cell, "detach") else cell)
        if a.ndim != len(f.shape) or any(want not in (-1, got) for want, got in zip(f.shape, a.shape)):
            raise _fail(f, f"an array of shape {tuple(a.shape)} in row {i}")
        if a.size and not _kind_ok(f.dtype, a, a.dtype.kind):
            raise _fail(f, f"an array of {a.dtype} in row {i}")
        out[i] = a.astype(f.dtype.numpy_dtype()) if f.dtype.numpy_dtype() != "object" else a
    return pd.Series(out, index=col.index, name=col.name, dtype=object)


def _stack(cells: Any) -> Any:
    """Cells of equal shape as one array (None when they are not)."""
    import numpy as np

    try:
        if all(isinstance(c, np.ndarray) for c in cells):
            return np.stack(cells)
        return np.array(cells.tolist())
    except (ValueError, TypeError):
        return None


def _kind_ok(target: Any, a: Any, kind: str) -> bool:
    import numpy as np

    if target.is_float:
        return kind in "iuf"
    if target.is_integer:
        return kind in "iu" or (kind == "f" and bool(np.all(np.isfinite(a) & (a == np.floor(a)))))
    if target.value == "BOOL":
        return kind == "b"
    if target.value == "STRING":
        return kind == "U" or (kind == "O" and all(isinstance(x, str) for x in a.ravel()))
    if target.value == "BYTES":
        return kind == "S" or (kind == "O" and all(isinstance(x, bytes) for x in a.ravel()))
    return kind == "M"
