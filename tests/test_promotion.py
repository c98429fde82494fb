"""The promotion API on a real registry: gates, diffs, model cards and time travel
(``as_of``), with an injected clock so that moments are exact."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlreg.errors import NotFound, UsageError
from tests.fixtures.models import SumModel

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
DATA = Path(__file__).parent / "data"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["duckdb", "postgresql"])
def reg(request, hermetic_env, clock):
    """A registry on each backend (a DuckDB file; a database of the session's PostgreSQL server)."""
    import mlreg
    from mlreg import model_registry

    if request.param == "postgresql":
        request.getfixturevalue("pg_home")
    session = mlreg.connect()
    model_registry.create_model_registry(session)
    return model_registry.ModelRegistry(session, clock=clock)


def _log(reg, version, **kw):
    import pandas as pd

    sample = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    return reg.log_model(SumModel(), "m", version, sample_input_data=sample, **kw)


def _policy(tmp_path, rules: str, name: str = "production") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text("[rules]\n" + rules)
    return path


def test_gate_passes_and_fails_with_values_and_reasons(reg, clock, tmp_path):
    _log(reg, "1", metrics={"accuracy": 0.93, "cm": {"tp": 9}}, tags={"reviewed": "yes"}, description="good")
    clock.tick(hours=2)
    policy = _policy(tmp_path, 'accurate = "metric.accuracy >= 0.90"\nreviewed = "tag.reviewed == \'yes\'"\n'
                               'intact = "verified"\nfresh = "age <= 2h"\nfirst = "not alias.prod.exists"\n'
                               'nested = "metric.cm.tp > 5"\n')
    report = reg.gate("m", "1", policy)
    assert report.passed and report.failed == []
    assert [(r.name, r.values) for r in report.rules] == [
        ("accurate", {"metric.accuracy": 0.93}), ("reviewed", {"tag.reviewed": "yes"}),
        ("intact", {"verified": True}), ("fresh", {"age": 7200.0}), ("first", {"alias.prod.exists": False}),
        ("nested", {"metric.cm.tp": 9})]
    assert report.policy == "production" and len(report.policy_sha256) == 64
    clock.tick(seconds=1)
    strict = _policy(tmp_path, 'fresh = "age <= 2h"\nrecall = "metric.recall > 0.5"\nok = "verified"\n', "strict")
    report = reg.gate("m", "1", strict)
    assert not report.passed and report.failed == ["fresh", "recall"]
    assert [r.reason for r in report.rules] == [
        "the rule is false", "metric.recall is missing (metric has no 'recall')", None]


def test_gate_reads_the_package_for_verified(reg, tmp_path):
    model_id = _log(reg, "1")
    (Path(reg.stage.uri(model_id)) / "model" / "model.pkl").write_bytes(b"tampered")
    report = reg.gate("m", "1", _policy(tmp_path, 'intact = "verified"\n'))
    assert (report.passed, report.rules[0].values) == (False, {"verified": False})


def test_gate_broken_policy_and_unknown_version(reg, tmp_path):
    _log(reg, "1")
    with pytest.raises(UsageError, match=r"^policy production, rule r: expected a value, found the end of the rule at column 11$"):
        reg.gate("m", "1", _policy(tmp_path, 'r = "metric.a >"\n'))
    with pytest.raises(NotFound):
        reg.gate("m", "9", _policy(tmp_path, 'r = "verified"\n'))


def test_diff_identical_and_different(reg, clock):
    _log(reg, "1", metrics={"accuracy": 0.91, "cm": [[1, 2], [3, 4]], "nested": {"f1": 0.5}}, tags={"a": "x"},
         description="first", pip_requirements=["scikit-learn>=1.3"])
    clock.tick(minutes=1)
    _log(reg, "2", metrics={"accuracy": 0.95, "cm": [[1, 2], [3, 5]], "nested": {"f1": 0.75}}, tags={"b": "y"})
    same = reg.diff("m@1", ("m", "1"))
    assert same.identical and same.changes == ()
    d = reg.diff("m@1", "m/2")
    rows = {(c.section, c.key): (c.a, c.b, c.delta) for c in d.changes}
    assert rows[("description", "")] == ("first", None, None)
    assert rows[("tag", "a")] == ("x", None, None) and rows[("tag", "b")] == (None, "y", None)
    assert rows[("metric", "accuracy")] == (0.91, 0.95, 0.04)
    assert rows[("metric", "nested.f1")] == (0.5, 0.75, 0.25)
    assert rows[("metric", "cm")] == ([[1, 2], [3, 4]], [[1, 2], [3, 5]], None)
    assert rows[("requirements", "pip")] == (["scikit-learn>=1.3"], [], None)
    manifest = rows[("file", "MANIFEST.json")]
    assert manifest[0]["sha256"] != manifest[1]["sha256"] and manifest[0]["size"] > 0
    assert ("file", "model/model.pkl") not in rows  # same bytes
    assert [c.section for c in d.changes] == sorted((c.section for c in d.changes),
                                                    key=["description", "tag", "metric", "signature", "environment",
                                                         "requirements", "file", "context"].index)
    with pytest.raises(UsageError, match="expected NAME@VERSION"):
        reg.diff("m", "m@1")


def test_model_card_is_stable_and_complete(reg, clock):
    _log(reg, "1", metrics={"accuracy": 0.9, "confusion": [[5, 1], [2, 7]]}, tags={"intended_use": "demo scoring"},
         description="A sum.\n\nMore text.")
    card = reg.model_card("m", "1")
    assert card == reg.model_card("m", "1")
    for section in ("# m 1", "## Intended use\n\ndemo scoring", "### predict inputs", "| accuracy | 0.9 |",
                    "### confusion\n\n|  | 0 | 1 |\n|---|---|---|\n| 0 | 5 | 1 |\n| 1 | 2 | 7 |",
                    "## Lineage", "## Alias history", "| model/model.pkl | "):
        assert section in card


def test_model_card_snapshot():
    from mlreg.registry.card import render
    from mlreg.registry.snapshot import VersionSnapshot

    snap = VersionSnapshot(
        id="0123abcd", name="iris", version="v3", type="sklearn", created=T0, role="ci",
        description="Classifies iris flowers.\n\nTrained on the UCI set.",
        tags={"owner": "ml team", "stage": "prod"},
        metrics={"accuracy": 0.96, "confusion": [[10, 0], [1, 9]], "per_class": {"setosa": 1.0}},
        signatures={"predict": {"inputs": [{"name": "sepal_length", "type": "DOUBLE"},
                                           {"name": "petal|width", "type": "DOUBLE", "nullable": True}],
                                "outputs": [{"name": "label", "type": "INT64"}]}},
        environment={"python": "3.11.7", "platform": "linux-x86_64", "mlreg": "0.2.0",
                     "packages": {"scikit-learn": "1.5.2"}},
        requirements={"pip": ["scikit-learn>=1.5"], "conda": []},
        context={"user": "ci", "git": {"commit": "abc123", "branch": "main", "dirty": False},
                 "ci": {"provider": "github-actions", "job": "train",
                        "run_url": "https://github.com/o/r/actions/runs/1"}},
        files={"model/model.pkl": "ab" * 32, "MANIFEST.json": "cd" * 32},
        sizes={"model/model.pkl": 1234, "MANIFEST.json": 900},
    )
    history = [{"ALIAS": "staging", "FROM": T0, "TO": T0 + timedelta(days=1)},
               {"ALIAS": "prod", "FROM": T0 + timedelta(days=1), "TO": None}]
    assert render(snap, history) == (DATA / "model_card.md").read_text()


def test_as_of_before_and_after_changes_and_after_deletion(reg, clock):
    _log(reg, "1", tags={"stage": "dev"}, metrics={"acc": 0.5}, description="first")
    t_logged = clock.now
    clock.tick(hours=1)
    reg.set_tag("m", "1", "stage", "prod")
    reg.set_metric("m", "1", "acc", 0.7)
    reg.remove_tag("m", "1", "stage")
    reg.set_tag("m", "1", "owner", "me")
    t_changed = clock.now
    clock.tick(hours=1)
    _log(reg, "2", description="second")
    clock.tick(hours=1)
    reg.delete_model("m", "1")
    t_deleted = clock.now

    before = reg.as_of(t_logged - timedelta(seconds=1))
    assert before.list_models().fetchall() == []
    with pytest.raises(NotFound, match=r"did not exist in the registry at 2026-11-01T11:59:59\+00:00"):
        before.get_tags("m", "1")

    at_log = reg.as_of(t_logged)
    assert at_log.get_tags("m", "1") == {"stage": "dev"}
    assert at_log.get_metric_value("m", "1", "acc") == 0.5
    assert at_log.get_model_description("m", "1") == "first"
    rows = at_log.list_models().fetchall()
    assert [(r[1], r[2], r[-1]) for r in rows] == [("m", "1", True)]  # deleted since

    after = reg.as_of(t_changed.isoformat())
    assert after.get_tags("m", "1") == {"owner": "me"}
    assert after.get_metrics("m", "1") == {"acc": 0.7}
    with pytest.raises(NotFound, match=r"had no tag named stage at .* Full list of tags then: \[\"owner\"\]"):
        after.get_tag_value("m", "1", "stage")

    now = reg.as_of(t_deleted)
    assert [(r[1], r[2]) for r in now.list_models().fetchall()] == [("m", "2")]
    assert reg.as_of(t_deleted - timedelta(seconds=1)).describe_model("m", "1")["DELETED"] is True
    assert reg.as_of("1h").get_model_description("m", "2") == "second"  # relative to the clock
    with pytest.raises(UsageError, match="invalid --as-of 'yesterday'"):
        reg.as_of("yesterday")
    listing = {r[0] for r in reg.as_of(t_changed).list_models().fetchall()}
    assert len(listing) == 1


def test_as_of_after_every_event_lists_what_the_current_listing_says(reg, clock):
    """Replayed after the last event, the listing is the current one: the same description,
    and tags and metrics as objects with their keys in order, however they were set (here
    in reverse order, some replaced, some removed)."""
    for v in range(12):
        _log(reg, str(v), description=f"v{v}" if v % 3 else None)
        reg.set_tags("m", str(v), {k: f"{k}{v}" for k in ("zeta", "owner", "beta", "alpha")})
        reg.set_metrics("m", str(v), {"z": v, "a": -v})
        reg.set_tag("m", str(v), "owner", "me")
        if v % 2:
            reg.remove_tag("m", str(v), "beta")
        clock.tick(seconds=1)
    columns = ["ID", "NAME", "VERSION", "DESCRIPTION", "TAGS", "METRICS"]
    past = reg.as_of(clock.now).list_models().select(", ".join(columns)).fetchall()
    current = reg.list_models().select(", ".join(columns)).fetchall()
    assert past == current
    assert past[1][4] == '{"alpha":"alpha1","owner":"me","zeta":"zeta1"}'
