"""Signature inference from every kind of sample data, validation of input against a
signature, and the errors users see."""

from __future__ import annotations

import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlreg.errors import InvalidInput
from mlreg.model_signature import (
    DataType,
    FeatureSpec,
    ModelSignature,
    features_of,
    head,
    infer_signature,
    normalize_signatures,
    validate_input,
)


def types(data):
    return [(f.name, f.dtype.value, f.shape) for f in features_of(data, "input_feature")]


# ---- inference -------------------------------------------------------------------------------


def test_every_data_type_from_pandas():
    df = pd.DataFrame({
        **{t: np.array([1, 2], dtype=t) for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")},
        "f16": np.array([1, 2], dtype="float16"), "f32": np.array([1, 2], dtype="float32"), "f64": [1.0, 2.0],
        "bool": [True, False], "str": ["a", "b"], "bytes": [b"a", b"b"],
        "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "cat": pd.Categorical(["x", "y"]),
    })
    assert [t[1] for t in types(df)] == [
        "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
        "FLOAT", "FLOAT", "DOUBLE", "BOOL", "STRING", "BYTES", "TIMESTAMP_NTZ", "STRING",
    ]
    assert {d.value for d in DataType} == {t[1] for t in types(df)}


def test_nullable_pandas_dtypes_and_nan():
    df = pd.DataFrame({
        "i": pd.array([1, None], dtype="Int64"), "u": pd.array([1, None], dtype="UInt8"),
        "b": pd.array([True, None], dtype="boolean"), "s": pd.array(["x", None], dtype="string"),
        "f": pd.array([1.5, None], dtype="Float32"), "nan": [np.nan, 1.0], "obj_none": ["a", None],
        "arrow_int": pd.array([1, None], dtype="int16[pyarrow]"),
    })
    assert types(df) == [
        ("i", "INT64", None), ("u", "UINT8", None), ("b", "BOOL", None), ("s", "STRING", None),
        ("f", "FLOAT", None), ("nan", "DOUBLE", None), ("obj_none", "STRING", None), ("arrow_int", "INT16", None),
    ]


def test_numpy_layouts():
    assert types(np.zeros(4, dtype="int32")) == [("input_feature_0", "INT32", None)]
    assert types(np.zeros((4, 2))) == [("input_feature_0", "DOUBLE", None), ("input_feature_1", "DOUBLE", None)]
    assert types(np.zeros((4, 2, 3), dtype="float32")) == [("input_feature_0", "FLOAT", (2, 3))]
    assert types(np.array([["a", "b"], ["c", "d"]])) == [("input_feature_0", "STRING", None), ("input_feature_1", "STRING", None)]
    assert types([np.zeros((4, 2)), np.zeros(4, dtype=bool)]) == [("input_feature_0", "DOUBLE", (2,)), ("input_feature_1", "BOOL", None)]


def test_tensors_are_one_feature_each():
    assert types(torch.zeros(5, 3)) == [("input_feature_0", "FLOAT", (3,))]
    assert types(torch.zeros(5, dtype=torch.int64)) == [("input_feature_0", "INT64", None)]
    assert types((torch.zeros(5, 2, 2, dtype=torch.float64), torch.ones(5, dtype=torch.bool))) == [
        ("input_feature_0", "DOUBLE", (2, 2)), ("input_feature_1", "BOOL", None)]
    assert types(torch.zeros(5, 2, requires_grad=True)) == [("input_feature_0", "FLOAT", (2,))]


def test_pyarrow_keeps_integer_type_with_nulls_and_lists():
    table = pa.table({
        "i": pa.array([1, None, 3], pa.int32()), "b": pa.array([True, None, False]),
        "fixed": pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], pa.list_(pa.float32(), 2)),
        "ragged": pa.array([[1], [1, 2], None], pa.list_(pa.int64())),
        "dec": pa.array([1, 2, 3], pa.decimal128(5, 2)), "s": pa.array(["a", "b", None], pa.large_string()),
    })
    assert types(table) == [("i", "INT32", None), ("b", "BOOL", None), ("fixed", "FLOAT", (2,)),
                            ("ragged", "INT64", (-1,)), ("dec", "DOUBLE", None), ("s", "STRING", None)]


