"""mlreg alias ..., mlreg model ..., and an alias accepted wherever a VERSION is."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def three(cli, logged, model_file, sample_csv):
    """Model m with versions 1, 2, 3 (logged in that order)."""
    for v in ("2", "3"):
        assert cli("log", model_file, "--name", "m", "--version", v, "--sample-input", sample_csv).exit_code == 0
    return logged


def history(cli) -> list[dict]:
    return json.loads(cli("history", "--format", "json").stdout)


def test_alias_set_list_move_and_unset(cli, three):
    run = cli("alias", "set", "m", "prod", "1")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Alias PROD of m now names version 1\n")
    assert json.loads(cli("alias", "list", "m", "--format", "json").stdout) == [
        {"ALIAS": "PROD", "VERSION": "1", "SYSTEM": False}, {"ALIAS": "DEFAULT", "VERSION": "1", "SYSTEM": True},
        {"ALIAS": "FIRST", "VERSION": "1", "SYSTEM": True}, {"ALIAS": "LAST", "VERSION": "3", "SYSTEM": True}]
    assert cli("alias", "set", "m", "PROD", "LAST").exit_code == 0  # moves; a VERSION may be an alias
    aliases = {r["ALIAS"]: r["VERSION"] for r in json.loads(cli("alias", "list", "m", "--format", "json").stdout)}
    assert aliases["PROD"] == "3"
    moves = [(e["OPERATION"], e["KEY"], e["MODEL_VERSION"], e["OLD_VALUE"], e["NEW_VALUE"])
             for e in history(cli) if e["ATTRIBUTE_NAME"] == "ALIAS"]
    assert moves == [("SET", "PROD", "1", None, "1"), ("SET", "PROD", "3", "1", "3")]
    run = cli("alias", "unset", "m", "prod")
    assert (run.exit_code, run.stderr) == (0, "Removed alias PROD of m (it named version 3)\n")
    run = cli("alias", "unset", "m", "prod")
    assert (run.exit_code, run.stderr) == (3, "Error: Model m has no alias PROD. Its aliases: none\n")


def test_an_alias_is_accepted_wherever_a_version_is(cli, three):
    assert cli("alias", "set", "m", "champion", "2").exit_code == 0
    assert json.loads(cli("show", "m", "champion", "--format", "json").stdout)["VERSION"] == "2"
    assert json.loads(cli("show", "m", "LAST", "--format", "json").stdout)["VERSION"] == "3"
    assert json.loads(cli("show", "m", "first", "--format", "json").stdout)["VERSION"] == "1"
    assert cli("tag", "set", "m", "Champion", "k", "v").exit_code == 0  # aliases ignore case
    assert cli("tag", "get", "m", "2", "k").stdout == "v\n"
    assert cli("metric", "set", "m", "DEFAULT", "auc", "0.7").exit_code == 0
    assert cli("metric", "get", "m", "1", "auc").stdout == "0.7\n"
    assert cli("describe", "m", "champion").stdout == ""
    events = json.loads(cli("history", "m", "champion", "--format", "json").stdout)
    assert {e["MODEL_VERSION"] for e in events} == {"2"} and events[0]["OPERATION"] == "SET"
    run = cli("show", "m", "nope")
    assert (run.exit_code, run.stderr) == (3, "Error: The model m/nope does not exist in the current registry.\n")
    run = cli("delete", "m", "champion", "--yes")
    assert (run.exit_code, run.stderr) == (0, "Deleted model m/champion\n")
    versions = [r["VERSION"] for r in json.loads(cli("list", "--format", "json").stdout)]
    assert versions == ["1", "3"]
    listed = json.loads(cli("alias", "list", "m", "--format", "json").stdout)
    assert [r["ALIAS"] for r in listed if not r["SYSTEM"]] == []  # the alias went with its version


def test_aliases_are_never_version_names_nor_system_aliases(cli, three, model_file, sample_csv):
    run = cli("alias", "set", "m", "default", "2")
    assert (run.exit_code, run.stderr) == (
        1, "Error: alias DEFAULT is a system alias (DEFAULT, FIRST, LAST); choose another name\n")
    assert cli("log", model_file, "--name", "m", "--version", "v9", "--sample-input", sample_csv).exit_code == 0
    run = cli("alias", "set", "m", "V9", "1")
    assert run.exit_code == 1 and run.stderr.startswith("Error: alias V9 is the name of a version of model m")
    assert cli("alias", "set", "m", "next", "1").exit_code == 0
    run = cli("log", model_file, "--name", "m", "--version", "next", "--sample-input", sample_csv)
    assert run.exit_code == 1 and run.stderr.startswith("Error: next is an alias of model m")
    run = cli("alias", "unset", "m", "last")
    assert run.exit_code == 1 and "cannot be removed" in run.stderr
    run = cli("alias", "set", "m", "bad/alias", "1")
    assert run.exit_code == 1 and run.stderr.startswith("Error: invalid alias 'bad/alias'")
    run = cli("alias", "set", "nope", "prod", "1")
    assert (run.exit_code, run.stderr) == (3, "Error: The model nope/1 does not exist in the current registry.\n")
    run = cli("alias", "list", "nope")
    assert (run.exit_code, run.stderr) == (3, "Error: Unable to find model nope\n")


def test_list_shows_the_aliases_of_each_version(cli, three):
    assert cli("alias", "set", "m", "prod", "2").exit_code == 0
    rows = json.loads(cli("list", "--format", "json").stdout)
    assert [(r["VERSION"], r["ALIASES"]) for r in rows] == [
        ("1", ["DEFAULT", "FIRST"]), ("2", ["PROD"]), ("3", ["LAST"])]
    assert list(rows[0])[:4] == ["ID", "NAME", "VERSION", "ALIASES"]
    table = cli("list").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "VERSION", "ALIASES"]
    assert "VERSION" in cli("list", "--columns", "NAME,VERSION").stdout  # --columns: as asked, no ALIASES
    assert "ALIASES" not in cli("list", "--columns", "NAME,VERSION").stdout


def test_model_default_describe_tag_show_and_list(cli, three):
    assert cli("model", "default", "m").stdout == "1\n"
    run = cli("model", "default", "m", "3")
    assert (run.exit_code, run.stderr) == (0, "Default version of m is now 3\n")
    assert cli("model", "default", "m").stdout == "3\n"
    assert json.loads(cli("show", "m", "DEFAULT", "--format", "json").stdout)["VERSION"] == "3"
    assert cli("model", "describe", "m", "the model").exit_code == 0
    assert cli("model", "describe", "m").stdout == "the model\n"
    assert cli("describe", "m", "1").stdout == "first\n"  # the version's own description stays
    assert cli("model", "tag", "m", "team", "ml").exit_code == 0
    assert cli("model", "tag", "m", "team").stdout == "ml\n"
    assert json.loads(cli("model", "tag", "m", "--format", "json").stdout) == {"team": "ml"}
    assert cli("tag", "list", "m", "1", "--format", "json").stdout.count("team") == 0  # version tags are apart
    shown = json.loads(cli("model", "show", "m", "--format", "json").stdout)
    assert {k: shown[k] for k in ("NAME", "VERSIONS", "DEFAULT_VERSION", "ALIASES", "DESCRIPTION", "TAGS")} == {
        "NAME": "m", "VERSIONS": ["1", "2", "3"], "DEFAULT_VERSION": "3", "ALIASES": {}, "DESCRIPTION": "the model",
        "TAGS": {"team": "ml"}}
    assert cli("model", "tag", "m", "team", "--unset").exit_code == 0
    run = cli("model", "tag", "m", "team")
    assert (run.exit_code, run.stderr) == (3, "Error: Model m has no tag named team\n")
    rows = json.loads(cli("model", "list", "--format", "json").stdout)
    assert [(r["NAME"], r["VERSIONS"], r["DEFAULT_VERSION"], r["LAST_VERSION"]) for r in rows] == [("m", 3, "3", "3")]
    changes = [(e["ATTRIBUTE_NAME"], e["OLD_VALUE"], e["NEW_VALUE"]) for e in history(cli)
               if e["ATTRIBUTE_NAME"] in ("DEFAULT_VERSION", "MODEL_DESCRIPTION", "MODEL_TAG")]
    assert changes == [("DEFAULT_VERSION", None, "3"), ("MODEL_DESCRIPTION", None, "the model"),
                       ("MODEL_TAG", None, "ml"), ("MODEL_TAG", "ml", None)]


def test_model_rename(cli, three, model_file, sample_csv):
    assert cli("alias", "set", "m", "prod", "2").exit_code == 0
    run = cli("model", "rename", "m", "n")
    assert (run.exit_code, run.stderr) == (0, "Renamed model m to n\n")
    assert json.loads(cli("show", "n", "prod", "--format", "json").stdout)["VERSION"] == "2"
    assert cli("show", "m", "1").exit_code == 3
    assert cli("log", model_file, "--name", "o", "--version", "1", "--sample-input", sample_csv).exit_code == 0
    run = cli("model", "rename", "n", "o")
    assert (run.exit_code, run.stderr) == (4, "Error: Model o already exists.\n")
    run = cli("model", "rename", "zz", "yy")
    assert (run.exit_code, run.stderr) == (3, "Error: Unable to find model zz\n")
    renames = [(e["MODEL_NAME"], e["OLD_VALUE"], e["NEW_VALUE"]) for e in history(cli)
               if e["ATTRIBUTE_NAME"] == "MODEL_NAME"]
    assert renames == [("m", "m", "n")]
