"""Model signatures: the named, typed features a target method takes and returns.

Mirrors ``snowflake.ml.model.model_signature``: ``DataType``, ``FeatureSpec``,
``ModelSignature`` and ``infer_signature``; adds ``normalize_signatures`` (what
``log_model(signatures=...)`` accepts) and ``validate_input`` (what a deployment checks
before calling a model). Heavy libraries (pandas, numpy, pyarrow) are imported only when
data of that kind is handed in. Data layout conventions: ``mlreg.handlers.tables``.
"""

from __future__ import annotations

import datetime
import decimal
import numbers
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

_INTS = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")


class DataType(Enum):
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    BOOL = "BOOL"
    STRING = "STRING"
    BYTES = "BYTES"
    TIMESTAMP_NTZ = "TIMESTAMP_NTZ"

    @property
    def is_integer(self) -> bool:
        return self.value in _INTS

    @property
    def is_float(self) -> bool:
        return self in (DataType.FLOAT, DataType.DOUBLE)

    def numpy_dtype(self) -> str:
        """The numpy dtype a column of this type is converted to (object for text)."""
        if self.is_integer:
            return self.value.lower()
        return {
            "FLOAT": "float32", "DOUBLE": "float64", "BOOL": "bool",
            "STRING": "object", "BYTES": "object", "TIMESTAMP_NTZ": "datetime64[ns]",
        }[self.value]

    @classmethod
    def from_numpy_kind(cls, dtype: Any) -> "DataType":
        """From a numpy, pandas, torch or TensorFlow dtype (or its name)."""
        name = str(getattr(dtype, "name", dtype)).lower().removeprefix("torch.").removesuffix("[pyarrow]")
        table = {
            "int8": cls.INT8, "int16": cls.INT16, "int32": cls.INT32, "int64": cls.INT64,
            "uint8": cls.UINT8, "uint16": cls.UINT16, "uint32": cls.UINT32, "uint64": cls.UINT64,
            "float16": cls.FLOAT, "half": cls.FLOAT, "bfloat16": cls.FLOAT, "float32": cls.FLOAT,
            "float": cls.FLOAT, "float64": cls.DOUBLE, "double": cls.DOUBLE,
            "bool": cls.BOOL, "boolean": cls.BOOL, "string": cls.STRING, "str": cls.STRING,
            "large_string": cls.STRING, "bytes": cls.BYTES, "binary": cls.BYTES,
        }
        if name in table:
            return table[name]
        if name.startswith("datetime64") and "," not in name:
            return cls.TIMESTAMP_NTZ
        if name.startswith("<u") or name.startswith("str"):
            return cls.STRING
        if name.startswith("|s") or name.startswith("bytes"):
            return cls.BYTES
        raise InvalidInput(f"unsupported data type {name}")


@dataclass(frozen=True)
class FeatureSpec:
    """One named feature. ``shape`` None is a scalar per row; a tuple is an array per row
    of that shape, -1 marking a dimension whose length varies (a ragged feature)."""

    name: str
    dtype: DataType
    shape: tuple[int, ...] | None = None
    nullable: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput(f"a feature name must be a non-empty string, got {self.name!r}")
        if isinstance(self.dtype, str):
            object.__setattr__(self, "dtype", _data_type(self.name, self.dtype))
        if not isinstance(self.dtype, DataType):
            raise InvalidInput(f"feature {self.name!r}: dtype must be a DataType, got {self.dtype!r}")
        if self.shape is not None:
            shape = tuple(self.shape) if isinstance(self.shape, (list, tuple)) else None
            if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and (s > 0 or s == -1) for s in shape):
                raise InvalidInput(f"feature {self.name!r}: shape must be a non-empty tuple of positive integers or -1, got {self.shape!r}")
            object.__setattr__(self, "shape", shape)

    def describe(self) -> str:
        text = self.dtype.value
        if self.shape is not None:
            text += f" array of shape {self.shape}"
        return text

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.dtype.value}
        if self.shape is not None:
            d["shape"] = list(self.shape)
        if not self.nullable:
            d["nullable"] = False
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureSpec":
        if not isinstance(d, dict) or "name" not in d or "type" not in d:
            raise InvalidInput(f"a feature needs 'name' and 'type', got {d!r}")
        shape = d.get("shape")
        if shape is not None and not isinstance(shape, list):
            raise InvalidInput(f"feature {d['name']!r}: shape must be a list of integers")
        nullable = d.get("nullable", True)
        if not isinstance(nullable, bool):
            raise InvalidInput(f"feature {d['name']!r}: nullable must be true or false")
        return cls(name=d["name"], dtype=_data_type(d["name"], d["type"]), shape=shape, nullable=nullable)