def test_duckdb_relation():
    rel = duckdb.sql(
        "SELECT 1::TINYINT AS t, 2.5 AS dec, 'x' AS s, [1, 2]::INTEGER[] AS l, NULL::BIGINT AS n, "
        "TIMESTAMP '2024-01-01 10:00:00' AS ts, true AS flag, 3.5::REAL AS r"
    )
    assert types(rel) == [("t", "INT8", None), ("dec", "DOUBLE", None), ("s", "STRING", None), ("l", "INT32", (2,)),
                          ("n", "INT64", None), ("ts", "TIMESTAMP_NTZ", None), ("flag", "BOOL", None), ("r", "FLOAT", None)]
    assert len(head(duckdb.sql("SELECT * FROM range(100)"), 10)) == 10


def test_records_and_nested_lists():
    assert types([{"a": 1, "b": "x"}, {"a": 2, "b": None}]) == [("a", "INT64", None), ("b", "STRING", None)]
    assert types([[1.0, 2.0], [3.0, 4.0]]) == [("input_feature_0", "DOUBLE", None), ("input_feature_1", "DOUBLE", None)]
    assert types([[1, 2], [3]]) == [("input_feature_0", "INT64", (-1,))]
    df = pd.DataFrame({"x": [[1.0, 2.0], [1.0], None], "img": [np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2))]})
    assert types(df) == [("x", "DOUBLE", (-1,)), ("img", "DOUBLE", (2, 2))]
    assert types(pd.DataFrame({"words": [["a", "b"], ["c", "d"]]})) == [("words", "STRING", (2,))]


def test_output_naming_and_infer_signature():
    sig = infer_signature(pd.DataFrame({"a": [1.0]}), pd.Series([1], name="label"))
    assert sig.to_dict() == {"inputs": [{"name": "a", "type": "DOUBLE"}], "outputs": [{"name": "label", "type": "INT64"}]}
    sig = infer_signature(np.zeros((2, 2)), np.zeros((2, 3)), input_feature_names=["x", "y"], output_feature_names=["p", "q", "r"])
    assert [f.name for f in sig.inputs] == ["x", "y"] and [f.name for f in sig.outputs] == ["p", "q", "r"]
    sig = infer_signature(np.zeros((2, 1)), {"score": np.zeros(2), "emb": np.zeros((2, 4), dtype="float32")})
    assert [(f.name, f.shape) for f in sig.outputs] == [("score", None), ("emb", (4,))]


@pytest.mark.parametrize("data, message", [
    (pd.DataFrame({"x": [None, None]}), "column 'x' holds only nulls, so its type cannot be inferred; pass signatures="),
    (pd.DataFrame({"x": ["a", 1]}), "column 'x' mixes values of types int, str; a feature has one type"),
    (pd.DataFrame({"x": pd.to_datetime(["2024-01-01"]).tz_localize("UTC")}), "column 'x' holds time-zone-aware timestamps"),
    (pd.DataFrame({"x": pd.to_timedelta([1], unit="s")}), "column 'x' has type timedelta64[ns], which a signature cannot describe"),
    (pd.DataFrame({"x": []}, dtype=float), "cannot infer a signature from data with no rows"),
    ({1, 2}, "unsupported data of type set; pass a pandas DataFrame"),
    (np.float64(1.0), "input is a scalar; it needs a row dimension"),
    (np.array(1.0), "input is a scalar; it needs a row dimension"),
    ([], "input is an empty list"),
    (pd.DataFrame([[1, 2]], columns=["a", "a"]), "input has duplicate column names"),
    (pd.DataFrame({"x": [[1, 2], [[1]]]}), "column 'x' holds arrays of different numbers of dimensions"),
])
def test_inference_errors(data, message):
    with pytest.raises(InvalidInput) as e:
        features_of(data, "input_feature")
    assert message in str(e.value)


