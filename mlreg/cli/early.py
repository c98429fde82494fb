"""Start DuckDB before Typer loads, when the invocation plainly runs a command on a DuckDB
registry (called by :mod:`mlreg.cli.entry`, before anything else is imported).

Every command opens the registry, and on a DuckDB home it waits for the process's DuckDB
instance (``duckdb.connect()``, ≈ 20 ms), which starts without holding the GIL: begun
here (``mlreg.store.prepare``), it overlaps importing Typer and the command instead of
following them. This is a guess made from the command line before Click parses it: it
decides only when DuckDB starts, never what runs. Anything it does not plainly understand
(an option it does not know, a help or completion request, a configuration error) leaves
it all to the command, which starts DuckDB when it opens the registry, as it always does;
the command resolves the configuration again and reports what is wrong with it.
"""

from __future__ import annotations

import os
import warnings

#: the root's options that take a value, by each of their names (tests/test_cli_app.py
#: checks them against the app)
VALUE_OPTIONS = {"--connection": "--connection", "-c": "--connection", "--home": "--home", "--stage": "--stage",
                 "--database": "--database", "-d": "--database", "--schema": "--schema", "--role": "--role"}
#: the root's options that take none and leave the command to run
FLAG_OPTIONS = frozenset({"--quiet", "-q", "--verbose", "-v"})
#: what asks for help anywhere on the line (nothing opens the registry then)
HELP_OPTIONS = frozenset({"--help", "-h"})


def global_options(argv: list[str]) -> dict[str, str] | None:
    """The global options before the command by their long names, as Click would read
    them (``--opt VALUE``, ``--opt=VALUE``, the last one given wins), when a command
    follows them and no help is asked for; None when the line is anything else."""
    if HELP_OPTIONS.intersection(argv):
        return None
    options: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            return options  # the command
        name, eq, value = arg.partition("=")
        if name in VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                i += 1
                value = argv[i]
            options[VALUE_OPTIONS[name]] = value
        elif eq or name not in FLAG_OPTIONS:
            return None
        i += 1
    return None  # no command: Click prints the help


def start_duckdb(argv: list[str]) -> None:
    """Begin starting DuckDB in the background if ``argv`` runs a command on a registry that
    resolves to a DuckDB file (see the module docstring)."""
    if "_MLREG_COMPLETE" in os.environ:
        return
    options = global_options(argv)
    if options is None:
        return
    from mlreg import config
    from mlreg.store import prepare, store_url

    overrides = {key: options.get(f"--{key}") for key in ("home", "database", "schema")}
    try:
        with warnings.catch_warnings():  # the command's own resolution shows them
            warnings.simplefilter("ignore")
            settings = config.resolve(overrides=overrides, connection=options.get("--connection"))
            url = store_url(settings.home, settings.database, settings.schema)
    except Exception:  # noqa: BLE001 - a guess only: the command meets the same error and reports it
        return
    prepare(url)
