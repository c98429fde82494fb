"""``jsonvalue.canonical`` gives the text DuckDB's ``json()`` gives, for every JSON text
mlreg can store: rows read from PostgreSQL without DuckDB must print exactly like rows
read through it. DuckDB itself is the oracle."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlreg.jsonvalue import canonical, canonical_column

_CON = duckdb.connect()


def duckdb_json(text: str) -> str:
    return _CON.execute("SELECT json(?::VARCHAR)", [text]).fetchall()[0][0]


floats = st.floats(allow_nan=True, allow_infinity=True)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
keys = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)
values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | floats | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
styles = st.sampled_from([
    {"separators": (",", ":"), "ensure_ascii": False},  # how mlreg writes metrics and tags
    {},  # json.dumps defaults: spaces and \u escapes (older rows, creation context)
    {"indent": 2, "ensure_ascii": True},
])


@settings(max_examples=400, deadline=None)
@given(values, styles)
@example({"cwd": "/tmp/a, b: c", "user": "José", "x": 1e-07, "y": 2.5e+20, "z": -0.0}, {})
@example([1e16, 1e21, 1e22, 0.000001, 1e-7, 5e-324, 1.7976931348623157e308, float("nan"), -float("inf")],
         {"separators": (",", ":"), "ensure_ascii": False})
@example("\x0b\x1f\x7f\u2028\U0001f600 \"\\/", {})
def test_canonical_is_duckdbs_json_for_python_written_text(value, style):
    text = json.dumps(value, allow_nan=True, **style)
    assert canonical(text) == duckdb_json(text)


@settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None), st.sampled_from(["{}", "{:f}", "{:E}"]))
@example(Decimal("0.50"), "{}")
@example(Decimal("-0"), "{}")
@example(Decimal("1E400"), "{:E}")
@example(Decimal("0.1000000000000000055511151231257827"), "{}")
@example(Decimal("1234567.890123456"), "{}")
@example(Decimal("0.3000000000000001"), "{:E}")
def test_canonical_is_duckdbs_json_for_numbers_written_by_other_tools(number, form):
    """PostgreSQL's numeric text (``0.50``), exponents in capitals, long digit strings."""
    text = form.format(number)
    doc = f'{{"m": [{text}, {text}]}}'
    assert canonical(doc) == duckdb_json(doc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.tuples(values, styles), max_size=6))
@example([({"a": "x y", "n": 1.5}, {"separators": (",", ":")}), None, ({"b": "\\"}, {})])
def test_canonical_column_is_canonical_of_each(cells):
    texts = [None if c is None else json.dumps(c[0], allow_nan=True, **c[1]) for c in cells]
    assert canonical_column(texts) == [None if t is None else duckdb_json(t) for t in texts]


@pytest.mark.parametrize("text", [None, "", "{}", '{"a":1}', '"plain"'])
def test_text_already_canonical_is_returned_as_it_is(text):
    assert canonical(text) is text
