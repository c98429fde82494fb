"""PostgreSQL homes in the settings, without a server: URL parsing and redaction, where the
password comes from, per-machine state, the registry naming rule shared by the backends."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlreg
from mlreg import config
from mlreg.errors import InvalidInput
from mlreg.store import store_url
from mlreg.store.location import parse_pg_url, redact, registry_file, registry_name

URL = "postgresql://alice:pw%40x@db.example.com:6543/ml?sslmode=require"


def test_urls_are_parsed_and_shown_without_the_password():
    loc = parse_pg_url(URL)
    assert (loc.user, loc.password, loc.host, loc.port, loc.dbname, loc.params) == (
        "alice", "pw@x", "db.example.com", 6543, "ml", (("sslmode", "require"),))
    assert loc.public_url() == "postgresql://alice@db.example.com:6543/ml?sslmode=require"
    assert "pw" not in repr(loc) and loc.address == "db.example.com:6543"
    assert parse_pg_url("postgres://h/db").public_url() == "postgresql://h:5432/db"
    assert redact(URL) == "postgresql://alice:***@db.example.com:6543/ml?sslmode=require"
    assert redact("postgresql://u@h/d?password=pw") == "postgresql://u@h/d?password=***"
    for bad in ("postgresql://h", "postgresql://h/", "postgresql://a,b/db", "postgresql://h/db?user=x"):
        with pytest.raises(InvalidInput) as err:
            parse_pg_url(bad)
        assert "pw" not in str(err.value)


def test_one_naming_rule_for_every_backend(tmp_path):
    assert registry_name("ML") == registry_name("ML", "PUBLIC") == registry_name("ML", "public") == "ML"
    assert registry_name("ML", "TEAM") == "ML/TEAM"
    assert registry_file(tmp_path, "ML") == tmp_path / "ML.duckdb"
    assert registry_file(tmp_path, "ML/TEAM") == tmp_path / "ML" / "TEAM.duckdb"
    assert store_url(URL, "ML", "TEAM") == "postgresql://alice@db.example.com:6543/ml?sslmode=require#ML/TEAM"
    assert store_url(tmp_path, "ML") == str(tmp_path / "ML.duckdb")
    with pytest.raises(InvalidInput):
        registry_name("ML", "a/b")


def test_a_url_home_keeps_its_password_apart_and_its_state_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("MLREG_HOME", URL)
    monkeypatch.delenv("MLREG_STAGE")
    settings = config.resolve()
    assert settings.home == "postgresql://alice@db.example.com:6543/ml?sslmode=require"
    assert settings.home_password == "pw@x" and settings.is_shared and settings.stage == ""
    assert settings.state_dir == tmp_path / "state" / "mlreg" / "postgresql" / "db.example.com-6543-ml"
    assert "pw@x" not in repr(settings) and "pw@x" not in str(settings.as_options())
    session = mlreg.Session.builder.configs(mlreg.login_options()).create()  # the round trip keeps the password
    assert session.settings.home_password == "pw@x" and session.state_dir == settings.state_dir
    with pytest.raises(InvalidInput, match="no stage is set"):
        _ = session.stage
    assert "pw" not in repr(session)


def test_where_the_password_comes_from(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[connections.team]\nhome = "postgresql://alice@db/ml"\npassword = "from-config"\n'
                   'stage = "s3://b/p"\n')
    cfg.chmod(0o600)
    monkeypatch.delenv("MLREG_HOME")
    assert config.resolve(connection="team").home_password == "from-config"
    # the URL's own password wins; a URL without one falls back to the config's
    assert config.resolve({"home": "postgresql://alice:url@db/ml"}, connection="team").home_password == "url"
    assert config.resolve({"home": "postgresql://bob@db/ml"}).home_password is None  # libpq: PGPASSWORD, ~/.pgpass
    monkeypatch.setenv("MLREG_HOME", "postgresql://alice:env@db/ml")
    assert config.resolve({"home": "postgresql://alice@db/ml"}).home_password == "env"  # same server and user
    assert config.resolve({"home": "postgresql://carol@db/ml"}).home_password is None  # another user: not hers


def test_other_url_homes_are_refused(monkeypatch):
    monkeypatch.setenv("MLREG_HOME", "s3://bucket/registry")
    with pytest.raises(InvalidInput, match="neither a directory nor a postgresql"):
        config.resolve()


def test_a_directory_home_is_unchanged(tmp_path, monkeypatch):
    settings = config.resolve()
    assert isinstance(settings.home, Path) and settings.state_dir == settings.home
    assert settings.stage == str(settings.home / "stage") and settings.home_password is None
