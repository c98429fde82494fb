"""Snowpark-style frames over DuckDB relations (mlreg.frame, mlreg.functions).

The frames are built over the registry's own views (``model_list``, ``history``) created by
the real migrations in an in-memory DuckDB, so the columns and types (JSON, TIMESTAMPTZ)
are the ones ``list_models()`` and ``get_history()`` have. Where Snowpark's own code runs
offline (its Row class, its local-testing session for ``show`` and column names), the
tests compare with it.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest

import mlreg
from mlreg import functions
from mlreg import functions as F
from mlreg.errors import InvalidInput
from mlreg.frame import Column, DataFrame, GroupedData, Row
from mlreg.frame.dataframe import format_table
from mlreg.store.duckdb import migrations

MODELS = [
    ("a1b2", "my_model", "101", "2024-05-01 10:00:00+00", "My awesome ML model",
     '{"classifier_type":"svm.SVC","stage":"testing"}',
     '{"confusion_matrix":[[5,1],[0,6]],"dataset_test":{"accuracy":0.93},"test_accuracy":0.93}'),
    ("c3d4", "my_model", "102", "2024-05-02 11:30:00+00", None, '{"stage":"prod"}', '{"test_accuracy":0.97}'),
    ("e5f6", "other", "1", "2024-05-03 12:45:30.5+00", "", None, None),
]
LIST_COLUMNS = ["ID", "NAME", "VERSION", "TYPE", "URI", "CREATION_TIME", "CREATION_ROLE", "CREATION_CONTEXT",
                "CREATION_ENVIRONMENT_SPEC", "DESCRIPTION", "TAGS", "METRICS", "INPUT_SPEC", "OUTPUT_SPEC"]
UNKNOWN = "unknown column {!r}; the columns are: " + ", ".join(LIST_COLUMNS)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """An in-memory registry schema (the real migrations) with three models and their events."""
    con = duckdb.connect(":memory:")
    migrations.upgrade(con, Path("frames-test.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    for id_, name, version, created, description, tags, metrics in MODELS:
        con.execute(
            "INSERT INTO listing (id, name, version, type, uri, creation_time, creation_role, creation_context,"
            " creation_environment_spec, input_spec, output_spec, description, tags, metrics) VALUES"
            " (?, ?, ?, 'sklearn', 'local://' || ?, ?::TIMESTAMPTZ, 'ML_ENGINEER', '{}', '{}', NULL, NULL, ?, ?, ?)",
            [id_, name, version, id_, created, description, tags, metrics])
        con.execute(
            "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
            " attribute_name, key, old_value, new_value) VALUES (?::TIMESTAMPTZ, ?, ?, ?, 'ML_ENGINEER', 'SET',"
            " 'REGISTRATION', NULL, NULL, '{\"type\":\"sklearn\"}')", [created, id_, name, version])
    con.execute(
        "INSERT INTO events (event_timestamp, model_id, model_name, model_version, role, operation,"
        " attribute_name, key, old_value, new_value) VALUES ('2024-05-04 09:00:00+00', 'c3d4', 'my_model', '102',"
        " 'ML_ENGINEER', 'SET', 'TAG', 'stage', '\"testing\"', '\"prod\"')")
    return con


class _Registry:
    """What the lead wires into ModelRegistry: frames over the registry's views."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def list_models(self) -> DataFrame:
        return DataFrame(self.con.sql("SELECT * FROM model_list"))

    def get_history(self) -> DataFrame:
        return DataFrame(self.con.sql("SELECT * FROM history ORDER BY EVENT_ID"))


@pytest.fixture
def registry(con: duckdb.DuckDBPyConnection) -> _Registry:
    return _Registry(con)


@pytest.fixture
def lm(registry: _Registry) -> DataFrame:
    return registry.list_models()


def ids(df: DataFrame) -> list[str]:
    return [r.ID for r in df.collect()]


