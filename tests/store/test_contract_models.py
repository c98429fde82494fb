"""The store contract for models: model-level attributes (description, tags, default
version, aliases), renames, and what deleting a version does to them; run unchanged
against every backend (see tests/store/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from mlreg.errors import AlreadyExists, NotFound
from mlreg.records import ALIAS, DEFAULT_VERSION, DELETION, MODEL_DESCRIPTION, MODEL_NAME, MODEL_TAG, TAG
from tests.fixtures.cli import subprocess_env
from tests.store.test_contract import T0, deployment, events, register, version


def model_events(store) -> list[tuple]:
    return [(e["OPERATION"], e["ATTRIBUTE_NAME"], e["KEY"], e["MODEL_NAME"], e["MODEL_VERSION"], e["OLD_VALUE"],
             e["NEW_VALUE"]) for e in events(store)
            if e["ATTRIBUTE_NAME"] in (ALIAS, DEFAULT_VERSION, MODEL_DESCRIPTION, MODEL_TAG, MODEL_NAME)]


def test_models_are_listed_in_first_registration_order_with_their_versions(store):
    register(store, version("b", "1", at=T0))
    register(store, version("a", "x", at=T0 + timedelta(seconds=1)))
    register(store, version("b", "0", at=T0 + timedelta(seconds=2)))
    with store.read() as r:
        models = r.models()
        assert [(m.name, m.versions, m.created_time, m.attributes) for m in models] == [
            ("b", ("1", "0"), T0, {}), ("a", ("x",), T0 + timedelta(seconds=1), {})]
        assert r.model("a") == models[1] and r.models("a") == [models[1]]
        assert r.model("nope") is None and r.models("nope") == []


def test_model_attributes_are_set_replaced_and_removed_with_their_events(store):
    v1, v2 = version("m", "1"), version("m", "2")
    register(store, v1)
    register(store, v2)
    with store.write("bob", T0) as w:
        w.set_model_attribute("m", MODEL_DESCRIPTION, "", '"first"')
        w.set_model_attribute("m", MODEL_TAG, "team", '"ml"')
        w.set_model_attribute("m", ALIAS, "PROD", '"1"', w.version("m", "1"))
    with store.write("carol", T0) as w:
        w.set_model_attribute("m", MODEL_DESCRIPTION, "", '"second"')
        w.set_model_attribute("m", ALIAS, "PROD", '"2"', w.version("m", "2"))  # the alias moves
        w.set_model_attribute("m", DEFAULT_VERSION, "", '"2"', w.version("m", "2"))
        assert w.remove_model_attribute("m", MODEL_TAG, "team") is True
        assert w.remove_model_attribute("m", MODEL_TAG, "team") is False  # nothing written
        assert w.remove_model_attribute("other", ALIAS, "PROD") is False
    with store.read() as r:
        assert r.model("m").attributes == {MODEL_DESCRIPTION: {"": '"second"'}, ALIAS: {"PROD": '"2"'},
                                           DEFAULT_VERSION: {"": '"2"'}}
        assert r.attributes(v1.id, TAG) == {}  # version-level attributes are apart
    assert model_events(store) == [
        ("SET", MODEL_DESCRIPTION, "", "m", None, None, '"first"'),
        ("SET", MODEL_TAG, "team", "m", None, None, '"ml"'),
        ("SET", ALIAS, "PROD", "m", "1", None, '"1"'),
        ("SET", MODEL_DESCRIPTION, "", "m", None, '"first"', '"second"'),
        ("SET", ALIAS, "PROD", "m", "2", '"1"', '"2"'),
        ("SET", DEFAULT_VERSION, "", "m", "2", None, '"2"'),
        ("DROP", MODEL_TAG, "team", "m", None, '"ml"', None),
    ]
    alias_events = [e for e in events(store, v2.id) if e["ATTRIBUTE_NAME"] == ALIAS]
    assert [(e["ROLE"], e["MODEL_ID"]) for e in alias_events] == [("carol", v2.id)]  # in the version's history


def test_a_failed_unit_of_work_sets_no_model_attribute(store):
    register(store, version())
    with pytest.raises(RuntimeError):
        with store.write("bob", T0) as w:
            w.set_model_attribute("m", ALIAS, "PROD", '"1"', w.version("m", "1"))
            raise RuntimeError("boom")
    with store.read() as r:
        assert r.model("m").attributes == {}
    assert model_events(store) == []


def test_a_rename_moves_versions_deployments_and_attributes_and_keeps_the_history(store):
    v1, v2, other = version("m", "1"), version("m", "2"), version("o", "1")
    for v in (v1, v2, other):
        register(store, v)
    with store.write("bob", T0) as w:
        w.add_deployment(deployment(v1, "d1"), [])
        w.set_model_attribute("m", ALIAS, "PROD", '"1"', w.version("m", "1"))
        w.set_model_attribute("m", MODEL_TAG, "team", '"ml"')
    with store.write("bob", T0) as w:
        with pytest.raises(AlreadyExists, match="Model o already exists"):
            w.rename_model("m", "o")
        with pytest.raises(NotFound):
            w.rename_model("nope", "new")
        w.rename_model("m", "n")
    with store.read() as r:
        assert r.version("m", "1") is None and r.version("n", "1").id == v1.id and r.version("n", "2").id == v2.id
        assert r.model("m") is None
        assert r.model("n").versions == ("1", "2")
        assert r.model("n").attributes == {ALIAS: {"PROD": '"1"'}, MODEL_TAG: {"team": '"ml"'}}
        assert [(d.name, d.model_name) for d in r.deployments()] == [("d1", "n")]
        assert r.listing_row(v1.id)["NAME"] == "n"
    assert model_events(store)[-1] == ("SET", MODEL_NAME, None, "m", None, '"m"', '"n"')
    assert [e["MODEL_NAME"] for e in events(store, v1.id)][0] == "m"  # events keep the name they were written with
    rel = store.list_versions()
    assert sorted(rel.project("NAME").fetchall()) == [("n",), ("n",), ("o",)]
    register(store, version("m", "1", model_id="again"))  # the old name is free again


def test_deleting_a_version_drops_the_aliases_and_default_naming_it(store):
    v1, v2 = version("m", "1"), version("m", "2")
    register(store, v1)
    register(store, v2)
    with store.write("bob", T0) as w:
        w.set_model_attribute("m", ALIAS, "PROD", '"1"', w.version("m", "1"))
        w.set_model_attribute("m", ALIAS, "NEXT", '"2"', w.version("m", "2"))
        w.set_model_attribute("m", DEFAULT_VERSION, "", '"1"', w.version("m", "1"))
        w.set_model_attribute("m", MODEL_TAG, "team", '"ml"')
    with store.write("carol", T0) as w:
        w.delete_version(w.version("m", "1"), delete_artifact=True)
    with store.read() as r:
        assert r.model("m").attributes == {ALIAS: {"NEXT": '"2"'}, MODEL_TAG: {"team": '"ml"'}}
    tail = [(e["OPERATION"], e["ATTRIBUTE_NAME"], e["KEY"], e["MODEL_ID"]) for e in events(store)][-3:]
    assert tail == [("DROP", ALIAS, "PROD", v1.id), ("DROP", DEFAULT_VERSION, "", v1.id),
                    ("DROP", DELETION, None, v1.id)]
    with store.write("carol", T0) as w:  # the last version: the model's attributes go too
        w.delete_version(w.version("m", "2"), delete_artifact=True)
    with store.read() as r:
        assert r.model("m") is None and r.models() == []
    assert model_events(store)[-2:] == [("DROP", ALIAS, "NEXT", "m", "2", '"2"', None),
                                        ("DROP", MODEL_TAG, "team", "m", None, '"ml"', None)]
    register(store, version("m", "3"))  # a new model of that name starts with nothing
    with store.read() as r:
        assert r.model("m").attributes == {}


ALIAS_WRITER = """
import sys
from datetime import datetime, timezone
from mlreg.records import ALIAS
from mlreg.store import open_store
store = open_store(sys.argv[1])
for i in range(int(sys.argv[3])):
    with store.write(sys.argv[2], datetime.now(timezone.utc)) as w:
        version = "1" if i % 2 else "2"
        w.set_model_attribute("m", ALIAS, "PROD", '"%s"' % version, w.version("m", version))
"""


def test_concurrent_alias_moves_in_processes_keep_one_version_and_the_chain(store, store_url):
    register(store, version("m", "1"))
    register(store, version("m", "2"))
    procs = [subprocess.Popen([sys.executable, "-c", ALIAS_WRITER, store_url, f"w{n}", "8"], env=subprocess_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    chain = [e for e in events(store) if e["ATTRIBUTE_NAME"] == ALIAS]
    assert len(chain) == 24 and chain[0]["OLD_VALUE"] is None
    for before, after in zip(chain, chain[1:]):
        assert after["OLD_VALUE"] == before["NEW_VALUE"]
    with store.read() as r:
        assert r.model("m").attributes == {ALIAS: {"PROD": chain[-1]["NEW_VALUE"]}}
    assert json.loads(chain[-1]["NEW_VALUE"]) in ("1", "2")