def test_head_of_each_kind():
    assert len(head(pd.DataFrame({"a": range(20)}), 10)) == 10
    assert head(np.zeros((20, 2)), 10).shape == (10, 2)
    assert len(head(pa.table({"a": list(range(20))}), 5)) == 5
    assert len(head([{"a": i} for i in range(20)], 3)) == 3
    assert [t.shape[0] for t in head([torch.zeros(20, 2), torch.zeros(20)], 4)] == [4, 4]
    assert head({"a": np.arange(20)}, 2)["a"].tolist() == [0, 1]
    with pytest.raises(InvalidInput, match="unsupported sample input of type object"):
        head(object(), 10)


# ---- specs and their JSON form ----------------------------------------------------------------


def test_feature_spec_checks():
    assert FeatureSpec("x", "double").dtype is DataType.DOUBLE
    assert FeatureSpec("x", DataType.FLOAT, [2, -1]).shape == (2, -1)
    for bad, message in [
        (lambda: FeatureSpec("", DataType.FLOAT), "a feature name must be a non-empty string"),
        (lambda: FeatureSpec("x", "complex"), "feature 'x' has unknown type 'complex'; known: INT8"),
        (lambda: FeatureSpec("x", DataType.FLOAT, (0,)), "shape must be a non-empty tuple of positive integers or -1"),
        (lambda: FeatureSpec("x", DataType.FLOAT, ()), "shape must be a non-empty tuple"),
        (lambda: ModelSignature([FeatureSpec("a", DataType.FLOAT)] * 2, []), "a signature's inputs name a feature twice: a"),
        (lambda: ModelSignature(FeatureSpec("a", DataType.FLOAT), []), "a signature's inputs must be a list of FeatureSpec"),
        (lambda: ModelSignature.from_dict({"inputs": {}, "outputs": []}), "'inputs' and 'outputs' must be lists"),
        (lambda: FeatureSpec.from_dict({"name": "x", "type": "FLOAT", "shape": "3"}), "shape must be a list of integers"),
        (lambda: FeatureSpec.from_dict({"name": "x", "type": "FLOAT", "nullable": "no"}), "nullable must be true or false"),
        (lambda: FeatureSpec.from_dict({"type": "FLOAT"}), "a feature needs 'name' and 'type'"),
    ]:
        with pytest.raises(InvalidInput) as e:
            bad()
        assert message in str(e.value)


specs = st.builds(
    FeatureSpec,
    name=st.text(min_size=1, max_size=20),
    dtype=st.sampled_from(list(DataType)),
    shape=st.none() | st.lists(st.integers(1, 50) | st.just(-1), min_size=1, max_size=3).map(tuple),
    nullable=st.booleans(),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(specs, max_size=5, unique_by=lambda f: f.name), st.lists(specs, max_size=3, unique_by=lambda f: f.name))
def test_signature_json_round_trip(inputs, outputs):
    import json

    sig = ModelSignature(inputs, outputs)
    assert ModelSignature.from_dict(json.loads(json.dumps(sig.to_dict()))) == sig


def test_normalize_signatures():
    sig = ModelSignature([FeatureSpec("a", DataType.DOUBLE)], [FeatureSpec("y", DataType.INT64)])
    assert normalize_signatures({"predict": sig}) == {"predict": sig}
    assert normalize_signatures({"predict": sig.to_dict()}) == {"predict": sig}
    for bad, message in [
        (sig, "not a single ModelSignature: wrap it, e.g. signatures={'predict': ModelSignature("),
        (sig.to_dict(), "not a single ModelSignature"),
        ([sig], "signatures must be a dict of method name to ModelSignature"),
        ({}, "signatures is empty"),
        ({"predict": 3}, "signature of 'predict' must be a ModelSignature, got int"),
        ({"predict": {"inputs": [{"name": "a", "type": "BAD"}], "outputs": []}}, "signature of 'predict': feature 'a' has unknown type 'BAD'"),
        ({"": sig}, "method names must be non-empty strings"),
    ]:
        with pytest.raises(InvalidInput) as e:
            normalize_signatures(bad)
        assert message in str(e.value)


# ---- validation -------------------------------------------------------------------------------

SIG = ModelSignature(
    inputs=[FeatureSpec("age", DataType.INT32), FeatureSpec("score", DataType.DOUBLE), FeatureSpec("name", DataType.STRING),
            FeatureSpec("ok", DataType.BOOL), FeatureSpec("when", DataType.TIMESTAMP_NTZ), FeatureSpec("raw", DataType.BYTES),
            FeatureSpec("vec", DataType.FLOAT, (2,)), FeatureSpec("seq", DataType.INT64, (-1,))],
    outputs=[FeatureSpec("y", DataType.DOUBLE)],
)