# -- the seed's three lines, as written ---------------------------------------------------
def test_seed_list_sorted_newest_first(registry, capsys):
    registry.list_models().select("ID", "NAME", "CREATION_TIME", "TAGS").order_by(
        "CREATION_TIME", ascending=False).show()
    assert capsys.readouterr().out == (
        "--------------------------------------------------------------------------------------------------------\n"
        '|"ID"  |"NAME"    |"CREATION_TIME"                   |"TAGS"                                           |\n'
        "--------------------------------------------------------------------------------------------------------\n"
        "|e5f6  |other     |2024-05-03 12:45:30.500000+00:00  |{}                                               |\n"
        '|c3d4  |my_model  |2024-05-02 11:30:00+00:00         |{"stage":"prod"}                                 |\n'
        '|a1b2  |my_model  |2024-05-01 10:00:00+00:00         |{"classifier_type":"svm.SVC","stage":"testing"}  |\n'
        "--------------------------------------------------------------------------------------------------------\n"
        "\n"
    )


def test_seed_filter_by_model_id(registry, capsys):
    model_id = "a1b2"
    model_list = registry.list_models()
    model_list.filter(model_list["ID"] == model_id).select(
            "NAME", "TAGS", "METRICS").show()
    assert capsys.readouterr().out == (
        "-------------------------------------------------------------------------------------------------------------------\n"
        '|"NAME"    |"TAGS"                                           |"METRICS"                                           |\n'
        "-------------------------------------------------------------------------------------------------------------------\n"
        '|my_model  |{"classifier_type":"svm.SVC","stage":"testing"}  |{"confusion_matrix":[[5,1],[0,6]],"dataset_test...  |\n'
        "-------------------------------------------------------------------------------------------------------------------\n"
        "\n"
    )


def test_seed_tags_through_parse_json(registry, capsys):
    lm = registry.list_models()
    lm.select('NAME', 'VERSION', functions.parse_json(lm["TAGS"]).getField("stage")).show()
    assert capsys.readouterr().out == (
        "----------------------------------------------------------\n"
        '|"NAME"    |"VERSION"  |"PARSE_JSON(""TAGS"")[\'STAGE\']"  |\n'
        "----------------------------------------------------------\n"
        '|my_model  |101        |"testing"                        |\n'
        '|my_model  |102        |"prod"                           |\n'
        "|other     |1          |NULL                             |\n"
        "----------------------------------------------------------\n"
        "\n"
    )


# -- operations ------------------------------------------------------------------------------
def test_columns_and_schema_are_the_registry_s(lm, registry):
    assert lm.columns == LIST_COLUMNS
    schema = lm.schema
    assert schema.names == LIST_COLUMNS
    assert dict(schema.fields)["TAGS"] == "JSON"
    assert dict(schema.fields)["CREATION_TIME"] == "TIMESTAMP WITH TIME ZONE"
    assert dict(schema.fields)["NAME"] == "VARCHAR"
    assert [f.datatype for f in registry.get_history().schema if f.name == "EVENT_ID"] == ["BIGINT"]
    assert repr(lm.select("NAME", "TAGS")) == "DataFrame[NAME: VARCHAR, TAGS: JSON]"


def test_select_names_columns_and_lists(lm):
    assert lm.select("NAME", "VERSION").columns == ["NAME", "VERSION"]
    assert lm.select(["name", F.col("version")]).columns == ["NAME", "VERSION"]
    assert lm.select(lm.ID, lm["name"], F.col('"VERSION"')).columns == ["ID", "NAME", "VERSION"]
    assert lm[["ID", "NAME"]].columns == ["ID", "NAME"]
    assert lm.select((F.col("VERSION") == "101").alias("v101")).collect() == [(True,), (False,), (False,)]


def test_filter_and_where(lm):
    assert ids(lm.filter(F.col("NAME") == "my_model")) == ["a1b2", "c3d4"]
    assert ids(lm.where(lm.NAME != "my_model")) == ["e5f6"]
    assert ids(lm.filter("VERSION = '102'")) == ["c3d4"]  # SQL text: DuckDB SQL
    assert ids(lm.filter(F.col("NAME") == "nothing")) == []


