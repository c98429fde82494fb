"""mlreg log, list, show, describe, load, delete, history."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
from pathlib import Path

import pytest

LIST_HEADER = "NAME,VERSION,ALIASES,TYPE,ID,CREATION_TIME,CREATION_ROLE,DESCRIPTION,TAGS,METRICS"


# -- log ---------------------------------------------------------------------------------------------
def test_log_prints_the_id(cli, logged):
    assert len(logged) == 32 and logged.isalnum()
    row = json.loads(cli("show", "m", "1", "--format", "json").stdout)
    assert row["ID"] == logged
    assert row["TAGS"] == {"stage": "testing"} and row["METRICS"] == {"acc": 0.5}
    assert row["DESCRIPTION"] == "first"
    assert row["INPUT_SPEC"] == {"predict": [{"name": "a", "type": "DOUBLE"}, {"name": "b", "type": "DOUBLE"}]}


def test_log_json_output(cli, logged, model_file, sample_csv):
    run = cli("log", model_file, "-n", "m", "-V", "2", "--sample-input", sample_csv, "--format", "json")
    assert run.exit_code == 0 and run.stderr == ""
    out = json.loads(run.stdout)
    assert set(out) == {"ID", "NAME", "VERSION"} and (out["NAME"], out["VERSION"]) == ("m", "2")


def test_log_every_option(cli, logged, model_file, tmp_path):
    code = tmp_path / "helpers"
    code.mkdir()
    (code / "util.py").write_text("X = 1\n")
    sigs = tmp_path / "sigs.json"
    sigs.write_text(json.dumps({"predict": {"inputs": [{"name": "a", "type": "DOUBLE"}],
                                            "outputs": [{"name": "y", "type": "DOUBLE"}]}}))
    run = cli("log", model_file, "--name", "m", "--version", "full", "--description", "all options",
              "--tag", "a=1", "-t", "b=x=y", "--metric", "m1=[1, 2]", "-m", "m2=word", "-m", 'm3={"k": NaN}',
              "--code-path", code, "--conda-dependency", "conda-forge::numpy", "--pip-requirement", "numpy>=1",
              "--signatures", sigs, "--type", "custom", "--embed-local-ml-library")
    assert run.exit_code == 0, run
    row = json.loads(cli("show", "m", "full", "--format", "json").stdout)
    assert row["TAGS"] == {"a": "1", "b": "x=y"}
    assert row["METRICS"]["m1"] == [1, 2] and row["METRICS"]["m2"] == "word"
    assert str(row["METRICS"]["m3"]["k"]) == "nan"
    manifest = row["MANIFEST"]
    assert manifest["code_paths"] == ["code/helpers"] and manifest["embed_local_ml_library"] is True
    assert manifest["pip_requirements"] == ["numpy>=1"] and manifest["conda_dependencies"] == ["conda-forge::numpy"]
    assert row["OUTPUT_SPEC"] == {"predict": [{"name": "y", "type": "DOUBLE"}]}
    assert "code/helpers/util.py" in row["FILES"] and "env/requirements.txt" in row["FILES"]


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".jsonl", ".tsv"])
def test_log_sample_input_formats(cli, logged, model_file, tmp_path, suffix):
    path = tmp_path / f"sample{suffix}"
    rows = [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]
    if suffix == ".parquet":
        import duckdb

        duckdb.sql("SELECT 1.0::DOUBLE AS a, 2.0::DOUBLE AS b").write_parquet(str(path))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text("a\tb\n1.0\t2.0\n")
    run = cli("log", model_file, "-n", "m", "-V", f"s{suffix[1:]}", "--sample-input", path)
    assert run.exit_code == 0, run
    spec = json.loads(cli("show", "m", f"s{suffix[1:]}", "--format", "json").stdout)["INPUT_SPEC"]
    assert [f["name"] for f in spec["predict"]] == ["a", "b"]


def test_log_module_attribute_reference(cli, logged, tmp_path, sample_csv):
    (tmp_path / "mymodels.py").write_text(
        "class Doubler:\n    def predict(self, X):\n        return X * 2\n\nMODEL = Doubler()\n")
    run = cli("log", "mymodels:MODEL", "-n", "ref", "-V", "1", "--sample-input", sample_csv)
    assert run.exit_code == 0, run
    bad = cli("log", "mymodels:NOPE", "-n", "ref", "-V", "2", "--sample-input", sample_csv)
    assert bad.exit_code == 1
    assert bad.stderr == "Error: model 'mymodels:NOPE': module 'mymodels' has no attribute 'NOPE'\n"
    missing = cli("log", "nosuchmodule:X", "-n", "ref", "-V", "2", "--sample-input", sample_csv)
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: model 'nosuchmodule:X': cannot import")


def test_log_duplicate_version_exits_4(cli, logged, model_file, sample_csv):
    run = cli("log", model_file, "-n", "m", "-V", "1", "--sample-input", sample_csv)
    assert run.exit_code == 4 and run.stdout == ""
    assert run.stderr.startswith("Error: Model m/1 already exists. Unable to log the model.")
    assert "`mlreg show m 1`" in run.stderr and run.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--tag", "novalue"], "Error: --tag expects KEY=VALUE, got 'novalue'\n"),
    (["--tag", "=v"], "Error: --tag expects KEY=VALUE, got '=v'\n"),
    (["--metric", "acc"], "Error: --metric expects KEY=VALUE, got 'acc'\n"),
])
def test_log_malformed_pairs_exit_2(cli, logged, model_file, sample_csv, args, message):
    run = cli("log", model_file, "-n", "m", "-V", "9", "--sample-input", sample_csv, *args)
    assert (run.exit_code, run.stdout, run.stderr) == (2, "", message)
    assert cli("show", "m", "9").exit_code == 3  # nothing registered


def test_log_invalid_json_metric_exits_1(cli, logged, model_file, sample_csv):
    run = cli("log", model_file, "-n", "m", "-V", "9", "--sample-input", sample_csv, "--metric", "cm=[1, 2")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith("Error: --metric cm '[1, 2' is not valid JSON: ")
    assert cli("show", "m", "9").exit_code == 3


@pytest.mark.parametrize("content, message", [
    (b"not a pickle at all", "Error: cannot read model file "),
    (b"", "Error: model file "),
])
def test_log_unreadable_model_file_exits_1(cli, logged, tmp_path, sample_csv, content, message):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(content)
    run = cli("log", bad, "-n", "m", "-V", "9", "--sample-input", sample_csv)
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith(message) and run.stderr.count("\n") == 1


def test_log_missing_model_file_exits_1(cli, logged, sample_csv):
    run = cli("log", "nope.pkl", "-n", "m", "-V", "9", "--sample-input", sample_csv)
    assert run.exit_code == 1
    assert run.stderr == "Error: model file nope.pkl does not exist (nor is it a module:attribute reference)\n"


def test_log_needs_signature_source(cli, logged, model_file, sample_csv, tmp_path):
    run = cli("log", model_file, "-n", "m", "-V", "9")
    assert run.exit_code == 1
    assert run.stderr.startswith("Error: Signatures and sample_input both cannot be None at the same time")
    sigs = tmp_path / "s.json"
    sigs.write_text("{}")
    both = cli("log", model_file, "-n", "m", "-V", "9", "--sample-input", sample_csv, "--signatures", sigs)
    assert (both.exit_code, both.stderr) == (2, "Error: give --sample-input or --signatures, not both\n")


def test_log_bad_sample_and_signature_files(cli, logged, model_file, tmp_path):
    xlsx = tmp_path / "s.xlsx"
    xlsx.write_text("x")
    run = cli("log", model_file, "-n", "m", "-V", "9", "--sample-input", xlsx)
    assert run.exit_code == 1 and "unknown file type .xlsx" in run.stderr
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    run = cli("log", model_file, "-n", "m", "-V", "9", "--sample-input", broken)
    assert run.exit_code == 1 and run.stderr.startswith(f"Error: cannot read sample input {broken}: ")
    sigs = tmp_path / "sigs.json"
    sigs.write_text("{nope")
    run = cli("log", model_file, "-n", "m", "-V", "9", "--signatures", sigs)
    assert run.exit_code == 1 and run.stderr.startswith(f"Error: signatures file {sigs} is not valid JSON")
    sigs.write_text("[1]")
    run = cli("log", model_file, "-n", "m", "-V", "9", "--signatures", sigs)
    assert run.exit_code == 1 and run.stderr.startswith(f"Error: signatures file {sigs} must hold an object")


def test_log_invalid_name_exits_1(cli, logged, model_file, sample_csv):
    run = cli("log", model_file, "-n", "../evil", "-V", "1", "--sample-input", sample_csv)
    assert run.exit_code == 1
    assert run.stderr.startswith("Error: invalid model name '../evil'")


# -- list -----------------------------------------------------------------------------------------------
def test_list_table_and_csv(cli, logged):
    run = cli("list", "--columns", "NAME,VERSION,TAGS")
    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout == 'NAME  VERSION  TAGS\nm     1        {"stage":"testing"}\n'
    rows = list(csv.DictReader(io.StringIO(cli("list", "--format", "csv").stdout)))
    assert len(rows) == 1 and ",".join(rows[0]) == LIST_HEADER
    assert rows[0]["ID"] == logged and rows[0]["TAGS"] == '{"stage":"testing"}'


def test_list_json_has_every_column(cli, logged):
    rows = json.loads(cli("list", "--format", "json").stdout)
    assert list(rows[0]) == ["ID", "NAME", "VERSION", "ALIASES", "TYPE", "URI", "CREATION_TIME", "CREATION_ROLE",
                             "CREATION_CONTEXT", "CREATION_ENVIRONMENT_SPEC", "DESCRIPTION", "TAGS", "METRICS",
                             "INPUT_SPEC", "OUTPUT_SPEC"]
    assert rows[0]["ALIASES"] == ["DEFAULT", "FIRST", "LAST"]
    assert rows[0]["TAGS"] == {"stage": "testing"} and isinstance(rows[0]["CREATION_CONTEXT"], dict)
    assert rows[0]["CREATION_TIME"].endswith("+00:00")


def test_list_filters(cli, logged, model_file, sample_csv):
    for v, stage in (("2", "prod"), ("3", "prod")):
        assert cli("log", model_file, "-n", "other", "-V", v, "--sample-input", sample_csv, "-t", f"stage={stage}",
                   "-t", "team=a/b").exit_code == 0

    def names(*args):
        run = cli("list", "--columns", "name,version", "--format", "csv", *args)
        assert run.exit_code == 0, run
        return [tuple(r) for r in csv.reader(io.StringIO(run.stdout))][1:]

    assert names("--name", "other") == [("other", "2"), ("other", "3")]
    assert names("--tag", "stage=prod") == [("other", "2"), ("other", "3")]
    assert names("--tag", "stage=prod", "--tag", "team=a/b") == [("other", "2"), ("other", "3")]
    assert names("--tag", "stage=it's") == []
    assert names("--where", "METRICS->>'acc' = '0.5'") == [("m", "1")]
    assert names("--order-by", "VERSION DESC", "--limit", "2") == [("other", "3"), ("other", "2")]
    assert names("--name", "nobody") == []


def test_list_columns_as_expressions(cli, logged):
    run = cli("list", "--columns", "NAME,TAGS->>'stage' AS stage", "--format", "json")
    assert json.loads(run.stdout) == [{"NAME": "m", "stage": "testing"}]


@pytest.mark.parametrize("option, value", [
    ("--where", "NO_SUCH_COLUMN = 1"), ("--where", "NAME = "), ("--where", "NAME = 'a'; DROP TABLE x"),
    ("--order-by", "nope"), ("--columns", "NAME, nope"),
])
def test_list_bad_sql_exits_2(cli, logged, option, value):
    run = cli("list", option, value)
    assert run.exit_code == 2 and run.stdout == ""
    assert run.stderr.startswith(f"Error: invalid {option} expression: ") and run.stderr.count("\n") == 1


def test_list_where_runs_on_a_read_only_copy(cli, logged):
    # --where is an expression over a private read-only copy: a subquery may read the
    # registry's tables, nothing can write, and no copy is left behind
    import tempfile

    before = set(os.listdir(tempfile.gettempdir()))
    run = cli("list", "--where", "(SELECT count(*) FROM models) > 0", "--format", "csv")
    assert run.exit_code == 0 and run.stdout.count("\n") == 2
    run = cli("list", "--where", "NAME = (INSERT INTO models DEFAULT VALUES)")
    assert run.exit_code == 2 and run.stderr.startswith("Error: invalid --where expression: ")
    assert cli("list", "--format", "csv").stdout.count("\n") == 2
    assert not {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("mlreg-snapshot-")}


def _listings(cli, *args: str) -> dict[str, str]:
    """``mlreg list ARGS`` in every format, read in one query and (``--where true``, which
    only a relation can apply) through a relation over the model_list view."""
    out = {}
    for fmt in ("json", "jsonl", "table", "csv", "tsv", "markdown"):
        direct = cli("list", *args, "--format", fmt)
        through_relation = cli("list", *args, "--where", "true", "--format", fmt)
        assert direct.exit_code == 0 and direct.stdout == through_relation.stdout, (args, fmt)
        out[fmt] = direct.stdout
    return out


def test_list_reads_the_listing_in_one_query_and_prints_the_same(cli, logged, model_file, sample_csv,
                                                                 hermetic_env):
    """The listing's plain path (no --where, --order-by, SQL --columns or --as-of) reads the
    columns it prints straight from the listing table, and prints exactly what the
    relation over the model_list view prints, also for rows as an older version wrote them."""
    assert cli("log", model_file, "-n", "m", "-V", "2", "--sample-input", sample_csv, "-t", "stage=prod").exit_code == 0
    assert cli("log", model_file, "-n", "n", "-V", "1", "--sample-input", sample_csv).exit_code == 0
    cli("tag", "set", "m", "1", "owner=Équipe données", "note=a, b: c")
    cli("metric", "set", "m", "1", "tiny=1e-07", "big=2.5e+20", "huge=1e300", 'nested={"a": [1.50, -0, 3]}')
    cli("describe", "m", "2", "line one\nligne « deux »")
    assert cli("alias", "set", "m", "champion", "2").exit_code == 0
    import duckdb

    with duckdb.connect(str(hermetic_env / "MODEL_REGISTRY.duckdb")) as con:  # JSON with spaces and escapes,
        con.execute("""UPDATE listing SET creation_context = '{"user": "Jos\\u00e9", "n": 1E2, "x": [ ]}',"""
                    " tags = NULL WHERE name = 'n'")  # and a version without tags, as schema 2 left one
        con.execute("""UPDATE listing SET tags = '{"stage": "prod"}', metrics = '{ }' WHERE version = '2'""")
    every = _listings(cli)
    rows = json.loads(every["json"])
    assert [(r["NAME"], r["VERSION"], r["ALIASES"]) for r in rows] == [
        ("m", "1", ["DEFAULT", "FIRST"]), ("m", "2", ["CHAMPION", "LAST"]), ("n", "1", ["DEFAULT", "FIRST", "LAST"])]
    assert rows[2]["CREATION_CONTEXT"] == {"user": "José", "n": 100.0, "x": []} and rows[2]["TAGS"] == {}
    assert rows[0]["METRICS"]["tiny"] == 1e-07 and rows[0]["TAGS"]["owner"] == "Équipe données"
    assert rows[1]["DESCRIPTION"] == "line one\nligne « deux »"
    assert rows[0]["CREATION_TIME"].endswith("+00:00")
    for args in (["--name", "m"], ["--tag", "stage=prod"], ["--tag", "stage=nope"], ["--limit", "1"],
                 ["--limit", "0"], ["--columns", "version,NAME,tags,creation_time"], ["--columns", "METRICS"],
                 ["--name", "m", "--tag", "stage=testing", "--columns", "ID"], ["--name", "nope"],
                 ["--columns", "URI,CREATION_ROLE,CREATION_ENVIRONMENT_SPEC,INPUT_SPEC,OUTPUT_SPEC,DESCRIPTION"]):
        _listings(cli, *args)
    assert [r["VERSION"] for r in json.loads(_listings(cli, "--tag", "stage=prod")["json"])] == ["2"]


def test_list_negative_limit_is_usage_error(cli, logged):
    assert cli("list", "--limit", "-1").exit_code == 2


# -- show, describe -------------------------------------------------------------------------------------
def test_show_table(cli, logged):
    run = cli("show", "m", "1")
    assert run.exit_code == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "ID", "NAME", "VERSION", "TYPE", "URI", "CREATION_TIME", "CREATION_ROLE", "CREATION_CONTEXT",
        "CREATION_ENVIRONMENT_SPEC", "DESCRIPTION", "TAGS", "METRICS", "INPUT_SPEC", "OUTPUT_SPEC", "MANIFEST", "FILES"]
    assert lines[1] == "NAME                       m"


def test_show_does_not_unpickle(cli, logged, monkeypatch):
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("show unpickled the model"))
    assert cli("show", "m", "1", "--format", "json").exit_code == 0


def test_show_unknown_model_exits_3(cli, logged):
    run = cli("show", "m", "2")
    assert (run.exit_code, run.stdout) == (3, "")
    assert run.stderr == "Error: The model m/2 does not exist in the current registry.\n"


def test_describe(cli, logged):
    assert cli("describe", "m", "1").stdout == "first\n"
    set_run = cli("describe", "m", "1", "second line")
    assert (set_run.exit_code, set_run.stdout, set_run.stderr) == (0, "", "Set the description of m/1\n")
    assert cli("describe", "m", "1", "--format", "json").stdout == '"second line"\n'
    assert cli("describe", "m", "1", "-", input="from stdin\n").exit_code == 0
    assert cli("describe", "m", "1").stdout == "from stdin\n"
    assert cli("describe", "m", "404").exit_code == 3


def test_describe_without_description(cli, logged, model_file, sample_csv):
    cli("log", model_file, "-n", "m", "-V", "2", "--sample-input", sample_csv)
    assert cli("describe", "m", "2").stdout == ""
    assert cli("describe", "m", "2", "--format", "json").stdout == "null\n"


# -- load, delete ----------------------------------------------------------------------------------------
def test_load_writes_the_verified_package(cli, logged, tmp_path):
    out = tmp_path / "pkg"
    run = cli("load", "m", "1", "--output", out)
    assert (run.exit_code, run.stdout, run.stderr) == (0, f"{out.resolve()}\n", "")
    assert (out / "MANIFEST.json").is_file() and (out / "model" / "model.pkl").is_file()
    again = cli("load", "m", "1", "-o", out)
    assert (again.exit_code, again.stderr) == (1, f"Error: output directory {out} exists and is not empty\n")
    info = json.loads(cli("load", "m", "1", "-o", tmp_path / "pkg2", "--format", "json").stdout)
    assert info["ID"] == logged and "MANIFEST.json" in info["FILES"]


def test_load_refuses_a_changed_package(cli, logged, tmp_path):
    pkg = Path(json.loads(cli("show", "m", "1", "--format", "json").stdout)["URI"])
    with open(pkg / "model" / "model.pkl", "ab") as f:
        f.write(b"tampered")
    run = cli("load", "m", "1", "-o", tmp_path / "out")
    assert run.exit_code == 6 and run.stderr.startswith("Error: model package of m/1 failed its checksum check")


def test_delete_needs_yes_when_not_interactive(cli, logged):
    run = cli("delete", "m", "1")
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == "Error: refusing to delete m/1 without --yes when stdin is not a terminal\n"
    assert cli("show", "m", "1").exit_code == 0


def test_delete_with_yes(cli, logged):
    uri = Path(json.loads(cli("show", "m", "1", "--format", "json").stdout)["URI"])
    run = cli("delete", "m", "1", "--yes")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Deleted model m/1\n")
    assert cli("show", "m", "1").exit_code == 3 and not uri.exists()
    assert cli("delete", "m", "1", "-y").exit_code == 3


def test_delete_keep_artifact(cli, logged):
    uri = Path(json.loads(cli("show", "m", "1", "--format", "json").stdout)["URI"])
    run = cli("delete", "m", "1", "--yes", "--keep-artifact")
    assert run.stderr == "Deleted model m/1 (package kept on the stage)\n"
    assert uri.is_dir()


def test_delete_asks_on_a_terminal(cli, logged, monkeypatch):
    from mlreg.cli.commands import models

    monkeypatch.setattr(models, "_stdin_is_terminal", lambda: True)
    no = cli("delete", "m", "1", input="n\n")
    assert no.exit_code == 1 and no.stderr.endswith("Nothing deleted\n")
    assert cli("show", "m", "1").exit_code == 0
    assert cli("delete", "m", "404", input="y\n").exit_code == 3
    yes = cli("delete", "m", "1", input="y\n")
    assert yes.exit_code == 0  # (CliRunner echoes the answer to stdout; a terminal would not)
    assert yes.stderr.startswith("Delete model m/1? [y/N]:") and yes.stderr.endswith("Deleted model m/1\n")


# -- history ---------------------------------------------------------------------------------------------
def test_history(cli, logged):
    cli("tag", "set", "m", "1", "stage", "prod")
    rows = json.loads(cli("history", "--format", "json").stdout)
    assert [(r["OPERATION"], r["ATTRIBUTE_NAME"], r["KEY"]) for r in rows] == [
        ("SET", "REGISTRATION", None), ("SET", "DESCRIPTION", ""), ("SET", "TAG", "stage"),
        ("SET", "METRIC", "acc"), ("SET", "TAG", "stage")]
    assert rows[-1]["OLD_VALUE"] == "testing" and rows[-1]["NEW_VALUE"] == "prod"
    last = cli("history", "m", "1", "--limit", "2", "--format", "csv").stdout.splitlines()
    assert last[0] == "EVENT_ID,EVENT_TIMESTAMP,MODEL_NAME,MODEL_VERSION,ROLE,OPERATION,ATTRIBUTE_NAME,KEY,OLD_VALUE,NEW_VALUE"
    assert [line.split(",")[0] for line in last[1:]] == ["4", "5"]


def test_history_outlives_deletion(cli, logged):
    cli("delete", "m", "1", "--yes")
    rows = json.loads(cli("history", "m", "1", "--format", "json").stdout)
    assert rows[-1]["ATTRIBUTE_NAME"] == "DELETION"


def test_history_errors(cli, logged):
    run = cli("history", "m")
    assert (run.exit_code, run.stderr) == (2, "Error: give both NAME and VERSION, or neither\n")
    run = cli("history", "m", "404")
    assert (run.exit_code, run.stderr) == (3, "Error: The model m/404 has no history in the current registry.\n")