def _data_type(name: Any, value: Any) -> DataType:
    try:
        return DataType(str(value).upper())
    except ValueError:
        known = ", ".join(t.value for t in DataType)
        raise InvalidInput(f"feature {name!r} has unknown type {value!r}; known: {known}") from None


@dataclass(frozen=True)
class ModelSignature:
    inputs: Sequence[FeatureSpec] = field(default_factory=tuple)
    outputs: Sequence[FeatureSpec] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for side in ("inputs", "outputs"):
            specs = getattr(self, side)
            if isinstance(specs, FeatureSpec) or not isinstance(specs, (list, tuple)):
                raise InvalidInput(f"a signature's {side} must be a list of FeatureSpec")
            if not all(isinstance(f, FeatureSpec) for f in specs):
                raise InvalidInput(f"a signature's {side} must be a list of FeatureSpec")
            names = [f.name for f in specs]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise InvalidInput(f"a signature's {side} name a feature twice: {', '.join(dup)}")
            object.__setattr__(self, side, tuple(specs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [f.to_dict() for f in self.inputs],
            "outputs": [f.to_dict() for f in self.outputs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSignature":
        if not isinstance(d, dict) or "inputs" not in d or "outputs" not in d:
            raise InvalidInput("a signature is an object with 'inputs' and 'outputs' lists")
        if not isinstance(d["inputs"], list) or not isinstance(d["outputs"], list):
            raise InvalidInput("a signature's 'inputs' and 'outputs' must be lists")
        return cls(
            inputs=tuple(FeatureSpec.from_dict(x) for x in d["inputs"]),
            outputs=tuple(FeatureSpec.from_dict(x) for x in d["outputs"]),
        )


def normalize_signatures(signatures: Any) -> dict[str, ModelSignature]:
    """``log_model(signatures=...)``: a mapping of target method name to ModelSignature
    (or to its ``to_dict()`` form, as read from a JSON file)."""
    example = "signatures={'predict': ModelSignature(inputs=[...], outputs=[...])}"
    if isinstance(signatures, ModelSignature) or (
        isinstance(signatures, Mapping) and {"inputs", "outputs"} <= set(signatures)
    ):
        raise InvalidInput(
            "signatures must map each target method name to its signature, not a single "
            f"ModelSignature: wrap it, e.g. {example}"
        )
    if not isinstance(signatures, Mapping):
        raise InvalidInput(f"signatures must be a dict of method name to ModelSignature, e.g. {example}; got {type(signatures).__name__}")
    if not signatures:
        raise InvalidInput(f"signatures is empty; name at least one target method, e.g. {example}")
    out = {}
    for method, sig in signatures.items():
        if not isinstance(method, str) or not method:
            raise InvalidInput(f"signatures: method names must be non-empty strings, got {method!r}")
        if isinstance(sig, ModelSignature):
            out[method] = sig
        elif isinstance(sig, Mapping):
            try:
                out[method] = ModelSignature.from_dict(dict(sig))
            except InvalidInput as e:
                raise InvalidInput(f"signature of {method!r}: {e}") from None
        else:
            raise InvalidInput(f"signature of {method!r} must be a ModelSignature, got {type(sig).__name__}")
    return out


def head(data: Any, n: int) -> Any:
    """The first ``n`` rows of any supported sample input, in a form a model accepts."""
    from mlreg.handlers import tables

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
    from mlreg.handlers import tables

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
    if dtype == object:
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
    return FeatureSpec(name, kinds.pop())


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


def validate_input(data: Any, signature: ModelSignature | Sequence[FeatureSpec]) -> "pd.DataFrame":
    """Check input data against a signature's inputs and return a frame of exactly those
    columns, in order, converted to the feature types. Extra columns are ignored."""
    from mlreg.handlers import tables
    from mlreg.handlers.validation import check_column

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
