"""Model signatures: the named, typed features a target method takes and returns.

Mirrors ``snowflake.ml.model.model_signature``: ``DataType``, ``FeatureSpec`` and
``ModelSignature``, and ``normalize_signatures`` (what ``log_model(signatures=...)``
accepts). Inferring a signature from data is in ``mlreg.data.inference``, checking input
against one in ``mlreg.data.validation``; users import all of them from
``mlreg.model_signature``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Sequence

from mlreg.errors import InvalidInput

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
        return cls(name=d["name"], dtype=_data_type(d["name"], d["type"]), shape=tuple(shape) if shape is not None else None,
                   nullable=nullable)


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
