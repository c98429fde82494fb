"""Aliases and models as a whole: ``mlreg alias set|unset|list`` and
``mlreg model list|show|default|describe|rename|tag``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlreg.cli import complete
from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format, Table
from mlreg.cli.params import AsOfOpt, FormatOpt, NameArg, VersionArg

AliasArg = Annotated[str, typer.Argument(
    metavar="ALIAS", show_default=False, help="Alias name (case-insensitive; kept upper-cased).",
    autocompletion=complete.when_completing(complete.alias_names))]

alias_app = typer.Typer(
    help="Set, unset and list the aliases of a model: names of its versions that move "
         "(DEFAULT, FIRST and LAST are the system's). An alias is accepted wherever a VERSION is.",
    no_args_is_help=True,
)
model_app = typer.Typer(
    help="Models as a whole (every version of a NAME): list, show, default version, description, tags, rename.",
    no_args_is_help=True,
)


@alias_app.command("set")
@funnel
def set_alias(ctx: typer.Context, name: NameArg, alias: AliasArg, version: VersionArg) -> None:
    """Point ALIAS at a version of the model (a version name or an alias); it moves from
    any version that holds it. Recorded in the history with the version it left."""
    state = get_state(ctx)
    target = state.registry().set_alias(name, alias, version)
    state.out.message(f"Alias {alias.upper()} of {name} now names version {target}")


@alias_app.command("unset")
@funnel
def unset_alias(ctx: typer.Context, name: NameArg, alias: AliasArg) -> None:
    """Remove an alias of the model (exit 3, listing its aliases, when it has no such alias)."""
    state = get_state(ctx)
    was = state.registry().unset_alias(name, alias)
    state.out.message(f"Removed alias {alias.upper()} of {name} (it named version {was})")


@alias_app.command("list")
@funnel
def list_aliases(ctx: typer.Context, name: NameArg, fmt: FormatOpt = Format.table, as_of: AsOfOpt = None) -> None:
    """List the aliases of a model and the versions they name: those set, then the system's
    DEFAULT, FIRST and LAST (column SYSTEM). With --as-of, the aliases set at that moment
    (from the history)."""
    from mlreg.registry import aliases

    state = get_state(ctx)
    if as_of is not None:
        past = state.registry().as_of(as_of).get_aliases(name)
        state.out.table(Table(["ALIAS", "VERSION", "SYSTEM"], [(a, v, False) for a, v in past.items()]), fmt)
        return
    info = state.registry().models.info(name)
    rows: list[tuple[str, str | None, bool]] = [(a, v, False) for a, v in aliases.user_aliases(info).items()]
    rows += [(a, aliases.resolve(info, a), True) for a in aliases.SYSTEM_ALIASES]
    state.out.table(Table(["ALIAS", "VERSION", "SYSTEM"], rows), fmt)


@alias_app.command("protect")
@funnel
def protect_alias(
    ctx: typer.Context,
    name: NameArg,
    alias: AliasArg,
    policy: Annotated[Path, typer.Option("--policy", "-p", metavar="FILE", show_default=False,
                                         help="Policy file (TOML) every promotion to the alias must pass.")],
) -> None:
    """Protect an alias with a policy stored in the registry: it then moves only through
    `mlreg promote`, which applies the policy; `alias set`/`unset` of it exit 7. Recorded
    in the history (as is `unprotect`)."""
    state = get_state(ctx)
    stored = state.registry().protect_alias(name, alias, policy)
    state.out.message(f"Protected alias {alias.upper()} of {name} with policy {stored.name}")


@alias_app.command("unprotect")
@funnel
def unprotect_alias(ctx: typer.Context, name: NameArg, alias: AliasArg) -> None:
    """Remove the protection of an alias (exit 3 when it has none)."""
    state = get_state(ctx)
    state.registry().unprotect_alias(name, alias)
    state.out.message(f"Alias {alias.upper()} of {name} is no longer protected")


@alias_app.command("history")
@funnel
def alias_history(
    ctx: typer.Context,
    name: NameArg,
    alias: Annotated[Optional[str], typer.Argument(
        metavar="ALIAS", show_default=False, help="Only this alias (default: every alias of the model).",
        autocompletion=complete.when_completing(complete.alias_names))] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Every version that has held the model's aliases, oldest first: ALIAS, VERSION, FROM,
    TO (empty while it holds it), ROLE, PREVIOUS, POLICIES (names, sha256 and results of
    the policies a promotion passed)."""
    from mlreg.cli.output import Table as T

    state = get_state(ctx)
    rows = state.registry().get_alias_history(name, alias)
    columns = ["ALIAS", "VERSION", "FROM", "TO", "ROLE", "PREVIOUS", "POLICIES"]
    state.out.table(T(columns, [tuple(r[c] for c in columns) for r in rows]), fmt)


