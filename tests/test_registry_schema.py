"""Each schema of a database is a separate registry: create_model_registry / ModelRegistry
schema_name=, the --schema global option, MLREG_SCHEMA and the config key."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import mlreg
from mlreg.errors import NotFound
from mlreg.model_registry import ModelRegistry, create_model_registry
from tests.fixtures.models import SumModel

SAMPLE = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})


def log(registry, name="m", version="1"):
    return registry.log_model(model=SumModel(), model_name=name, model_version=version, sample_input_data=SAMPLE)


def test_a_schema_is_a_registry_of_its_own(session, hermetic_env):
    assert create_model_registry(session, database_name="DB") is True
    assert create_model_registry(session, database_name="DB", schema_name="STAGING") is True
    public = ModelRegistry(session, database_name="DB")
    staging = ModelRegistry(session, database_name="DB", schema_name="STAGING")
    assert (public.schema_name, staging.schema_name) == ("PUBLIC", "STAGING")
    assert staging.url == str(hermetic_env / "DB" / "STAGING.duckdb")
    assert public.url == str(hermetic_env / "DB.duckdb")
    model_id = log(staging)
    assert staging.list_models().count("*").fetchall()[0][0] == 1
    assert public.list_models().count("*").fetchall()[0][0] == 0
    assert not public.exists("m", "1")
    log(public)  # the same name and version in another schema: another model
    assert (hermetic_env / "stage" / "DB" / "STAGING" / model_id).is_dir()  # the stage folder keyed by the registry
    assert list(staging.load_model("m", "1").predict(SAMPLE)) == [4.0, 6.0]
    assert ModelRegistry(session, database_name="DB", schema_name="public").url == public.url  # PUBLIC: any case


def test_a_missing_schema_names_the_fix(session):
    create_model_registry(session, database_name="DB")
    with pytest.raises(NotFound, match=r"registry DB/OTHER does not exist .*schema_name='OTHER'"):
        ModelRegistry(session, database_name="DB", schema_name="OTHER")
    with pytest.raises(ValueError, match="invalid schema name"):
        ModelRegistry(session, database_name="DB", schema_name="a/b")


def test_the_session_carries_a_schema(hermetic_env):
    session = mlreg.connect(database="DB", schema="S1")
    assert (session.schema, session.registry_name()) == ("S1", "DB/S1")
    assert mlreg.connect().schema == "PUBLIC"
    built = mlreg.Session.builder.configs({"database": "DB", "schema": "S2"}).create()
    assert built.registry_name() == "DB/S2"


def test_cli_schema_option_environment_and_config_key(cli, model_file, sample_csv, hermetic_env, tmp_path,
                                                      monkeypatch):
    run = cli("--schema", "S1", "create")
    assert (run.exit_code, run.stderr) == (0, f"Created registry MODEL_REGISTRY/S1 at "
                                              f"{hermetic_env / 'MODEL_REGISTRY' / 'S1.duckdb'}\n")
    assert cli("create").exit_code == 0
    assert cli("--schema", "S1", "log", model_file, "--name", "m", "--version", "1",
               "--sample-input", sample_csv).exit_code == 0
    assert json.loads(cli("list", "--format", "json").stdout) == []
    assert [r["NAME"] for r in json.loads(cli("--schema", "S1", "list", "--format", "json").stdout)] == ["m"]
    assert [r["NAME"] for r in json.loads(cli("list", "--format", "json", env={"MLREG_SCHEMA": "S1"}).stdout)] == ["m"]
    (tmp_path / "config.toml").write_text('default_connection = "s"\n[connections.s]\nschema = "S1"\n')
    assert [r["NAME"] for r in json.loads(cli("list", "--format", "json").stdout)] == ["m"]
    run = cli("--schema", "NOPE", "list")
    assert run.exit_code == 3 and "registry MODEL_REGISTRY/NOPE does not exist" in run.stderr
