"""A deployment name is refused as DuckDB's only when DuckDB says so; any other failure to
register the function keeps its own cause. The defect: in a core install without NumPy,
`mlreg deploy create m 1 summer` said "'summer' is taken by a DuckDB built-in function"."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlreg.deploy import warehouse
from mlreg.errors import InvalidInput
from mlreg.model_signature import DataType, FeatureSpec, ModelSignature

SIGNATURE = ModelSignature(inputs=[FeatureSpec("a", DataType.DOUBLE), FeatureSpec("b", DataType.DOUBLE)],
                           outputs=[FeatureSpec("y", DataType.DOUBLE)])


@pytest.mark.parametrize("name", ["abs", "SUM"])
def test_a_duckdb_name_is_taken(name: str) -> None:
    with pytest.raises(InvalidInput, match=f"deployment name '{name}' is taken by a DuckDB built-in function"):
        warehouse.check_function_name(name, SIGNATURE)


def test_a_free_name_passes() -> None:
    warehouse.check_function_name("summer", SIGNATURE)


def test_numpy_missing_is_not_a_name_clash() -> None:
    code = """
import sys
sys.modules["numpy"] = None  # what a Python without NumPy sees: DuckDB's Arrow functions need it
from mlreg.deploy import warehouse
from mlreg.model_signature import DataType, FeatureSpec, ModelSignature
sig = ModelSignature(inputs=[FeatureSpec("a", DataType.DOUBLE)], outputs=[FeatureSpec("y", DataType.DOUBLE)])
try:
    warehouse.check_function_name("summer", sig)
except Exception as e:
    print(type(e).__name__, e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "taken by a DuckDB built-in" not in out, out
    assert out.startswith("InvalidInputException") and "'numpy' is required" in out, out
