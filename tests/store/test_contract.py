"""The metadata-store contract: every operation of ``mlreg.store.base``, run unchanged
against every backend (``STORE_URLS`` in tests/store/conftest.py names them).

A store is reached only through ``open_store(url)`` and the records of ``mlreg.records``,
as the registry reaches it; concurrency and in-flight markers are exercised from real
processes, each opening the store by URL as another machine would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists
from mlreg.records import (
    ALIAS, DEFAULT_VERSION, DELETION, DEPLOYMENT, DEPLOYMENT_OPTION, DESCRIPTION, DROP, METRIC, MODEL_TAG,
    REGISTRATION, SET, TAG, Change, Deployment, NewVersion,
)
from mlreg.store import VersionFilter, open_store
from mlreg.store.base import HISTORY_COLUMNS, VERSION_COLUMNS
from tests.fixtures.cli import subprocess_env

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def version(name: str = "m", ver: str = "1", model_id: str | None = None, at: datetime = T0) -> NewVersion:
    mid = model_id or f"{name}-{ver}-id".replace(".", "")
    sig = {"predict": {"inputs": [{"name": "a", "type": "DOUBLE"}], "outputs": [{"name": "y", "type": "DOUBLE"}]}}
    return NewVersion(
        id=mid, name=name, version=ver, type="custom", uri=f"/stage/{mid}", creation_time=at, creation_role="alice",
        creation_context={"user": "alice"}, environment={"python": "3.11"},
        input_spec={"predict": sig["predict"]["inputs"]}, output_spec={"predict": sig["predict"]["outputs"]},
        manifest={"target_methods": ["predict"], "signatures": sig, "nan": float("nan")},
        files={"MANIFEST.json": "0" * 64},
    )


def registration(v: NewVersion, description: str | None = None, tags: dict | None = None,
                 metrics: dict | None = None) -> list[Change]:
    changes = [Change(SET, REGISTRATION, None, None, json.dumps({"type": v.type, "uri": v.uri}))]
    if description is not None:
        changes.append(Change(SET, DESCRIPTION, "", None, json.dumps(description)))
    changes += [Change(SET, TAG, k, None, json.dumps(x)) for k, x in (tags or {}).items()]
    changes += [Change(SET, METRIC, k, None, json.dumps(x)) for k, x in (metrics or {}).items()]
    return changes


def register(store, v: NewVersion, role: str = "alice", at: datetime = T0, **attrs) -> None:
    with store.write(role, at) as w:
        w.register(v, registration(v, **attrs))


def events(store, model_id: str | None = None) -> list[dict]:
    rel = store.history(model_id)
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def deployment(v: NewVersion, name: str = "d1", platform: TargetPlatform = TargetPlatform.WAREHOUSE) -> Deployment:
    return Deployment(name=name, model_id=v.id, model_name=v.name, model_version=v.version, platform=platform,
                      target_method="predict", signature={"inputs": [], "outputs": []}, options={"keep_order": True},
                      details={"function": name}, created_time=T0, role="alice")


# -- creation -------------------------------------------------------------------------------------
def test_create_is_idempotent_and_reports_the_schema(store_url):
    store = open_store(store_url)
    assert not store.exists()
    created, applied = store.create_or_upgrade()
    assert created and applied
    assert store.exists()
    assert store.schema_version() == len(applied)
    assert store.create_or_upgrade() == (False, [])
    assert store.url and "secret" not in store.url


def test_a_registry_has_an_identity_of_its_own_that_never_changes(store_url, tmp_path):
    import uuid

    store = open_store(store_url)
    store.create_or_upgrade()
    rid = store.registry_id()
    assert str(uuid.UUID(rid)) == rid
    store.create_or_upgrade()
    assert open_store(store_url).registry_id() == rid  # read back by another opener, after an upgrade
    other = open_store(str(tmp_path / "other" / "MODEL_REGISTRY.duckdb"))
    other.create_or_upgrade()
    assert other.registry_id() != rid


# -- versions ----------------------------------------------------------------------------------------
def test_register_and_read_back_every_field(store):
    v = version()
    register(store, v, description="first", tags={"stage": "dev", "a": "x"}, metrics={"acc": 0.5})
    with store.read() as r:
        row = r.version("m", "1")
        assert (row.id, row.name, row.version, row.type, row.uri, row.files) == (v.id, "m", "1", "custom", v.uri, v.files)
        assert row.manifest["signatures"] == v.manifest["signatures"]
        assert row.manifest["nan"] != row.manifest["nan"]  # NaN survives
        assert r.version("m", "2") is None and r.version("n", "1") is None
        assert r.version_ids() == {v.id}
        assert [(x.name, x.version, x.files) for x in r.versions()] == [("m", "1", v.files)]
        assert r.attributes(v.id, TAG) == {"a": '"x"', "stage": '"dev"'}
        assert list(r.attributes(v.id, TAG)) == ["a", "stage"]
        assert r.attributes(v.id, METRIC) == {"acc": "0.5"}
        assert r.attributes(v.id, DESCRIPTION) == {"": '"first"'}
        listing = r.listing_row(v.id)
    assert list(listing) == list(VERSION_COLUMNS)
    assert listing["DESCRIPTION"] == "first" and json.loads(listing["TAGS"]) == {"a": "x", "stage": "dev"}
    assert json.loads(listing["METRICS"]) == {"acc": 0.5} and listing["CREATION_ROLE"] == "alice"
    assert json.loads(listing["INPUT_SPEC"]) == v.input_spec and listing["CREATION_TIME"] == T0
    # stored without spaces, so that a listing read without DuckDB passes them on as they are
    for column, value in (("CREATION_CONTEXT", v.creation_context), ("CREATION_ENVIRONMENT_SPEC", v.environment),
                          ("INPUT_SPEC", v.input_spec), ("OUTPUT_SPEC", v.output_spec)):
        assert listing[column] == json.dumps(value, separators=(",", ":")), column


def test_a_version_is_registered_once(store):
    register(store, version())
    with pytest.raises(AlreadyExists):
        register(store, version(model_id="other"))
    with store.read() as r:
        assert r.version_ids() == {version().id}
    assert len(events(store)) == 1


def test_a_failed_unit_of_work_leaves_nothing(store):
    register(store, version())
    with pytest.raises(RuntimeError):
        with store.write("bob", T0) as w:
            w.register(version("m", "2"), registration(version("m", "2"), tags={"t": "1"}))
            row = w.version("m", "1")
            w.set_attribute(row, TAG, "t", '"x"')
            assert w.attributes(row.id, TAG) == {"t": '"x"'}  # the unit of work sees its own writes
            raise RuntimeError("boom")
    with store.read() as r:
        assert r.version("m", "2") is None
        assert r.attributes(version().id, TAG) == {}
    assert len(events(store)) == 1


def test_listing_is_in_registration_order_with_every_column(store):
    for i, ver in enumerate(["3", "1", "2"]):
        register(store, version("m", ver), at=T0 + timedelta(seconds=i), tags={"n": ver})
    rel = store.list_versions()
    assert tuple(rel.columns) == VERSION_COLUMNS
    assert [r[0] for r in rel.select("VERSION").fetchall()] == ["3", "1", "2"]
    assert rel.filter("TAGS->>'n' = '1'").count("*").fetchall()[0][0] == 1


def test_scans_push_name_and_tag_filters_down(store):
    register(store, version("a", "1"), tags={"stage": "prod", "team": "x"})
    register(store, version("a", "2"), at=T0 + timedelta(seconds=1), tags={"stage": "dev"})
    register(store, version("b", "1"), at=T0 + timedelta(seconds=2), tags={"stage": "prod", "k/~": "v"})
    cases = [
        (VersionFilter(), ["a/1", "a/2", "b/1"]),
        (VersionFilter(name="a"), ["a/1", "a/2"]),
        (VersionFilter(tags={"stage": "prod"}), ["a/1", "b/1"]),
        (VersionFilter(name="a", tags={"stage": "prod", "team": "x"}), ["a/1"]),
        (VersionFilter(tags={"k/~": "v"}), ["b/1"]),
        (VersionFilter(name="zzz"), []),
    ]
    for where, expected in cases:
        with store.scan_versions(where) as rel:
            assert tuple(rel.columns) == VERSION_COLUMNS
            assert [f"{n}/{v}" for n, v in rel.select("NAME, VERSION").fetchall()] == expected, where
    with store.scan_history() as rel:
        assert tuple(rel.columns) == HISTORY_COLUMNS
        assert [r[0] for r in rel.select("MODEL_NAME").fetchall()] == ["a"] * 3 + ["a"] * 2 + ["b"] * 3


def test_model_ends_give_first_last_aliases_and_default_of_the_models_asked(store):
    for i, (name, ver) in enumerate([("a", "3"), ("b", "1"), ("a", "1"), ("a", "2"), ("c", "9")]):
        register(store, version(name, ver), at=T0 + timedelta(seconds=i))
    with store.write("alice", T0) as w:
        row = w.version("a", "1")
        w.set_model_attribute("a", ALIAS, "PROD", json.dumps("1"), row)
        w.set_model_attribute("a", DEFAULT_VERSION, "", json.dumps("2"), row)
        w.set_model_attribute("a", MODEL_TAG, "team", json.dumps("x"), row)  # not an alias: left out
    with store.read() as r:
        ends = {e.name: e for e in r.model_ends(["a", "c", "a", "nope"])}
        assert r.model_ends([]) == []
    assert sorted(ends) == ["a", "c"]
    assert (ends["a"].first, ends["a"].last, ends["a"].versions) == ("3", "2", ("3", "2"))
    assert ends["a"].attributes == {ALIAS: {"PROD": json.dumps("1")}, DEFAULT_VERSION: {"": json.dumps("2")}}
    assert (ends["c"].first, ends["c"].last, ends["c"].attributes) == ("9", "9", {})


def test_snapshots_hold_nothing_open_and_do_not_change(store):
    register(store, version(), tags={"stage": "dev"})
    listing, history = store.list_versions(), store.history()
    with store.write("bob", T0) as w:
        w.set_attribute(w.version("m", "1"), TAG, "stage", '"prod"')
    assert json.loads(listing.select("TAGS").fetchall()[0][0]) == {"stage": "dev"}
    assert len(history.fetchall()) == 2
    assert len(store.history().fetchall()) == 3


# -- attributes and the history ----------------------------------------------------------------------
def test_attribute_changes_chain_their_events(store):
    v = version()
    register(store, v, tags={"stage": "dev"})
    with store.write("bob", T0 + timedelta(seconds=1)) as w:
        row = w.version("m", "1")
        w.set_attribute(row, TAG, "stage", '"test"')
        w.set_attribute(row, TAG, "stage", '"prod"')
        w.set_attribute(row, METRIC, "cm", "[[1,2],[3,4]]")
        w.set_attribute(row, DESCRIPTION, "", '"hello"')
        assert w.remove_attribute(row, TAG, "stage") is True
        assert w.remove_attribute(row, TAG, "stage") is False
    got = [(e["OPERATION"], e["ATTRIBUTE_NAME"], e["KEY"], e["OLD_VALUE"], e["NEW_VALUE"], e["ROLE"])
           for e in events(store, v.id)]
    assert got == [
        ("SET", "REGISTRATION", None, None, got[0][4], "alice"),
        ("SET", "TAG", "stage", None, '"dev"', "alice"),
        ("SET", "TAG", "stage", '"dev"', '"test"', "bob"),
        ("SET", "TAG", "stage", '"test"', '"prod"', "bob"),
        ("SET", "METRIC", "cm", None, "[[1,2],[3,4]]", "bob"),
        ("SET", "DESCRIPTION", "", None, '"hello"', "bob"),
        ("DROP", "TAG", "stage", '"prod"', None, "bob"),
    ]
    assert json.loads(got[0][4]) == {"type": "custom", "uri": v.uri}
    history = events(store)
    assert [e["EVENT_ID"] for e in history] == sorted(e["EVENT_ID"] for e in history)
    assert tuple(history[0]) == HISTORY_COLUMNS
    assert history[-1]["EVENT_TIMESTAMP"] == T0 + timedelta(seconds=1)
    with store.read() as r:
        assert r.attributes(v.id, TAG) == {}
        assert r.attributes(v.id, METRIC) == {"cm": "[[1,2],[3,4]]"}
        listing = r.listing_row(v.id)
    assert listing["DESCRIPTION"] == "hello" and json.loads(listing["TAGS"]) == {}


def test_set_attributes_records_one_event_per_key_in_the_order_given(store):
    v = version()
    register(store, v, tags={"stage": "dev", "keep": "k"}, metrics={"acc": 0.5})
    with store.write("bob", T0 + timedelta(seconds=1)) as w:
        w.set_attributes(w.version("m", "1"), TAG, {"stage": '"prod"', "owner": '"ann"', "a": '"1"'})
        w.set_attributes(w.version("m", "1"), METRIC, {"f1": "0.7", "acc": "0.9"})
        w.set_attributes(w.version("m", "1"), TAG, {"solo": '"x"'})
    got = [(e["ATTRIBUTE_NAME"], e["KEY"], e["OLD_VALUE"], e["NEW_VALUE"], e["ROLE"]) for e in events(store, v.id)][4:]
    assert got == [
        (TAG, "stage", '"dev"', '"prod"', "bob"), (TAG, "owner", None, '"ann"', "bob"), (TAG, "a", None, '"1"', "bob"),
        (METRIC, "f1", None, "0.7", "bob"), (METRIC, "acc", "0.5", "0.9", "bob"), (TAG, "solo", None, '"x"', "bob"),
    ]
    with store.read() as r:
        assert r.attributes(v.id, TAG) == {"a": '"1"', "keep": '"k"', "owner": '"ann"', "solo": '"x"', "stage": '"prod"'}
        assert r.attributes(v.id, METRIC) == {"acc": "0.9", "f1": "0.7"}
        listing = r.listing_row(v.id)
    assert json.loads(listing["TAGS"]) == {"a": "1", "keep": "k", "owner": "ann", "solo": "x", "stage": "prod"}
    assert list(json.loads(listing["TAGS"])) == ["a", "keep", "owner", "solo", "stage"]
    assert json.loads(listing["METRICS"]) == {"acc": 0.9, "f1": 0.7}
    with pytest.raises(RuntimeError), store.write("bob", T0) as w:  # all or nothing
        w.set_attributes(w.version("m", "1"), TAG, {"stage": '"gone"', "new": '"gone"'})
        raise RuntimeError("abort")
    with store.read() as r:
        assert r.attributes(v.id, TAG)["stage"] == '"prod"' and "new" not in r.attributes(v.id, TAG)
    assert len(events(store, v.id)) == 10


def test_record_appends_an_event_that_changes_no_attribute(store):
    register(store, version())
    with store.write("bob", T0) as w:
        w.record(w.version("m", "1"), Change(SET, DEPLOYMENT_OPTION, "d/keep_order", None, "true"))
    assert events(store)[-1]["ATTRIBUTE_NAME"] == DEPLOYMENT_OPTION
    with store.read() as r:
        assert r.attributes(version().id, TAG) == {}


# -- deployments and deletion ----------------------------------------------------------------------
def test_deployments_are_added_listed_and_removed_with_their_events(store):
    v, w2 = version("m", "1"), version("m", "2")
    register(store, v)
    register(store, w2)
    with store.write("bob", T0) as w:
        w.add_deployment(deployment(v, "b"), [Change(SET, DEPLOYMENT, "b", None, '{"platform":"warehouse"}')])
        w.add_deployment(deployment(v, "a", TargetPlatform.SERVICE), [])
        w.add_deployment(deployment(w2, "c"), [])
    with store.read() as r:
        assert [d.name for d in r.deployments()] == ["a", "b", "c"]
        assert [d.name for d in r.deployments(model_id=v.id)] == ["a", "b"]
        assert [d.name for d in r.deployments(platform="warehouse")] == ["b", "c"]
        got = r.deployment("b")
        assert got == deployment(v, "b")
        assert r.deployment("zzz") is None
    with store.write("bob", T0) as w:
        w.remove_deployment("b", [Change(DROP, DEPLOYMENT, "b", '{"platform":"warehouse"}', None)])
    assert [(e["OPERATION"], e["KEY"]) for e in events(store, v.id) if e["ATTRIBUTE_NAME"] == DEPLOYMENT] == [
        ("SET", "b"), ("DROP", "b")]
    with store.read() as r:
        assert [d.name for d in r.deployments()] == ["a", "c"]


def test_deleting_a_version_keeps_its_history_and_drops_its_deployments(store):
    v = version()
    register(store, v, tags={"stage": "dev"})
    with store.write("bob", T0) as w:
        w.add_deployment(deployment(v, "d1"), [])
    with store.write("carol", T0) as w:
        assert w.delete_version(w.version("m", "1"), delete_artifact=False) == ["d1"]
    with store.read() as r:
        assert r.version("m", "1") is None and r.version_ids() == set() and r.deployments() == []
        assert r.attributes(v.id, TAG) == {}
    tail = [(e["OPERATION"], e["ATTRIBUTE_NAME"], e["KEY"], e["ROLE"]) for e in events(store, v.id)][-2:]
    assert tail == [("DROP", DEPLOYMENT, "d1", "carol"), ("DROP", DELETION, None, "carol")]
    assert json.loads(events(store, v.id)[-1]["NEW_VALUE"]) == {"delete_artifact": False}
    assert store.list_versions().count("*").fetchall()[0][0] == 0
    register(store, version(model_id="again"))  # the name is free again
    with store.write("bob", T0) as w:  # a deployment of a version gone records no event
        w.add_deployment(deployment(v, "orphan"), [])
        w.remove_deployment("orphan", [Change(DROP, DEPLOYMENT, "orphan")])
    assert all(e["KEY"] != "orphan" for e in events(store))


# -- across processes -----------------------------------------------------------------------------------
WRITER = """
import sys
from datetime import datetime, timezone
from mlreg.records import TAG
from mlreg.store import open_store
store = open_store(sys.argv[1])
for i in range(int(sys.argv[3])):
    with store.write(sys.argv[2], datetime.now(timezone.utc)) as w:
        w.set_attribute(w.version("m", "1"), TAG, "counter", '"%s-%d"' % (sys.argv[2], i))
