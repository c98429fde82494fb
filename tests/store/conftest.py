"""The backends the store contract runs against: each entry makes the URL of a new,
empty registry for one test (a second backend adds its entry here)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from mlreg.store import open_store

STORE_URLS: dict[str, Callable[[Path, pytest.FixtureRequest], str]] = {
    "duckdb": lambda tmp_path, request: str(tmp_path / "registry" / "MODEL_REGISTRY.duckdb"),
}


@pytest.fixture(params=sorted(STORE_URLS))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORE_URLS[request.param](tmp_path, request)


@pytest.fixture
def store(store_url: str):
    store = open_store(store_url)
    store.create_or_upgrade()
    return store
