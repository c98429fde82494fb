"""Row: one result row of a frame, with Snowpark's ``Row`` semantics.

A tuple (index access, slicing, equality and hashing as a tuple), whose values are also
reachable by field name, as a key (``row["NAME"]``) or an attribute (``row.NAME``). Field
names are the column names exactly as in the frame (case-sensitive, as in Snowpark).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Row(tuple):
    """``Row(1, 2)`` has values only; ``Row(NAME="m", VERSION="1")`` has fields too.

    ``in`` tests field names when the row has fields (as Snowpark's does), values otherwise.
    """

    def __new__(cls, *values: Any, **named_values: Any) -> Row:
        if values and named_values:
            raise ValueError("Either values or named_values is required but not both.")
        if named_values:
            return cls._make(tuple(named_values), tuple(named_values.values()))
        return cls._make(None, values)

    @classmethod
    def _make(cls, fields: tuple[str, ...] | None, values: Iterable[Any]) -> Row:
        row = tuple.__new__(cls, tuple(values))
        row.__dict__["_fields"] = fields
        return row

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return Row(*tuple.__getitem__(self, item))
        if isinstance(item, str):
            if self._fields is None or item not in self._fields:
                raise KeyError(item)
            return tuple.__getitem__(self, self._fields.index(item))  # the first of duplicates
        return tuple.__getitem__(self, item)

    def __getattr__(self, item: str) -> Any:
        fields = self.__dict__.get("_fields")
        if fields is None or item not in fields:
            raise AttributeError(f"Row object has no attribute {item}")
        return tuple.__getitem__(self, fields.index(item))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Can't set attribute to Row object")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("Row object does not support item assignment")

    def __contains__(self, item: object) -> bool:
        if self._fields is not None:
            return item in self._fields
        return tuple.__contains__(self, item)

    def __call__(self, *values: Any) -> Row:
        """A row of field names makes rows: ``Model = Row("NAME", "VERSION"); Model("m", "1")``."""
        if self._fields is not None or not all(isinstance(v, str) for v in self):
            raise ValueError("only a Row of field names (strings, no fields of its own) can make rows")
        if len(values) != len(self):
            raise ValueError(f"{len(self)} values are expected.")
        return Row._make(tuple(self), values)

    def __repr__(self) -> str:
        if self._fields is not None:
            return "Row({})".format(", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self)))
        return "Row({})".format(", ".join(repr(v) for v in self))

    def __reduce__(self) -> Any:
        return (Row._make, (self._fields, tuple(self)))

    def as_dict(self, recursive: bool = False) -> dict[str, Any]:
        """``{field: value}``; with ``recursive``, Rows inside become dicts too."""
        if self._fields is None or len(set(self._fields)) != len(self._fields):
            raise TypeError("Cannot convert a Row without key values or duplicated keys to a dict.")
        values = (_as_dicts(v) if recursive else v for v in self)
        return dict(zip(self._fields, values))

    asDict = as_dict


def _as_dicts(value: Any) -> Any:
    if isinstance(value, Row):
        return value.as_dict(True)
    if isinstance(value, dict):
        return {k: _as_dicts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_dicts(v) for v in value]
    return value