def test_sort_ascending_flags_and_null_order(lm):
    assert ids(lm.sort("CREATION_TIME")) == ["a1b2", "c3d4", "e5f6"]
    assert ids(lm.order_by("CREATION_TIME", ascending=False)) == ["e5f6", "c3d4", "a1b2"]
    assert ids(lm.sort(F.col("CREATION_TIME").desc())) == ["e5f6", "c3d4", "a1b2"]
    assert ids(lm.sort(["NAME", "VERSION"], ascending=[False, True])) == ["e5f6", "a1b2", "c3d4"]
    assert ids(lm.orderBy("NAME", "VERSION", ascending=0)) == ["e5f6", "c3d4", "a1b2"]
    # ascending overrides a Column's direction
    assert ids(lm.sort(F.col("CREATION_TIME").desc(), ascending=True)) == ["a1b2", "c3d4", "e5f6"]
    # Snowpark's null order: first ascending, last descending, unless the Column says
    assert ids(lm.sort("DESCRIPTION")) == ["c3d4", "e5f6", "a1b2"]
    assert ids(lm.sort("DESCRIPTION", ascending=False)) == ["a1b2", "e5f6", "c3d4"]
    assert ids(lm.sort(F.col("DESCRIPTION").asc_nulls_last())) == ["e5f6", "a1b2", "c3d4"]
    assert ids(lm.sort(F.col("DESCRIPTION").desc_nulls_first())) == ["c3d4", "a1b2", "e5f6"]
    assert ids(lm.select("ID").sort()) == ["a1b2", "c3d4", "e5f6"]  # no columns: by all


def test_limit_distinct_count(lm):
    assert ids(lm.limit(2)) == ["a1b2", "c3d4"]
    assert ids(lm.limit(1, offset=1)) == ["c3d4"]
    assert lm.limit(0).count() == 0
    assert lm.count() == 3
    assert lm.select("NAME").distinct().count() == 2
    assert sorted(r.NAME for r in lm.select("NAME").distinct().collect()) == ["my_model", "other"]


def test_with_column_adds_or_replaces_last(lm):
    df = lm.select("ID", "NAME", "TAGS").with_column("stage", F.col("TAGS")["stage"].cast("string"))
    assert df.columns == ["ID", "NAME", "TAGS", "STAGE"]
    assert [r.STAGE for r in df.collect()] == ["testing", "prod", None]
    replaced = lm.select("ID", "NAME", "VERSION").withColumn("name", F.upper("NAME"))
    assert replaced.columns == ["ID", "VERSION", "NAME"]
    assert replaced.first() == Row(ID="a1b2", VERSION="101", NAME="MY_MODEL")
    quoted = lm.select("ID").with_column('"lower"', F.lit(1))
    assert quoted.columns == ["ID", '"lower"'] and quoted.first().lower == 1


def test_drop(lm):
    assert lm.drop("URI", F.col("creation_context")).columns == [c for c in LIST_COLUMNS if c not in (
        "URI", "CREATION_CONTEXT")]
    with pytest.raises(InvalidInput, match="every column"):
        lm.select("ID").drop("ID")


def test_group_by_aggregates(lm):
    counted = lm.group_by("NAME").agg(F.count("ID"), F.max("VERSION").alias("LATEST")).sort("NAME")
    assert counted.columns == ["NAME", '"COUNT(""ID"")"', "LATEST"]
    assert counted.collect() == [Row(NAME="my_model", **{'COUNT("ID")': 2}, LATEST="102"),
                                 Row(NAME="other", **{'COUNT("ID")': 1}, LATEST="1")]
    pairs = lm.group_by(F.col("NAME")).agg(("VERSION", "min"), {"ID": "count"}).sort("NAME").collect()
    assert [tuple(r) for r in pairs] == [("my_model", "101", 2), ("other", "1", 1)]
    assert pairs[0]._fields == ("NAME", 'MIN("VERSION")', 'COUNT("ID")')
    assert lm.groupBy("NAME").count().sort("NAME").collect() == [Row(NAME="my_model", COUNT=2),
                                                                  Row(NAME="other", COUNT=1)]
    accuracy = F.col("METRICS")["test_accuracy"].cast("double")
    means = lm.with_column("ACC", accuracy).group_by("NAME").avg("ACC").sort("NAME").collect()
    assert means[0][1] == pytest.approx(0.95) and means[1][1] is None
    assert lm.agg(F.count("*"), F.count_distinct("NAME")).collect() == [Row(**{"COUNT(1)": 3, 'COUNT(DISTINCT "NAME")': 2})]
    assert isinstance(lm.group_by("NAME"), GroupedData)


