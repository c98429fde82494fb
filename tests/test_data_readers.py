"""mlreg.data.readers: the one module that reads the files users hand over (batch input of
`predict` and the service client, sample input of `log`, signature and metric files)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlreg.data import readers
from mlreg.errors import InvalidInput

ROWS = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def write(path: Path, fmt: str) -> Path:
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(ROWS), path)
    elif fmt == "csv":
        path.write_text("a,b\n1,x\n2,y\n")
    elif fmt == "tsv":
        path.write_text("a\tb\n1\tx\n2\ty\n")
    elif fmt == "json":
        path.write_text(json.dumps(ROWS))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_one_table_of_extensions():
    assert readers.EXTENSIONS == {
        ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
        ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    }
    assert set(readers.EXTENSIONS.values()) == set(readers.FORMATS)
    for suffix, fmt in readers.EXTENSIONS.items():
        assert readers.format_of(f"data{suffix.upper()}") == fmt  # no file needed: the extension decides
        assert readers.format_of(f"out{suffix}", "output") == fmt


def test_deploy_reads_through_the_same_functions():
    from mlreg.data import writers
    from mlreg.deploy import frames, warehouse

    assert warehouse.readers is readers and warehouse.writers is writers
    for name in ("EXTENSIONS", "FORMATS", "sniff", "format_of", "check_input", "connect", "read_file",
                 "parquet_file", "parquet_batches", "spooled", "first_line", "read_error", "write_file"):
        assert not hasattr(frames, name)  # no second reader or writer under deploy


@pytest.mark.parametrize(("content", "fmt"), [
    (b"PAR1....", "parquet"), (b'[{"a": 1}]', "json"), (b'\xef\xbb\xbf \n {"a": 1}', "json"),
    (b"a,b\n1,2\n", "csv"), (b"", "csv"),
])
def test_an_input_without_extension_is_sniffed(tmp_path, content, fmt):
    path = tmp_path / "data"
    path.write_bytes(content)
    assert readers.sniff(path) == fmt
    assert readers.format_of(path) == fmt


def test_an_output_needs_a_known_extension(tmp_path):
    with pytest.raises(InvalidInput) as info:
        readers.format_of(tmp_path / "out.txt", "output")
    assert str(info.value) == (f"cannot tell the format of output {tmp_path / 'out.txt'} from its extension; "
                               "use one of: .csv, .json, .jsonl, .ndjson, .parquet, .pq, .tsv")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "tsv", "json", "jsonl"])
def test_batch_input_of_every_format(tmp_path, fmt):
    path = write(tmp_path / f"in.{fmt}", fmt)
    con = readers.connect()
    try:
        assert readers.read_file(con, path).fetchall() == [(1, "x"), (2, "y")]
        unnamed = tmp_path / "in"
        unnamed.write_bytes(path.read_bytes())
        if fmt != "tsv":  # a TSV without its extension is sniffed as CSV; DuckDB finds the tabs
            assert readers.read_file(con, unnamed).fetchall() == [(1, "x"), (2, "y")]
    finally:
        con.close()


def test_batch_input_errors(tmp_path):
    con = readers.connect()
    try:
        with pytest.raises(InvalidInput, match=r"^input file .*nope.csv does not exist$"):
            readers.read_file(con, tmp_path / "nope.csv")
        with pytest.raises(InvalidInput, match=r"is a directory, not a file$"):
            readers.read_file(con, tmp_path)
        (tmp_path / "bad.parquet").write_bytes(b"not parquet")
        with pytest.raises(InvalidInput, match=r"^cannot read input .*bad.parquet as parquet: "):
            readers.read_file(con, tmp_path / "bad.parquet")
        with pytest.raises(InvalidInput, match=r"^cannot read input .*bad.parquet as parquet: "):
            readers.parquet_file(tmp_path / "bad.parquet")
    finally:
        con.close()


def test_parquet_batches(tmp_path):
    path = write(tmp_path / "in.parquet", "parquet")
    batches = list(readers.parquet_batches(readers.parquet_file(path), path, 1, ["b"]))
    assert [b.to_pylist() for b in batches] == [[{"b": "x"}], [{"b": "y"}]]


def test_standard_input_is_spooled_and_removed():
    with readers.spooled(io.BytesIO(b"a,b\n1,2\n")) as path:
        assert path.read_bytes() == b"a,b\n1,2\n"
    assert not path.exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "tsv", "json", "jsonl"])
def test_sample_input_of_every_format(tmp_path, fmt):
    data = readers.read_sample_input(write(tmp_path / f"sample.{fmt}", fmt))
    assert data.fetchall() == [(1, "x"), (2, "y")]


def test_sample_input_of_plain_numbers_is_a_frame_and_txt_is_csv(tmp_path):
    for name in ("s.csv", "s.tsv", "s.txt"):
        (tmp_path / name).write_text("a,b\n1,2.5\n")
        frame = readers.read_sample_input(tmp_path / name)
        pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": np.array([1]), "b": [2.5]}))
    (tmp_path / "t.txt").write_text("a,b\n1,x\n")
    assert isinstance(readers.read_sample_input(tmp_path / "t.txt"), duckdb.DuckDBPyRelation)


def test_sample_input_errors(tmp_path):
    with pytest.raises(InvalidInput) as info:
        readers.read_sample_input(tmp_path / "s.xlsx")
    assert str(info.value) == (f"sample input {tmp_path / 's.xlsx'}: unknown file type .xlsx; "
                               "use .csv, .tsv, .parquet or .json")
    with pytest.raises(InvalidInput, match=r"unknown file type \(none\)"):
        readers.read_sample_input(tmp_path / "sample")
    with pytest.raises(InvalidInput, match=r"does not exist or is not a file$"):
        readers.read_sample_input(tmp_path / "missing.csv")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInput, match=r"^cannot read sample input .*bad.json: "):
        readers.read_sample_input(tmp_path / "bad.json")


def test_metric_files(tmp_path):
    (tmp_path / "m.json").write_text('{"auc": [0.5, 0.75]}')
    assert readers.read_metric_file(tmp_path / "m.json") == {"auc": [0.5, 0.75]}
    np.save(tmp_path / "m.npy", np.arange(4).reshape(2, 2))
    np.testing.assert_array_equal(readers.read_metric_file(tmp_path / "m.npy"), [[0, 1], [2, 3]])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(InvalidInput, match=r"objects.npy is not a NumPy .npy array: "):
        readers.read_metric_file(tmp_path / "objects.npy")
    with pytest.raises(InvalidInput, match=r"m.csv must be .json or .npy, not .csv$"):
        readers.read_metric_file(tmp_path / "m.csv")
    with pytest.raises(InvalidInput, match=r"^cannot read metric file .*missing.json: "):
        readers.read_metric_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidInput, match=r"^metric file .*bad.json is not valid JSON: "):
        readers.read_metric_file(tmp_path / "bad.json")


def test_signature_files(tmp_path):
    (tmp_path / "sig.json").write_text('{"predict": {"inputs": [], "outputs": []}}')
    assert readers.read_signatures(tmp_path / "sig.json") == {"predict": {"inputs": [], "outputs": []}}
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InvalidInput, match=r"must hold an object mapping each target method to"):
        readers.read_signatures(tmp_path / "list.json")
