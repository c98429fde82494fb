"""`mlreg copy` and ``ModelRegistry.copy_to``: a file registry copied to PostgreSQL and back
compared field by field; an interrupted copy finished by running it again; a conflicting
target refused before anything is written; packages copied along to another stage."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.data.harness import mlreg, mlreg_json


@pytest.fixture
def file_registry(hermetic_env, model_file, sample_csv):
    """A directory registry with live, changed and deleted versions, and a deployment."""
    mlreg("create", check=0)
    for v in ("1", "2", "3"):
        mlreg("log", str(model_file), "-n", "m", "-V", v, "--sample-input", str(sample_csv), "-t", f"stage=s{v}",
              "-m", f"acc=0.{v}", "--description", f"version {v}", check=0)
    mlreg("log", str(model_file), "-n", "other", "-V", "1.0", "--sample-input", str(sample_csv), check=0)
    mlreg("tag", "set", "m", "1", "stage", "prod", check=0)
    mlreg("metric", "set", "m", "1", "cm", "[[1,2],[3,4]]", check=0)
    mlreg("metric", "set", "m", "3", "nan", "NaN", check=0)
    mlreg("tag", "remove", "m", "3", "stage", check=0)
    mlreg("delete", "m", "2", "--yes", check=0)
    mlreg("deploy", "create", "m", "1", "score", check=0)
    return hermetic_env


def snapshot(*home_args: str) -> dict:
    """Everything a registry shows: listing rows, describe output, history, deployments."""
    rows = mlreg_json(*home_args, "list")
    return {
        "list": rows,
        "show": [mlreg_json(*home_args, "show", r["NAME"], r["VERSION"]) for r in rows],
        "history": mlreg_json(*home_args, "history"),
        "deployments": [{k: v for k, v in d.items() if k != "STATUS"}
                        for d in mlreg_json(*home_args, "deploy", "list")],
    }


def test_file_to_postgresql_to_file_keeps_every_field(file_registry, pg_url, tmp_path, monkeypatch):
    before = snapshot()
    assert len(before["list"]) == 3 and len(before["history"]) > 15
    out = mlreg_json("copy", "--to", pg_url)
    assert (out["VERSIONS_COPIED"], out["DELETED_HISTORIES_COPIED"], out["DEPLOYMENTS_COPIED"]) == (3, 1, 1)
    assert snapshot("--home", pg_url) == before  # every field, the history with its event numbers
    back = tmp_path / "back-home"
    mlreg("--home", pg_url, "copy", "--to", str(back), check=0)
    assert snapshot("--home", str(back)) == before
    # and both copies work on: new events follow the copied ones
    for home in (pg_url, str(back)):
        mlreg("--home", home, "tag", "set", "m", "1", "stage", "x", check=0)
        last = mlreg_json("--home", home, "history")[-1]
        assert last["EVENT_ID"] > before["history"][-1]["EVENT_ID"] and last["OLD_VALUE"] == "prod"
    assert mlreg_json("--home", pg_url, "sql", "SELECT score(1.0, 2.0) AS y") == [{"y": 3.0}]


def test_an_interrupted_copy_finishes_when_run_again(file_registry, pg_url):
    before = snapshot()
    killed = mlreg("copy", "--to", pg_url, extra_env={"MLREG_FAULT": "copy:version"})
    assert killed.returncode == -signal.SIGKILL
    partial = mlreg_json("--home", pg_url, "list")
    assert 0 < len(partial) < 3 or len(mlreg_json("--home", pg_url, "history")) < len(before["history"])
    out = mlreg_json("copy", "--to", pg_url)
    assert out["VERSIONS_PRESENT"] + out["VERSIONS_COPIED"] == 3 and out["VERSIONS_PRESENT"] >= 0
    assert snapshot("--home", pg_url) == before
    again = mlreg_json("copy", "--to", pg_url)
    assert (again["VERSIONS_COPIED"], again["EVENTS_COPIED"], again["VERSIONS_PRESENT"]) == (0, 0, 3)


def test_a_conflicting_target_is_refused_before_anything_is_written(file_registry, pg_url, model_file, sample_csv,
                                                                    tmp_path):
    other_stage = tmp_path / "other-stage"
    mlreg("--home", pg_url, "--stage", str(other_stage), "create", check=0)
    mlreg("--home", pg_url, "--stage", str(other_stage), "log", str(model_file), "-n", "m", "-V", "3",
          "--sample-input", str(sample_csv), check=0)  # another m/3
    target_before = snapshot("--home", pg_url)
    run = mlreg("copy", "--to", pg_url)
    assert run.returncode == 4 and "m/3 is another model there" in run.stderr and "nothing was copied" in run.stderr
    assert snapshot("--home", pg_url) == target_before


def test_a_copy_into_a_registry_of_other_models_renumbers_the_history(file_registry, pg_url, model_file, sample_csv,
                                                                      tmp_path):
    mlreg("--home", pg_url, "--stage", str(tmp_path / "team"), "create", check=0)
    mlreg("--home", pg_url, "--stage", str(tmp_path / "team"), "log", str(model_file), "-n", "theirs", "-V", "1",
          "--sample-input", str(sample_csv), check=0)
    before = snapshot()
    mlreg("copy", "--to", pg_url, "--to-stage", str(tmp_path / "team"), check=0)
    after = mlreg_json("--home", pg_url, "--stage", str(tmp_path / "team"), "history")
    def by_version(events):  # each version's events, in order, without their numbers
        out: dict = {}
        for e in events:
            out.setdefault(e["MODEL_ID"], []).append({k: v for k, v in e.items() if k != "EVENT_ID"})
        return out

    assert by_version(e for e in after if e["MODEL_NAME"] != "theirs") == by_version(before["history"])
    assert [e["EVENT_ID"] for e in after] == sorted(e["EVENT_ID"] for e in after)


def test_packages_are_copied_to_another_stage_and_verified(file_registry, pg_url, tmp_path):
    stage = tmp_path / "team-stage"
    out = mlreg_json("copy", "--to", pg_url, "--to-stage", str(stage))
    assert out["PACKAGES_COPIED"] == 3
    rows = mlreg_json("--home", pg_url, "--stage", str(stage), "list")
    assert all(r["URI"].startswith(str(stage)) for r in rows)
    assert all(r["OK"] for r in mlreg_json("--home", pg_url, "--stage", str(stage), "verify"))
    assert mlreg_json("--home", pg_url, "--stage", str(stage), "sql", "SELECT score(1.0, 2.0) AS y") == [{"y": 3.0}]
    assert sorted(p.name for p in (stage / "MODEL_REGISTRY").iterdir()) == sorted(r["ID"] for r in rows)


def test_the_python_twin(registry, pg_url, tmp_path):
    from mlreg import model_registry
    from tests.fixtures.models import SumModel

    import mlreg as api

    registry.log_model(SumModel(), "m", "1", sample_input_data=[{"a": 1.0, "b": 2.0}], tags={"k": "v"})
    result = registry.copy_to(pg_url, database_name="MODEL_REGISTRY")
    assert (result.versions_copied, result.target) == (1, f"{pg_url}#MODEL_REGISTRY")
    copy = model_registry.ModelRegistry(api.connect(home=pg_url, stage=str(Path(registry.session.stage))))
    assert copy.get_tags("m", "1") == {"k": "v"}
    assert copy.load_model("m", "1").predict([[1.0, 2.0]]) is not None
    with pytest.raises(api.InvalidInput, match="to_stage"):
        registry.copy_to(pg_url, database_name="RENAMED")


def test_aliases_default_and_model_tags_are_copied_and_copied_back(registry, pg_url, tmp_path):
    from mlreg import model_registry
    from tests.fixtures.models import SumModel

    import mlreg as api

    for v in ("1", "2", "3"):
        registry.log_model(SumModel(), "m", v, sample_input_data=[{"a": 1.0, "b": 2.0}])
    registry.set_alias("m", "prod", "2")
    registry.set_default_version("m", "3")
    registry.models.set_tag("m", "team", "ml")
    registry.copy_to(pg_url, database_name="MODEL_REGISTRY")
    copy = model_registry.ModelRegistry(api.connect(home=pg_url, stage=str(Path(registry.session.stage))))
    assert (copy.get_aliases("m"), copy.get_default_version("m"), copy.models.tags("m")) == (
        {"PROD": "2"}, "3", {"team": "ml"})
    assert copy.get_model("m", "PROD").version == "2"
    assert copy.get_history().count("*").fetchall() == registry.get_history().count("*").fetchall()
    copy.copy_to(tmp_path / "back", database_name="MODEL_REGISTRY")  # and back to a file
    back = model_registry.ModelRegistry(api.connect(home=tmp_path / "back", stage=str(Path(registry.session.stage))))
    assert (back.get_aliases("m"), back.get_default_version("m")) == ({"PROD": "2"}, "3")
