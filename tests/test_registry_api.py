"""``from mlreg.registry import Registry``: snowflake-ml-python's public registry API, with
its names, return types and error texts, on a local registry shared with the seed's API."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlreg.model_registry import ModelRegistry, create_model_registry
from mlreg.registry import Model, ModelVersion, Registry
from mlreg.registry.api import Task
from tests.fixtures.models import SumModel

X = pd.DataFrame({"A": [1.0, 2.0], "B": [3.0, 4.0]})


@pytest.fixture
def reg(session):
    create_model_registry(session, database_name="ML")
    return Registry(session, database_name="ml")


def log(reg, name="my_model", version="v1", **kw):
    kw.setdefault("sample_input_data", X)
    return reg.log_model(SumModel(), model_name=name, version_name=version, **kw)


def test_location_and_missing_database_or_schema(session, reg):
    assert reg.location == "ML.PUBLIC"
    with pytest.raises(ValueError, match=r"^Database NOPE does not exist\.$"):
        Registry(session, database_name="nope")
    with pytest.raises(ValueError, match=r"^Schema OTHER does not exist\.$"):
        Registry(session, database_name="ML", schema_name="other")
    create_model_registry(session, database_name="ML", schema_name="OTHER")
    assert Registry(session, database_name="ML", schema_name="other").location == "ML.OTHER"


def test_log_model_names_are_sql_identifiers(reg):
    mv = log(reg, comment="first", metrics={"acc": 0.5})
    assert isinstance(mv, ModelVersion)
    assert (mv.model_name, mv.version_name, mv.fully_qualified_model_name) == ("MY_MODEL", "V1", "ML.PUBLIC.MY_MODEL")
    assert mv.comment == mv.description == "first"
    quoted = log(reg, name='"Mixed"', version='"v1"')
    assert (quoted.model_name, quoted.version_name) == ('"Mixed"', '"v1"')
    assert reg.get_model("ML.PUBLIC.my_model") == reg.get_model("MY_MODEL")
    assert [m.name for m in reg.models()] == ["MY_MODEL", '"Mixed"']
    with pytest.raises(ValueError, match=r"^Model my_model version V1 already existed\. To auto-generate "
                                         r"`version_name`, skip that argument\.$"):
        log(reg, version="V1")
    generated = log(reg, version=None)
    assert generated.version_name.count("_") == 2 and generated.version_name.split("_")[2].isdigit()
    with pytest.raises(ValueError, match=r"^Unable to find model NOPE$"):
        reg.get_model("NOPE")
    with pytest.raises(ValueError, match="enable_explainability is not available here"):
        log(reg, version="v9", options={"enable_explainability": True})
    assert log(reg, version="v8", options={"enable_explainability": False, "relax_version": True}).version_name == "V8"


def test_model_versions_default_first_last_and_aliases(reg):
    for v in ("v1", "v2", "v3"):
        log(reg, version=v)
    m = reg.get_model("my_model")
    assert isinstance(m, Model) and m.fully_qualified_name == "ML.PUBLIC.MY_MODEL"
    assert [v.version_name for v in m.versions()] == ["V1", "V2", "V3"]
    assert (m.default.version_name, m.first().version_name, m.last().version_name) == ("V1", "V1", "V3")
    m.default = "v2"
    assert m.default.version_name == "V2"
    m.default = m.version("V3")
    assert m.version("default").version_name == "V3"
    m.version("v1").set_alias("prod")
    assert m.version("PROD").version_name == "V1"
    m.version("v2").set_alias("PROD")  # moves
    assert m.version("prod").version_name == "V2"
    assert m.version("LAST").version_name == "V3" and m.version("first").version_name == "V1"
    frame = m.show_versions()
    assert list(frame["name"]) == ["V1", "V2", "V3"]
    assert list(frame["is_default_version"]) == [False, False, True]
    assert json.loads(frame["aliases"][1]) == ["PROD"]
    assert {"created_on", "name", "aliases", "comment", "model_name", "is_default_version"} <= set(frame.columns)
    m.version("v2").unset_alias("prod")
    with pytest.raises(ValueError, match=r"^Unable to find version or alias with name PROD in model ML\.PUBLIC\.MY_MODEL$"):
        m.version("prod")
    with pytest.raises(ValueError, match="You cannot set version V9 as default version as it does not exist."):
        m.default = "V9"
    m.delete_version("v1")
    assert [v.version_name for v in m.versions()] == ["V2", "V3"]
    models = reg.show_models()
    assert {"created_on", "name", "comment", "database_name", "schema_name", "default_version_name", "versions",
            "aliases"} <= set(models.columns)
    assert models.loc[0, "default_version_name"] == "V3" and json.loads(models.loc[0, "versions"]) == ["V2", "V3"]


def test_model_description_tags_and_rename(reg):
    log(reg)
    m = reg.get_model("my_model")
    m.comment = "a model"
    assert m.description == "a model"
    m.set_tag("stage", "prod")
    assert m.get_tag("STAGE") == m.get_tag('"STAGE"') == m.get_tag("ML.PUBLIC.STAGE") == "prod"
    assert m.show_tags() == {"ML.PUBLIC.STAGE": "prod"}
    assert m.get_tag("other") is None
    m.unset_tag("ml.public.stage")
    assert m.show_tags() == {}
    m.rename("ML.PUBLIC.renamed")
    assert m.name == "RENAMED" and reg.get_model("renamed").version("v1").version_name == "V1"
    with pytest.raises(ValueError, match="Unable to find model MY_MODEL"):
        reg.get_model("MY_MODEL")
    reg.delete_model("renamed")
    assert reg.models() == []


def test_metrics_functions_run_load_task_and_export(reg, tmp_path):
    mv = log(reg, metrics={"acc": 0.5})
    assert mv.show_metrics() == {"acc": 0.5} and mv.get_metric("acc") == 0.5
    mv.set_metric("f1", {"a": 1})
    mv.delete_metric("acc")
    assert mv.show_metrics() == {"f1": {"a": 1}}
    with pytest.raises(KeyError, match="Cannot find metric with name acc."):
        mv.get_metric("acc")
    [fn] = mv.show_functions()
    assert (fn["name"], fn["target_method"], fn["is_partitioned"]) == ("PREDICT", "predict", False)
    out = mv.run(X.set_axis([5, 7]), function_name="Predict")
    assert list(out.index) == [0, 1] and list(out.iloc[:, 0]) == [4.0, 6.0]
    assert list(mv.run(np.array([[1.0, 1.0]])).iloc[:, 0]) == [2.0]
    with pytest.raises(ValueError, match="There is no method with name nope available in the model"):
        mv.run(X, function_name="nope")
    assert isinstance(mv.load(), SumModel) and mv.get_model_task() is Task.UNKNOWN
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="is a file or an non-empty folder"):
        mv.export(tmp_path / "full")
    mv.export(tmp_path / "out")
    assert any((tmp_path / "out").iterdir())


def test_a_model_version_is_copied_with_only_name_and_version(reg):
    mv = log(reg)
    with pytest.raises(ValueError, match="only model_name and version_name may be specified"):
        reg.log_model(mv, model_name="copy", comment="x")
    copied = reg.log_model(mv, model_name="copy", version_name="c1")
    assert (copied.model_name, copied.version_name) == ("COPY", "C1")
    assert list(copied.run(X).iloc[:, 0]) == [4.0, 6.0]


def test_both_apis_on_one_registry(session, reg):
    seed = ModelRegistry(session, database_name="ML")
    seed.log_model(SumModel(), model_name="seed_model", model_version="1", sample_input_data=X, tags={"t": "v"})
    m = reg.get_model("seed_model")  # unquoted: found ignoring case, shown quoted
    assert m.name == '"seed_model"' and m.version("1").version_name == '"1"'
    assert list(m.version("1").run(X).iloc[:, 0]) == [4.0, 6.0]
    mv = log(reg)
    mv.set_alias("prod")
    assert seed.get_model("MY_MODEL", "PROD").version == "V1"  # an alias works in the seed's API too
    assert list(seed.load_model("MY_MODEL", "V1").predict(X)) == [4.0, 6.0]
    assert seed.get_tags("seed_model", "1") == {"t": "v"}  # version-level tags stay
    m.set_tag("team", "ml")
    assert seed.models.tags("seed_model") == {"ML.PUBLIC.TEAM": "ml"}


def test_on_a_postgresql_registry_with_a_schema(pg_url, hermetic_env):
    import mlreg

    session = mlreg.connect(home=pg_url, stage=str(hermetic_env / "stage"))
    create_model_registry(session, database_name="ML")
    create_model_registry(session, database_name="ML", schema_name="DEV")
    reg = Registry(session, database_name="ML", schema_name="dev")
    assert reg.location == "ML.DEV"
    for v in ("v1", "v2"):
        log(reg, version=v)
    m = reg.get_model("my_model")
    m.version("v2").set_alias("prod")
    m.default = "v2"
    m.set_tag("team", "ml")
    m.rename("churn")
    m = reg.get_model("churn")
    assert (m.version("prod").version_name, m.default.version_name, m.show_tags()) == ("V2", "V2",
                                                                                        {"ML.DEV.TEAM": "ml"})
    assert list(m.version("prod").run(X).iloc[:, 0]) == [4.0, 6.0]
    assert Registry(session, database_name="ML").models() == []  # PUBLIC is another registry
    history = ModelRegistry(session, database_name="ML", schema_name="DEV").get_history()
    kinds = [r[0] for r in history.filter("ATTRIBUTE_NAME IN ('ALIAS', 'DEFAULT_VERSION', 'MODEL_TAG', 'MODEL_NAME')")
             .select("ATTRIBUTE_NAME").collect()]
    assert kinds == ["ALIAS", "DEFAULT_VERSION", "MODEL_TAG", "MODEL_NAME"]
