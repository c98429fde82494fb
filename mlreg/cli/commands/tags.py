"""Tags: ``mlreg tag list|get|set|remove NAME VERSION [TAG [VALUE] | TAG=VALUE...]``."""

from typing import Annotated

import typer

from mlreg.cli import complete
from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.params import VALUE_MAY_START_WITH_DASH, AsOfOpt, FormatOpt, NameArg, VersionArg, key_value_pairs, reader

TagArg = Annotated[str, typer.Argument(metavar="TAG", show_default=False, help="Tag name.",
                                       autocompletion=complete.when_completing(complete.tag_names))]

tag_app = typer.Typer(
    help="List, get, set and remove the tags of a model version (string values).",
    no_args_is_help=True,
)


@tag_app.command("list")
@funnel
def list_tags(ctx: typer.Context, name: NameArg, version: VersionArg, fmt: FormatOpt = Format.table,
              as_of: AsOfOpt = None) -> None:
    """List the tags of a model version (with --format json, one object)."""
    state = get_state(ctx)
    state.out.mapping(reader(state, as_of).get_tags(name, version), fmt, key="TAG")


@tag_app.command("get")
@funnel
def get_tag(ctx: typer.Context, name: NameArg, version: VersionArg, tag: TagArg, fmt: FormatOpt = Format.table,
            as_of: AsOfOpt = None) -> None:
    """Print the value of one tag (exit 3, listing the tags there are, when it is absent)."""
    state = get_state(ctx)
    state.out.value(reader(state, as_of).get_tag_value(name, version, tag), fmt)


@tag_app.command("set", context_settings=VALUE_MAY_START_WITH_DASH)
@funnel
def set_tag(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    pairs: Annotated[list[str], typer.Argument(
        metavar="TAG VALUE | TAG=VALUE...", show_default=False,
        help="One tag and its value, or one or more TAG=VALUE pairs (set together).",
        autocompletion=complete.when_completing(complete.tag_names))],
) -> None:
    """Set a tag (TAG VALUE), or several at once (TAG=VALUE ...: one transaction, one
    history event each), creating them if necessary."""
    tags = key_value_pairs(pairs, "tag")
    state = get_state(ctx)
    if len(tags) == 1:
        [(tag, value)] = tags.items()
        state.registry().set_tag(name, version, tag, value)
        state.out.message(f"Set tag {tag} of {name}/{version}")
    else:
        state.registry().set_tags(name, version, tags)
        state.out.message(f"Set tags {', '.join(tags)} of {name}/{version}")


@tag_app.command("remove")
@funnel
def remove_tag(ctx: typer.Context, name: NameArg, version: VersionArg, tag: TagArg) -> None:
    """Remove a tag (exit 3, listing the tags there are, when it is absent)."""
    state = get_state(ctx)
    state.registry().remove_tag(name, version, tag)
    state.out.message(f"Removed tag {tag} of {name}/{version}")


def register(app: typer.Typer) -> None:
    app.add_typer(tag_app, name="tag", rich_help_panel="Metadata")