def test_collect_rows_and_first(lm):
    rows = lm.select("ID", "NAME", "TAGS").collect()
    assert len(rows) == 3 and all(isinstance(r, Row) for r in rows)
    row = rows[0]
    assert row.NAME == row["NAME"] == row[1] == "my_model"
    assert row.TAGS == '{"classifier_type":"svm.SVC","stage":"testing"}'  # JSON as JSON text
    assert row.as_dict() == {"ID": "a1b2", "NAME": "my_model", "TAGS": row.TAGS}
    assert lm.select("ID").first() == Row(ID="a1b2")
    assert lm.select("ID").first(2) == [Row(ID="a1b2"), Row(ID="c3d4")]
    assert len(lm.first(-1)) == 3
    assert lm.filter("false").first() is None
    created = lm.select("CREATION_TIME").first()[0]
    assert created.isoformat() == "2024-05-01T10:00:00+00:00"


def test_to_pandas_and_to_arrow(lm):
    frame = lm.select("NAME", "TAGS").to_pandas()
    assert list(frame.columns) == ["NAME", "TAGS"] and frame["NAME"].tolist() == ["my_model", "my_model", "other"]
    table = lm.select("ID", "CREATION_TIME").to_arrow()
    assert table.column_names == ["ID", "CREATION_TIME"] and table.num_rows == 3


def test_show_n_and_max_width(lm, capsys):
    lm.select("ID", "DESCRIPTION").show(2, max_width=8)
    assert capsys.readouterr().out == (
        "-------------------\n"
        '|"ID"  |"DESC...  |\n'  # Snowpark cuts the header too
        "-------------------\n"
        "|a1b2  |My aw...  |\n"
        "|c3d4  |NULL      |\n"
        "-------------------\n"
        "\n"
    )


# -- expressions -------------------------------------------------------------------------------
@pytest.mark.parametrize(("condition", "expected"), [
    (lambda: F.col("VERSION") == "101", ["a1b2"]),
    (lambda: F.col("VERSION") != "101", ["c3d4", "e5f6"]),
    (lambda: F.col("CREATION_TIME") < F.lit("2024-05-02 11:30:00+00").cast("timestamptz"), ["a1b2"]),
    (lambda: F.col("CREATION_TIME") <= F.lit("2024-05-02 11:30:00+00").cast("timestamptz"), ["a1b2", "c3d4"]),
    (lambda: F.col("VERSION") > "101", ["c3d4"]),
    (lambda: F.col("VERSION") >= "101", ["a1b2", "c3d4"]),
    (lambda: (F.col("NAME") == "my_model") & (F.col("VERSION") == "102"), ["c3d4"]),
    (lambda: (F.col("VERSION") == "1") | (F.col("VERSION") == "101"), ["a1b2", "e5f6"]),
    (lambda: ~(F.col("NAME") == "my_model"), ["e5f6"]),
    (lambda: F.col("VERSION").isin("1", "102"), ["c3d4", "e5f6"]),
    (lambda: F.col("VERSION").isin(["101"]), ["a1b2"]),
    (lambda: F.col("VERSION").isin([]), []),
    (lambda: F.col("DESCRIPTION").is_null(), ["c3d4"]),
    (lambda: F.col("DESCRIPTION").is_not_null(), ["a1b2", "e5f6"]),
    (lambda: F.col("NAME").like("my_%"), ["a1b2", "c3d4"]),
    (lambda: F.col("NAME").like("MY%"), []),  # case-sensitive, as in Snowflake
    (lambda: F.col("VERSION").cast("int") + 1 == 102, ["a1b2"]),
    (lambda: F.when(F.col("NAME") == "other", "x").otherwise("y") == "x", ["e5f6"]),
    (lambda: F.sql_expr("length(VERSION) = 3"), ["a1b2", "c3d4"]),
    (lambda: F.coalesce("DESCRIPTION", F.lit("none")) == "none", ["c3d4"]),
    (lambda: F.lower(F.upper("NAME")) == "other", ["e5f6"]),
])
def test_each_operator_filters(lm, condition: Callable[[], Column], expected):
    assert ids(lm.filter(condition())) == expected


