"""The installed console script, run for real in subprocesses: startup imports, pipes,
terminals, locks."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cli import MLREG_BIN, imported_modules, subprocess_env

HEAVY = {"pandas", "pyarrow", "numpy", "sklearn", "torch", "tensorflow", "keras", "xgboost", "lightgbm",
         "mlflow", "snowflake", "cloudpickle", "scipy", "joblib", "pyspark", "py4j"}


@pytest.fixture
def registry_with_model(mlreg_bin, model_file, sample_csv):
    assert mlreg_bin("create").exit_code == 0
    run = mlreg_bin("log", model_file, "-n", "m", "-V", "1", "--sample-input", sample_csv, "-t", "stage=dev",
                    "-m", "acc=0.9")
    assert run.exit_code == 0, run
    return run.stdout.strip()


def test_help_imports_no_duckdb_rich_or_frameworks():
    names, proc = imported_modules("--help")
    assert proc.returncode == 0 and "Usage: mlreg" in proc.stdout
    assert "mlreg" in names
    assert names & (HEAVY | {"duckdb", "rich", "typer"}) == set()  # the pre-rendered page (mlreg.cli.entry)
    assert "typing" not in names  # nor typing (with re and enum, ~6 ms): see mlreg/__init__.py


TYPER_MAIN = "from mlreg.cli.app import main; main()"  # what the console script ran before mlreg.cli.entry


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("columns", [None, "80", "200", "60", "x"])
def test_root_help_is_typers_without_importing_it(flag, columns):
    """Off a terminal, `mlreg --help` prints the pre-rendered page (mlreg.cli.root_help)
    where it is what Typer prints, without importing Typer; elsewhere Typer renders it."""
    env = {} if columns is None else {"COLUMNS": columns}
    names, proc = imported_modules(flag, env=env)
    typers = subprocess.run([sys.executable, "-c", TYPER_MAIN, flag], capture_output=True, text=True,
                            env=subprocess_env(env), timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr.count("Error")) == (0, typers.stdout, 0)
    assert proc.stdout.startswith("Usage: mlreg [OPTIONS] COMMAND [ARGS]...")
    assert ("typer" in names) == (columns == "60"), names  # 60 columns: wrapped narrower, by Typer
    assert "mlreg" in names  # sanity: the parse found the imports


def test_root_help_with_completion_asked_is_typers():
    """A shell asking for completions (Click's _MLREG_COMPLETE) gets them, whatever the arguments."""
    env = subprocess_env({"_MLREG_COMPLETE": "complete_bash", "COMP_WORDS": "mlreg --he", "COMP_CWORD": "1"})
    proc = subprocess.run([str(MLREG_BIN), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert (proc.returncode, proc.stdout) == (0, "--help\n"), proc


def test_root_help_into_a_closed_pipe_is_quiet():
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run([str(MLREG_BIN), "--help"], stdout=write_end, stderr=subprocess.PIPE, text=True,
                          env=subprocess_env(), timeout=60)
    os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_commands_are_imported_only_when_invoked(registry_with_model):
    # the lazy group imports a command module with importlib, which -X importtime does not show
    dump = ("import atexit, sys; atexit.register(lambda: sys.stderr.write("
            "'MODULES ' + ' '.join(sorted(sys.modules)) + '\\n')); from mlreg.cli.app import main; main()")

    def command_modules(*args: str) -> set[str]:
        proc = subprocess.run([sys.executable, "-c", dump, *args], capture_output=True, text=True,
                              env=subprocess_env(), timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        names = proc.stderr.rsplit("MODULES ", 1)[1].split()
        assert "mlreg.cli.app" in names  # sanity: the dump is of this run
        return {n.rsplit(".", 1)[1] for n in names if n.startswith("mlreg.cli.commands.")}

    assert command_modules("--help") == set()
    assert command_modules("list") == {"models"}
    assert command_modules("tag", "list", "m", "1") == {"tags"}
    assert command_modules("metric", "-h") == {"metrics"}


@pytest.mark.parametrize("args", [["list"], ["list", "--format", "json"], ["tag", "list", "m", "1"],
                                  ["metric", "list", "m", "1"], ["history"], ["tag", "get", "m", "1", "stage"],
                                  ["metric", "get", "m", "1", "acc"], ["show", "m", "1"]])
def test_read_commands_import_no_frameworks(registry_with_model, args):
    modules, proc = imported_modules(*args, full=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {"duckdb", "mlreg.registry.versions"} <= modules  # sanity: the parse found the imports
    assert {name.split(".")[0] for name in modules} & HEAVY == set()
    # nor the parts of a registry that reading never needs: promotion (the rule parser,
    # gates, diffs, cards), deployments, maintenance
    assert modules & {"mlreg.policy", "mlreg.registry.gate", "mlreg.registry.diff", "mlreg.registry.card",
                      "mlreg.registry.asof", "mlreg.registry.promote", "mlreg.registry.promotion",
                      "mlreg.registry.snapshot", "mlreg.registry.maintenance", "mlreg.registry.deployments",
                      "mlreg.deploy.base"} == set()


def test_full_flow(mlreg_bin, registry_with_model):
    run = mlreg_bin("list", "--format", "json")
    assert run.exit_code == 0 and run.stderr == ""
    rows = json.loads(run.stdout)
    assert [(r["ID"], r["TAGS"], r["METRICS"]) for r in rows] == [(registry_with_model, {"stage": "dev"}, {"acc": 0.9})]
    dup = mlreg_bin("log", "missing.pkl", "-n", "m", "-V", "1")
    # the duplicate is refused before the (possibly large) model file is even read
    assert dup.exit_code == 4 and dup.stderr.startswith("Error: Model m/1 already exists.")
    missing = mlreg_bin("log", "missing.pkl", "-n", "m", "-V", "2")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: model file missing.pkl does not exist")
    assert mlreg_bin("tag", "get", "m", "1", "nope").exit_code == 3


def test_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mlreg", "--version"], capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)
    assert proc.returncode == 0 and re.fullmatch(r"mlreg \S+\n", proc.stdout)


def test_broken_pipe_is_quiet(registry_with_model, mlreg_bin, model_file, sample_csv):
    for v in range(2, 12):
        mlreg_bin("tag", "set", "m", "1", f"t{v}", "x" * 2000)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away, like `| head -1` after its line
    proc = subprocess.run([str(MLREG_BIN), "history", "--format", "json"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, env=subprocess_env(), timeout=60)
    os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_pipe_to_head(registry_with_model):
    proc = subprocess.run(f"'{MLREG_BIN}' history | head -1", shell=True, capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.split()[0] == "EVENT_ID"


def test_no_colour_when_piped(mlreg_bin, monkeypatch):
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.delenv("TERM")
    run = mlreg_bin("list")
    assert run.exit_code == 3 and run.stderr.startswith("Error: registry")
    assert "\x1b" not in run.stderr + run.stdout


def run_on_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the console script with stdin/stdout/stderr on a pseudo-terminal; all output."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(str(MLREG_BIN), [str(MLREG_BIN), *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    os.close(fd)
    return b"".join(chunks).decode()


def test_terminal_table_and_no_color(registry_with_model):
    env = subprocess_env({"TERM": "xterm-256color", "COLUMNS": "200"})
    env.pop("NO_COLOR", None)
    coloured = run_on_terminal(["list", "--columns", "NAME,VERSION"], env)
    assert "NAME" in coloured and "\x1b[" in coloured  # Rich styles the header on a terminal
    plain = run_on_terminal(["list", "--columns", "NAME,VERSION"], {**env, "NO_COLOR": "1"})
    assert "NAME" in plain and not re.search(r"\x1b\[[0-9;]*3[0-9]m", plain)  # no colour codes
    error = run_on_terminal(["show", "m", "404"], {**env, "NO_COLOR": "1"})
    assert "Error: The model m/404 does not exist" in error and "\x1b" not in error


def test_free_text_cannot_drive_the_terminal(registry_with_model, mlreg_bin):
    """Escape sequences, C1 codes and bidi overrides in a description or a tag are shown
    escaped on a terminal (the lines of a description kept), and as stored when piped."""
    text = "evil \x1b]0;title\x07\x1b[2J\x1b[31mred\x1b[0m \u202eabc\x85\nsecond line"
    assert mlreg_bin("describe", "m", "1", text).exit_code == 0
    assert mlreg_bin("tag", "set", "m", "1", "note", "x\x1b[31mred").exit_code == 0
    env = subprocess_env({"TERM": "xterm-256color", "COLUMNS": "200", "NO_COLOR": "1"})
    for args in (["describe", "m", "1"], ["show", "m", "1"], ["tag", "list", "m", "1"], ["list"]):
        out = run_on_terminal(args, env)
        assert "\x1b]" not in out and "\x1b[2J" not in out and "\x1b[31m" not in out and "\u202e" not in out, args
        assert "\x85" not in out, args
    described = run_on_terminal(["describe", "m", "1"], env)
    assert "evil \\x1b]0;title\\x07\\x1b[2J\\x1b[31mred\\x1b[0m \\u202eabc\\x85" in described
    assert "second line" in described.splitlines()[-1]
    assert r"x\x1b[31mred" in run_on_terminal(["tag", "list", "m", "1"], env)
    assert mlreg_bin("describe", "m", "1").stdout == text + "\n"  # piped: the text as stored


def test_busy_registry_subprocess(registry_with_model, mlreg_bin, hermetic_env):
    fd = os.open(Path(hermetic_env) / "MODEL_REGISTRY.duckdb.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        run = mlreg_bin("tag", "set", "m", "1", "a", "b", env={"MLREG_LOCK_TIMEOUT": "0.5"})
    finally:
        os.close(fd)
    assert run.exit_code == 5 and run.stdout == ""
    assert "is busy: lock not acquired within 0.5 s" in run.stderr
    assert mlreg_bin("tag", "get", "m", "1", "a").exit_code == 3  # nothing was written
