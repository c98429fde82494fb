"""Hermetic tests: every test gets its own home, stage and config under tmp_path."""

from __future__ import annotations

import pkgutil
import tempfile
from pathlib import Path

import pytest

import tests.fixtures as _fixtures

# every module in tests/fixtures/ is a plugin of shared fixtures
pytest_plugins = [
    f"tests.fixtures.{m.name}" for m in pkgutil.iter_modules(_fixtures.__path__) if not m.name.startswith("_")
]


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mlreg-home"
    monkeypatch.setenv("MLREG_HOME", str(home))
    monkeypatch.setenv("MLREG_STAGE", str(home / "stage"))
    monkeypatch.setenv("MLREG_CONFIG", str(tmp_path / "config.toml"))
    # a temp directory of the test's own, for this process and the ones it starts: no test
    # sees files another xdist worker creates in the shared system temp directory
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # per-machine state of PostgreSQL homes
    monkeypatch.setenv("MLREG_LOCK_TIMEOUT", "30")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    for var in ("MLREG_CONNECTION", "MLREG_DATABASE", "MLREG_ROLE", "GITHUB_ACTIONS", "GITLAB_CI", "PGPASSWORD",
                "PGPASSFILE", "PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE", "PGOPTIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def session(hermetic_env: Path):
    import mlreg

    return mlreg.connect()


@pytest.fixture
def registry(session):
    from mlreg import model_registry

    model_registry.create_model_registry(session)
    return model_registry.ModelRegistry(session)
