"""The console script ``mlreg`` (and ``python -m mlreg``).

``mlreg --help`` (or ``-h``) with nothing else, its output not on a terminal and at
least 80 columns (what Click wraps the help at, at most), prints the root help as Typer
renders it there, pre-rendered by ``scripts/gen_docs.py`` into ``mlreg.cli.root_help``,
without importing Typer or anything else; tests/test_cli_docs.py fails when the page is
out of date, tests/test_cli_process.py when it differs from what Typer prints. Anything
else (a terminal, which may get the Rich rendering; fewer columns; shell completion, which
Click runs whatever the arguments) goes to :func:`mlreg.cli.app.main`.
"""

import os
import sys

from mlreg.cli.terminal import is_terminal, silence_stdout

#: the environment variable with which a shell asks Click for completions
COMPLETE_VAR = "_MLREG_COMPLETE"


def main() -> None:
    if sys.argv[1:] in (["--help"], ["-h"]) and _plain_help_as_rendered():
        from mlreg.cli.root_help import TEXT

        try:
            sys.stdout.write(TEXT)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away: end quietly, as commands do
            silence_stdout()
        sys.exit(0)
    from mlreg.cli.early import start_duckdb

    start_duckdb(sys.argv[1:])  # in the background, while Typer and the command load
    from mlreg.cli.app import main as app_main

    app_main()


def _plain_help_as_rendered() -> bool:
    """Whether Typer would print exactly the pre-rendered page: plain (not a terminal),
    wrapped at 80 columns (Click's most: ``COLUMNS``, else the output's width, else 80),
    and not asked for completions."""
    if COMPLETE_VAR in os.environ or is_terminal(sys.stdout):
        return False
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    return columns <= 0 or columns >= 80
