"""Housekeeping: gc (orphan packages) and verify (checksums)."""

from typing import Annotated

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format, table_from_records
from mlreg.cli.params import FormatOpt, OptNameArg, OptVersionArg, name_and_version
from mlreg.errors import IntegrityError

PANEL = "Registry"

GC_COLUMNS = ["ENTRY", "URI", "TEMPORARY", "SIZE"]
VERIFY_COLUMNS = ["NAME", "VERSION", "ID", "OK", "CHANGED", "MISSING", "EXTRA"]


@funnel
def gc(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Remove this registry's stage entries that no registry entry references.

    These are leftovers of failed or interrupted logs and packages kept by
    delete --keep-artifact. Only entries that prove they are this registry's (its
    registry ID in a package's manifest or a temporary's name) are removed: never
    another registry's packages on a shared stage, nor anything that is not a
    package. Prints what was (or would be) removed.
    """
    state = get_state(ctx)
    entries = state.registry().gc(dry_run=dry_run)
    records = [{"ENTRY": e.name, "URI": e.uri, "TEMPORARY": e.temporary, "SIZE": e.size} for e in entries]
    state.out.table(table_from_records(records, GC_COLUMNS), fmt)
    verb = "Would remove" if dry_run else "Removed"
    state.out.message(f"{verb} {len(entries)} stage entr{'y' if len(entries) == 1 else 'ies'}")


@funnel
def verify(
    ctx: typer.Context,
    name: OptNameArg = None,
    version: OptVersionArg = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Check model packages against their recorded checksums (BLAKE3, or sha256 for older packages).

    Checks one model version, or every one. Prints a row per package and exits 6
    when any file is changed, missing or extra.
    """
    state = get_state(ctx)
    which = name_and_version(name, version)
    results = state.registry().verify(*(which or ()))
    records = [
        {"NAME": r.name, "VERSION": r.version, "ID": r.id, "OK": r.ok,
         "CHANGED": r.changed, "MISSING": r.missing, "EXTRA": r.extra}
        for r in results
    ]
    state.out.table(table_from_records(records, VERIFY_COLUMNS), fmt)
    bad = [f"{r.name}/{r.version}" for r in results if not r.ok]
    if bad:
        raise IntegrityError(
            f"{len(bad)} of {len(results)} model package(s) failed verification: {', '.join(bad)}"
        )
    state.out.message(f"Verified {len(results)} model package(s): all intact")


def register(app: typer.Typer) -> None:
    app.command("gc", rich_help_panel=PANEL)(gc)
    app.command("verify", rich_help_panel=PANEL)(verify)
