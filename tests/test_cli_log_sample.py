"""`mlreg log --sample-input`: a plain CSV of numbers is read without DuckDB, exactly as
DuckDB reads it, and a model fitted on a matrix is called on one (no warning on stderr)."""

from __future__ import annotations

import json
import pickle
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlreg import handlers
from mlreg.data import tables
from mlreg.data.readers import read_plain_numbers, read_sample_input


def _duckdb_frame(path):
    return tables.arrow_to_pandas(duckdb.read_csv(str(path)).to_arrow_table())


PLAIN_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
ODD_NAMES = st.sampled_from(["nan", "Inf", "infinity", "NULL", "1a", "a b", "é", '"q"', "", "a;b"])
PLAIN_CELLS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.integers(-10**18 + 1, 10**18 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:.6f}"),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:e}"),
    st.sampled_from(["0", "-0", "0.0", "-0.0", "1e5", "1E-3", "2.5e+10"]),
)
ODD_CELLS = st.one_of(
    PLAIN_CELLS,
    st.integers(10**18, 10**25).map(str),
    st.sampled_from(["007", "+1", "1.", ".5", "00.5", "1e400", "1e-400", "", "nan", "inf", "true", " 1", '"1"', "1,5"]),
)


@st.composite
def sample_files(draw):
    """The lines of a sample file: mostly plain numbers under plain names, else odd ones."""
    odd = draw(st.booleans())
    width = draw(st.integers(1, 4))
    names = draw(st.lists(st.one_of(PLAIN_NAMES, ODD_NAMES) if odd else PLAIN_NAMES, min_size=width, max_size=width,
                          unique_by=(lambda n: n) if odd else str.lower))
    rows = draw(st.lists(st.lists(ODD_CELLS if odd else PLAIN_CELLS, min_size=width, max_size=width),
                         min_size=0 if odd else 1, max_size=6))
    return names, rows


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file=sample_files(),
    sep=st.sampled_from([",", ",", "\t", ";"]),
    newline=st.sampled_from(["\n", "\n", "\r\n"]),
    tail=st.sampled_from(["", "\n", "\n", "\n\n"]),
    suffix=st.sampled_from([".csv", ".tsv", ".txt"]),
)
def test_plain_numbers_are_read_as_duckdb_reads_them(tmp_path, file, sep, newline, tail, suffix):
    names, rows = file
    path = tmp_path / f"sample{suffix}"
    path.write_text(newline.join([sep.join(names)] + [sep.join(r) for r in rows]) + tail, newline="")
    fast = read_plain_numbers(path)
    if fast is None:
        return
    pd.testing.assert_frame_equal(fast, _duckdb_frame(path), check_exact=True)


def test_plain_numbers_typical_sample(tmp_path):
    path = tmp_path / "sample.csv"
    path.write_text("x0,x1,n\n0.125,-1.5e-3,1\n2.0,3,-2\n")
    frame = read_sample_input(path)
    assert isinstance(frame, pd.DataFrame)
    assert frame.dtypes.astype(str).to_dict() == {"x0": "float64", "x1": "float64", "n": "int64"}
    pd.testing.assert_frame_equal(frame, _duckdb_frame(path), check_exact=True)


@pytest.mark.parametrize("text", [
    "a,b\n007,1\n",  # DuckDB: VARCHAR
    "a,b\n+1,2\n",  # VARCHAR
    "a,b\n1,\n",  # a null
    "nan,b\n1,2\n",  # DuckDB takes the first row for data
    "a,A\n1,2\n",  # DuckDB renames the second a
    "a,b\n99999999999999999999,1\n",  # HUGEINT
    'a,b\n"1",2\n',
    "a;b\n1;2\n",
    "a,b\n",  # no rows
    "a,b\n1,2\n\n3,4\n",
])
def test_other_files_are_left_to_duckdb(tmp_path, text):
    path = tmp_path / "sample.csv"
    path.write_text(text)
    assert read_plain_numbers(path) is None


def _fit_on_matrix():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X


def test_model_fitted_on_a_matrix_is_called_on_one(tmp_path):
    model, X = _fit_on_matrix()
    path = tmp_path / "sample.csv"
    path.write_text("a,b,c\n" + "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in X[:5]))
    handler = handlers.detect(model)
    methods = handler.target_methods(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = handler.infer_signatures(model, methods, read_sample_input(path))
        via_duckdb = handler.infer_signatures(model, methods, duckdb.read_csv(str(path)))
    assert [str(w.message) for w in caught] == []
    assert fast == via_duckdb
    assert [(f.name, f.dtype.value) for f in fast["predict"].inputs] == [("a", "DOUBLE"), ("b", "DOUBLE"), ("c", "DOUBLE")]


def test_log_prints_nothing_on_stderr(mlreg_bin, tmp_path):
    model, X = _fit_on_matrix()
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b,c\n" + "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in X[:10]))
    assert mlreg_bin("create").exit_code == 0
    run = mlreg_bin("log", tmp_path / "model.pkl", "-n", "clf", "-V", "1", "--tag", "stage=testing",
                    "--metric", "accuracy=0.93", "--sample-input", sample)
    assert (run.exit_code, run.stderr) == (0, ""), run
    shown = json.loads(mlreg_bin("show", "clf", "1", "--format", "json").stdout)
    assert shown["INPUT_SPEC"]["predict"] == [{"name": n, "type": "DOUBLE"} for n in "abc"]