def _model_rows(infos: list) -> Table:
    from mlreg.registry import aliases

    rows = []
    for info in infos:
        held = aliases.user_aliases(info)
        rows.append((info.name, len(info.versions), aliases.default_version(info), info.versions[-1],
                     ", ".join(f"{a}={v}" for a, v in held.items()), _utc(info.created_time)))
    return Table(["NAME", "VERSIONS", "DEFAULT_VERSION", "LAST_VERSION", "ALIASES", "CREATED"], rows)


def _utc(when) -> str:
    from datetime import timezone

    return when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@model_app.command("list")
@funnel
def list_models(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List models (one row per NAME), oldest first: their number of versions, default and
    last version, and aliases."""
    state = get_state(ctx)
    state.out.table(_model_rows(state.registry().models.all()), fmt)


@model_app.command("show")
@funnel
def show_model(ctx: typer.Context, name: NameArg, fmt: FormatOpt = Format.table) -> None:
    """Show one model: its versions (oldest first), default version, aliases, description and tags."""
    import json

    from mlreg.records import MODEL_DESCRIPTION, MODEL_TAG
    from mlreg.registry import aliases

    state = get_state(ctx)
    info = state.registry().models.info(name)
    description = info.values(MODEL_DESCRIPTION).get("")
    record = {
        "NAME": info.name, "CREATED": _utc(info.created_time), "VERSIONS": list(info.versions),
        "DEFAULT_VERSION": aliases.default_version(info), "ALIASES": aliases.user_aliases(info),
        "DESCRIPTION": json.loads(description) if description is not None else None,
        "TAGS": {k: json.loads(v) for k, v in info.values(MODEL_TAG).items()},
    }
    state.out.record(record, fmt, json_keys=("VERSIONS", "ALIASES", "TAGS"))


@model_app.command("default")
@funnel
def default_version(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[Optional[str], typer.Argument(
        metavar="VERSION", show_default=False, help="Version (or alias) to make the default. Omit to print it.",
        autocompletion=complete.when_completing(complete.model_versions))] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print the default version of a model (the alias DEFAULT: the one set, else the
    first registered), or set it."""
    state = get_state(ctx)
    registry = state.registry()
    if version is None:
        state.out.value(registry.get_default_version(name), fmt)
        return
    target = registry.set_default_version(name, version)
    state.out.message(f"Default version of {name} is now {target}")


@model_app.command("describe")
@funnel
def describe_model(
    ctx: typer.Context,
    name: NameArg,
    text: Annotated[Optional[str], typer.Argument(
        metavar="TEXT", show_default=False, help="New description; '-' reads it from stdin. Omit to print it.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print the model-level description (the model's comment), or set it."""
    import sys

    state = get_state(ctx)
    models = state.registry().models
    if text is None:
        description = models.description(name)
        if description is not None or fmt is not Format.table:
            state.out.value(description, fmt)
        return
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    models.set_description(name, text)
    state.out.message(f"Set the description of model {name}")


@model_app.command("tag")
@funnel
def model_tag(
    ctx: typer.Context,
    name: NameArg,
    tag: Annotated[Optional[str], typer.Argument(metavar="TAG", show_default=False,
                                                 help="Tag name. Omit to list the model's tags.")] = None,
    value: Annotated[Optional[str], typer.Argument(metavar="VALUE", show_default=False,
                                                   help="Value to set. Omit to print the tag.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the tag.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """List, get, set (TAG VALUE) or remove (TAG --unset) model-level tags, which belong to
    the model rather than to one version (version tags: `mlreg tag`)."""
    from mlreg.errors import NotFound, UsageError

    state = get_state(ctx)
    models = state.registry().models
    if tag is None:
        if unset:
            raise UsageError("--unset needs a TAG")
        state.out.mapping(models.tags(name), fmt, key="TAG")
    elif unset:
        if value is not None:
            raise UsageError("give TAG alone with --unset")
        if not models.unset_tag(name, tag):
            raise NotFound(f"Model {name} has no tag named {tag}")
        state.out.message(f"Removed tag {tag} of model {name}")
    elif value is None:
        tags = models.tags(name)
        if tag not in tags:
            raise NotFound(f"Model {name} has no tag named {tag}")
        state.out.value(tags[tag], fmt)
    else:
        models.set_tag(name, tag, value)
        state.out.message(f"Set tag {tag} of model {name}")


@model_app.command("rename")
@funnel
def rename_model(
    ctx: typer.Context,
    name: NameArg,
    new_name: Annotated[str, typer.Argument(metavar="NEW_NAME", show_default=False, help="The model's new name.")],
) -> None:
    """Rename a model: every version, its deployment records, aliases and model-level tags
    (exit 4 when NEW_NAME has versions). The history keeps the old name in past events."""
    state = get_state(ctx)
    state.registry().rename_model(name, new_name)
    state.out.message(f"Renamed model {name} to {new_name}")


def register(app: typer.Typer) -> None:
    app.add_typer(alias_app, name="alias", rich_help_panel="Models")
    app.add_typer(model_app, name="model", rich_help_panel="Models")
