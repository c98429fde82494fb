"""History: every change, from the append-only event log."""

from typing import Annotated, Any, Optional

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.params import FormatOpt, OptNameArg, OptVersionArg, name_and_version
from mlreg.errors import NotFound


@funnel
def history(
    ctx: typer.Context,
    name: OptNameArg = None,
    version: OptVersionArg = None,
    limit: Annotated[Optional[int], typer.Option("--limit", metavar="N", min=0,
                                                 help="Only the N most recent events.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the history of the registry, or of one model version, oldest first.

    Every registration, description, tag, metric, deployment and deletion is an
    event; the history of a model version outlives its deletion. Columns:
    EVENT_ID, EVENT_TIMESTAMP, MODEL_ID, MODEL_NAME, MODEL_VERSION, ROLE,
    OPERATION, ATTRIBUTE_NAME, KEY, OLD_VALUE, NEW_VALUE.
    """
    from mlreg.cli import query

    state = get_state(ctx)
    which = name_and_version(name, version)
    registry = state.registry()

    def fetch(version: str | None) -> Any:
        with registry.versions.scan_history() as history:  # filtered where it lies: no copy
            rel = query.model_history(history, name, version, limit)
            if fmt not in (Format.json, Format.jsonl):
                rel = query.select_columns(rel, query.HISTORY_COLUMNS)
            return query.fetch(rel)

    table = fetch(version)
    if which and not table.rows and limit != 0:
        try:  # an alias (DEFAULT, FIRST, LAST or one set) of a version that exists
            named = registry.get_model(name, version).version
        except NotFound:
            raise NotFound(f"The model {name}/{version} has no history in the current registry.") from None
        table = fetch(named)
    state.out.table(table, fmt)


def register(app: typer.Typer) -> None:
    app.command("history", rich_help_panel="Metadata")(history)