def good_frame():
    return pd.DataFrame({
        "extra": [1, 2], "seq": [[1, 2, 3], [4]], "vec": [[1.0, 2.0], np.array([3, 4])], "raw": [b"a", b"b"],
        "when": pd.to_datetime(["2024-01-01", "2024-01-02"]), "ok": [True, False], "name": ["x", "y"],
        "score": [1, 2], "age": [30, 40],
    })


def test_validation_orders_converts_and_ignores_extra_columns():
    out = validate_input(good_frame(), SIG)
    assert list(out.columns) == [f.name for f in SIG.inputs]
    assert out.dtypes.astype(str).tolist()[:5] == ["int32", "float64", "object", "bool", "datetime64[ns]"]
    assert out["vec"].iloc[1].dtype == np.float32 and out["vec"].iloc[1].tolist() == [3.0, 4.0]
    assert out["seq"].iloc[0].tolist() == [1, 2, 3]


def test_validation_of_nulls_and_json_like_floats():
    sig = ModelSignature([FeatureSpec("n", DataType.INT64), FeatureSpec("f", DataType.FLOAT), FeatureSpec("b", DataType.BOOL)], [])
    out = validate_input(pd.DataFrame({"n": [1.0, np.nan], "f": pd.array([1, None], dtype="Int64"), "b": pd.array([True, None], dtype="boolean")}), sig)
    assert str(out["n"].dtype) == "Int64" and out["n"].tolist()[0] == 1 and out["n"].isna().tolist() == [False, True]
    assert str(out["f"].dtype) == "float32" and np.isnan(out["f"].iloc[1])
    assert str(out["b"].dtype) == "boolean"
    strict = ModelSignature([FeatureSpec("n", DataType.INT64, nullable=False)], [])
    with pytest.raises(InvalidInput, match="feature 'n' does not accept nulls; row 1 is null"):
        validate_input(pd.DataFrame({"n": [1.0, None]}), strict)


def test_validation_from_arrow_duckdb_records_and_arrays():
    sig = ModelSignature([FeatureSpec("a", DataType.INT64), FeatureSpec("b", DataType.DOUBLE)], [])
    for data in (pa.table({"a": [1, None], "b": [0.5, 1.5]}), duckdb.sql("SELECT * FROM (VALUES (1, 0.5), (NULL, 1.5)) t(a, b)"),
                 [{"a": 1, "b": 0.5}, {"a": None, "b": 1.5}]):
        out = validate_input(data, sig)
        assert out["a"].isna().tolist() == [False, True] and out["b"].tolist() == [0.5, 1.5]
    assert validate_input(np.array([[1, 0.5], [2, 1.5]]), sig)["a"].tolist() == [1, 2]
    assert validate_input(pd.DataFrame({"A": [1], "B": [2.0]}), sig).columns.tolist() == ["a", "b"]  # SQL may change case


