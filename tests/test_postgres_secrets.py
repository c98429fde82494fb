"""The password of a PostgreSQL home: taken from the URL, a connection's ``password`` key
(config file), PGPASSWORD or ~/.pgpass, and never shown: not in any output, error,
--verbose traceback, history row, deployment record, the registry's tables or store URLs.
The role used here must authenticate with scram-sha-256 (see tests/fixtures/postgres.py)."""

from __future__ import annotations

import uuid

import pytest

from tests.data.harness import assert_one_line_error, mlreg, mlreg_json

SECRET = "s3cr3t-Pw-" + uuid.uuid4().hex[:8]


@pytest.fixture
def alice(pg_server, tmp_path, monkeypatch):
    """A role with a password that owns a new database; returns (URL without password, dbname)."""
    dbname = pg_server.new_database()
    role = "alice_" + uuid.uuid4().hex[:8]
    pg_server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
    pg_server.sql(f'ALTER DATABASE "{dbname}" OWNER TO {role}')
    monkeypatch.setenv("MLREG_STAGE", str(tmp_path / "shared-stage"))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))  # libpq's ~/.pgpass
    (tmp_path / "user-home").mkdir()
    for var in ("PGPASSWORD", "PGPASSFILE", "PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    return f"postgresql://{role}@127.0.0.1:{pg_server.port}/{dbname}", role


def _works(*extra_args: str) -> None:
    run = mlreg(*extra_args, "create", check=0)
    assert SECRET not in run.stdout + run.stderr
    assert mlreg_json(*extra_args, "list") == []


def test_password_in_the_url(alice, monkeypatch):
    url, role = alice
    with_password = url.replace(f"{role}@", f"{role}:{SECRET}@")
    monkeypatch.setenv("MLREG_HOME", with_password)
    _works()
    monkeypatch.delenv("MLREG_HOME")
    _works("--home", with_password)


def test_password_from_the_config_file(alice, monkeypatch, tmp_path):
    url, _ = alice
    config = tmp_path / "config.toml"
    config.write_text(f'[connections.team]\nhome = "{url}"\npassword = "{SECRET}"\n')
    config.chmod(0o600)
    monkeypatch.setenv("MLREG_CONNECTION", "team")
    monkeypatch.delenv("MLREG_HOME")
    _works()
    config.chmod(0o644)
    run = mlreg("list")
    assert run.returncode == 0 and "readable by others" in run.stderr and SECRET not in run.stderr


def test_password_from_pgpassword_and_pgpass(alice, monkeypatch, tmp_path):
    url, role = alice
    monkeypatch.setenv("MLREG_HOME", url)
    assert mlreg("list").returncode != 0  # no password anywhere: refused by the server
    monkeypatch.setenv("PGPASSWORD", SECRET)
    _works()
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "user-home" / ".pgpass"
    pgpass.write_text(f"127.0.0.1:*:*:{role}:{SECRET}\n")
    pgpass.chmod(0o600)
    _works()


def test_a_wrong_password_is_one_line_without_any_password(alice, monkeypatch):
    url, role = alice
    monkeypatch.setenv("MLREG_HOME", url.replace(f"{role}@", f"{role}:{SECRET}x@"))
    for args in (["list"], ["-v", "list"], ["create"]):
        run = mlreg(*args)
        assert run.returncode == 1, run
        assert SECRET not in run.stdout + run.stderr
        assert "refused the login" in run.stderr and "127.0.0.1" in run.stderr
        if "-v" not in args:
            assert_one_line_error(run.stderr)


def test_the_password_appears_nowhere(alice, monkeypatch, pg_server, model_file, sample_csv, tmp_path):
    import mlreg as api
    from mlreg import model_registry

    url, role = alice
    with_password = url.replace(f"{role}@", f"{role}:{SECRET}@")
    monkeypatch.setenv("MLREG_HOME", with_password)
    outputs = [mlreg("create", check=0)]
    outputs.append(mlreg("log", str(model_file), "-n", "m", "-V", "1", "--sample-input", str(sample_csv),
                         "-t", "k=v", check=0))
    outputs.append(mlreg("deploy", "create", "m", "1", "dep", check=0))
    for args in (["list"], ["history"], ["deploy", "list"], ["show", "m", "1"], ["verify"], ["gc", "--dry-run"]):
        outputs.append(mlreg(*args, "--format", "json", check=0))
    outputs.append(mlreg("-v", "show", "m", "404"))  # an error with its traceback
    for run in outputs:
        assert SECRET not in run.stdout + run.stderr, run
    session = api.connect()
    registry = model_registry.ModelRegistry(session)
    shown = [repr(session), str(session.home), session.store_url(), registry.url, repr(registry), repr(registry.store),
             repr(session.settings), str(api.login_options())]
    assert all(SECRET not in text for text in shown), shown
    assert registry.url == f"{url}#MODEL_REGISTRY"
    dump = pg_server.sql(
        "SELECT string_agg(t::text, ' ') FROM (SELECT row_to_json(x)::text AS t FROM (SELECT * FROM "
        '"MODEL_REGISTRY".models) x UNION ALL SELECT row_to_json(e)::text FROM "MODEL_REGISTRY".events e '
        'UNION ALL SELECT row_to_json(d)::text FROM "MODEL_REGISTRY".deployments d UNION ALL SELECT '
        'row_to_json(l)::text FROM "MODEL_REGISTRY".listing l UNION ALL SELECT row_to_json(i)::text FROM '
        '"MODEL_REGISTRY".inflight i) s', url.rsplit("/", 1)[1])[0][0]
    assert "dep" in dump and SECRET not in dump
    stage_bytes = b"".join(p.read_bytes() for p in (tmp_path / "shared-stage").rglob("*") if p.is_file())
    assert SECRET.encode() not in stage_bytes


def test_a_project_file_may_not_hold_a_password(alice, monkeypatch, tmp_path):
    url, role = alice
    monkeypatch.delenv("MLREG_HOME")
    (tmp_path / "mlreg.toml").write_text(f'home = "{url}"\npassword = "{SECRET}"\n')
    run = mlreg("list")
    assert run.returncode == 1 and "does not belong in a project file" in run.stderr and SECRET not in run.stderr
    (tmp_path / "mlreg.toml").write_text(f'home = "{url.replace(role + "@", role + ":" + SECRET + "@")}"\n')
    run = mlreg("list")
    assert run.returncode == 1 and "does not belong in a project file" in run.stderr and SECRET not in run.stderr
