"""The one renderer: every --format, exactly."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from mlreg.cli.output import Format, Output, Table, markdown_table, plain_table

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
TABLE = Table(
    ["NAME", "N", "X", "WHEN", "TAGS", "OK", "NOTE"],
    [("a", 1, 0.5, WHEN, '{"k": "v"}', True, None),
     ("b|c", 22, float("nan"), None, "{}", False, 'say "hi"\nbye')],
    frozenset({"TAGS"}),
)


def render(capsys, fmt: Format, data: Table = TABLE) -> str:
    Output().table(data, fmt)
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_table_plain(capsys):
    assert render(capsys, Format.table).splitlines() == [
        "NAME  N   X    WHEN                       TAGS       OK     NOTE",
        'a     1   0.5  2026-01-02T01:04:05+00:00  {"k":"v"}  true',
        'b|c   22  NaN                             {}         false  say "hi"\\nbye',
    ]


def test_json(capsys):
    assert json.loads(render(capsys, Format.json)) == [
        {"NAME": "a", "N": 1, "X": 0.5, "WHEN": "2026-01-02T01:04:05.678000+00:00", "TAGS": {"k": "v"},
         "OK": True, "NOTE": None},
        {"NAME": "b|c", "N": 22, "X": pytest.approx(float("nan"), nan_ok=True), "WHEN": None, "TAGS": {},
         "OK": False, "NOTE": 'say "hi"\nbye'},
    ]


def test_jsonl(capsys):
    lines = render(capsys, Format.jsonl).splitlines()
    assert len(lines) == 2
    assert lines[0] == ('{"NAME":"a","N":1,"X":0.5,"WHEN":"2026-01-02T01:04:05.678000+00:00",'
                        '"TAGS":{"k":"v"},"OK":true,"NOTE":null}')
    assert json.loads(lines[1])["NOTE"] == 'say "hi"\nbye'


@pytest.mark.parametrize("fmt, delimiter", [(Format.csv, ","), (Format.tsv, "\t")])
def test_csv_and_tsv(capsys, fmt, delimiter):
    rows = list(csv.reader(io.StringIO(render(capsys, fmt)), delimiter=delimiter))
    assert rows == [
        ["NAME", "N", "X", "WHEN", "TAGS", "OK", "NOTE"],
        ["a", "1", "0.5", "2026-01-02T01:04:05.678000+00:00", '{"k":"v"}', "true", ""],
        ["b|c", "22", "NaN", "", "{}", "false", 'say "hi"\nbye'],
    ]


def test_markdown(capsys):
    assert render(capsys, Format.markdown).splitlines() == [
        "| NAME | N | X | WHEN | TAGS | OK | NOTE |",
        "|---|---|---|---|---|---|---|",
        '| a | 1 | 0.5 | 2026-01-02T01:04:05.678000+00:00 | {"k":"v"} | true |  |',
        '| b\\|c | 22 | NaN |  | {} | false | say "hi"<br>bye |',
    ]


def test_empty_table(capsys):
    empty = Table(["A", "B"], [])
    assert render(capsys, Format.table, empty) == "A  B\n"
    assert render(capsys, Format.json, empty) == "[]\n"
    assert render(capsys, Format.jsonl, empty) == ""
    assert render(capsys, Format.csv, empty) == "A,B\n"
    assert render(capsys, Format.markdown, empty) == "| A | B |\n|---|---|\n"


def test_record(capsys):
    out = Output()
    rec = {"ID": "x", "TAGS": '{"a": "1"}', "N": 2}
    out.record(rec, Format.json, json_keys=["TAGS"])
    assert json.loads(capsys.readouterr().out) == {"ID": "x", "TAGS": {"a": "1"}, "N": 2}
    out.record(rec, Format.table, json_keys=["TAGS"])
    assert capsys.readouterr().out == 'ID    x\nTAGS  {"a":"1"}\nN     2\n'
    out.record(rec, Format.csv, json_keys=["TAGS"])
    assert capsys.readouterr().out == 'ID,TAGS,N\nx,"{""a"":""1""}",2\n'
    out.record(rec, Format.markdown, json_keys=["TAGS"])
    assert capsys.readouterr().out == '| FIELD | VALUE |\n|---|---|\n| ID | x |\n| TAGS | {"a":"1"} |\n| N | 2 |\n'


def test_mapping_and_value(capsys):
    out = Output()
    out.mapping({"a": [1, 2], "b": "x"}, Format.json, key="METRIC")
    assert json.loads(capsys.readouterr().out) == {"a": [1, 2], "b": "x"}
    out.mapping({"a": [1, 2], "b": "x"}, Format.table, key="METRIC")
    assert capsys.readouterr().out == "METRIC  VALUE\na       [1,2]\nb       x\n"
    out.value("text", Format.table)
    out.value("text", Format.json)
    out.value("text", Format.table, raw_string=False)
    out.value(float("inf"), Format.table)
    assert capsys.readouterr().out == 'text\n"text"\n"text"\nInfinity\n'


def test_messages_go_to_stderr_and_quiet_silences_them(capsys):
    Output().message("hello")
    Output().warning("careful")
    Output().error("broken")
    assert capsys.readouterr() == ("", "hello\nWarning: careful\nError: broken\n")
    quiet = Output(quiet=True)
    quiet.message("hello")
    quiet.warning("careful")
    quiet.error("broken")
    assert capsys.readouterr() == ("", "Error: broken\n")


def test_helpers():
    assert plain_table(["A", "LONG"], [["1", "2"], ["333", ""]]) == ["A    LONG", "1    2", "333"]
    assert markdown_table(["A"], [["x|y"]]) == ["| A |", "|---|", "| x\\|y |"]


def test_plain_table_escapes_and_aligns_on_the_escaped_text():
    rows = [["a\tb", "c:\\d", "x"], ["plain", "ünïcode €", "y"], ["", "\x1b[31m", "line\nbreak"]]
    assert plain_table(["K", "V", "LAST"], rows) == [
        "K      V          LAST",
        "a\\tb   c:\\\\d      x",
        "plain  ünïcode €  y",
        "       \\x1b[31m   line\\nbreak",  # every control character escaped: nothing a terminal acts on
    ]


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_through_list(cli, logged, fmt):
    run = cli("list", "--format", fmt.value)
    assert run.exit_code == 0 and run.stderr == ""
    if fmt is Format.json:
        assert json.loads(run.stdout)[0]["NAME"] == "m"
    elif fmt is Format.jsonl:
        assert json.loads(run.stdout.splitlines()[0])["ID"] == logged
    elif fmt in (Format.csv, Format.tsv):
        rows = list(csv.DictReader(io.StringIO(run.stdout), delimiter="," if fmt is Format.csv else "\t"))
        assert rows[0]["ID"] == logged
    elif fmt is Format.markdown:
        lines = run.stdout.splitlines()
        assert len(lines) == 3 and all(line.startswith("|") and line.endswith("|") for line in lines)
        assert lines[1] == "|" + "|".join(["---"] * 10) + "|"
        assert {line.count(" | ") for line in lines[::2]} == {9}
    else:
        assert run.stdout.splitlines()[0].split() == [
            "NAME", "VERSION", "ALIASES", "TYPE", "ID", "CREATION_TIME", "CREATION_ROLE", "DESCRIPTION", "TAGS", "METRICS"]


def test_format_is_case_insensitive_and_validated(cli, logged):
    assert cli("list", "--format", "JSON").exit_code == 0
    bad = cli("list", "--format", "xml")
    assert bad.exit_code == 2 and "xml" in bad.stderr


def test_timestamps_as_utc_text_render_as_the_datetimes_do(capsys):
    """`mlreg list` has DuckDB write timestamps as UTC text (table_from_relation(utc_text=True)):
    every format prints what it prints from the datetimes."""
    import duckdb

    from mlreg.cli.output import table_from_relation

    rel = duckdb.connect().sql(
        "SELECT * FROM (VALUES ('a', TIMESTAMPTZ '2026-01-02 03:04:05.678+02', '{\"k\": 1}'::JSON),"
        " ('b', TIMESTAMPTZ '2026-01-02 03:04:05+00', NULL), ('c', NULL, '[]'::JSON),"
        " ('d', TIMESTAMPTZ '1969-07-20 20:17:40.000001+00', '{}'::JSON)) t(NAME, STAMP, TAGS)")
    as_datetimes, as_text = table_from_relation(rel), table_from_relation(rel, utc_text=True)
    assert as_text.utc_columns == {"STAMP"} and as_text.rows[0][1] == "2026-01-02T01:04:05.678000"
    for fmt in Format:
        assert render(capsys, fmt, as_text) == render(capsys, fmt, as_datetimes), fmt
    assert render(capsys, Format.jsonl, as_text).splitlines()[:2] == [
        '{"NAME":"a","STAMP":"2026-01-02T01:04:05.678000+00:00","TAGS":{"k":1}}',
        '{"NAME":"b","STAMP":"2026-01-02T03:04:05+00:00","TAGS":null}',
    ]
