"""The command line and both Python APIs on a PostgreSQL home, end to end: every command
(completions included), history, deployments, verify, gc and the exit codes, with the
real console script against the test session's PostgreSQL server."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.data.harness import SIGNATURES, assert_one_line_error, env, mlreg, mlreg_json, write_signatures
from tests.fixtures.cli import MLREG_BIN, imported_modules


@pytest.fixture
def logged(pg_home, model_file, sample_csv):
    """A PostgreSQL registry with m/1 (stage=prod, acc=0.9) and m/2 (stage=dev)."""
    assert "Created registry MODEL_REGISTRY at postgresql://" in mlreg("create", check=0).stderr
    ids = [mlreg("log", str(model_file), "-n", "m", "-V", v, "--sample-input", str(sample_csv), "-t", f"stage={s}",
                 "-m", f"acc={a}", check=0).stdout.strip() for v, s, a in (("1", "prod", 0.9), ("2", "dev", 0.8))]
    return ids


def test_every_command_works_on_a_postgresql_home(logged, pg_home, pg_server, tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    id1, id2 = logged
    again = mlreg("create", check=0)
    assert again.stderr.startswith("Warning: registry MODEL_REGISTRY already exists at postgresql://")
    rows = mlreg_json("list")
    assert [(r["ID"], r["NAME"], r["VERSION"], r["TAGS"], r["METRICS"]) for r in rows] == [
        (id1, "m", "1", {"stage": "prod"}, {"acc": 0.9}), (id2, "m", "2", {"stage": "dev"}, {"acc": 0.8})]
    assert [r["VERSION"] for r in mlreg_json("list", "--tag", "stage=prod")] == ["1"]
    cheap = mlreg_json("list", "--name", "m", "--where", "(METRICS->>'acc')::DOUBLE < 0.85")
    assert [r["VERSION"] for r in cheap] == ["2"]
    assert mlreg("list", "--columns", "VERSION, TAGS->>'stage' AS s", "--format", "csv", check=0).stdout == \
        "VERSION,s\n1,prod\n2,dev\n"
    mlreg("tag", "set", "m", "1", "stage", "archived", check=0)
    mlreg("metric", "set", "m", "1", "f1", "[1,2]", check=0)
    mlreg("describe", "m", "1", "first", check=0)
    assert mlreg("tag", "get", "m", "1", "stage", check=0).stdout.strip() == "archived"
    assert mlreg_json("metric", "list", "m", "1") == {"acc": 0.9, "f1": [1, 2]}
    assert mlreg("describe", "m", "1", check=0).stdout.strip() == "first"
    assert mlreg_json("show", "m", "1")["DESCRIPTION"] == "first"
    history = mlreg_json("history", "m", "1")
    assert [(e["OPERATION"], e["ATTRIBUTE_NAME"], e["KEY"]) for e in history][-3:] == [
        ("SET", "TAG", "stage"), ("SET", "METRIC", "f1"), ("SET", "DESCRIPTION", "")]
    assert history[-3]["OLD_VALUE"] == "prod" and history[-3]["NEW_VALUE"] == "archived"
    assert mlreg("tag", "remove", "m", "1", "nope").returncode == 3
    assert mlreg("show", "m", "9").returncode == 3
    dup = mlreg("log", str(model_file), "-n", "m", "-V", "1")
    assert dup.returncode == 4 and dup.stderr.startswith("Error: Model m/1 already exists.")
    assert [r["OK"] for r in mlreg_json("verify")] == [True, True]

    # a warehouse deployment: its function runs in the local DuckDB, its record lives in PostgreSQL
    mlreg("deploy", "create", "m", "1", "score_m", check=0)
    records = pg_server.sql('SELECT name, platform FROM "MODEL_REGISTRY".deployments',
                            pg_home.rsplit("/", 1)[1])
    assert records == [("score_m", "warehouse")]
    assert mlreg_json("sql", "SELECT score_m(1.0, 2.0) AS y") == [{"y": 3.0}]
    (tmp_path / "in.csv").write_text("a,b\n1,2\n3,4\n")
    scored = mlreg_json("predict", "score_m", "--input", str(tmp_path / "in.csv"))
    assert [r["output_feature_0"] for r in scored] == [3, 7]
    assert [d["NAME"] for d in mlreg_json("deploy", "list")] == ["score_m"]
    # a service: it runs on this machine (its state files in the per-machine state directory)
    mlreg("deploy", "create", "m", "1", "svc", "--platform", "service", check=0)
    try:
        scored = mlreg_json("predict", "svc", "--input", str(tmp_path / "in.csv"))
        assert [r["output_feature_0"] for r in scored] == [3, 7]
        assert {d["NAME"]: d["STATUS"] for d in mlreg_json("deploy", "list")} == {"score_m": "ready", "svc": "running"}
        assert list((tmp_path / "state").rglob("services"))  # XDG_STATE_HOME of the test
    finally:
        mlreg("deploy", "delete", "svc", check=0)

    out = tmp_path / "pkg"
    mlreg("load", "m", "2", "--output", str(out), check=0)
    assert (out / "MANIFEST.json").is_file()
    mlreg("delete", "m", "2", "--yes", "--keep-artifact", check=0)
    assert [e["ENTRY"] for e in mlreg_json("gc", "--dry-run")] == [id2]
    assert [e["ENTRY"] for e in mlreg_json("gc")] == [id2]
    assert [r["VERSION"] for r in mlreg_json("list")] == ["1"]
    assert mlreg_json("history", "m", "2")[-1]["ATTRIBUTE_NAME"] == "DELETION"  # history outlives deletion


def _complete(words: str) -> list[str]:
    proc = subprocess.run([str(MLREG_BIN)], capture_output=True, text=True, timeout=120,
                          env=env({"_MLREG_COMPLETE": "complete_bash", "COMP_WORDS": words,
                                   "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_completions_read_the_postgresql_registry(logged):
    assert _complete("mlreg show ") == ["m"]
    assert _complete("mlreg show m ") == ["1", "2", "DEFAULT", "FIRST", "LAST"]  # versions, then aliases
    assert _complete("mlreg tag get m 1 ") == ["stage"]


def test_the_python_apis_work_unchanged(logged, pg_home):
    import duckdb

    import mlreg as api
    from mlreg import model_registry
    from mlreg.frame import DataFrame

    session = api.connect()
    assert session.home == pg_home and str(session.home).startswith("postgresql://")
    registry = model_registry.ModelRegistry(session)
    models = registry.list_models()
    assert isinstance(models, DataFrame) and isinstance(models.relation, duckdb.DuckDBPyRelation)
    assert models.filter("TAGS->>'stage' = 'prod'").select("VERSION").fetchall() == [("1",)]
    assert registry.get_tag_value("m", "1", "stage") == "prod"
    registry.set_metric("m", "2", "auc", float("nan"))
    assert registry.get_metrics("m", "2")["auc"] != registry.get_metrics("m", "2")["auc"]  # NaN survives
    assert registry.load_model("m", "1").predict([[1.0, 2.0]]) is not None
    history = registry.get_model_history("m", "2")
    assert history.select("ATTRIBUTE_NAME").fetchall()[-1] == ("METRIC",)
    ref = model_registry.ModelReference(registry=registry, model_name="m", model_version="2")
    assert ref.get_tags() == {"stage": "dev"}
    assert registry.url.startswith("postgresql://") and registry.url.endswith("#MODEL_REGISTRY")


def test_a_shared_home_without_a_stage_is_refused_before_anything_is_written(pg_url, monkeypatch, model_file,
                                                                            sample_csv):
    monkeypatch.setenv("MLREG_HOME", pg_url)
    monkeypatch.delenv("MLREG_STAGE")
    mlreg("create", check=0)
    proc = mlreg("log", str(model_file), "-n", "m", "-V", "1", "--sample-input", str(sample_csv))
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr)
    assert "no stage is set" in proc.stderr and "MLREG_STAGE" in proc.stderr
    assert mlreg_json("list") == []


def test_an_unreachable_server_exits_5_naming_host_and_port(monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLREG_HOME", f"postgresql://alice:hunter2@127.0.0.1:{port}/team")
    monkeypatch.setenv("MLREG_STAGE", str(tmp_path / "stage"))
    for args in (["list"], ["create"], ["-v", "history"]):
        proc = mlreg(*args)
        assert proc.returncode == 5, proc
        assert f"127.0.0.1:{port}" in proc.stderr and "hunter2" not in proc.stderr + proc.stdout
        if "-v" not in args:
            assert_one_line_error(proc.stderr)
            assert "check that the server is running" in proc.stderr


def test_a_lock_held_past_mlreg_lock_timeout_exits_5(logged, pg_home):
    import psycopg

    with psycopg.connect(pg_home) as other:  # another machine's transaction holds m/1's row
        other.execute('SELECT 1 FROM "MODEL_REGISTRY".models WHERE version = %s FOR UPDATE', ["1"])
        proc = mlreg("tag", "set", "m", "1", "stage", "x", extra_env={"MLREG_LOCK_TIMEOUT": "1"})
        assert proc.returncode == 5, proc
        assert_one_line_error(proc.stderr)
        assert "busy" in proc.stderr and "MLREG_LOCK_TIMEOUT" in proc.stderr
        assert mlreg("tag", "set", "m", "2", "stage", "x", extra_env={"MLREG_LOCK_TIMEOUT": "1"}).returncode == 0
    assert mlreg("tag", "get", "m", "1", "stage", check=0).stdout.strip() == "prod"  # nothing changed


def test_create_is_idempotent_when_several_machines_run_it_at_once(pg_home):
    procs = [subprocess.Popen([str(MLREG_BIN), "create"], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in outcomes] == [0] * 6, outcomes
    assert sum(err.startswith("Created registry") for _, err in outcomes) == 1
    assert mlreg_json("list") == []


def test_list_on_a_directory_home_does_not_import_the_postgresql_driver(mlreg_bin):
    assert mlreg_bin("create").exit_code == 0
    for args in (["--help"], ["list"]):
        names, proc = imported_modules(*args, env=env())
        assert proc.returncode == 0
        assert "mlreg" in names and "psycopg" not in names and "psycopg_binary" not in names


def test_signatures_and_deletion_through_the_api(pg_home, tmp_path):
    from mlreg import model_registry
    from tests.fixtures.models import SumModel

    import mlreg as api

    session = api.connect()
    model_registry.create_model_registry(session)
    registry = model_registry.ModelRegistry(session)
    sig = json.loads(write_signatures(tmp_path / "sig.json").read_text())
    assert sig == SIGNATURES
    from mlreg.model_signature import normalize_signatures

    registry.log_model(SumModel(), "s", "1", signatures=normalize_signatures(SIGNATURES))
    assert json.loads(registry.describe_model("s", "1")["INPUT_SPEC"]) == {"predict": SIGNATURES["predict"]["inputs"]}
    registry.delete_model("s", "1")
    assert registry.list_models().count("*").fetchall() == [(0,)]
    assert not os.listdir(tmp_path / "shared-stage" / "MODEL_REGISTRY")


def _listings(*args: str) -> dict[str, str]:
    """``mlreg list ARGS`` in every format, read without DuckDB and (``--where true``, which
    only a relation can apply) through it."""
    out = {}
    for fmt in ("json", "jsonl", "table", "csv", "tsv", "markdown"):
        fast = mlreg("list", *args, "--format", fmt, check=0).stdout
        through_duckdb = mlreg("list", *args, "--where", "true", "--format", fmt, check=0).stdout
        assert fast == through_duckdb, (args, fmt)
        out[fmt] = fast
    return out


def test_list_reads_postgresql_without_duckdb_and_prints_the_same(logged, pg_home):
    """The listing's fast path (no --where, --order-by, SQL --columns or --as-of) reads
    rows as text and prints exactly what the relation path prints, also for JSON that an
    older version wrote with spaces and escapes, and numbers DuckDB spells its own way."""
    mlreg("tag", "set", "m", "1", "owner=Équipe données", "note=a, b: c", check=0)
    mlreg("metric", "set", "m", "1", "tiny=1e-07", "big=2.5e+20", "huge=1e300", "nested={\"a\": [1.50, -0, 3]}",
          check=0)
    mlreg("describe", "m", "2", "line one\nligne « deux »", check=0)
    mlreg("alias", "set", "m", "champion", "2", check=0)
    # a row as an older mlreg wrote it: JSON with spaces and \u escapes
    import psycopg

    with psycopg.connect(pg_home, autocommit=True) as conn:
        conn.execute('SET search_path TO "MODEL_REGISTRY"')
        conn.execute("""UPDATE listing SET creation_context = '{"user": "Jos\\u00e9", "n": 1E2, "x": [ ]}'"""
                     " WHERE version = '1'")

    every = _listings()
    rows = json.loads(every["json"])
    assert [(r["VERSION"], r["ALIASES"]) for r in rows] == [("1", ["DEFAULT", "FIRST"]), ("2", ["CHAMPION", "LAST"])]
    assert rows[0]["CREATION_CONTEXT"] == {"user": "José", "n": 100.0, "x": []}
    assert rows[0]["METRICS"]["tiny"] == 1e-07 and rows[0]["TAGS"]["owner"] == "Équipe données"
    assert '"tiny":1e-7' in every["json"] and '"n":100.0' in every["json"]  # DuckDB's spelling, both ways
    assert rows[1]["DESCRIPTION"] == "line one\nligne « deux »"
    for args in (["--name", "m"], ["--tag", "stage=prod"], ["--tag", "stage=nope"], ["--limit", "1"],
                 ["--limit", "0"], ["--columns", "version,NAME,tags,creation_time"], ["--columns", "METRICS"],
                 ["--name", "m", "--tag", "stage=dev", "--columns", "ID"], ["--name", "nope"]):
        _listings(*args)
    assert [r["VERSION"] for r in json.loads(_listings("--tag", "stage=prod")["json"])] == ["1"]


def test_list_on_a_postgresql_home_does_not_import_duckdb(logged, pg_home):
    for args, duckdb_wanted in ((["list"], False), (["list", "--tag", "stage=prod", "--format", "json"], False),
                                (["list", "--where", "true"], True)):
        names, proc = imported_modules(*args, env=env())
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "psycopg" in names and ("duckdb" in names) == duckdb_wanted, args