@pytest.mark.parametrize("change, message", [
    (lambda df: df.drop(columns="score"), "input is missing column 'score' (expected DOUBLE); it has: extra, seq, vec, raw, when, ok, name, age"),
    (lambda df: df.assign(age=["x", "y"]), "feature 'age' expects INT32, got the value 'x' (str) in row 0"),
    (lambda df: df.assign(age=[1.5, 2.0]), "feature 'age' expects INT32, got the non-integer value 1.5 in row 0"),
    (lambda df: df.assign(age=[1, 2**40]), "feature 'age' expects INT32, got the value 1099511627776 in row 1, out of its range"),
    (lambda df: df.assign(age=[True, False]), "feature 'age' expects INT32, got a column of type bool"),
    (lambda df: df.assign(score=["1", "2"]), "feature 'score' expects DOUBLE, got the value '1' (str) in row 0"),
    (lambda df: df.assign(score=[True, False]), "feature 'score' expects DOUBLE, got a column of type bool"),
    (lambda df: df.assign(name=[1, 2]), "feature 'name' expects STRING, got a column of type int64"),
    (lambda df: df.assign(name=["a", 2]), "feature 'name' expects STRING, got the value 2 (int) in row 1"),
    (lambda df: df.assign(ok=[1, 0]), "feature 'ok' expects BOOL, got a column of type int64"),
    (lambda df: df.assign(when=["2024-01-01", "x"]), "feature 'when' expects TIMESTAMP_NTZ, got the value '2024-01-01' (str) in row 0"),
    (lambda df: df.assign(raw=["a", "b"]), "feature 'raw' expects BYTES, got the value 'a' (str) in row 0"),
    (lambda df: df.assign(vec=[[1.0, 2.0, 3.0], [1.0, 2.0]]), "feature 'vec' expects FLOAT array of shape (2,), got an array of shape (3,) in row 0"),
    (lambda df: df.assign(vec=[1.0, 2.0]), "feature 'vec' expects FLOAT array of shape (2,), got the scalar 1.0 in row 0"),
    (lambda df: df.assign(vec=[["a", "b"], ["c", "d"]]), "feature 'vec' expects FLOAT array of shape (2,), got an array of <U1 in row 0"),
    (lambda df: df.assign(seq=[[1.5], [2]]), "feature 'seq' expects INT64 array of shape (-1,), got an array of float64 in row 0"),
    (lambda df: df.assign(when=pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC")), "feature 'when' expects TIMESTAMP_NTZ, got a column of type datetime64[ns, UTC]"),
])
def test_validation_errors_name_the_feature(change, message):
    with pytest.raises(InvalidInput) as e:
        validate_input(change(good_frame()), SIG)
    assert message in str(e.value)


def test_array_input_must_match_the_signature_layout():
    sig = ModelSignature([FeatureSpec("a", DataType.DOUBLE), FeatureSpec("b", DataType.DOUBLE)], [])
    with pytest.raises(InvalidInput, match=r"input array of shape \(2, 3\) does not match the signature's 2 feature\(s\): a, b"):
        validate_input(np.zeros((2, 3)), sig)
    with pytest.raises(InvalidInput, match="input has 3 arrays; the signature has 2 features: a, b"):
        validate_input([np.zeros(2)] * 3, sig)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_inferred_signature_accepts_its_own_sample(data):
    n = data.draw(st.integers(1, 5))
    cols = {}
    for i, kind in enumerate(data.draw(st.lists(st.sampled_from(["int", "float", "str", "bool", "nint", "ts"]), min_size=1, max_size=5))):
        if kind == "int":
            cols[f"c{i}"] = data.draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n))
        elif kind == "float":
            cols[f"c{i}"] = data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
        elif kind == "str":
            cols[f"c{i}"] = data.draw(st.lists(st.text(max_size=5), min_size=n, max_size=n))
        elif kind == "bool":
            cols[f"c{i}"] = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
        elif kind == "nint":
            cols[f"c{i}"] = pd.array(data.draw(st.lists(st.none() | st.integers(-100, 100), min_size=n, max_size=n)), dtype="Int64")
        else:
            cols[f"c{i}"] = [datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=h) for h in range(n)]
    df = pd.DataFrame(cols)
    sig = infer_signature(df, np.zeros(n))
    out = validate_input(df, sig)
    pd.testing.assert_frame_equal(out, df, check_dtype=False)


def test_public_module_is_the_data_layer():
    """``mlreg.model_signature`` re-exports the bottom layer's objects, not copies of them."""
    from mlreg import model_signature
    from mlreg.data import inference, signature, validation

    assert model_signature.__all__ == sorted(model_signature.__all__)
    assert {name: getattr(model_signature, name) for name in model_signature.__all__} == {
        "DataType": signature.DataType, "FeatureSpec": signature.FeatureSpec,
        "ModelSignature": signature.ModelSignature, "normalize_signatures": signature.normalize_signatures,
        "features_of": inference.features_of, "head": inference.head, "infer_signature": inference.infer_signature,
        "validate_input": validation.validate_input,
    }
    spec = FeatureSpec("a", "double")
    assert isinstance(spec, signature.FeatureSpec) and spec.dtype is signature.DataType.DOUBLE
