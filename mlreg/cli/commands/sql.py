"""``mlreg sql QUERY``: DuckDB SQL with every warehouse deployment as a function."""

from typing import Annotated

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format, table_from_relation
from mlreg.cli.params import FormatOpt


@funnel
def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(metavar="QUERY", show_default=False, help="DuckDB SQL; the last statement's result is printed.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Run DuckDB SQL in which every permanent warehouse deployment is a function.

    A deployment takes its signature's input features in order and returns its output,
    or a STRUCT of the named outputs when there are several (``f(a, b).output_feature_1``).
    Quote names with '-' or '.': ``"churn-v3"(age, plan)``. The tables ``models``,
    ``history`` and ``deployments`` are copies of the registry's lists (changing them
    changes nothing in the registry); files are read as in DuckDB, e.g.

        mlreg sql "SELECT id, churn_v3(age, plan) FROM 'customers.parquet'"

    It changes nothing outside its own in-memory database: ATTACH, DETACH, COPY,
    EXPORT, INSTALL, LOAD, SET, PRAGMA, CALL and VACUUM are refused.
    """
    state = get_state(ctx)
    rel = state.registry().sql(query)
    if rel is not None:
        state.out.table(table_from_relation(rel), fmt)


def register(app: typer.Typer) -> None:
    app.command("sql", rich_help_panel="Deployments")(sql)
