"""mlreg tag ... and mlreg metric ..."""

from __future__ import annotations

import json

import pytest


# -- tags ---------------------------------------------------------------------------------------------
def test_tag_list_get_set_remove(cli, logged):
    run = cli("tag", "set", "m", "1", "owner", "data team")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Set tag owner of m/1\n")
    assert cli("tag", "list", "m", "1").stdout == "TAG    VALUE\nowner  data team\nstage  testing\n"
    assert json.loads(cli("tag", "list", "m", "1", "--format", "json").stdout) == {"owner": "data team", "stage": "testing"}
    assert cli("tag", "get", "m", "1", "owner").stdout == "data team\n"
    assert cli("tag", "get", "m", "1", "owner", "--format", "json").stdout == '"data team"\n'
    run = cli("tag", "remove", "m", "1", "owner")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Removed tag owner of m/1\n")
    assert cli("tag", "list", "m", "1", "--format", "jsonl").stdout == '{"TAG":"stage","VALUE":"testing"}\n'


def test_tag_values_round_trip(cli, logged):
    for value in ["", "with spaces", "x=y", "ünïcödé", "line\nbreak", "0.5", "-1", "--not-an-option"]:
        assert cli("tag", "set", "m", "1", "t", "--", value).exit_code == 0
        assert json.loads(cli("tag", "get", "m", "1", "t", "--format", "json").stdout) == value


def test_tag_unknown_exits_3_and_lists_tags(cli, logged):
    for args in (["get", "m", "1", "nope"], ["remove", "m", "1", "nope"]):
        run = cli("tag", *args)
        assert (run.exit_code, run.stdout) == (3, "")
        assert run.stderr == 'Error: Model m/1 has no tag named nope. Full list of tags: ["stage"]\n'


def test_tag_unknown_model_exits_3(cli, logged):
    for args in (["list", "m", "2"], ["get", "m", "2", "stage"], ["set", "m", "2", "a", "b"], ["remove", "m", "2", "a"]):
        run = cli("tag", *args)
        assert run.exit_code == 3
        assert run.stderr == "Error: The model m/2 does not exist in the current registry.\n"


def test_tag_invalid_name_exits_1(cli, logged):
    run = cli("tag", "set", "m", "1", "a=b", "v")
    assert run.exit_code == 1 and run.stderr.startswith("Error: invalid tag name 'a=b'")


def test_tag_group_without_subcommand_shows_help(cli):
    run = cli("tag")
    assert run.exit_code == 2
    assert "list" in run.stdout + run.stderr


# -- metrics ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value, printed", [
    ("0.93", 0.93, "0.93"),
    ("42", 42, "42"),
    ("[[1, 2], [3, 4]]", [[1, 2], [3, 4]], "[[1,2],[3,4]]"),
    ('{"p": 0.1, "r": [1]}', {"p": 0.1, "r": [1]}, '{"p":0.1,"r":[1]}'),
    ("true", True, "true"),
    ("null", None, "null"),
    ("word", "word", '"word"'),
    ('"quoted"', "quoted", '"quoted"'),
    ("-Infinity", float("-inf"), "-Infinity"),
    ("-0.5", -0.5, "-0.5"),
])
def test_metric_set_and_get(cli, logged, text, value, printed):
    run = cli("metric", "set", "m", "1", "x", text)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Set metric x of m/1\n")
    assert cli("metric", "get", "m", "1", "x").stdout == printed + "\n"
    assert json.loads(cli("metric", "list", "m", "1", "--format", "json").stdout)["x"] == value


def test_values_that_start_with_a_dash(cli, logged):
    assert cli("metric", "set", "m", "1", "delta", "-3").exit_code == 0
    assert cli("metric", "get", "m", "1", "delta").stdout == "-3\n"
    assert cli("tag", "set", "m", "1", "t", "-x").exit_code == 0
    assert cli("tag", "get", "m", "1", "t").stdout == "-x\n"
    assert cli("describe", "m", "1", "-- dashes").exit_code == 0
    assert cli("describe", "m", "1").stdout == "-- dashes\n"


def test_metric_nan(cli, logged):
    assert cli("metric", "set", "m", "1", "x", "NaN").exit_code == 0
    assert cli("metric", "get", "m", "1", "x", "--format", "json").stdout == "NaN\n"


def test_metric_list_table(cli, logged):
    cli("metric", "set", "m", "1", "cm", "[[1, 0], [0, 1]]")
    assert cli("metric", "list", "m", "1").stdout == "METRIC  VALUE\nacc     0.5\ncm      [[1,0],[0,1]]\n"


@pytest.mark.parametrize("text", ["{bad", "[1, 2", '"unterminated'])
def test_metric_invalid_json_exits_1(cli, logged, text):
    run = cli("metric", "set", "m", "1", "x", text)
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith(f"Error: metric value {text!r} is not valid JSON: ")
    assert cli("metric", "get", "m", "1", "x").exit_code == 3


def test_metric_from_files(cli, logged, tmp_path):
    import numpy as np

    npy = tmp_path / "cm.npy"
    np.save(npy, np.array([[5, 1], [2, 7]]))
    assert cli("metric", "set", "m", "1", "cm", "--file", npy).exit_code == 0
    assert cli("metric", "get", "m", "1", "cm").stdout == "[[5,1],[2,7]]\n"
    js = tmp_path / "report.json"
    js.write_text('{"auc": 0.9}')
    assert cli("metric", "set", "m", "1", "report", "--file", js).exit_code == 0
    assert cli("metric", "get", "m", "1", "report").stdout == '{"auc":0.9}\n'


