"""Schema evolution: a registry written by every released schema opens with the current
code, `create` upgrades it keeping every model, tag, metric, deployment and event, and a
registry of a newer schema is refused with a message naming the version needed.

The fixtures under tests/data/schemas/ are written by tests/data/make_schema_fixtures.py
(once per released schema, then never touched).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from mlreg import MlregError, model_registry
from mlreg.store.duckdb import migrations
from tests.data.harness import assert_one_line_error, fingerprint, mlreg
from tests.data.make_schema_fixtures import migration_hashes, snapshot
from tests.jsoncompare import same as _same


def same(a, b) -> bool:
    return _same(a, b, strict_types=False)

SCHEMAS = Path(__file__).parent / "data" / "schemas"
FIXTURES = sorted(SCHEMAS.glob("schema-*"), key=lambda p: int(p.name.split("-")[1]))


# schema versions no mlreg release ever wrote: m003 (registry identity) and m004 (models and
# aliases) were released together, so a registry is at schema 2 or 4, never 3
UNRELEASED = {3}


def test_there_is_a_fixture_for_every_released_schema():
    released = [n for n in range(1, migrations.SCHEMA_VERSION + 1) if n not in UNRELEASED]
    assert [int(p.name.split("-")[1]) for p in FIXTURES] == released


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_released_migrations_are_never_edited(fixture):
    expected = json.loads((fixture / "expected.json").read_text())
    current = migration_hashes()
    assert list(current)[: len(expected["migrations"])] == list(expected["migrations"])
    assert {k: current[k] for k in expected["migrations"]} == expected["migrations"], (
        "a released migration was changed: add a new migration instead"
    )


def install(fixture: Path, home: Path) -> Path:
    """Put a fixture registry and its stage into the test's home."""
    home.mkdir(parents=True, exist_ok=True)
    db = home / "MODEL_REGISTRY.duckdb"
    with gzip.open(fixture / "MODEL_REGISTRY.duckdb.gz", "rb") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copytree(fixture / "stage", home / "stage")
    return db


def check_everything_kept(registry, expected: dict) -> None:
    now = json.loads(json.dumps(snapshot(registry), allow_nan=True))
    assert set(now["models"]) == set(expected["models"])
    for key, model in expected["models"].items():
        assert same(now["models"][key], model), key
    assert now["events"] == expected["events"]
    assert now["deployments"] == expected["deployments"]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_an_older_registry_opens_upgrades_and_keeps_everything(fixture, session, hermetic_env):
    expected = json.loads((fixture / "expected.json").read_text())
    db = install(fixture, hermetic_env)
    registry = model_registry.ModelRegistry(session)
    if expected["schema_version"] == migrations.SCHEMA_VERSION:
        check_everything_kept(registry, expected)  # current: opens as it is
    else:
        with pytest.raises(MlregError, match="older schema .* upgrade it with"):
            registry.list_models()

    with pytest.warns(model_registry.RegistryExistsWarning, match="already exists"):
        assert model_registry.create_model_registry(session) is False
    registry = model_registry.ModelRegistry(session)
    check_everything_kept(registry, expected)
    con = duckdb.connect(str(db), read_only=True)
    try:
        applied = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    finally:
        con.close()
    assert applied == [(i, name) for i, (name, _fn) in enumerate(migrations.MIGRATIONS, start=1)]

    # upgrading again changes nothing; the command line agrees
    before = fingerprint(hermetic_env)
    proc = mlreg("create")
    assert proc.returncode == 0 and "already exists" in proc.stderr
    assert fingerprint(hermetic_env) == before

    # the old packages still verify and load, and the registry takes new writes
    assert all(r.ok for r in registry.verify())
    assert registry.load_model("churn", "2").predict([[1.0, 2.0]])[0] == 3.0
    registry.set_tag("churn", "2", "after-upgrade", "yes")
    assert registry.get_tags("churn", "2")["after-upgrade"] == "yes"
    assert registry.get_tags("churn", "1") == expected["models"]["churn/1"]["tags"]


def _claim_newer_schema(db: Path) -> int:
    newer = migrations.SCHEMA_VERSION + 1
    con = duckdb.connect(str(db))
    try:
        con.execute("INSERT INTO schema_migrations (version, name, mlreg_version) VALUES (?, 'm999_future', '99.1.0')",
                    [newer])
    finally:
        con.close()
    return newer


def test_a_registry_of_a_newer_schema_is_refused(session, hermetic_env):
    db = install(FIXTURES[-1], hermetic_env)
    newer = _claim_newer_schema(db)
    registry = model_registry.ModelRegistry(session)
    message = (f"has schema version {newer}, written by mlreg 99.1.0; this mlreg .* supports up to schema "
               f"{migrations.SCHEMA_VERSION}: upgrade mlreg to 99.1.0 or later")
    with pytest.raises(MlregError, match=message):
        registry.list_models()
    before = fingerprint(hermetic_env)  # with the (empty) lock file that first attempt created
    for op in (registry.list_models, registry.get_history, lambda: registry.get_tags("churn", "2"),
               lambda: registry.set_tag("churn", "2", "k", "v"), registry.verify,
               lambda: model_registry.create_model_registry(session)):
        with pytest.raises(MlregError, match=message):
            op()
    for args in (["list"], ["create"], ["tag", "set", "churn", "2", "k", "v"]):
        proc = mlreg(*args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert_one_line_error(proc.stderr)
        assert "upgrade mlreg to 99.1.0 or later" in proc.stderr
    assert fingerprint(hermetic_env) == before


def test_a_duckdb_file_without_a_schema_is_not_taken_for_a_registry(session, hermetic_env):
    hermetic_env.mkdir(parents=True)
    duckdb.connect(str(hermetic_env / "MODEL_REGISTRY.duckdb")).close()
    proc = mlreg("list")
    assert proc.returncode == 6
    assert_one_line_error(proc.stderr)
    assert "not an mlreg registry" in proc.stderr


def test_m006_keeps_each_value_as_its_event_spelled_it(session, hermetic_env):
    """Schema 5 kept a value twice: its ``attributes`` row (the event's text) and the
    listing's object (which m002 built with json_group_object, free to spell a number
    another way). m006 keeps the listing alone, written from the events' texts."""
    db = install(SCHEMAS / "schema-5", hermetic_env)
    con = duckdb.connect(str(db))
    try:
        event_id = con.execute("SELECT event_id FROM attributes WHERE key = 'auc' ORDER BY event_id").fetchall()[0][0]
        con.execute("UPDATE attributes SET value = '0.810' WHERE event_id = ?", [event_id])
        con.execute("UPDATE events SET new_value = '0.810' WHERE event_id = ?", [event_id])
    finally:
        con.close()
    with pytest.warns(model_registry.RegistryExistsWarning, match="already exists"):
        model_registry.create_model_registry(session)
    registry = model_registry.ModelRegistry(session)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        metrics = con.execute("SELECT metrics::VARCHAR FROM listing WHERE name = 'churn' AND version = '1'").fetchall()
    finally:
        con.close()
    assert "attributes" not in tables and "listing" in tables
    assert metrics == [('{"auc":0.810}',)]
    assert registry.get_metrics("churn", "1") == {"auc": 0.81}
    registry.set_metric("churn", "1", "auc", 0.9)
    last = registry.get_model_history("churn", "1").select("OLD_VALUE, NEW_VALUE").fetchall()[-1]
    assert last == ("0.810", "0.9")
