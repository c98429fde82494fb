"""A batch's memo (``mlreg.store.duckdb.engine``): while the file stays attached, writes
reuse the version rows and current values they looked up. Whatever runs in the batch,
the registry must end as it would without one: the same history, event for event, and
the same listing; a failed unit of work, an interleaved rename, delete or re-register,
and another process's write in between are what the memo could get wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlreg import MlregError
from mlreg.errors import NotFound
from mlreg.store.duckdb import attributes, engine
from tests.fixtures.cli import subprocess_env
from tests.fixtures.models import SumModel

SIGNATURES = {"predict": {"inputs": [{"name": "a", "type": "DOUBLE"}], "outputs": [{"name": "y", "type": "DOUBLE"}]}}


def _script(registry, name: str) -> None:
    """Writes where a memo that is not forgotten in time gives another history: each change
    that is not a value's (rename, delete, a failed unit) comes right after a write that
    remembered what it changes, and is followed by a write that would use it."""
    def log(version: str, **kw) -> None:
        registry.log_model(SumModel(), name, version, signatures=SIGNATURES, **kw)

    log("1", tags={"stage": "dev"}, metrics={"acc": 0.5}, description="first")
    log("2")
    registry.set_tag(name, "1", "stage", "prod")
    registry.set_tag(name, "1", "owner", "me")
    registry.set_metric(name, "1", "acc", 0.75)
    registry.set_model_description(name, "1", "changed")
    registry.remove_tag(name, "1", "owner")
    with pytest.raises(NotFound):
        registry.remove_tag(name, "1", "owner")  # gone: the memo must know it
    registry.set_tags(name, "2", {"a": "1", "b": "2"})
    registry.set_metrics(name, "2", {"m": [1, 2], "n": None})
    registry.set_tag(name, "1", "stage", "before-rename")
    registry.rename_model(name, name + "-renamed")
    with pytest.raises(NotFound):
        registry.set_tag(name, "1", "stage", "x")  # the old name's row must not be remembered
    renamed = name + "-renamed"
    registry.set_tag(renamed, "1", "stage", "after-rename")
    registry.set_tag(renamed, "2", "a", "before-delete")
    registry.delete_model(renamed, "2")
    with pytest.raises(NotFound):
        registry.set_tag(renamed, "2", "a", "x")
    registry.log_model(SumModel(), renamed, "2", signatures=SIGNATURES, tags={"again": "yes"})
    registry.set_tag(renamed, "2", "a", "new")  # the new version (another id), not the deleted one
    registry.remove_metric(renamed, "1", "acc")
    registry.set_metric(renamed, "1", "acc", 1)


def _state(registry, name: str) -> tuple[list, list]:
    """The history and listing of the model, with what differs between two runs (ids,
    times, the model's name) taken out."""
    renamed = name + "-renamed"
    history = [r[4:] for r in registry.get_history().select(
        "EVENT_ID, EVENT_TIMESTAMP, MODEL_ID, ROLE, MODEL_NAME, MODEL_VERSION, OPERATION, ATTRIBUTE_NAME, KEY,"
        " OLD_VALUE, NEW_VALUE").fetchall() if r[4] in (name, renamed)]
    history = [tuple(str(x).replace(name, "M") if x is not None else None for x in r) for r in history]
    # a registration's and a deletion's values name the package (a new id each run)
    history = [r[:5] if r[3] in ("REGISTRATION", "DELETION") else r for r in history]
    listing = [r[1:] for r in registry.list_models().select("NAME, VERSION, DESCRIPTION, TAGS, METRICS").fetchall()
               if r[0] == renamed]
    return history, listing


def test_a_batch_leaves_the_registry_as_the_same_writes_without_it(registry, monkeypatch):
    _script(registry, "plain")
    monkeypatch.setattr(engine, "IDLE_DETACH", 3600.0)  # the file stays attached the whole batch
    with registry.batch():
        _script(registry, "batched")
    plain, batched = _state(registry, "plain"), _state(registry, "batched")
    assert len(plain[0]) > 20 and len(plain[1]) == 2
    assert batched == plain


def test_a_unit_of_work_that_fails_in_a_batch_leaves_nothing_remembered(registry, monkeypatch):
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES, tags={"a": "0"})
    real = attributes._store
    failing = {"now": False}

    def store(con, model_id, attribute, now):
        if failing["now"]:  # after the values were changed in place, before the row is written
            raise MlregError("the write fails")
        real(con, model_id, attribute, now)

    monkeypatch.setattr(attributes, "_store", store)
    with registry.batch():
        registry.set_tag("m", "1", "a", "1")
        failing["now"] = True
        with pytest.raises(MlregError, match="the write fails"):
            registry.set_tag("m", "1", "a", "2")
        failing["now"] = False
        registry.set_tag("m", "1", "b", "3")
        assert registry.get_tags("m", "1") == {"a": "1", "b": "3"}
    assert registry.get_tags("m", "1") == {"a": "1", "b": "3"}
    events = registry.get_model_history("m", "1").select("KEY, OLD_VALUE, NEW_VALUE").fetchall()
    assert events[-2:] == [("a", '"0"', '"1"'), ("b", None, '"3"')]


def test_a_write_by_another_process_between_two_writes_of_a_batch_is_seen(registry):
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES)
    script = ("import mlreg; from mlreg import model_registry as mr; "
              "mr.ModelRegistry(mlreg.connect()).set_tag('m', '1', 'a', 'theirs')")
    with registry.batch():
        registry.set_tag("m", "1", "a", "mine")
        # the other process waits for this one to let go of the file (idle, or asked to)
        proc = subprocess.run([sys.executable, "-c", script], env=subprocess_env({"MLREG_LOCK_TIMEOUT": "60"}),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        registry.set_tag("m", "1", "b", "mine")
    assert registry.get_tags("m", "1") == {"a": "theirs", "b": "mine"}
    events = registry.get_model_history("m", "1").select("KEY, OLD_VALUE, NEW_VALUE").fetchall()
    assert events[-3:] == [("a", None, '"mine"'), ("a", '"mine"', '"theirs"'), ("b", None, '"mine"')]
