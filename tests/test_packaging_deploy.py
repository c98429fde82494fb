"""A deployment name is refused as DuckDB's only when DuckDB says so (a catalog error);
any other failure to register the function (NumPy missing in a core install, as happened
before NumPy was in the core) keeps its own message."""

from __future__ import annotations

import duckdb
import pytest

from mlreg.deploy import warehouse
from mlreg.errors import InvalidInput
from mlreg.model_signature import DataType, FeatureSpec, ModelSignature

SIGNATURE = ModelSignature(inputs=[FeatureSpec("a", DataType.DOUBLE), FeatureSpec("b", DataType.DOUBLE)],
                           outputs=[FeatureSpec("y", DataType.DOUBLE)])


@pytest.mark.parametrize("name", ["abs", "SUM", "user"])
def test_a_duckdb_name_is_taken(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "user":  # not in duckdb_functions(): DuckDB refuses it while registering
        monkeypatch.setattr(warehouse, "register", lambda con, n, fn, sig: duckdb.connect().create_function(
            n, lambda a, b: a, ["DOUBLE", "DOUBLE"], "DOUBLE", type="arrow"))
    with pytest.raises(InvalidInput, match=f"deployment name '{name}' is taken by a DuckDB built-in function"):
        warehouse.check_function_name(name, SIGNATURE)


def test_another_refusal_keeps_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def register(con, name, fn, signature):
        raise duckdb.InvalidInputException("Invalid Input Error: 'numpy' is required for this operation, but it wasn't installed")

    monkeypatch.setattr(warehouse, "register", register)
    with pytest.raises(duckdb.InvalidInputException, match="'numpy' is required"):
        warehouse.check_function_name("summer", SIGNATURE)


def test_a_free_name_passes() -> None:
    warehouse.check_function_name("summer", SIGNATURE)
