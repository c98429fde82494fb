"""`mlreg deploy`, `mlreg predict` and `mlreg sql`: exact output and exit codes."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_warehouse import churn_data, churn_model, fake_distribution

SIGNATURE = {"inputs": [{"name": "age", "type": "INT64"}, {"name": "plan", "type": "STRING"}],
             "outputs": [{"name": "output_feature_0", "type": "INT64"}]}
OPTIONS = {"output_with_input_features": False, "keep_order": True, "permanent_udf_stage_location": None,
           "relax_version": False, "replace_udf": False}


@pytest.fixture(scope="module")
def clf():
    return churn_model(churn_data())


@pytest.fixture
def churn(cli, clf, tmp_path) -> Path:
    """Registry with churn/3 logged from the command line; returns the customers file."""
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(clf))
    churn_data().to_csv(tmp_path / "sample.csv", index=False)
    assert cli("create").exit_code == 0
    run = cli("log", tmp_path / "model.pkl", "--name", "churn", "--version", "3", "--sample-input", tmp_path / "sample.csv")
    assert run.exit_code == 0, run
    customers = tmp_path / "customers.parquet"
    churn_data(40, seed=5).assign(id=range(40)).to_parquet(customers, index=False)
    return customers


def predicted(clf, path: Path) -> list[int]:
    return clf.predict(pd.read_parquet(path)[["age", "plan"]]).tolist()


# -- deploy create / list / show / delete ----------------------------------------------------------
def test_deploy_create_list_show_delete(cli, churn):
    run = cli("deploy", "create", "churn", "3", "churn_v3")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Deployed churn/3 predict as SQL function churn_v3(age, plan)\n")

    run = cli("deploy", "list")
    assert run.exit_code == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL_NAME", "MODEL_VERSION", "PLATFORM", "TARGET_METHOD", "PERMANENT", "STATUS", "CREATED_TIME"]
    assert lines[1].split()[:7] == ["churn_v3", "churn", "3", "warehouse", "predict", "true", "ready"]
    assert len(lines) == 2

    run = cli("deploy", "show", "churn_v3", "--format", "json")
    assert run.exit_code == 0 and run.stderr == ""
    shown = json.loads(run.stdout)
    assert {k: shown[k] for k in ("NAME", "MODEL_NAME", "MODEL_VERSION", "PLATFORM", "TARGET_METHOD", "SIGNATURE",
                                  "OPTIONS", "DETAILS", "PERMANENT", "STATUS")} == {
        "NAME": "churn_v3", "MODEL_NAME": "churn", "MODEL_VERSION": "3", "PLATFORM": "warehouse",
        "TARGET_METHOD": "predict", "SIGNATURE": SIGNATURE, "OPTIONS": OPTIONS,
        "DETAILS": {"function": "churn_v3"}, "PERMANENT": True, "STATUS": "ready"}
    assert len(shown["MODEL_ID"]) == 32 and shown["CREATED_TIME"].endswith("+00:00")

    run = cli("deploy", "delete", "churn_v3")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Deleted deployment churn_v3\n")
    run = cli("deploy", "list", "--format", "json")
    assert (run.exit_code, json.loads(run.stdout)) == (0, [])


def test_deploy_list_of_one_model_version(cli, churn):
    cli("deploy", "create", "churn", "3", "a")
    cli("deploy", "create", "churn", "3", "b", "--target-method", "predict_proba")
    run = cli("deploy", "list", "churn", "3", "--format", "jsonl")
    assert [json.loads(line)["NAME"] for line in run.stdout.splitlines()] == ["a", "b"]
    assert cli("deploy", "list", "churn", "4").exit_code == 3
    run = cli("deploy", "list", "churn")
    assert (run.exit_code, run.stderr) == (2, "Error: give both NAME and VERSION, or neither\n")


def test_deploy_options_and_history(cli, churn):
    run = cli("deploy", "create", "churn", "3", "d", "--option", "keep_order=false", "-o", "output_with_input_features=true")
    assert run.exit_code == 0, run
    options = json.loads(cli("deploy", "show", "d", "--format", "json").stdout)["OPTIONS"]
    assert options == {**OPTIONS, "keep_order": False, "output_with_input_features": True}
    run = cli("history", "churn", "3", "--format", "json")
    events = [(e["OPERATION"], e["ATTRIBUTE_NAME"], e["KEY"], e["NEW_VALUE"]) for e in json.loads(run.stdout)]
    assert ("SET", "DEPLOYMENT_OPTION", "d/keep_order", False) in events
    assert ("SET", "DEPLOYMENT_OPTION", "d/output_with_input_features", True) in events


def test_existing_name_without_replace_udf_exits_4(cli, churn):
    assert cli("deploy", "create", "churn", "3", "d").exit_code == 0
    run = cli("deploy", "create", "churn", "3", "d", "-m", "predict_proba")
    assert (run.exit_code, run.stdout) == (4, "")
    assert run.stderr == (
        "Error: deployment d already exists (of churn/3); pass options={'replace_udf': True} "
        "(--option replace_udf=true) to replace it, or delete it first\n"
    )
    run = cli("deploy", "create", "churn", "3", "d", "-m", "predict_proba", "--option", "replace_udf=true")
    assert run.exit_code == 0, run
    assert json.loads(cli("deploy", "show", "d", "--format", "json").stdout)["TARGET_METHOD"] == "predict_proba"


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (("deploy", "show", "nope"), 3, "Error: deployment nope does not exist in this registry; it has no deployments\n"),
        (("deploy", "delete", "nope"), 3, "Error: deployment nope does not exist in this registry; it has no deployments\n"),
        (("deploy", "create", "churn", "9", "d"), 3, "Error: The model churn/9 does not exist in the current registry.\n"),
        (("predict", "nope", "--input", "customers.parquet"), 3,
         "Error: deployment nope does not exist in this registry; it has no deployments\n"),
        (("deploy", "create", "churn", "3", "d", "--option", "colour=red"), 1,
         "Error: unknown warehouse deployment option(s) colour; known: output_with_input_features, keep_order, "
         "permanent_udf_stage_location, relax_version, replace_udf\n"),
        (("deploy", "create", "churn", "3", "d", "--option", "keep_order"), 2,
         "Error: --option expects KEY=VALUE, got 'keep_order'\n"),
        (("deploy", "create", "churn", "3", "a b"), 1,
         "Error: invalid deployment name 'a b': use letters, digits, '_', '-' and '.', not starting with '.'\n"),
        (("deploy", "create", "churn", "3", "d", "-m", "transform"), 1,
         "Error: model churn/3 has no target method 'transform'; it has: predict, predict_proba, predict_log_proba, decision_function\n"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(cli, churn, args, code, stderr):
    run = cli(*args)
    assert (run.exit_code, run.stdout, run.stderr) == (code, "", stderr)


def test_env_mismatch_without_relax_version(cli, clf, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path / "v1", "1.0")))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(clf))
    churn_data().to_csv(tmp_path / "sample.csv", index=False)
    cli("create")
    run = cli("log", tmp_path / "model.pkl", "--name", "churn", "--version", "9", "--sample-input", tmp_path / "sample.csv",
              "--conda-dependency", "mlreg-fake-dep")
    assert run.exit_code == 0, run
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path / "v1")])

    run = cli("deploy", "create", "churn", "9", "d")
    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == (
        "Error: cannot deploy churn/9: this environment differs from the one it was logged in: "
        "mlreg-fake-dep 1.0 recorded, not installed. Install the recorded versions, or pass "
        "options={'relax_version': True} (--option relax_version=true) to deploy anyway\n"
    )
    assert json.loads(cli("deploy", "list", "--format", "json").stdout) == []

    run = cli("deploy", "create", "churn", "9", "d", "--option", "relax_version=true")
    assert run.exit_code == 0, run
    assert run.stderr.splitlines() == [
        "Warning: deploying churn/9 as d although this environment differs from the one it was logged in "
        "(relax_version): mlreg-fake-dep 1.0 recorded, not installed",
        "Deployed churn/9 predict as SQL function d(age, plan)",
    ]


def test_platform_service_routes_to_the_service_platform(cli, churn):
    run = cli("deploy", "create", "churn", "3", "svc", "--platform", "service", "--option", "port=eighty")
    assert (run.exit_code, run.stderr) == (1, "Error: option port must be a whole number, got 'eighty'\n")
    run = cli("deploy", "create", "churn", "3", "svc", "--platform", "cloud")
    assert run.exit_code == 2


# -- predict ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["parquet", "csv", "tsv", "json", "jsonl"])
def test_predict_to_a_file(cli, clf, churn, tmp_path, ext):
    cli("deploy", "create", "churn", "3", "churn_v3")
    out = tmp_path / f"pred.{ext}"
    run = cli("predict", "churn_v3", "--input", churn, "--output", out)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", f"Wrote 40 predictions to {out}\n")
    read = {"parquet": pd.read_parquet, "csv": pd.read_csv, "tsv": lambda p: pd.read_csv(p, sep="\t"),
            "json": pd.read_json, "jsonl": lambda p: pd.read_json(p, lines=True)}[ext]
    assert read(out)["output_feature_0"].tolist() == predicted(clf, churn)


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_predict_from_csv_and_json_inputs(cli, clf, churn, tmp_path, ext):
    cli("deploy", "create", "churn", "3", "churn_v3")
    frame = pd.read_parquet(churn)
    source = tmp_path / f"in.{ext}"
    frame.to_csv(source, index=False) if ext == "csv" else frame.to_json(source, orient="records")
    run = cli("predict", "churn_v3", "--input", source, "--format", "json")
    assert run.exit_code == 0, run
    assert [r["output_feature_0"] for r in json.loads(run.stdout)] == predicted(clf, churn)


def test_predict_to_stdout_in_each_format(cli, clf, churn):
    cli("deploy", "create", "churn", "3", "p", "-m", "predict_proba", "-o", "output_with_input_features=true")
    want = clf.predict_proba(pd.read_parquet(churn)[["age", "plan"]])
    run = cli("predict", "p", "--input", churn, "--format", "json")
    rows = json.loads(run.stdout)
    assert list(rows[0]) == ["age", "plan", "id", "output_feature_0", "output_feature_1"]
    np.testing.assert_allclose([[r["output_feature_0"], r["output_feature_1"]] for r in rows], want)
    run = cli("predict", "p", "--input", churn, "--output", "-", "--format", "csv")
    assert run.stdout.splitlines()[0] == "age,plan,id,output_feature_0,output_feature_1"
    assert len(run.stdout.splitlines()) == 41
    run = cli("predict", "p", "--input", churn)
    assert run.stdout.splitlines()[0].split() == ["age", "plan", "id", "output_feature_0", "output_feature_1"]


def test_predict_from_stdin(cli, clf, churn):
    cli("deploy", "create", "churn", "3", "churn_v3")
    frame = pd.read_parquet(churn)
    run = cli("predict", "churn_v3", "--input", "-", "--format", "jsonl", input=frame.to_csv(index=False))
    assert [json.loads(line)["output_feature_0"] for line in run.stdout.splitlines()] == predicted(clf, churn)
    run = cli("predict", "churn_v3", "--input", "-", "--format", "jsonl", input=frame.to_json(orient="records"))
    assert [json.loads(line)["output_feature_0"] for line in run.stdout.splitlines()] == predicted(clf, churn)


def test_predict_input_missing_a_feature(cli, churn, tmp_path):
    cli("deploy", "create", "churn", "3", "churn_v3")
    pd.read_parquet(churn).drop(columns=["plan"]).to_parquet(tmp_path / "bad.parquet")
    run = cli("predict", "churn_v3", "--input", tmp_path / "bad.parquet", "--output", tmp_path / "out.parquet")
    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == "Error: input is missing column 'plan' (expected STRING); it has: age, id\n"
    assert not (tmp_path / "out.parquet").exists()


def test_predict_unreadable_input_writes_nothing(cli, churn, tmp_path):
    cli("deploy", "create", "churn", "3", "churn_v3")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 but not really")
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    run = cli("predict", "churn_v3", "--input", tmp_path / "junk.parquet", "--output", out)
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith(f"Error: cannot read input {tmp_path / 'junk.parquet'} as parquet: ")
    assert len(run.stderr.splitlines()) == 1
    run = cli("predict", "churn_v3", "--input", tmp_path / "missing.csv", "--output", out)
    assert (run.exit_code, run.stderr) == (1, f"Error: input file {tmp_path / 'missing.csv'} does not exist\n")
    assert out.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("row", "stderr"),
    [
        ({"age": 40, "plan": "gold"},  # valid, but a category the model never saw: the model fails
         "Error: deployment churn_v3: predict failed: ValueError: Found unknown categories ['gold'] in column 0 during transform\n"),
        ({"age": "forty", "plan": "pro"},  # beyond what DuckDB's CSV sniffer samples: a read error
         None),
    ],
)
def test_predict_failing_late_leaves_no_partial_output(cli, churn, tmp_path, monkeypatch, row, stderr):
    from mlreg.runtime import scorer

    monkeypatch.setattr(scorer, "BATCH_BYTES", 16 * 2048)  # many batches are written before the bad row
    cli("deploy", "create", "churn", "3", "churn_v3")
    frame = churn_data(60_000, seed=9).astype(object)
    frame.loc[59_000] = row
    frame.to_csv(tmp_path / "late.csv", index=False)
    out = tmp_path / "out.parquet"
    run = cli("predict", "churn_v3", "--input", tmp_path / "late.csv", "--output", out)
    assert (run.exit_code, run.stdout) == (1, "")
    if stderr is not None:
        assert run.stderr == stderr
    else:
        assert run.stderr == (
            "Error: cannot read input: Conversion Error: CSV Error on Line: 59002; Original Line: forty,pro; "
            "Error when converting column \"age\". Could not convert string \"forty\" to 'BIGINT'\n")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_predict_format_with_a_file_output(cli, clf, churn, tmp_path):
    cli("deploy", "create", "churn", "3", "churn_v3")
    run = cli("predict", "churn_v3", "--input", churn, "--output", tmp_path / "pred.out", "--format", "csv")
    assert run.exit_code == 0, run
    assert pd.read_csv(tmp_path / "pred.out")["output_feature_0"].tolist() == predicted(clf, churn)
    run = cli("predict", "churn_v3", "--input", churn, "--output", tmp_path / "pred.parquet", "--format", "csv")
    assert run.exit_code == 2 and run.stderr.startswith("Error: --format applies to printed predictions")
    run = cli("predict", "churn_v3", "--input", churn, "--output", tmp_path / "pred.out")
    assert (run.exit_code, run.stderr) == (
        1, f"Error: cannot tell the format of output {tmp_path / 'pred.out'} from its extension; "
           "use one of: .csv, .json, .jsonl, .ndjson, .parquet, .pq, .tsv\n")


# -- sql ---------------------------------------------------------------------------------------------------
def test_sql_with_a_function_in_where_and_group_by(cli, clf, churn):
    cli("deploy", "create", "churn", "3", "churn_v3")
    frame = pd.read_parquet(churn)
    pred = np.asarray(predicted(clf, churn))
    run = cli("sql", f"SELECT plan, count(*) AS n FROM '{churn}' WHERE churn_v3(age, plan) = 1 GROUP BY plan ORDER BY plan",
              "--format", "json")
    assert run.exit_code == 0 and run.stderr == ""
    want = frame[pred == 1].groupby("plan").size()
    assert json.loads(run.stdout) == [{"plan": p, "n": int(n)} for p, n in want.items()]

    run = cli("sql", f"SELECT churn_v3(age, plan) AS c, count(*) AS n FROM '{churn}' GROUP BY c ORDER BY c", "--format", "csv")
    counts = pd.Series(pred).value_counts().sort_index()
    assert run.stdout == "c,n\n" + "".join(f"{c},{n}\n" for c, n in counts.items())


def test_sql_the_example_of_the_issue(cli, clf, churn):
    cli("deploy", "create", "churn", "3", "churn_v3")
    run = cli("sql", f"SELECT id, churn_v3(age, plan) FROM '{churn}' ORDER BY id", "--format", "tsv")
    assert run.exit_code == 0, run
    lines = run.stdout.splitlines()
    assert lines[0] == "id\tchurn_v3(age, plan)"
    assert [int(x.split("\t")[1]) for x in lines[1:]] == predicted(clf, churn)


def test_sql_queries_the_registry_views(cli, churn):
    cli("deploy", "create", "churn", "3", "churn_v3")
    run = cli("sql", "SELECT NAME, VERSION FROM models; ", "--format", "csv")
    assert run.stdout == "NAME,VERSION\nchurn,3\n"
    run = cli("sql", "SELECT KEY FROM history WHERE ATTRIBUTE_NAME = 'DEPLOYMENT'", "--format", "csv")
    assert run.stdout == "KEY\nchurn_v3\n"
    run = cli("sql", "SELECT NAME, TARGET_METHOD FROM deployments", "--format", "csv")
    assert run.stdout == "NAME,TARGET_METHOD\nchurn_v3,predict\n"


def test_sql_errors(cli, churn):
    run = cli("sql", "SELEC 1")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith("Error: SQL error: Parser Error: syntax error at or near \"SELEC\"")
    assert len(run.stderr.splitlines()) == 1


# -- the real console script ----------------------------------------------------------------------------------
def test_real_subprocess_predict_and_sql(cli, mlreg_bin, clf, churn, tmp_path):
    run = mlreg_bin("deploy", "create", "churn", "3", "churn_v3", "--option", "output_with_input_features=true")
    assert run.exit_code == 0, run
    out = tmp_path / "pred.parquet"
    run = mlreg_bin("predict", "churn_v3", "--input", churn, "--output", out)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", f"Wrote 40 predictions to {out}\n")
    got = pd.read_parquet(out)
    assert list(got.columns) == ["age", "plan", "id", "output_feature_0"]
    assert got["output_feature_0"].tolist() == predicted(clf, churn)

    run = mlreg_bin("predict", "churn_v3", "--input", "-", "--format", "csv", input=pd.read_parquet(churn).to_csv(index=False))
    assert run.exit_code == 0, run
    assert pd.read_csv(__import__("io").StringIO(run.stdout))["output_feature_0"].tolist() == predicted(clf, churn)

    run = mlreg_bin("sql", f"SELECT count(*) AS n FROM '{churn}' WHERE churn_v3(age, plan) IN (0, 1)", "--format", "csv")
    assert (run.exit_code, run.stdout) == (0, "n\n40\n")

    run = mlreg_bin("predict", "nope", "--input", churn)
    assert (run.exit_code, run.stdout, run.stderr) == (
        3, "", "Error: deployment nope does not exist in this registry; deployments: churn_v3\n")


def test_cli_modules_import_no_heavy_library():
    code = ("import sys, mlreg.cli.commands.deploy, mlreg.cli.commands.predict, mlreg.cli.commands.sql; "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