@pytest.mark.parametrize(("condition", "expected"), [
    (lambda lm: F.parse_json(lm["TAGS"])["stage"] == "prod", ["c3d4"]),           # a JSON string vs text
    (lambda lm: F.parse_json(F.col("TAGS")).getField("stage") != "prod", ["a1b2"]),
    (lambda lm: F.col("METRICS")["test_accuracy"] > 0.95, ["c3d4"]),              # a JSON number vs number
    (lambda lm: F.col("METRICS")["dataset_test"]["accuracy"] == 0.93, ["a1b2"]),  # nested object
    (lambda lm: F.col("METRICS")["confusion_matrix"][1][1] == 6, ["a1b2"]),       # array elements
    (lambda lm: F.col("TAGS")["stage"].isin("prod", "staging"), ["c3d4"]),
    (lambda lm: F.col("TAGS")["stage"].like("test%"), ["a1b2"]),
    (lambda lm: F.col("TAGS")["missing"].is_null(), ["a1b2", "c3d4", "e5f6"]),
    (lambda lm: F.upper(F.col("TAGS")["stage"]) == "PROD", ["c3d4"]),
    (lambda lm: F.parse_json(F.lit('{"flag": true}'))["flag"] == True, ["a1b2", "c3d4", "e5f6"]),  # noqa: E712
])
def test_json_fields_compare_as_snowflake_variants(lm, condition, expected):
    assert ids(lm.filter(condition(lm))) == expected


def test_json_values_are_json_text(lm):
    metrics = F.parse_json(lm["METRICS"])
    rows = lm.select(metrics["dataset_test"], metrics["confusion_matrix"][0], metrics["test_accuracy"]).collect()
    assert [tuple(r) for r in rows] == [('{"accuracy":0.93}', "[5,1]", "0.93"), (None, None, "0.97"),
                                        (None, None, None)]
    assert rows[0]._fields == ("PARSE_JSON(\"METRICS\")['DATASET_TEST']", "PARSE_JSON(\"METRICS\")['CONFUSION_MATRIX'][0]",
                               "PARSE_JSON(\"METRICS\")['TEST_ACCURACY']")
    as_text = lm.select(F.col("TAGS")["stage"].cast("string").alias("stage")).collect()
    assert [r.STAGE for r in as_text] == ["testing", "prod", None]


def test_json_keys_with_special_characters(con):
    df = DataFrame(con.sql("""SELECT '{"a/b": 1, "t~x": 2, "it''s": 3, "k\\"q": 4}'::JSON AS J"""))
    assert df.select(F.col("J")["a/b"], F.col("J")["t~x"], F.col("J")["it's"], F.col("J")['k"q']).collect() == [
        ("1", "2", "3", "4")]


def test_values_are_never_sql_text(lm):
    for evil in ["x' OR '1'='1", "'; DROP TABLE listing; --", 'my_model" OR 1=1 --', "\\'"]:
        assert ids(lm.filter(F.col("NAME") == evil)) == []
        assert ids(lm.filter(F.col("TAGS")[evil] == evil)) == []
    assert lm.count() == 3


def test_alias_forms_and_names(lm):
    assert lm.select(F.col("ID").alias("x"), F.col("ID").as_('"y"'), F.col("ID").name("Z")).columns == [
        "X", '"y"', "Z"]
    row = lm.select(F.col("NAME").alias('"model name"')).first()
    assert row["model name"] == "my_model"
    assert lm.select(F.lit(1), F.lit("it's"), F.col("VERSION").cast("int") > 1).columns == [
        '"1 :: INT"', '"\'IT\'\'S\'"', '"(CAST (""VERSION"" AS INT) > 1 :: INT)"']


