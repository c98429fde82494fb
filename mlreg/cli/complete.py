"""Shell completion of model names, versions, tags and metrics from the registry.

Called by the completion scripts in completions/ (through Typer) while the user
presses TAB: the global options typed so far choose the registry. A completion
never fails loudly; any problem just means no suggestions.
"""

import os
from typing import Any, Callable, Optional

import typer

#: Typer analyses each completion callback's signature when it builds the command tree,
#: on every run; attach them only when a shell asks for completions (startup is a feature)
ACTIVE = "_MLREG_COMPLETE" in os.environ


def when_completing(callback: Callable[..., Any]) -> Optional[Callable[..., Any]]:
    return callback if ACTIVE else None


def _state(ctx: typer.Context) -> Any:
    from mlreg.cli.context import State

    g = ctx.find_root().params
    return State(connection=g.get("connection"), home=g.get("home"), stage=g.get("stage"),
                 database=g.get("database"), schema=g.get("schema"), role=g.get("role"),
                 quiet=True)


def _quietly(fetch: Callable[[typer.Context], list[str]]) -> Callable[[typer.Context, str], list[str]]:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        try:
            values = fetch(ctx)
        except Exception:  # no registry, busy, bad config: no suggestions
            return []
        return sorted(v for v in set(values) if v.startswith(incomplete))

    complete.__name__ = fetch.__name__
    return complete


@_quietly
def model_names(ctx: typer.Context) -> list[str]:
    from mlreg.cli import query

    with _state(ctx).registry().versions.scan() as models:
        return [str(row[0]) for row in query.filter_models(models, columns=["NAME"]).fetchall()]


@_quietly
def model_versions(ctx: typer.Context) -> list[str]:
    from mlreg.cli import query

    name = ctx.params.get("name")
    if not name:
        return []
    registry = _state(ctx).registry()
    with registry.versions.scan(name=name) as models:
        versions = [str(row[0]) for row in query.filter_models(models, columns=["VERSION"]).fetchall()]
    if versions:  # an alias is accepted wherever a version is
        versions += [*registry.get_aliases(name), "DEFAULT", "FIRST", "LAST"]
    return versions


@_quietly
def alias_names(ctx: typer.Context) -> list[str]:
    name = ctx.params.get("name")
    return list(_state(ctx).registry().get_aliases(name)) if name else []


@_quietly
def tag_names(ctx: typer.Context) -> list[str]:
    return list(_state(ctx).registry().get_tags(ctx.params["name"], ctx.params["version"]))


@_quietly
def metric_names(ctx: typer.Context) -> list[str]:
    return list(_state(ctx).registry().get_metrics(ctx.params["name"], ctx.params["version"]))
