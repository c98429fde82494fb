"""WAREHOUSE deployments through the Python API: a registered scikit-learn model as a
DuckDB SQL function, scored from every input kind, with every option."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlreg import AlreadyExists, IntegrityError, InvalidInput, NotFound, model_registry
from mlreg.runtime import scorer
from mlreg.deploy.warehouse import EnvironmentMismatch
from mlreg.deploy_platforms import TargetPlatform
from mlreg.registry.registry import EnvironmentWarning

PROBA = ["output_feature_0", "output_feature_1"]


def churn_data(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n).astype("int64"),
        "plan": rng.choice(["basic", "pro", "team"], n),
    })


def churn_model(X: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    y = ((X.age > 45) ^ (X.plan == "pro")).astype(int)
    return make_pipeline(
        make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough"),
        LogisticRegression(max_iter=1000),
    ).fit(X, y)


@pytest.fixture(scope="module")
def trained():
    X = churn_data()
    return X, churn_model(X)


@pytest.fixture
def churn(registry, trained):
    """churn/3 (a Pipeline on an INT64 ``age`` and a STRING ``plan``) logged in ``registry``."""
    X, clf = trained
    registry.log_model(clf, "churn", "3", sample_input_data=X)
    return model_registry.ModelReference(registry, "churn", "3")


@pytest.fixture
def data(trained) -> pd.DataFrame:
    return churn_data(50, seed=1)


def expected(trained, X: pd.DataFrame, method: str = "predict") -> np.ndarray:
    return np.asarray(getattr(trained[1], method)(X[["age", "plan"]]))


def recorded_deployments(registry) -> list[str]:
    with registry.store.read() as reader:
        return [d.name for d in reader.deployments()]


def files(tmp_path: Path, X: pd.DataFrame) -> dict[str, Path]:
    out = {"parquet": tmp_path / "in.parquet", "csv": tmp_path / "in.csv", "json": tmp_path / "in.json"}
    X.to_parquet(out["parquet"], index=False)
    X.to_csv(out["csv"], index=False)
    X.to_json(out["json"], orient="records")
    return out


# -- every input kind -----------------------------------------------------------------------------
def test_pandas_in_pandas_out(churn, trained, data):
    churn.deploy("churn_v3")
    out = churn.predict("churn_v3", data)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["output_feature_0"]
    np.testing.assert_array_equal(out["output_feature_0"].to_numpy(), expected(trained, data))


def test_arrow_in_arrow_out(churn, trained, data):
    churn.deploy("churn_v3")
    out = churn.predict("churn_v3", pa.Table.from_pandas(data, preserve_index=False))
    assert isinstance(out, pa.Table)
    assert out.schema == pa.schema([pa.field("output_feature_0", pa.int64())])
    np.testing.assert_array_equal(out.column(0).to_numpy(), expected(trained, data))


def test_relation_in_relation_out(churn, trained, data):
    churn.deploy("churn_v3")
    con = duckdb.connect()
    con.register("customers", data)
    out = churn.predict("churn_v3", con.sql("SELECT * FROM customers"))
    assert isinstance(out, duckdb.DuckDBPyRelation)
    assert out.columns == ["output_feature_0"]
    assert [r[0] for r in out.fetchall()] == expected(trained, data).tolist()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_file_path_in_relation_out(churn, trained, data, tmp_path, fmt):
    churn.deploy("churn_v3")
    path = files(tmp_path, data)[fmt]
    for given_path in (path, str(path)):
        out = churn.predict("churn_v3", given_path)
        assert isinstance(out, duckdb.DuckDBPyRelation)
        assert [r[0] for r in out.fetchall()] == expected(trained, data).tolist()


def test_unsupported_data_kind_is_refused(churn):
    churn.deploy("churn_v3")
    with pytest.raises(InvalidInput, match="cannot score data of type dict"):
        churn.predict("churn_v3", {"age": [1], "plan": ["pro"]})


# -- multi-output methods --------------------------------------------------------------------------
def test_predict_proba_gives_named_columns_for_every_kind(churn, trained, data, tmp_path):
    churn.deploy("proba", target_method="predict_proba")
    want = expected(trained, data, "predict_proba")
    frame = churn.predict("proba", data)
    assert list(frame.columns) == PROBA
    np.testing.assert_allclose(frame.to_numpy(), want)
    table = churn.predict("proba", pa.Table.from_pandas(data))
    assert table.column_names == PROBA
    rel = churn.predict("proba", files(tmp_path, data)["parquet"])
    assert rel.columns == PROBA
    np.testing.assert_allclose(np.array(rel.fetchall()), want)


def test_predict_proba_in_sql_is_a_struct_of_named_outputs(registry, churn, trained, data, tmp_path):
    churn.deploy("proba", target_method="predict_proba")
    path = files(tmp_path, data)["parquet"]
    rel = registry.sql(f"SELECT proba(age, plan) AS p, proba(age, plan).output_feature_1 AS p1 FROM read_parquet('{path}')")
    rows = rel.fetchall()
    want = expected(trained, data, "predict_proba")
    assert [r[0] for r in rows] == [{"output_feature_0": a, "output_feature_1": b} for a, b in want.tolist()]
    np.testing.assert_allclose([r[1] for r in rows], want[:, 1])


# -- options ----------------------------------------------------------------------------------------
def test_default_options_are_recorded(churn):
    dep = churn.deploy("churn_v3")
    assert dep.options == {
        "output_with_input_features": False,
        "keep_order": True,
        "permanent_udf_stage_location": None,
        "relax_version": False,
        "replace_udf": False,
    }


@pytest.mark.parametrize("kind", ["pandas", "arrow", "relation", "parquet", "csv"])
def test_output_with_input_features(churn, trained, data, tmp_path, kind):
    churn.deploy("with_inputs", options={"output_with_input_features": True})
    data = data.assign(id=range(len(data)))
    given_data = {
        "pandas": data,
        "arrow": pa.Table.from_pandas(data, preserve_index=False),
        "relation": duckdb.connect().from_df(data),
        "parquet": files(tmp_path, data)["parquet"],
        "csv": files(tmp_path, data)["csv"],
    }[kind]
    out = churn.predict("with_inputs", given_data)
    frame = out if kind == "pandas" else (out.to_pandas() if kind == "arrow" else out.df())
    assert list(frame.columns) == ["age", "plan", "id", "output_feature_0"]
    assert frame["id"].tolist() == list(range(len(data)))
    assert frame["output_feature_0"].tolist() == expected(trained, data).tolist()


def test_output_named_like_an_input_column_is_refused(churn, data):
    churn.deploy("with_inputs", options={"output_with_input_features": True})
    with pytest.raises(InvalidInput, match="output column.*output_feature_0 have the name of an input column"):
        churn.predict("with_inputs", data.assign(output_feature_0=1))


def test_keep_order_true_keeps_the_input_order(churn, trained, tmp_path):
    big = churn_data(30_000, seed=2).assign(id=np.arange(30_000))
    path = tmp_path / "big.csv"
    big.to_csv(path, index=False)
    churn.deploy("ordered", options={"output_with_input_features": True})
    out = churn.predict("ordered", path).df()
    assert out["id"].tolist() == list(range(30_000))


def test_keep_order_false_returns_every_row(churn, trained, tmp_path):
    big = churn_data(30_000, seed=2).assign(id=np.arange(30_000))
    path = tmp_path / "big.csv"
    big.to_csv(path, index=False)
    churn.deploy("unordered", options={"output_with_input_features": True, "keep_order": False})
    out = churn.predict("unordered", path).df().sort_values("id")
    assert out["id"].tolist() == list(range(30_000))
    assert out["output_feature_0"].tolist() == expected(trained, big).tolist()


def test_replace_udf(registry, churn, trained):
    churn.deploy("churn_v3", permanent=True)
    with pytest.raises(AlreadyExists, match=r"deployment churn_v3 already exists \(of churn/3\); pass options=\{'replace_udf': True\}"):
        churn.deploy("churn_v3", target_method="predict_proba")
    dep = churn.deploy("churn_v3", target_method="predict_proba", permanent=True, options={"replace_udf": True})
    assert dep.options["replace_udf"] is True
    assert registry.find_deployment("churn_v3").target_method == "predict_proba"
    assert list(churn.predict("churn_v3", churn_data(3)).columns) == PROBA
    events = registry.get_history().filter("ATTRIBUTE_NAME = 'DEPLOYMENT'").select("OPERATION, KEY").fetchall()
    assert events == [("SET", "churn_v3"), ("DROP", "churn_v3"), ("SET", "churn_v3")]


def test_replace_udf_from_a_temporary_by_a_permanent_and_back(registry, churn):
    churn.deploy("d")
    churn.deploy("d", permanent=True, options={"replace_udf": True})
    assert recorded_deployments(registry) == ["d"]
    churn.deploy("d", options={"replace_udf": True})  # temporary again: the record goes
    assert recorded_deployments(registry) == []
    assert registry.find_deployment("d").permanent is False


def test_relax_version(registry, trained, tmp_path, monkeypatch):
    """A package the model needs is installed at another version than it was logged with."""
    X, clf = trained
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path / "v1", "1.0")))
    registry.log_model(clf, "churn", "9", sample_input_data=X, conda_dependencies=["mlreg-fake-dep"])
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p != str(tmp_path / "v1")])
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path / "v2", "2.0")))

    with pytest.raises(EnvironmentMismatch) as err:
        registry.deploy("churn", "9", "strict")
    assert str(err.value) == (
        "cannot deploy churn/9: this environment differs from the one it was logged in: "
        "mlreg-fake-dep 1.0 recorded, 2.0 installed. Install the recorded versions, or pass "
        "options={'relax_version': True} (--option relax_version=true) to deploy anyway"
    )
    with pytest.raises(NotFound):
        registry.find_deployment("strict")

    with pytest.warns(EnvironmentWarning, match="mlreg-fake-dep 1.0 recorded, 2.0 installed"):
        dep = registry.deploy("churn", "9", "relaxed", options={"relax_version": True})
    assert dep.details["environment_differences"] == ["mlreg-fake-dep 1.0 recorded, 2.0 installed"]
    assert len(registry.predict("churn", "9", "relaxed", X.head(4))) == 4


def fake_distribution(site: Path, version: str) -> Path:
    info = site / f"mlreg_fake_dep-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mlreg-fake-dep\nVersion: {version}\n")
    return site


def test_permanent_udf_stage_location(registry, churn, trained, data, tmp_path):
    location = tmp_path / "udfs"
    dep = churn.deploy("located", permanent=True, options={"permanent_udf_stage_location": str(location)})
    copy = location / "mlreg-deployments" / "MODEL_REGISTRY" / dep.details["package"]
    assert dep.details["location"] == str(location)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == sorted(
        registry.get_model("churn", "3").files
    )
    scorer.forget("located")  # as a fresh process would: load from the copy
    assert churn.predict("located", data)["output_feature_0"].tolist() == expected(trained, data).tolist()

    # the copy is checked like any package
    scorer.forget_all()
    (copy / "model" / "model.pkl").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="deployment located.*failed its checksum check"):
        churn.predict("located", data)

    churn.delete_deployment("located")
    assert not copy.exists()


def test_permanent_udf_stage_location_is_ignored_for_a_temporary_deployment(churn, tmp_path):
    dep = churn.deploy("temp", options={"permanent_udf_stage_location": str(tmp_path / "udfs")})
    assert "location" not in dep.details
    assert not (tmp_path / "udfs").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown warehouse deployment option(s) colour; known: output_with_input_features, keep_order, "
                            "permanent_udf_stage_location, relax_version, replace_udf"),
        ({"keep_order": "maybe"}, "option keep_order must be true or false, not 'maybe'"),
        ({"relax_version": 2}, "option relax_version must be true or false, not 2"),
        ({"permanent_udf_stage_location": ""}, "option permanent_udf_stage_location must be a directory path or URL"),
    ],
)
def test_bad_options_are_refused(churn, options, message):
    with pytest.raises(InvalidInput) as err:
        churn.deploy("bad", options=options)
    assert str(err.value) == message


def test_option_spellings_from_a_command_line(churn):
    dep = churn.deploy("spelled", options={"keep_order": "false", "output_with_input_features": "TRUE", "relax_version": "0"})
    assert (dep.options["keep_order"], dep.options["output_with_input_features"], dep.options["relax_version"]) == (False, True, False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.fixed_dictionaries({k: st.booleans() for k in ("output_with_input_features", "keep_order", "relax_version")}))
def test_options_round_trip_to_the_record_and_history(registry, churn, flags):
    options = {**flags, "replace_udf": True}
    churn.deploy("prop", permanent=True, options=options)
    rec = registry.get_deployment("churn", "3", "prop").fetchall()[0]
    got = json.loads(rec[7])
    assert {k: got[k] for k in options} == options
    last = dict(registry.get_history().filter("ATTRIBUTE_NAME = 'DEPLOYMENT_OPTION'").order("EVENT_ID")
                .select("KEY, NEW_VALUE").fetchall())
    assert {k.split("/", 1)[1]: json.loads(v) for k, v in last.items()} == {**got}


# -- records, listing, history, deletion -------------------------------------------------------------
def test_get_and_list_deployments(registry, churn):
    churn.deploy("perm", permanent=True)
    churn.deploy("temp", target_method="predict_proba")
    rel = churn.get_deployment("perm")
    # the original's columns first, then mlreg's, then the names mlreg used before
    assert rel.columns == ["MODEL_NAME", "MODEL_VERSION", "DEPLOYMENT_NAME", "CREATION_TIME", "TARGET_METHOD",
                           "TARGET_PLATFORM", "SIGNATURE", "OPTIONS", "STAGE_PATH", "ROLE",
                           "MODEL_ID", "DETAILS", "PERMANENT", "STATUS", "NAME", "PLATFORM", "CREATED_TIME"]
    row = dict(zip(rel.columns, rel.fetchall()[0]))
    assert (row["DEPLOYMENT_NAME"], row["MODEL_NAME"], row["MODEL_VERSION"], row["TARGET_PLATFORM"], row["TARGET_METHOD"],
            row["PERMANENT"], row["STATUS"], row["STAGE_PATH"]) == ("perm", "churn", "3", "warehouse", "predict", True,
                                                                    "ready", None)
    assert (row["NAME"], row["PLATFORM"], row["CREATED_TIME"]) == ("perm", "warehouse", row["CREATION_TIME"])
    assert row["MODEL_ID"] == registry.get_model("churn", "3").id
    assert json.loads(row["SIGNATURE"]) == {"inputs": [{"name": "age", "type": "INT64"}, {"name": "plan", "type": "STRING"}],
                                            "outputs": [{"name": "output_feature_0", "type": "INT64"}]}
    assert row["ROLE"] == registry.session.role and row["CREATED_TIME"] is not None
    assert churn.list_deployments().select("NAME, PERMANENT").fetchall() == [("perm", True), ("temp", False)]
    assert registry.list_deployments().select("NAME").fetchall() == [("perm",), ("temp",)]


def test_history_records_deploy_each_option_and_delete(registry, churn):
    churn.deploy("perm", permanent=True, options={"keep_order": False})
    churn.delete_deployment("perm")
    events = registry.get_history().filter("ATTRIBUTE_NAME LIKE 'DEPLOYMENT%'").select(
        "OPERATION, ATTRIBUTE_NAME, KEY, OLD_VALUE, NEW_VALUE").fetchall()
    summary = {"platform": "warehouse", "target_method": "predict", "permanent": True,
               "options": {"output_with_input_features": False, "keep_order": False,
                           "permanent_udf_stage_location": None, "relax_version": False, "replace_udf": False}}
    assert [(op, attr, key) for op, attr, key, _, _ in events] == [
        ("SET", "DEPLOYMENT", "perm"),
        ("SET", "DEPLOYMENT_OPTION", "perm/output_with_input_features"),
        ("SET", "DEPLOYMENT_OPTION", "perm/keep_order"),
        ("SET", "DEPLOYMENT_OPTION", "perm/permanent_udf_stage_location"),
        ("SET", "DEPLOYMENT_OPTION", "perm/relax_version"),
        ("SET", "DEPLOYMENT_OPTION", "perm/replace_udf"),
        ("DROP", "DEPLOYMENT", "perm"),
    ]
    assert json.loads(events[0][4]) == summary and json.loads(events[-1][3]) == summary
    assert [json.loads(e[4]) for e in events[1:6]] == [False, False, None, False, False]


def test_temporary_deployments_are_not_recorded(registry, churn):
    churn.deploy("temp")
    assert recorded_deployments(registry) == []
    assert registry.get_history().filter("ATTRIBUTE_NAME LIKE 'DEPLOYMENT%'").fetchall() == []


def test_unknown_deployment(registry, churn):
    churn.deploy("perm", permanent=True)
    with pytest.raises(NotFound) as err:
        churn.predict("nope", churn_data(2))
    assert str(err.value) == "deployment nope does not exist in this registry; deployments: perm"
    with pytest.raises(NotFound, match="deployment perm is of model churn/3, not churn/4"):
        registry.get_deployment("churn", "4", "perm")
    churn.delete_deployment("perm")
    with pytest.raises(NotFound, match="it has no deployments"):
        churn.delete_deployment("perm")


def test_delete_model_deletes_its_deployments(registry, churn):
    churn.deploy("perm", permanent=True)
    churn.deploy("temp")
    registry.delete_model("churn", "3")
    assert registry.list_deployments().fetchall() == []
    with pytest.raises(NotFound):
        registry.predict_deployment("temp", churn_data(2))


def test_model_without_the_target_method(churn):
    with pytest.raises(InvalidInput, match="model churn/3 has no target method 'transform'; it has: predict"):
        churn.deploy("t", target_method="transform")


@pytest.mark.parametrize("name", ["abs", "SUM", "list_value"])
def test_a_deployment_name_taken_by_a_duckdb_function(churn, name):
    with pytest.raises(InvalidInput) as err:
        churn.deploy(name)
    assert str(err.value) == f"deployment name {name!r} is taken by a DuckDB built-in function; choose another name"


def test_warehouse_names_differing_only_in_case(churn):
    churn.deploy("Churn", permanent=True)
    with pytest.raises(AlreadyExists, match="warehouse deployment Churn exists, and SQL function names ignore case"):
        churn.deploy("churn")


def test_bad_deployment_names(churn):
    for bad in ("", "a b", "x;drop", ".hidden", "a/b"):
        with pytest.raises(InvalidInput):
            churn.deploy(bad)


def test_model_is_loaded_once_per_process(registry, churn, data):
    churn.deploy("once")
    first = scorer.scorer_for(registry.deployments.scoring_spec(registry.find_deployment("once")))
    churn.predict("once", data)
    churn.predict("once", data)
    assert scorer.scorer_for(registry.deployments.scoring_spec(registry.find_deployment("once"))) is first


# -- validation and bad input ----------------------------------------------------------------------
def test_input_missing_a_feature(churn, data, tmp_path):
    churn.deploy("churn_v3")
    msg = "input is missing column 'plan' (expected STRING); it has: age"
    for given_data in (data[["age"]], pa.Table.from_pandas(data[["age"]]), duckdb.connect().from_df(data[["age"]])):
        with pytest.raises(InvalidInput) as err:
            churn.predict("churn_v3", given_data)
        assert str(err.value) == msg
    data[["age"]].to_parquet(tmp_path / "x.parquet")
    with pytest.raises(InvalidInput) as err:
        churn.predict("churn_v3", tmp_path / "x.parquet")
    assert str(err.value) == msg


def test_input_with_a_mistyped_feature(churn, data, tmp_path):
    churn.deploy("churn_v3")
    bad = data.assign(age=data.age.astype(str) + "y")
    bad.to_parquet(tmp_path / "x.parquet")
    for given_data in (bad, tmp_path / "x.parquet"):
        with pytest.raises(InvalidInput, match=r"feature 'age' expects INT64, got the value '\d+y' \(str\) in row 0"):
            churn.predict("churn_v3", given_data)


def test_input_columns_match_case_insensitively(churn, trained, data):
    churn.deploy("churn_v3")
    out = churn.predict("churn_v3", duckdb.connect().from_df(data.rename(columns={"age": "AGE"})))
    assert [r[0] for r in out.fetchall()] == expected(trained, data).tolist()


def test_unreadable_and_missing_files(churn, tmp_path):
    churn.deploy("churn_v3")
    (tmp_path / "junk.parquet").write_bytes(b"not a parquet file at all")
    with pytest.raises(InvalidInput, match=r"^cannot read input .*junk.parquet as parquet: "):
        churn.predict("churn_v3", tmp_path / "junk.parquet")
    with pytest.raises(InvalidInput, match=r"^input file .*nope.csv does not exist$"):
        churn.predict("churn_v3", tmp_path / "nope.csv")
    with pytest.raises(InvalidInput, match="is a directory"):
        churn.predict("churn_v3", tmp_path)


# -- predict_file: the streaming writer behind `mlreg predict` -------------------------------------
@pytest.mark.parametrize("ext", ["parquet", "csv", "tsv", "json", "jsonl"])
def test_predict_file_writes_each_format(registry, churn, trained, data, tmp_path, ext):
    churn.deploy("churn_v3", target_method="predict_proba")
    out = tmp_path / f"out.{ext}"
    assert registry.deployments.predict_file("churn_v3", files(tmp_path, data)["parquet"], out) == len(data)
    read = {"parquet": pd.read_parquet, "csv": pd.read_csv, "tsv": lambda p: pd.read_csv(p, sep="\t"),
            "json": pd.read_json, "jsonl": lambda p: pd.read_json(p, lines=True)}[ext]
    frame = read(out)
    assert list(frame.columns) == PROBA
    np.testing.assert_allclose(frame.to_numpy(), expected(trained, data, "predict_proba"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_predict_file_is_all_or_nothing(registry, churn, data, tmp_path):
    churn.deploy("churn_v3")
    out = tmp_path / "out.parquet"
    out.write_text("previous content")
    data.assign(age=[*data.age[:-1].astype(object), "late-bad-value"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InvalidInput):
        registry.deployments.predict_file("churn_v3", tmp_path / "bad.csv", out)
    assert out.read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "mlreg-home", "out.parquet", "tmp"]
    with pytest.raises(InvalidInput, match="cannot tell the format of output .*out.xyz from its extension"):
        registry.deployments.predict_file("churn_v3", files(tmp_path, data)["csv"], tmp_path / "out.xyz")
    with pytest.raises(InvalidInput, match="directory .*missing does not exist"):
        registry.deployments.predict_file("churn_v3", files(tmp_path, data)["csv"], tmp_path / "missing" / "out.csv")


def test_predict_file_streams_large_inputs_in_few_batches(registry, churn, tmp_path, monkeypatch):
    calls = []
    real = scorer.Scorer.score
    monkeypatch.setattr(scorer.Scorer, "score", lambda self, t: calls.append(t.num_rows) or real(self, t))
    monkeypatch.setattr(scorer, "BATCH_BYTES", 16 * 10_000)  # 10,000 rows of 2 features per batch
    churn.deploy("churn_v3")
    churn_data(25_000).to_parquet(tmp_path / "in.parquet")
    assert registry.deployments.predict_file("churn_v3", tmp_path / "in.parquet", tmp_path / "out.parquet") == 25_000
    assert calls == [10_000, 10_000, 5_000]
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 25_000


# -- SQL -------------------------------------------------------------------------------------------------
def test_sql_with_a_deployed_function_in_where_and_group_by(registry, churn, trained, data, tmp_path):
    churn.deploy("churn_v3", permanent=True)
    path = files(tmp_path, data.assign(id=range(len(data))))["parquet"]
    got = registry.sql(
        f"SELECT plan, churn_v3(age, plan) AS churned, count(*) AS n FROM '{path}' "
        "WHERE churn_v3(age, plan) = 1 GROUP BY plan, churned ORDER BY plan"
    ).fetchall()
    pred = expected(trained, data)
    want = sorted((p, 1, int(((data.plan == p) & (pred == 1)).sum())) for p in set(data.plan[pred == 1]))
    assert got == want


def test_sql_sees_temporary_deployments_of_this_process(registry, churn):
    churn.deploy("temp_fn")
    assert registry.sql("SELECT temp_fn(50, 'pro') AS x").fetchall() in ([(0,)], [(1,)])


def test_sql_quoted_names_and_registry_tables(registry, churn):
    churn.deploy("churn-v3.1", permanent=True)
    assert len(registry.sql('SELECT "churn-v3.1"(30, \'basic\')').fetchall()) == 1
    assert registry.sql("SELECT NAME, VERSION FROM models").fetchall() == [("churn", "3")]
    assert registry.sql("SELECT NAME, PLATFORM FROM deployments").fetchall() == [("churn-v3.1", "warehouse")]
    assert registry.sql("SELECT count(*) FROM history WHERE ATTRIBUTE_NAME = 'DEPLOYMENT'").fetchall() == [(1,)]
    assert registry.sql("SELECT TAGS->>'x' FROM models").fetchall() == [(None,)]  # JSON columns stay JSON
    assert registry.sql("SELECT 1 AS x; SELECT 2 AS y").fetchall() == [(2,)]  # the last statement's result


def test_sql_errors_are_one_clear_line(registry, churn):
    churn.deploy("churn_v3", permanent=True)
    with pytest.raises(InvalidInput, match=r"^SQL error: Parser Error: syntax error"):
        registry.sql("SELEC 1")
    with pytest.raises(InvalidInput, match=r"^SQL error: Binder Error: No function matches .*'churn_v3\(STRING_LITERAL, INTEGER_LITERAL\)'"):
        registry.sql("SELECT churn_v3('x', 1)")
    with pytest.raises(InvalidInput) as err:  # the model's own error, not DuckDB's wrapping of it
        registry.sql("SELECT churn_v3(age, plan) FROM (VALUES (20, 'pro'), (30, 'gold')) t(age, plan)")
    assert str(err.value) == (
        "deployment churn_v3: predict failed: ValueError: Found unknown categories ['gold'] in column 0 during transform"
    )
    with pytest.raises(InvalidInput, match="the SQL query is empty"):
        registry.sql("  ")


def test_sql_reports_a_changed_package_as_an_integrity_error(registry, churn):
    churn.deploy("churn_v3", permanent=True)
    scorer.forget_all()  # as in a fresh process
    row = registry.get_model("churn", "3")
    with open(registry.stage.local_dir(row.id, row.files) / "model" / "model.pkl", "ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="failed its checksum check"):
        registry.sql("SELECT churn_v3(30, 'pro')")


def test_service_platform_routes_to_the_service_platform(churn):
    with pytest.raises(InvalidInput, match="option port must be a whole number"):
        churn.deploy("svc", platform=TargetPlatform.SERVICE, options={"port": "eighty"})


def test_warnings_stay_quiet_on_a_matching_environment(churn, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", EnvironmentWarning)
        churn.deploy("quiet")
        churn.predict("quiet", data)