def test_snowpark_names_unaliased_expressions_the_same(snowpark_session):
    """Column names of unaliased expressions, against Snowpark's local testing session."""
    from snowflake.snowpark import functions as S

    cases: list[Callable[[Any, Any], Any]] = [
        lambda f, df: df["ID"] == "id1",
        lambda f, df: f.upper(f.col("name")),
        lambda f, df: f.lit("abc"),
        lambda f, df: f.parse_json(df["TAGS"])["stage"],
        lambda f, df: f.parse_json("TAGS").getField("stage"),
        lambda f, df: f.col("ID").isin("a", "b"),
        lambda f, df: f.col("ACC").is_null(),
        lambda f, df: f.col("ACC").is_not_null(),
        lambda f, df: f.col("NAME").like("m%"),
        lambda f, df: f.col("ID").alias("x"),
        lambda f, df: f.col("ID").as_('"x"'),
        lambda f, df: (f.col("ACC") > 1) & (f.col("ACC") < 2.5),
        lambda f, df: ~(f.col("ACC") > 1) | f.lit(True),
        lambda f, df: f.col("NAME") != "x",
        lambda f, df: f.count("ID"),
        lambda f, df: f.count("*"),
        lambda f, df: f.sum(f.col("ACC")),
        lambda f, df: f.min("ACC"),
        lambda f, df: f.max("ACC"),
        lambda f, df: f.avg("ACC"),
        lambda f, df: f.mean("ACC"),
        lambda f, df: f.lower("NAME"),
        lambda f, df: f.count_distinct("NAME"),
        lambda f, df: f.coalesce("NAME", "ID"),
        lambda f, df: f.when(f.col("ACC") > 1, "x").otherwise("y"),
        lambda f, df: f.col("ACC").cast("string"),
        lambda f, df: f.col("ACC").try_cast("double"),
        lambda f, df: (f.col("ACC") + 1) * 2 - f.col("ACC") / 4,
    ]
    sdf = snowpark_session.create_dataframe([["id1", "m", 0.5, '{"stage": "prod"}']],
                                            schema=["ID", "NAME", "ACC", "TAGS"])
    mdf = DataFrame(duckdb.connect().sql(
        """SELECT 'id1' AS ID, 'm' AS NAME, 0.5::DOUBLE AS ACC, '{"stage": "prod"}'::JSON AS TAGS"""))
    for case in cases:
        assert mdf.select(case(F, mdf)).columns == sdf.select(case(S, sdf)).columns


def test_column_has_no_truth_value_and_a_readable_repr():
    with pytest.raises(TypeError, match="'&', '\\|' and '~'"):
        bool(F.col("A") == 1)
    with pytest.raises(TypeError, match="'&'"):
        (F.col("A") == 1) and (F.col("B") == 2)  # noqa: B015
    assert repr(F.parse_json(F.col("tags"))["stage"] == "prod") == "Column[(PARSE_JSON(\"TAGS\")['stage'] = 'prod')]"


# -- rows ---------------------------------------------------------------------------------------
def _outcome(make: Callable[[], Any]) -> Any:
    try:
        return ("ok", make())
    except Exception as exc:  # noqa: BLE001 - comparing with Snowpark: which exception type, not why
        return ("raises", type(exc).__name__)


ROW_CASES: list[Callable[[type], Any]] = [
    lambda R: repr(R(1, 2)),
    lambda R: repr(R(NAME="m", VERSION="1")),
    lambda R: R(NAME="m", VERSION="1")[0],
    lambda R: R(NAME="m", VERSION="1")[-1],
    lambda R: R(NAME="m", VERSION="1")["VERSION"],
    lambda R: R(NAME="m", VERSION="1").NAME,
    lambda R: R(NAME="m", VERSION="1")["name"],
    lambda R: R(NAME="m", VERSION="1").name,
    lambda R: R(NAME="m", VERSION="1")[5],
    lambda R: repr(R(NAME="m", VERSION="1")[0:1]),
    lambda R: len(R(NAME="m", VERSION="1")),
    lambda R: R(NAME="m", VERSION="1") == ("m", "1"),
    lambda R: R(1, 2) == R(a=1, b=2),
    lambda R: hash(R(a=1, b=2)) == hash((1, 2)),
    lambda R: "NAME" in R(NAME="m"),
    lambda R: "m" in R(NAME="m"),
    lambda R: 1 in R(1, 2),
    lambda R: R(NAME="m", X=R(Y=1)).as_dict(),
    lambda R: R(NAME="m", X=R(Y=1)).asDict(True),
    lambda R: R(NAME="m", X=[R(Y=1)]).as_dict(recursive=True),
    lambda R: R(1, 2).as_dict(),
    lambda R: setattr(R(NAME="m"), "NAME", "x"),
    lambda R: R(NAME="m").__setitem__(0, "x"),
    lambda R: repr(pickle.loads(pickle.dumps(R(NAME="m", VERSION="1")))),
    lambda R: list(R(NAME="m", VERSION="1")),
    lambda R: repr(R("NAME", "VERSION")("m", "1")),
    lambda R: R("NAME", "VERSION")("m", "1").VERSION,
    lambda R: R(1, a=2),
]


