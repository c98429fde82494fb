"""The store's derived tables and its fast paths: the current description/tags/metrics
kept with each event equal what the events add up to, the listing keeps registration
order, a snapshot is a private copy that holds no lock and leaves nothing behind, and
the schema check that a Store skips for a file it has already checked still catches a
file changed by someone else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import duckdb
import numpy as np
import pytest

from mlreg import MlregError
from mlreg.store.duckdb import attributes, migrations
from mlreg.store.duckdb.file import RegistryFile
from tests.fixtures.cli import subprocess_env
from tests.fixtures.models import SumModel

SIGNATURES = {"predict": {"inputs": [{"name": "a", "type": "DOUBLE"}], "outputs": [{"name": "y", "type": "DOUBLE"}]}}


def _current_state(path) -> list:
    """The listing's rows, in order, as the text stored (byte for byte)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT id, description, tags::VARCHAR, metrics::VARCHAR FROM listing").fetchall()
    finally:
        con.close()


def _busy_history(registry) -> None:
    for v in "123":
        registry.log_model(SumModel(), "m", v, signatures=SIGNATURES, description=f"d{v}",
                           tags={"stage": "dev", "z": "last", "a": "first"}, metrics={"acc": 0.5})
    registry.set_tag("m", "1", "stage", "prod")
    registry.set_tag("m", "2", "new", "ü ✓")
    registry.remove_tag("m", "1", "z")
    registry.set_metric("m", "1", "cm", np.array([[1, 2], [3, 4]]))
    registry.set_metric("m", "1", "weird", {"nan": float("nan"), "inf": float("-inf"), "none": None})
    registry.remove_metric("m", "2", "acc")
    registry.set_model_description("m", "3", "changed")
    registry.delete_model("m", "2")
    registry.log_model(SumModel(), "m", "2", signatures=SIGNATURES, tags={"again": "yes"})
    registry.remove_tag("m", "2", "again")


def test_current_values_kept_per_event_equal_a_rebuild_from_the_events(registry):
    _busy_history(registry)
    incremental = _current_state(registry.store.path)
    with RegistryFile(registry.store.path).write() as con:
        attributes.rebuild(con)
    assert _current_state(registry.store.path) == incremental
    # and what the API returns is what the events say
    assert registry.get_tags("m", "1") == {"a": "first", "stage": "prod"}
    assert registry.get_tags("m", "2") == {}
    assert registry.get_metrics("m", "1")["cm"] == [[1, 2], [3, 4]]
    rows = registry.list_models().select("NAME, VERSION, DESCRIPTION, TAGS, METRICS").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("m", "1", "d1"), ("m", "3", "changed"), ("m", "2", None)]
    assert json.loads(rows[0][3]) == {"a": "first", "stage": "prod"}
    assert json.loads(rows[2][3]) == {} and json.loads(rows[2][4]) == {}


def test_listing_is_in_registration_order_whatever_the_updates(registry):
    for v in range(6):
        registry.log_model(SumModel(), "m", str(v), signatures=SIGNATURES)
    for v in (5, 0, 3):
        registry.set_tag("m", str(v), "touched", "yes")
        registry.set_model_description("m", str(v), "updated")
    registry.delete_model("m", "2")
    versions = [r[0] for r in registry.list_models().select("VERSION").fetchall()]
    assert versions == ["0", "1", "3", "4", "5"]
    times = [r[0] for r in registry.list_models().select("CREATION_TIME").fetchall()]
    assert times == sorted(times)


def test_snapshot_is_a_private_copy_holding_no_lock_and_leaving_nothing(registry):
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES, tags={"stage": "dev"})
    tmp = tempfile.gettempdir()
    before = {n for n in os.listdir(tmp) if n.startswith("mlreg-snapshot-")}
    listing = registry.list_models()
    history = registry.get_history()
    assert {n for n in os.listdir(tmp) if n.startswith("mlreg-snapshot-")} == before
    # another process writes while both relations are alive: no lock held
    script = ("import mlreg; from mlreg import model_registry as mr; "
              "mr.ModelRegistry(mlreg.connect()).set_tag('m', '1', 'stage', 'prod')")
    proc = subprocess.run([sys.executable, "-c", script], env=subprocess_env({"MLREG_LOCK_TIMEOUT": "5"}),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # the relations still answer, from the copy taken before that write
    assert json.loads(listing.select("TAGS").fetchall()[0][0]) == {"stage": "dev"}
    assert listing.filter("TAGS->>'stage' = 'dev'").count("*").fetchall()[0][0] == 1
    n_events = len(history.fetchall())
    assert len(registry.get_history().fetchall()) == n_events + 1
    assert registry.get_tags("m", "1") == {"stage": "prod"}


def test_a_store_that_checked_the_schema_still_sees_a_newer_one_written_later(registry):
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES)
    registry.set_tag("m", "1", "a", "1")  # the Store has checked this file now
    newer = migrations.SCHEMA_VERSION + 1
    con = duckdb.connect(str(registry.store.path))
    try:
        con.execute("INSERT INTO schema_migrations (version, name, mlreg_version) VALUES (?, 'm999', '99.0.0')",
                    [newer])
    finally:
        con.close()
    with pytest.raises(MlregError, match="upgrade mlreg to 99.0.0 or later"):
        registry.set_tag("m", "1", "a", "2")
    with pytest.raises(MlregError, match="upgrade mlreg to 99.0.0 or later"):
        registry.get_tags("m", "1")


def test_new_registries_use_small_blocks(registry):
    con = duckdb.connect(str(registry.store.path), read_only=True)
    try:
        block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
    finally:
        con.close()
    assert block_size == 16384


def test_the_cli_writes_json_cells_as_compact_json(cli, logged, session):
    from mlreg import model_registry

    registry = model_registry.ModelRegistry(session)
    registry.set_metric("m", "1", "cm", {"b": [1, 2.5], "a": float("nan")})
    out = cli("list", "--format", "jsonl", "--columns", "NAME, METRICS, CREATION_CONTEXT")
    assert out.exit_code == 0, out.stderr
    line = out.stdout.strip()
    assert ", " not in line and '": ' not in line  # compact, also CREATION_CONTEXT (stored with spaces)
    assert json.loads(line)["METRICS"]["cm"]["b"] == [1, 2.5]
    whole = cli("list", "--format", "json")
    assert json.loads(whole.stdout)[0]["NAME"] == "m"


@pytest.mark.parametrize("text, expected", [
    (None, {}),
    ("{}", {}),
    (' { } ', {}),
    ('{"a":1.50,"b":"x\\"y","c":{"d":[1, 2]},"é":NaN}', {"a": "1.50", "b": '"x\\"y"', "c": '{"d":[1, 2]}', "é": "NaN"}),
    ('{ "a" : -Infinity , "b\\u00e9" : null }', {"a": "-Infinity", "bé": "null"}),
])
def test_the_members_of_a_listing_object_are_the_texts_written(text, expected):
    assert attributes.members(text) == expected


@pytest.mark.parametrize("text", ["[1]", '{"a" 1}', '{"a":1 "b":2}', '{"a":}', '{1:2}', '{"a":1'])
def test_a_listing_object_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        attributes.members(text)