"""


def test_concurrent_writers_in_processes_lose_nothing_and_keep_the_chain(store, store_url):
    register(store, version())
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, store_url, f"w{n}", "10"], env=subprocess_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    chain = [e for e in events(store) if e["KEY"] == "counter"]
    assert len(chain) == 40
    assert chain[0]["OLD_VALUE"] is None
    for before, after in zip(chain, chain[1:]):
        assert after["OLD_VALUE"] == before["NEW_VALUE"]
    with store.read() as r:
        assert r.attributes(version().id, TAG) == {"counter": chain[-1]["NEW_VALUE"]}


READER = """
import sys
from mlreg.records import TAG
from mlreg.store import open_store
with open_store(sys.argv[1]).read() as r:
    print(r.attributes(r.version("m", "1").id, TAG)["counter"])
"""


def test_a_batch_commits_each_write_and_lets_other_processes_in(store, store_url):
    """Inside ``batch()`` every unit of work is committed when it ends (another process
    reads it while the batch is open), and writers in other processes get their turn
    between this process's writes: their events chain with ours."""
    register(store, version())
    with store.batch():
        with store.write("main", datetime.now(timezone.utc)) as w:
            w.set_attribute(w.version("m", "1"), TAG, "counter", '"main-first"')
        read = subprocess.run([sys.executable, "-c", READER, store_url], env=subprocess_env(),
                              capture_output=True, text=True, timeout=300)
        assert (read.returncode, read.stdout) == (0, '"main-first"\n'), read.stderr
        proc = subprocess.Popen([sys.executable, "-c", WRITER, store_url, "other", "10"], env=subprocess_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(10):
            with store.write("main", datetime.now(timezone.utc)) as w:
                w.set_attribute(w.version("m", "1"), TAG, "counter", '"main-%d"' % i)
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        with store.write("main", datetime.now(timezone.utc)) as w:  # after the other process's writes
            w.set_attribute(w.version("m", "1"), TAG, "counter", '"main-last"')
    chain = [e for e in events(store) if e["KEY"] == "counter"]
    assert len(chain) == 22 and chain[-1]["NEW_VALUE"] == '"main-last"'
    assert sorted(e["ROLE"] for e in chain).count("other") == 10
    for before, after in zip(chain, chain[1:]):
        assert after["OLD_VALUE"] == before["NEW_VALUE"]
    with store.read() as r:
        assert r.attributes(version().id, TAG) == {"counter": '"main-last"'}


MARKER = """
import sys
from mlreg.store import open_store
with open_store(sys.argv[1]).inflight(sys.argv[2]):
    print("marked", flush=True)
    sys.stdin.readline()
"""


def test_an_inflight_marker_is_free_the_moment_its_block_ends(store):
    # On PostgreSQL the lock used to go with the closed connection, which the server ends a
    # moment after close() returns: a gc asking right then saw a finished publication as live.
    for i in range(200):
        with store.inflight(f"pkg{i}"):
            pass
        assert not store.is_inflight(f"pkg{i}"), i


def test_inflight_markers_are_seen_from_other_processes_and_die_with_theirs(store, store_url):
    assert not store.is_inflight("pkg1")
    with store.inflight("pkg0"):
        assert store.is_inflight("pkg0")
    assert not store.is_inflight("pkg0")
    holder = subprocess.Popen([sys.executable, "-c", MARKER, store_url, "pkg1"], env=subprocess_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "marked"
        assert store.is_inflight("pkg1") and not store.is_inflight("pkg2")
        store.clear_stale_inflight()  # a live publication is not stale
        assert store.is_inflight("pkg1")
        holder.send_signal(signal.SIGKILL)  # a crash mid-publication
        holder.wait(timeout=60)
        assert not store.is_inflight("pkg1")
        store.clear_stale_inflight()
        assert not store.is_inflight("pkg1")
    finally:
        holder.kill()
        holder.wait(timeout=60)
        holder.stdout.close()
        holder.stdin.close()


# -- copying between registries -------------------------------------------------------------------
def test_a_registry_exported_and_imported_is_the_same(store, store_url, tmp_path, request):
    from tests.store.conftest import STORE_URLS

    v1, v2 = version("m", "1"), version("m", "2")
    register(store, v1, description="d", tags={"stage": "dev"}, metrics={"acc": 0.5})
    register(store, v2, at=T0 + timedelta(seconds=1))
    with store.write("bob", T0) as w:
        w.set_attribute(w.version("m", "1"), TAG, "stage", '"prod"')
        w.add_deployment(deployment(v1, "d1"), [Change(SET, DEPLOYMENT, "d1", None, "{}")])
        w.delete_version(w.version("m", "2"), delete_artifact=True)
    with store.read() as r:
        versions, history, deps = r.export_versions(), r.events(), r.deployments()
    from dataclasses import replace

    assert [v.id for v in versions] == [v1.id]
    assert versions[0].manifest["nan"] != versions[0].manifest["nan"]  # NaN survives
    assert replace(versions[0], manifest={}) == replace(v1, manifest={})  # every other field as registered
    assert [e.event_id for e in history] == sorted(e.event_id for e in history)

    target = open_store(STORE_URLS[request.node.callspec.params["store_url"]](tmp_path / "copy", request))
    target.create_or_upgrade()
    with target.write("copier", T0) as w:
        for model_id in [v1.id, v2.id]:
            w.import_version(next((v for v in versions if v.id == model_id), None),
                             [e for e in history if e.model_id == model_id], [d for d in deps if d.model_id == model_id],
                             keep_event_ids=True)
        w.sync_event_ids()
    with target.read() as r:
        assert r.events() == history
        assert [(v.id, v.name, v.files, v.creation_time, v.input_spec) for v in r.export_versions()] == [
            (v1.id, "m", v1.files, T0, v1.input_spec)]
        assert r.attributes(v1.id, TAG) == {"stage": '"prod"'} and r.attributes(v1.id, METRIC) == {"acc": "0.5"}
        assert r.listing_row(v1.id)["DESCRIPTION"] == "d" and r.deployments() == deps
    with target.write("bob", T0) as w:  # numbering goes on after the copied events
        w.set_attribute(w.version("m", "1"), TAG, "stage", '"x"')
    assert events(target)[-1]["EVENT_ID"] > history[-1].event_id


LOCKER = """
import sys
from datetime import datetime, timezone
from mlreg.errors import RegistryBusy
from mlreg.store import open_store
store = open_store(sys.argv[1], timeout=0.5)
try:
    with store.write("other", datetime.now(timezone.utc)) as w:
        w.lock_model(sys.argv[2])
except RegistryBusy:
    print("busy")
else:
    print("locked")
"""


def test_lock_model_makes_writers_of_one_model_take_turns(store, store_url):
    """While a unit of work holds a model's lock, another process cannot take it (it
    gives up with RegistryBusy after its timeout); once the holder ends, it can."""
    def other(name: str) -> str:
        proc = subprocess.run([sys.executable, "-c", LOCKER, store_url, name], env=subprocess_env(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    with store.write("holder", datetime.now(timezone.utc)) as writer:
        writer.lock_model("m")
        assert other("m") == "busy"
    assert other("m") == "locked"