@pytest.mark.parametrize("case", range(len(ROW_CASES)))
def test_row_behaves_as_snowpark_row(case):
    from snowflake.snowpark import Row as SnowparkRow

    assert _outcome(lambda: ROW_CASES[case](Row)) == _outcome(lambda: ROW_CASES[case](SnowparkRow))


def test_row_with_duplicate_fields_reads_the_first():
    row = Row._make(("A", "A"), (1, 2))
    assert row["A"] == row.A == 1 and tuple(row) == (1, 2)
    with pytest.raises(TypeError, match="duplicated keys"):
        row.as_dict()


# -- show, against Snowpark's own -----------------------------------------------------------
SHOW_ROWS = [
    ("a", 1, 0.5, None, "line one\nline two"),
    ("a much longer value that goes past the fifty character limit of show", -2, 1e-7, True, ""),
    (None, None, None, False, "x"),
]


@pytest.fixture(scope="module")
def snowpark_session():
    from snowflake.snowpark import Session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # local testing warns that it is local testing
        session = Session.builder.config("local_testing", True).create()
    yield session
    session.close()


@pytest.mark.parametrize(("n", "max_width"), [(10, 50), (2, 50), (10, 12), (10, 5), (0, 50)])
def test_show_prints_what_snowpark_prints(snowpark_session, n, max_width):
    from snowflake.snowpark.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

    schema = StructType([StructField("S", StringType()), StructField("I", LongType()),
                         StructField("F", DoubleType()), StructField("B", BooleanType()),
                         StructField('"a long, quoted ""name"""', StringType())])
    sdf = snowpark_session.create_dataframe(SHOW_ROWS, schema=schema)
    con = duckdb.connect()
    con.execute('CREATE TABLE t (S VARCHAR, I BIGINT, F DOUBLE, B BOOLEAN, "a long, quoted ""name""" VARCHAR)')
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [list(r) for r in SHOW_ROWS])
    mdf = DataFrame(con.table("t"))
    assert mdf._show_string(n, max_width) == sdf._show_string(n, max_width, _emit_ast=False)
    assert mdf.columns == sdf.columns
    empty = sdf.filter(sdf["I"] > 100)._show_string(n, max_width, _emit_ast=False)
    assert mdf.filter(F.col("I") > 100)._show_string(n, max_width) == empty


def test_format_table_of_no_rows_keeps_the_header():
    assert format_table(["A"], []) == "-------\n|\"A\"  |\n-------\n|     |\n-------\n"


# -- DuckDB's forms keep working ---------------------------------------------------------------
def test_duckdb_forms_of_existing_code(lm, registry):
    assert lm.select("ID, NAME, VERSION").fetchall()[0] == ("a1b2", "my_model", "101")
    assert lm.select("NAME, VERSION, TAGS->>'stage' AS stage").fetchall() == [
        ("my_model", "101", "testing"), ("my_model", "102", "prod"), ("other", "1", None)]
    assert lm.select("NAME", "TAGS->>'stage' AS stage").columns == ["NAME", '"stage"']  # Snowpark's naming
    assert lm.select("TAGS::VARCHAR").fetchall()[1] == ('{"stage":"prod"}',)
    assert lm.select("ID, NAME, CREATION_TIME, TAGS").order("CREATION_TIME DESC").fetchall()[0][0] == "e5f6"
    assert lm.sort("CREATION_TIME DESC").fetchall()[0][0] == "e5f6"
    assert lm.filter("ID = 'c3d4'").select("URI, TAGS").fetchall() == [("local://c3d4", '{"stage":"prod"}')]
    assert lm.count("*").fetchall()[0][0] == 3
    assert registry.get_history().filter("ATTRIBUTE_NAME = 'TAG'").select("OPERATION, KEY").fetchall() == [
        ("SET", "stage")]
    assert lm.df()["ID"].tolist() == ["a1b2", "c3d4", "e5f6"]
    assert lm.fetchdf().shape == (3, len(LIST_COLUMNS))
    assert lm.to_arrow_table().num_rows == 3
    assert isinstance(lm.relation, duckdb.DuckDBPyRelation)
    assert lm.relation.filter("NAME = 'other'").fetchall()[0][0] == "e5f6"


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("use", "name"), [
    (lambda lm: lm.select("NMAE"), "NMAE"),
    (lambda lm: lm.select("ID", '"name"'), '"name"'),
    (lambda lm: lm.filter(F.col("nope") == 1), "nope"),
    (lambda lm: lm.sort("nope"), "nope"),
    (lambda lm: lm["TAG"], "TAG"),
    (lambda lm: lm.group_by("STAGE").count(), "STAGE"),
    (lambda lm: lm.agg(F.max("ACCURACY")), "ACCURACY"),
    (lambda lm: lm.drop("nope"), "nope"),
    (lambda lm: lm.with_column("X", F.col("nope")), "nope"),
    (lambda lm: lm.select(F.parse_json("TAG")["stage"]), "TAG"),
])
def test_unknown_column_names_it_and_lists_the_columns(lm, use, name):
    with pytest.raises(InvalidInput) as info:
        use(lm)
    assert str(info.value) == UNKNOWN.format(name)


