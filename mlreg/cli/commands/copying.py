"""Copying the registry to another home (a directory or a PostgreSQL database)."""

from typing import Annotated, Optional

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.params import FormatOpt

PANEL = "Registry"


@funnel
def copy(
    ctx: typer.Context,
    to: Annotated[str, typer.Option(
        "--to", metavar="HOME_OR_URL", show_default=False,
        help="The home to copy to: a directory, or a postgresql://USER@HOST[:PORT]/DBNAME URL "
             "(password: PGPASSWORD or ~/.pgpass).")],
    to_database: Annotated[Optional[str], typer.Option(
        "--database", metavar="NAME",
        help="Name of the registry there (default: the name of this one).")] = None,
    to_stage: Annotated[Optional[str], typer.Option(
        "--to-stage", metavar="URL",
        help="Copy the packages to this stage (verified), instead of leaving them where they are.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Copy this registry, whole, to another home: every model version with its ID,
    creation time and role, context, description, tags, metrics, signatures and
    deployment records, and its complete history.

    Creates the target registry if needed. Safe to run again after an interruption:
    what is there already is skipped. A target holding a conflicting version exits 4
    before anything is written. Packages stay where they are unless --to-stage is given.
    """
    from mlreg.registry.copying import copy_registry

    state = get_state(ctx)
    result = copy_registry(state.registry(), to, database_name=to_database, to_stage=to_stage)
    for warning in result.warnings:
        state.out.warning(warning)
    record = {"TARGET": result.target, "VERSIONS_COPIED": result.versions_copied,
              "VERSIONS_PRESENT": result.versions_present, "DELETED_HISTORIES_COPIED": result.histories_copied,
              "EVENTS_COPIED": result.events_copied, "DEPLOYMENTS_COPIED": result.deployments_copied,
              "PACKAGES_COPIED": result.packages_copied}
    if fmt is not Format.table:
        state.out.record(record, fmt)
    state.out.message(
        f"Copied {result.versions_copied} model version(s) ({result.events_copied} events) to {result.target}"
        + (f"; {result.versions_present} were there already" if result.versions_present else ""))


def register(app: typer.Typer) -> None:
    app.command("copy", rich_help_panel=PANEL)(copy)
