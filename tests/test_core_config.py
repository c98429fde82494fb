"""Settings resolution (SPEC §4): flag > env > named connection > project file > defaults."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import mlreg
from mlreg import config
from mlreg.errors import InvalidInput, NotFound


def write_config(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    os.chmod(path, mode)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("MLREG_HOME", "MLREG_STAGE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_defaults_without_anything(clean_env):
    s = mlreg.connect()
    assert s.home == clean_env / ".mlreg"
    assert s.stage == str(clean_env / ".mlreg" / "stage")
    assert s.database == "MODEL_REGISTRY"
    assert s.role  # the OS user
    assert s.store_url() == str(clean_env / ".mlreg" / "MODEL_REGISTRY.duckdb")


def test_nearest_mlreg_directory_is_found(clean_env, monkeypatch):
    (clean_env / ".mlreg").mkdir()
    sub = clean_env / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert mlreg.connect().home == clean_env / ".mlreg"


def test_precedence_flag_env_connection_project(clean_env, monkeypatch):
    cfg = clean_env / "config.toml"
    write_config(
        cfg,
        'default_connection = "local"\n'
        '[connections.local]\nhome = "/from/connection"\nrole = "conn-role"\n'
        '[connections.ci]\nhome = "/from/ci"\nstage = "/ci/stage"\nrole = "ci"\n',
    )
    (clean_env / "mlreg.toml").write_text('home = "proj-home"\ndatabase = "PROJ"\nrole = "proj-role"\n')
    s = mlreg.connect()
    assert s.home == Path("/from/connection")  # connection beats project file
    assert s.database == "PROJ"  # project file fills what the connection leaves
    assert s.role == "conn-role"
    monkeypatch.setenv("MLREG_HOME", "/from/env")
    assert mlreg.connect().home == Path("/from/env")  # env beats connection
    assert mlreg.connect(home="/from/flag").home == Path("/from/flag")  # flag beats env
    monkeypatch.delenv("MLREG_HOME")
    ci = mlreg.Session.builder.configs(mlreg.login_options("ci")).create()
    assert (ci.home, ci.stage, ci.role) == (Path("/from/ci"), "/ci/stage", "ci")
    monkeypatch.setenv("MLREG_CONNECTION", "ci")
    assert mlreg.connect().role == "ci"


def test_project_file_paths_are_relative_to_it(clean_env, monkeypatch):
    (clean_env / "pyproject.toml").write_text('[tool.mlreg]\nhome = "models/.reg"\n')
    sub = clean_env / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert mlreg.connect().home == clean_env / "models" / ".reg"


def test_unknown_connection_lists_the_known_ones(clean_env):
    write_config(clean_env / "config.toml", '[connections.a]\nhome = "/a"\n[connections.b]\nhome = "/b"\n')
    with pytest.raises(NotFound, match=r"connection 'zzz' is not defined in .*; defined: a, b"):
        mlreg.login_options("zzz")


def test_bad_config_file_is_one_clear_error(clean_env):
    write_config(clean_env / "config.toml", "this is [not toml")
    with pytest.raises(InvalidInput, match="is not valid TOML"):
        mlreg.connect()
    write_config(clean_env / "config.toml", '[connections.a]\nhomee = "/a"\n')
    with pytest.raises(InvalidInput, match="unknown setting"):
        mlreg.login_options("a")


def test_secret_in_world_readable_config_warns(clean_env):
    cfg = clean_env / "config.toml"
    write_config(
        cfg,
        '[connections.s3]\nstage = "s3://b/p"\n[connections.s3.stage_options]\nsecret = "hunter2"\n',
        mode=0o644,
    )
    with pytest.warns(config.ConfigWarning, match="readable by others; run: chmod 600") as rec:
        s = mlreg.Session.builder.configs(mlreg.login_options("s3")).create()
    assert "hunter2" not in str(rec[0].message)
    assert "hunter2" not in repr(s)
    os.chmod(cfg, 0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlreg.login_options("s3")


def test_session_refuses_bad_database_name(clean_env):
    with pytest.raises(InvalidInput, match="invalid database name"):
        mlreg.connect(database="../x")
