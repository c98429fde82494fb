"""Creating (or upgrading) the registry."""

import typer

from mlreg.cli.context import funnel, get_state

PANEL = "Registry"


@funnel
def create(ctx: typer.Context) -> None:
    """Create the registry, or upgrade an older one.

    When the registry exists already this prints a warning and exits 0, so it is
    safe to run at the start of every Makefile or CI job.
    """
    from mlreg.model_registry import create_model_registry

    state = get_state(ctx)
    session = state.session()
    if create_model_registry(session, database_name=session.database, schema_name=session.schema):
        state.out.message(f"Created registry {session.registry_name()} at {session.store_url()}")


def register(app: typer.Typer) -> None:
    app.command("create", rich_help_panel=PANEL)(create)
