"""The backends the store contract runs against: each entry makes the URL of a new,
empty registry for one test (a second backend adds its entry here)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from mlreg.store import open_store

def _postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The registry MODEL_REGISTRY in a new database of the session's PostgreSQL server."""
    server = request.getfixturevalue("pg_server")
    return server.url(server.new_database()) + "#MODEL_REGISTRY"


STORE_URLS: dict[str, Callable[[Path, pytest.FixtureRequest], str]] = {
    "duckdb": lambda tmp_path, request: str(tmp_path / "registry" / "MODEL_REGISTRY.duckdb"),
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(STORE_URLS))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORE_URLS[request.param](tmp_path, request)


@pytest.fixture
def store(store_url: str):
    store = open_store(store_url)
    store.create_or_upgrade()
    return store
