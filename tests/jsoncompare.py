"""Equality of JSON values in which NaN equals NaN (metrics may hold NaN)."""

from __future__ import annotations

import math


def same(a, b, strict_types: bool = True) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], strict_types) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, strict_types) for x, y in zip(a, b))
    return (type(a) is type(b) or not strict_types) and a == b