def test_unknown_attribute_is_an_attribute_error_listing_the_columns(lm):
    with pytest.raises(AttributeError) as info:
        lm.NMAE  # noqa: B018
    assert str(info.value) == "DataFrame has no attribute or column 'NMAE'; the columns are: " + ", ".join(LIST_COLUMNS)
    assert not hasattr(lm, "nope") and hasattr(lm, "name")


@pytest.mark.parametrize(("use", "message"), [
    (lambda lm: lm.filter("NAME = = 1"), "invalid filter: Parser Error: syntax error at or near \"=\""),
    (lambda lm: lm.select("NAME +"), "invalid select: Parser Error: syntax error at or near"),
    (lambda lm: lm.order("nope DESC"), 'invalid order: Binder Error: Referenced column "nope" not found'),
    (lambda lm: lm.select(F.sum("TAGS")), "invalid select: Binder Error: No function matches"),
    (lambda lm: lm.limit(-1), "limit n must be a non-negative integer, not -1"),
    (lambda lm: lm.sort("ID", "NAME", ascending=[True]), "The length of col (2) should be same with the length of ascending (1)."),
    (lambda lm: lm.group_by("NAME").agg(("ID", "mode")), "unknown aggregate function 'mode': use one of"),
    (lambda lm: lm.select(F.col("ID").cast("uuid")), "cannot cast to 'uuid': use one of"),
    (lambda lm: lm.select(), "select() needs at least one column"),
    (lambda lm: lm.group_by("NAME").agg(), "agg() needs at least one aggregate"),
])
def test_bad_input_is_a_clear_invalid_input(lm, use, message):
    with pytest.raises(InvalidInput) as info:
        use(lm)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_wrong_types_are_type_errors(lm):
    for use in (lambda: lm.select(1.5), lambda: lm.filter(3), lambda: F.col("TAGS")[1.5],
                lambda: lm.group_by("NAME").agg(42), lambda: iter(lm), lambda: lm[1.5]):
        with pytest.raises(TypeError):
            use()
    with pytest.raises(IndexError):
        lm[len(LIST_COLUMNS)]
    assert lm.select(lm[0], lm[-1]).columns == ["ID", "OUTPUT_SPEC"]


# -- imports ----------------------------------------------------------------------------------
def test_functions_and_frames_need_no_pandas_pyarrow_or_numpy():
    code = """
import sys
import duckdb
import mlreg
from mlreg import functions
assert mlreg.functions is functions
from mlreg.frame import DataFrame
df = DataFrame(duckdb.connect().sql("SELECT 'm' AS NAME, '{\\"stage\\": \\"prod\\"}'::JSON AS TAGS"))
df.filter(functions.parse_json(df["TAGS"])["stage"] == "prod").select("NAME").show()
df.group_by("NAME").agg(functions.count("*")).collect()
print(df.count(), df.first().NAME)
print(sorted(m for m in ("pandas", "pyarrow", "numpy") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines()[-2:] == ["1 m", "[]"]


def test_functions_is_a_lazy_attribute_of_mlreg():
    assert "functions" in mlreg.__all__
    assert mlreg.functions is functions
    assert {"col", "lit", "parse_json", "count", "sum", "min", "max", "avg", "mean", "upper", "lower",
            "when"} <= set(functions.__all__)