def test_metric_file_errors(cli, logged, tmp_path):
    both = cli("metric", "set", "m", "1", "x", "1", "--file", tmp_path / "a.json")
    assert (both.exit_code, both.stderr) == (2, "Error: give the metric VALUE or --file FILE (one of them)\n")
    neither = cli("metric", "set", "m", "1", "x")
    assert neither.exit_code == 2
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("1")
    run = cli("metric", "set", "m", "1", "x", "--file", csv_file)
    assert (run.exit_code, run.stderr) == (1, f"Error: metric file {csv_file} must be .json or .npy, not .csv\n")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    run = cli("metric", "set", "m", "1", "x", "--file", bad_json)
    assert run.exit_code == 1 and run.stderr.startswith(f"Error: metric file {bad_json} is not valid JSON")
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_text("not numpy")
    run = cli("metric", "set", "m", "1", "x", "--file", bad_npy)
    assert run.exit_code == 1 and run.stderr.startswith(f"Error: metric file {bad_npy} is not a NumPy .npy array")
    missing = cli("metric", "set", "m", "1", "x", "--file", tmp_path / "missing.json")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: cannot read metric file ")


def test_metric_unknown_exits_3_and_lists_metrics(cli, logged):
    for args in (["get", "m", "1", "nope"], ["remove", "m", "1", "nope"]):
        run = cli("metric", *args)
        assert (run.exit_code, run.stdout) == (3, "")
        assert run.stderr == 'Error: Model m/1 has no metric named nope. Full list of metrics: ["acc"]\n'


def test_metric_remove(cli, logged):
    run = cli("metric", "remove", "m", "1", "acc")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Removed metric acc of m/1\n")
    assert cli("metric", "list", "m", "1", "--format", "json").stdout == "{}\n"
    assert cli("metric", "list", "m", "1").stdout == "METRIC  VALUE\n"


# -- several pairs at once --------------------------------------------------------------------------------
def _events(cli, attribute):
    rows = json.loads(cli("history", "m", "1", "--format", "json").stdout)
    return [(r["KEY"], r["OLD_VALUE"], r["NEW_VALUE"]) for r in rows if r["ATTRIBUTE_NAME"] == attribute]


def test_tag_set_several_pairs_one_event_each(cli, logged):
    before = _events(cli, "TAG")
    run = cli("tag", "set", "m", "1", "stage=prod", "owner=data team", "expr=a=b")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Set tags stage, owner, expr of m/1\n")
    assert json.loads(cli("tag", "list", "m", "1", "--format", "json").stdout) == {
        "expr": "a=b", "owner": "data team", "stage": "prod"}
    assert _events(cli, "TAG")[len(before):] == [
        ("stage", "testing", "prod"), ("owner", None, "data team"), ("expr", None, "a=b")]
    run = cli("tag", "set", "m", "1", "solo=x")  # one pair in the K=V form
    assert (run.exit_code, run.stderr) == (0, "Set tag solo of m/1\n")
    assert cli("tag", "get", "m", "1", "solo").stdout == "x\n"


@pytest.mark.parametrize("args, message", [
    (["a=1", "b=2", "c"], "Error: give TAG VALUE, or one or more TAG=VALUE pairs; got 'c'\n"),
    (["a=1", "=2"], "Error: give TAG VALUE, or one or more TAG=VALUE pairs; got '=2'\n"),
    (["a=1", "a=2"], "Error: tag a is given twice\n"),
    (["lonely"], "Error: give TAG VALUE, or one or more TAG=VALUE pairs; got 'lonely'\n"),
])
def test_tag_set_bad_pairs_exit_2_and_change_nothing(cli, logged, args, message):
    history = cli("history", "m", "1", "--format", "json").stdout
    run = cli("tag", "set", "m", "1", *args)
    assert (run.exit_code, run.stdout, run.stderr) == (2, "", message)
    assert cli("history", "m", "1", "--format", "json").stdout == history


def test_tag_set_pairs_with_one_bad_name_write_nothing(cli, logged):
    history = cli("history", "m", "1", "--format", "json").stdout
    run = cli("tag", "set", "m", "1", "good=1", "bad\tname=2")
    assert run.exit_code == 1 and run.stderr.startswith("Error: invalid tag name 'bad\\tname'")
    assert cli("history", "m", "1", "--format", "json").stdout == history


def test_metric_set_several_pairs_one_event_each(cli, logged):
    run = cli("metric", "set", "m", "1", "acc=0.93", "cm=[[1, 2], [3, 4]]", "note=good", "delta=-0.5")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "Set metrics acc, cm, note, delta of m/1\n")
    assert json.loads(cli("metric", "list", "m", "1", "--format", "json").stdout) == {
        "acc": 0.93, "cm": [[1, 2], [3, 4]], "delta": -0.5, "note": "good"}
    assert [key for key, _old, _new in _events(cli, "METRIC")][-4:] == ["acc", "cm", "note", "delta"]
    assert cli("metric", "set", "m", "1", "a=1", "--file", "x.json").exit_code == 2
    history = cli("history", "m", "1", "--format", "json").stdout
    run = cli("metric", "set", "m", "1", "x=1", "y=2", "z")
    assert (run.exit_code, run.stderr) == (2, "Error: give METRIC VALUE, or one or more METRIC=VALUE pairs; got 'z'\n")
    assert cli("history", "m", "1", "--format", "json").stdout == history
