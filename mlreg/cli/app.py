"""The ``mlreg`` command: global options, and the command modules registered on it.

Each module in ``mlreg/cli/commands/`` exposes ``register(app)``; add new ones to
``COMMAND_MODULES``. Commands are thin: parse, one call into the core, render
through :class:`mlreg.cli.output.Output`, errors through :func:`mlreg.cli.context.funnel`.
"""

import importlib
import sys
from typing import Annotated, Optional

import typer

from mlreg._version import __version__
from mlreg.cli.context import State
from mlreg.cli.output import Output, color_allowed

COMMAND_MODULES = [
    "registry", "copying", "models", "tags", "metrics", "history", "maintenance",
    "serve", "deploy", "predict", "sql",
]

GLOBAL = "Global options"

app = typer.Typer(
    name="mlreg",
    epilog=(
        "Exit codes: 0 success, 1 error, 2 usage error, 3 not found, 4 already exists, "
        "5 registry busy, 6 integrity failure, 130 interrupted. See mlreg(1)."
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    # plain Click help by default (fast, no Rich); main() switches to Rich on a terminal
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mlreg {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    connection: Annotated[Optional[str], typer.Option(
        "--connection", "-c", metavar="NAME", rich_help_panel=GLOBAL,
        help="Named connection of the config file (env MLREG_CONNECTION).")] = None,
    home: Annotated[Optional[str], typer.Option(
        "--home", metavar="DIR|URL", rich_help_panel=GLOBAL,
        help="Directory that holds the registry files, or a postgresql://USER@HOST[:PORT]/DBNAME URL "
             "of a shared registry database (env MLREG_HOME).")] = None,
    stage: Annotated[Optional[str], typer.Option(
        "--stage", metavar="URL", rich_help_panel=GLOBAL,
        help="Stage directory or fsspec URL for model packages (env MLREG_STAGE).")] = None,
    database: Annotated[Optional[str], typer.Option(
        "--database", "-d", metavar="NAME", rich_help_panel=GLOBAL,
        help="Registry name, default MODEL_REGISTRY (env MLREG_DATABASE).")] = None,
    role: Annotated[Optional[str], typer.Option(
        "--role", metavar="NAME", rich_help_panel=GLOBAL,
        help="Who acts, recorded in the history (env MLREG_ROLE; default: the OS user).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", rich_help_panel=GLOBAL,
        help="Print no messages or warnings on stderr, only data and errors.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", rich_help_panel=GLOBAL,
        help="Show the Python traceback with an error.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, rich_help_panel=GLOBAL,
        help="Print the mlreg version and exit.")] = False,
) -> None:
    """A model registry that lives in a file: DuckDB metadata and a stage directory
    of model packages, for shells, Makefiles and CI."""
    ctx.obj = State(connection=connection, home=home, stage=stage, database=database,
                    role=role, quiet=quiet, verbose=verbose, out=Output(quiet=quiet))


for _module in COMMAND_MODULES:
    importlib.import_module(f"mlreg.cli.commands.{_module}").register(app)


def main() -> None:
    """Console-script entry point."""
    if color_allowed(sys.stdout):
        app.rich_markup_mode = "rich"
    app(prog_name="mlreg")
