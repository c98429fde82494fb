"""The command line as a whole: help, version, global options, the error funnel."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import typer

from mlreg import __version__
from mlreg.cli.app import app

TOP_COMMANDS = ["create", "log", "list", "show", "describe", "load", "delete", "tag", "metric",
                "history", "gc", "verify"]


def walk(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from walk(sub, (*path, name))


def test_version(cli):
    run = cli("--version")
    assert (run.exit_code, run.stdout, run.stderr) == (0, f"mlreg {__version__}\n", "")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_every_command(cli, flag):
    run = cli(flag)
    assert run.exit_code == 0 and run.stderr == ""
    assert run.stdout.startswith("Usage: mlreg [OPTIONS] COMMAND [ARGS]...")
    for name in TOP_COMMANDS:
        assert f"\n  {name} " in run.stdout
    assert "3 not found" in run.stdout  # exit codes in the epilog


@pytest.mark.parametrize("path", [p for p, _ in walk(typer.main.get_command(app)) if p])
def test_every_command_has_short_help_flag(cli, path):
    run = cli(*path, "-h")
    assert run.exit_code == 0, run
    assert run.stdout.startswith(f"Usage: mlreg {' '.join(path)}")


def test_no_arguments_prints_help_on_stderr_with_usage_exit(cli):
    run = cli()
    assert run.exit_code == 2
    assert "Usage: mlreg [OPTIONS] COMMAND [ARGS]..." in run.stdout + run.stderr


def test_every_command_and_parameter_has_help_text():
    missing = []
    for path, cmd in walk(typer.main.get_command(app)):
        if path and not (cmd.help or "").strip():
            missing.append(" ".join(path))
        for param in cmd.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{' '.join(path) or 'mlreg'} {param.name}")
    assert missing == []


def test_every_command_is_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [" ".join(p) for p, _ in walk(typer.main.get_command(app)) if p and f"mlreg {' '.join(p)}" not in readme]
    assert missing == [], f"README.md does not mention: {missing}"


def test_unknown_command_is_a_usage_error(cli):
    run = cli("frobnicate")
    assert run.exit_code == 2 and run.stdout == ""
    assert "No such command 'frobnicate'" in run.stderr


def test_missing_argument_is_a_usage_error(cli):
    run = cli("show", "m")
    assert run.exit_code == 2 and run.stdout == ""
    assert "Missing argument 'VERSION'" in run.stderr


def test_unknown_registry_is_not_found(cli):
    run = cli("list")
    assert run.exit_code == 3 and run.stdout == ""
    assert run.stderr.startswith("Error: registry MODEL_REGISTRY does not exist at ")
    assert run.stderr.endswith("or `mlreg create`\n") and run.stderr.count("\n") == 1


def test_global_database_option_and_env(cli, logged):
    assert cli("-d", "OTHER", "list").exit_code == 3
    assert cli("--database", "OTHER", "create").exit_code == 0
    run = cli("list", "--format", "csv", env={"MLREG_DATABASE": "OTHER"})
    assert (run.exit_code, run.stdout) == (0, "NAME,VERSION,TYPE,ID,CREATION_TIME,CREATION_ROLE,DESCRIPTION,TAGS,METRICS\n")
    assert cli("-d", "bad name", "list").exit_code == 1


def test_global_home_and_stage(cli, tmp_path, model_file, sample_csv):
    home, stage = tmp_path / "h2", tmp_path / "s2"
    assert cli("--home", home, "--stage", stage, "create").exit_code == 0
    run = cli("--home", home, "--stage", stage, "log", model_file, "-n", "m", "-V", "1", "--sample-input", sample_csv)
    assert run.exit_code == 0
    assert (home / "MODEL_REGISTRY.duckdb").is_file()
    assert (stage / "MODEL_REGISTRY" / run.stdout.strip() / "MANIFEST.json").is_file()
    assert cli("list").exit_code == 3  # the default home has no registry


def test_global_role_is_recorded(cli, logged):
    assert cli("--role", "ci-bot", "tag", "set", "m", "1", "k", "v").exit_code == 0
    run = cli("history", "m", "1", "--limit", "1", "--format", "jsonl")
    assert '"ROLE":"ci-bot"' in run.stdout


def test_connection_from_config_file(cli, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'[connections.ci]\nhome = "{tmp_path / "ci-home"}"\n')
    monkeypatch.delenv("MLREG_HOME")
    monkeypatch.delenv("MLREG_STAGE")
    assert cli("-c", "ci", "create").exit_code == 0
    assert (tmp_path / "ci-home" / "MODEL_REGISTRY.duckdb").is_file()
    run = cli("-c", "nope", "list")
    assert run.exit_code == 3
    assert run.stderr.startswith("Error: connection 'nope' is not defined in ") and "defined: ci" in run.stderr


def test_invalid_config_file_is_one_line_error(cli, tmp_path):
    (tmp_path / "config.toml").write_text("this is = = not toml")
    run = cli("list")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith("Error: config file ") and run.stderr.count("\n") == 1


def test_create_twice_warns_and_exits_zero(cli):
    first = cli("create")
    assert first.exit_code == 0 and first.stdout == ""
    assert first.stderr.startswith("Created registry MODEL_REGISTRY at ")
    second = cli("create")
    assert second.exit_code == 0 and second.stdout == ""
    assert second.stderr.startswith("Warning: registry MODEL_REGISTRY already exists at ")
    assert second.stderr.count("\n") == 1
    quiet = cli("-q", "create")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_verbose_shows_traceback(cli):
    run = cli("-v", "list")
    assert run.exit_code == 3
    assert "Traceback (most recent call last)" in run.stderr
    assert run.stderr.rstrip("\n").splitlines()[-1].startswith("Error: registry MODEL_REGISTRY does not exist")


def test_quiet_keeps_errors(cli):
    run = cli("-q", "list")
    assert run.exit_code == 3 and run.stderr.startswith("Error: ")


def test_unexpected_exception_is_one_line(cli, logged, monkeypatch):
    from mlreg.registry.registry import ModelRegistry

    def boom(self, *a, **k):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(ModelRegistry, "get_tags", boom)
    run = cli("tag", "list", "m", "1")
    assert run.exit_code == 1
    assert run.stderr == "Error: RuntimeError: something broke second line (run with --verbose for the traceback)\n"


def test_interrupt_exits_130(cli, logged, monkeypatch):
    from mlreg.registry.registry import ModelRegistry

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelRegistry, "get_tags", interrupted)
    assert cli("tag", "list", "m", "1").exit_code == 130


def test_python_warnings_become_one_line(cli, logged, monkeypatch):
    from mlreg.registry.registry import ModelRegistry

    original = ModelRegistry.get_tags

    def warn(self, *a, **k):
        warnings.warn("first line\nsecond line", UserWarning, stacklevel=2)
        return original(self, *a, **k)

    monkeypatch.setattr(ModelRegistry, "get_tags", warn)
    run = cli("tag", "list", "m", "1")
    assert run.exit_code == 0
    assert run.stderr == "Warning: first line\n"
    assert cli("-q", "tag", "list", "m", "1").stderr == ""


# -- lazy loading: the root group lists commands from mlreg/cli/command_index.py ----------------
def eager_app() -> typer.Typer:
    """The app as it was built before commands were loaded lazily: the same root callback
    and settings, every command module registered on it at import."""
    import copy
    import importlib

    from mlreg.cli.app import COMMAND_MODULES

    eager = typer.Typer()
    eager.info = copy.copy(app.info)
    eager.info.cls = None  # Typer's own TyperGroup
    eager.registered_callback = app.registered_callback
    for setting in ("rich_markup_mode", "pretty_exceptions_enable", "pretty_exceptions_short", "_add_completion"):
        setattr(eager, setting, getattr(app, setting))
    for module in COMMAND_MODULES:
        importlib.import_module(f"mlreg.cli.commands.{module}").register(eager)
    return eager


@pytest.mark.parametrize("markup", [None, "rich"])
@pytest.mark.parametrize("columns", ["60", "80", "200"])
@pytest.mark.parametrize("args", [["--help"], []])
def test_help_from_the_command_index_equals_help_from_the_commands(monkeypatch, markup, columns, args):
    from typer.testing import CliRunner

    monkeypatch.setattr(app, "rich_markup_mode", markup)
    runner = CliRunner()
    lazy = runner.invoke(app, args, env={"COLUMNS": columns})
    eager = runner.invoke(eager_app(), args, env={"COLUMNS": columns})
    assert (lazy.exit_code, lazy.stdout, lazy.stderr) == (eager.exit_code, eager.stdout, eager.stderr)
    assert "create" in lazy.stdout + lazy.stderr and "deploy" in lazy.stdout + lazy.stderr


def test_command_index_is_the_commands():
    """What scripts/gen_docs.py writes to mlreg/cli/command_index.py (test_cli_docs checks
    that the committed file is it)."""
    from mlreg.cli.app import COMMAND_MODULES
    from mlreg.cli.command_index import COMMANDS
    from mlreg.cli.lazy import build_index

    assert COMMANDS == build_index(COMMAND_MODULES)
    assert [name for name, _module, _panel, _help in COMMANDS] == list(typer.main.get_command(eager_app()).commands)


def test_listing_loads_no_command_and_invoking_loads_one():
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="mlreg")
    root.get_help(ctx)
    assert root.commands._loaded == {}
    tag = root.get_command(ctx, "tag")
    assert list(root.commands._loaded) == ["tag"]
    assert sorted(tag.commands) == ["get", "list", "remove", "set"]
    assert root.get_command(ctx, "frobnicate") is None


def test_index_entry_without_its_command_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(type(typer.main.get_command(app)), "index", [("nope", "sql", None, "Nothing.")])
    root = typer.main.get_command(app)
    with pytest.raises(LookupError, match="mlreg.cli.commands.sql registers no command 'nope': regenerate"):
        root.get_command(typer.Context(root, info_name="mlreg"), "nope")


# -- DuckDB started before Typer loads (mlreg.cli.early) ------------------------------------------
def test_the_early_start_knows_every_global_option_of_the_app():
    from mlreg.cli import early

    root = typer.main.get_command(app)
    values, flags = {}, set()
    for param in root.params:
        if param.is_eager or param.name in ("install_completion", "show_completion"):
            continue  # --version, completion: the early start leaves those lines alone
        if param.is_flag:
            flags.update(param.opts)
        else:
            values.update({name: max(param.opts, key=len) for name in param.opts})
    assert early.VALUE_OPTIONS == values and early.FLAG_OPTIONS == flags


@pytest.mark.parametrize("argv, options", [
    (["list"], {}),
    (["--home", "/x", "-c", "a", "list", "--home", "y"], {"--home": "/x", "--connection": "a"}),
    (["--home=/x", "-q", "--verbose", "tag", "set", "m", "1", "a=b"], {"--home": "/x"}),
    (["-c", "a", "--connection", "b", "-d", "D", "--schema=S", "list"],
     {"--connection": "b", "--database": "D", "--schema": "S"}),
    (["list", "--help"], None), (["-h"], None), (["--version"], None), (["-qv", "list"], None),
    (["--home"], None), ([], None), (["-q"], None), (["--quiet=1", "list"], None), (["--nope", "list"], None),
])
def test_the_early_start_reads_the_global_options_as_click_does(argv, options):
    from mlreg.cli.early import global_options

    assert global_options(argv) == options


def test_the_early_start_leaves_a_bad_configuration_to_the_command(tmp_path, monkeypatch):
    from tests.fixtures.cli import imported_modules

    (tmp_path / "config.toml").write_text(f'[connections.ci]\nhome = "{tmp_path / "ci-home"}"\n')
    names, proc = imported_modules("-c", "nope", "list")
    assert proc.returncode == 3 and "duckdb" not in names
    assert proc.stderr.splitlines()[-1].startswith("Error: connection 'nope' is not defined in ")


def test_the_early_start_leaves_an_error_of_the_environment_to_the_command(tmp_path, logged):
    """The working directory is gone: resolving the configuration fails in the early start
    too, which leaves it to the command to report as one line."""
    import subprocess

    from tests.fixtures.cli import MLREG_BIN, subprocess_env

    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "{MLREG_BIN}" list'],
                          capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("Error: FileNotFoundError: [Errno 2] No such file or directory "
                           "(run with --verbose for the traceback)\n")
