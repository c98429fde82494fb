"""The listings of the Python API are Snowpark-style DataFrames over a real registry: the
seed's calls run as written, DuckDB's forms keep working, the DuckDB relation is reachable,
and neither pandas nor pyarrow is imported until a frame is turned into one. The command
line keeps rendering the relations themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import duckdb
import numpy as np
import pytest

from mlreg import functions as F
from mlreg import model_registry
from mlreg.frame import DataFrame, Row
from tests.fixtures.cli import subprocess_env
from tests.fixtures.models import SumModel


@pytest.fixture
def filled(registry: Any) -> Any:
    """Two versions of my_model (testing, prod) and one of other, with metrics."""
    sample = np.ones((2, 2))
    registry.log_model(SumModel(), "my_model", "101", tags={"stage": "testing"}, metrics={"test_accuracy": 0.91},
                       sample_input_data=sample)
    registry.log_model(SumModel(), "my_model", "102", tags={"stage": "prod"}, metrics={"test_accuracy": 0.97},
                       sample_input_data=sample)
    registry.log_model(SumModel(), "other", "1", sample_input_data=sample)
    return registry


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("|")]


def test_every_listing_is_a_frame_over_a_duckdb_relation(filled):
    ref = model_registry.ModelReference(filled, "my_model", "101")
    ref.deploy("d1")
    frames = [filled.list_models(), filled.get_history(), filled.get_model_history("my_model", "101"),
              ref.get_model_history(), filled.list_deployments(), filled.list_deployments("my_model", "101"),
              ref.list_deployments(), filled.get_deployment("my_model", "101", "d1"), ref.get_deployment("d1")]
    for frame in frames:
        assert isinstance(frame, DataFrame) and isinstance(frame.relation, duckdb.DuckDBPyRelation)
    assert [f.count() for f in frames] == [3, 7, 3, 3, 1, 1, 1, 1, 1]


def test_the_seed_lines_of_the_issue_run_as_written(filled, capsys):
    registry = filled
    model_id = registry.get_model("my_model", "102").id
    registry.list_models().select("ID", "NAME", "CREATION_TIME", "TAGS").order_by("CREATION_TIME", ascending=False).show()
    rows = table_rows(capsys.readouterr().out)
    assert rows[0] == ['"ID"', '"NAME"', '"CREATION_TIME"', '"TAGS"']
    assert [r[1:2] + [r[3]] for r in rows[1:]] == [["other", "{}"], ["my_model", '{"stage":"prod"}'],
                                                     ["my_model", '{"stage":"testing"}']]
    model_list = registry.list_models()
    model_list.filter(model_list["ID"] == model_id).select("NAME", "TAGS", "METRICS").show()
    assert table_rows(capsys.readouterr().out) == [['"NAME"', '"TAGS"', '"METRICS"'],
                                                   ["my_model", '{"stage":"prod"}', '{"test_accuracy":0.97}']]
    lm = registry.list_models()
    lm.select("NAME", "VERSION", F.parse_json(lm["TAGS"]).getField("stage")).show()
    assert table_rows(capsys.readouterr().out) == [
        ['"NAME"', '"VERSION"', '"PARSE_JSON(""TAGS"")[\'STAGE\']"'],
        ["my_model", "101", '"testing"'], ["my_model", "102", '"prod"'], ["other", "1", "NULL"]]


def test_the_frame_api_over_the_registry(filled):
    lm = filled.list_models()
    best = lm.filter(F.col("METRICS")["test_accuracy"] > 0.95).first()
    assert isinstance(best, Row) and (best.NAME, best["VERSION"], best[1]) == ("my_model", "102", "my_model")
    assert lm.where((lm.NAME == "my_model") & ~lm["TAGS"].is_null()).count() == 2
    assert lm.filter(F.col("VERSION").isin("1", "101")).sort("VERSION").select("VERSION").collect() == [
        Row(VERSION="1"), Row(VERSION="101")]
    assert lm.filter(lm.NAME.like("my%")).distinct().count() == 2
    grouped = lm.group_by("NAME").agg(F.count("VERSION").alias("VERSIONS")).sort("NAME").collect()
    assert [(r.NAME, r.VERSIONS) for r in grouped] == [("my_model", 2), ("other", 1)]
    tagged = lm.with_column("STAGE", F.parse_json(lm.TAGS)["stage"].cast("string")).filter(F.col("STAGE") == "prod")
    assert tagged.select(F.col("VERSION").alias("V")).collect()[0].V == "102"
    assert lm.limit(1).count() == 1 and lm.columns[:3] == ["ID", "NAME", "VERSION"]
    assert [f.datatype for f in lm.schema if f.name == "TAGS"] == ["JSON"]
    assert lm.to_pandas().shape == (3, 14) and lm.to_arrow().num_rows == 3
    history = filled.get_history()
    assert history.filter(F.col("ATTRIBUTE_NAME") == F.lit("TAG")).count() == 2


def test_duckdb_forms_keep_working(filled):
    lm = filled.list_models()
    assert lm.select("NAME, VERSION").order("VERSION DESC").fetchall()[0] == ("my_model", "102")
    assert lm.select("NAME, TAGS->>'stage' AS stage").filter("stage = 'prod'").fetchall() == [("my_model", "prod")]
    assert lm.filter("NAME = 'other'").df()["VERSION"].tolist() == ["1"]
    assert lm.count("*").fetchall()[0][0] == 3
    assert lm.relation.aggregate("count(*)").fetchall() == [(3,)]
    assert filled.list_deployments().select("NAME").fetchall() == []


def test_sql_and_the_cli_use_the_relations(filled, cli):
    model_registry.ModelReference(filled, "my_model", "101").deploy("d1", permanent=True)
    assert filled.sql("SELECT count(*) FROM models").fetchall() == [(3,)]
    assert filled.sql("SELECT DEPLOYMENT_NAME, NAME FROM deployments").fetchall() == [("d1", "d1")]
    run = cli("deploy", "list", "--format", "json")
    assert run.exit_code == 0, run
    listed = json.loads(run.stdout)
    assert [(d["DEPLOYMENT_NAME"], d["NAME"], d["TARGET_PLATFORM"], d["PLATFORM"], d["STAGE_PATH"]) for d in listed] == [
        ("d1", "d1", "warehouse", "warehouse", None)]
    run = cli("deploy", "list")
    assert run.stdout.splitlines()[0].split() == ["NAME", "MODEL_NAME", "MODEL_VERSION", "PLATFORM", "TARGET_METHOD",
                                                  "PERMANENT", "STATUS", "CREATED_TIME"]


def test_the_python_api_imports_pandas_only_in_to_pandas(filled, tmp_path):
    code = textwrap.dedent("""
        import sys, mlreg
        from mlreg import model_registry, functions as F
        registry = model_registry.ModelRegistry(mlreg.connect())
        lm = registry.list_models()
        lm.select("NAME", "VERSION", F.parse_json(lm["TAGS"]).getField("stage")).show()
        lm.filter(lm["NAME"] == "my_model").collect(); registry.get_history().count()
        registry.list_deployments().collect()
        before = sorted(m for m in ("pandas", "pyarrow") if m in sys.modules)
        lm.to_pandas()
        print(before, "pandas" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[] True"
