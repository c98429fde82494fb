"""mlreg gc, mlreg verify, and a busy registry."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest


def package_dir(cli, name: str, version: str) -> Path:
    return Path(json.loads(cli("show", name, version, "--format", "json").stdout)["URI"])


def test_gc_removes_kept_packages(cli, logged):
    uri = package_dir(cli, "m", "1")
    cli("delete", "m", "1", "--yes", "--keep-artifact")
    dry = cli("gc", "--dry-run", "--format", "json")
    assert dry.exit_code == 0 and dry.stderr == "Would remove 1 stage entry\n"
    assert json.loads(dry.stdout) == [{"ENTRY": logged, "URI": str(uri), "TEMPORARY": False, "SIZE": None}]
    assert uri.is_dir()
    run = cli("gc")
    assert run.exit_code == 0 and run.stderr == "Removed 1 stage entry\n"
    assert run.stdout.splitlines()[0].split() == ["ENTRY", "URI", "TEMPORARY", "SIZE"]
    assert not uri.exists()
    again = cli("gc", "--format", "csv")
    assert (again.exit_code, again.stdout, again.stderr) == (0, "ENTRY,URI,TEMPORARY,SIZE\n", "Removed 0 stage entries\n")


def test_gc_keeps_registered_packages(cli, logged):
    run = cli("gc", "--format", "json")
    assert (run.exit_code, run.stdout) == (0, "[]\n")
    assert package_dir(cli, "m", "1").is_dir()


def test_verify_all_intact(cli, logged):
    run = cli("verify", "--format", "json")
    assert run.exit_code == 0 and run.stderr == "Verified 1 model package(s): all intact\n"
    assert json.loads(run.stdout) == [{"NAME": "m", "VERSION": "1", "ID": logged, "OK": True,
                                       "CHANGED": [], "MISSING": [], "EXTRA": []}]


def test_verify_reports_changes_with_exit_6(cli, logged, model_file, sample_csv):
    cli("log", model_file, "-n", "m", "-V", "2", "--sample-input", sample_csv)
    pkg = package_dir(cli, "m", "1")
    with open(pkg / "model" / "model.pkl", "ab") as f:
        f.write(b"x")
    (pkg / "extra.txt").write_text("x")
    os.remove(pkg / "MANIFEST.json")
    run = cli("verify", "--format", "json")
    assert run.exit_code == 6
    assert run.stderr == "Error: 1 of 2 model package(s) failed verification: m/1\n"
    rows = json.loads(run.stdout)
    assert rows[0] == {"NAME": "m", "VERSION": "1", "ID": logged, "OK": False, "CHANGED": ["model/model.pkl"],
                       "MISSING": ["MANIFEST.json"], "EXTRA": ["extra.txt"]}
    assert rows[1]["OK"] is True
    assert cli("verify", "m", "2").exit_code == 0
    one = cli("verify", "m", "1", "--format", "markdown")
    assert one.exit_code == 6
    assert one.stdout.splitlines()[:2] == ["| NAME | VERSION | ID | OK | CHANGED | MISSING | EXTRA |", "|---|---|---|---|---|---|---|"]


def test_verify_arguments(cli, logged):
    assert cli("verify", "m").exit_code == 2
    run = cli("verify", "m", "404")
    assert run.exit_code == 3 and run.stderr == "Error: The model m/404 does not exist in the current registry.\n"


def test_verify_empty_registry(cli):
    cli("create")
    run = cli("verify", "--format", "json")
    assert (run.exit_code, run.stdout) == (0, "[]\n")


@pytest.fixture
def held_lock(hermetic_env: Path):
    """Hold the registry's write lock, as another process in the middle of a write would."""
    fd = os.open(hermetic_env / "MODEL_REGISTRY.duckdb.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@pytest.mark.parametrize("args", [["list"], ["tag", "set", "m", "1", "a", "b"], ["metric", "get", "m", "1", "acc"],
                                  ["history"], ["create"]])
def test_busy_registry_exits_5(cli, logged, held_lock, monkeypatch, args):
    monkeypatch.setenv("MLREG_LOCK_TIMEOUT", "0.5")
    run = cli(*args)
    assert run.exit_code == 5 and run.stdout == ""
    assert run.stderr.startswith("Error: registry ") and "is busy: lock not acquired within 0.5 s" in run.stderr
    assert run.stderr.count("\n") == 1


def test_corrupt_registry_exits_6(cli, logged, hermetic_env):
    db = hermetic_env / "MODEL_REGISTRY.duckdb"
    db.write_bytes(b"this is not a duckdb file" * 100)
    run = cli("list")
    assert run.exit_code == 6 and run.stdout == ""
    assert run.stderr.startswith("Error: registry file ") and run.stderr.count("\n") == 1
