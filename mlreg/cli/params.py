"""Shared parameter types (one spelling and help text per option) and parsers of
command-line values. Parsers raise mlreg's UsageError (exit 2) for malformed input."""

from typing import Annotated, Any, Optional

import typer

from mlreg.cli import complete
from mlreg.cli.output import Format
from mlreg.errors import UsageError

#: context settings of commands whose last argument is a value that may start with '-'
#: (metric set m 1 delta -0.5): an unknown option is taken as that argument
VALUE_MAY_START_WITH_DASH = {"ignore_unknown_options": True}

#: the largest --limit (DuckDB takes a signed 64-bit LIMIT)
MAX_LIMIT = 2**62

FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format",
        case_sensitive=False,
        help="Output format: table, json, jsonl, csv, tsv or markdown.",
    ),
]
NameArg = Annotated[str, typer.Argument(
    metavar="NAME", help="Model name.", show_default=False,
    autocompletion=complete.when_completing(complete.model_names))]
VersionArg = Annotated[str, typer.Argument(
    metavar="VERSION", help="Model version.", show_default=False,
    autocompletion=complete.when_completing(complete.model_versions))]
OptNameArg = Annotated[Optional[str], typer.Argument(
    metavar="NAME", help="Model name (with VERSION).", show_default=False,
    autocompletion=complete.when_completing(complete.model_names))]
OptVersionArg = Annotated[Optional[str], typer.Argument(
    metavar="VERSION", help="Model version (with NAME).", show_default=False,
    autocompletion=complete.when_completing(complete.model_versions))]


AsOfOpt = Annotated[Optional[str], typer.Option(
    "--as-of", metavar="TIME",
    help="Answer as the registry was at TIME (ISO 8601, e.g. 2026-11-01T12:00:00Z, or a time ago: "
         "30m, 12h, 3d, 2w), from its history; deleted versions included.")]


def reader(state: Any, as_of: Optional[str]) -> Any:
    """The registry, or its read-only view at --as-of."""
    registry = state.registry()
    return registry if as_of is None else registry.as_of(as_of)


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``K=V`` strings as a dict; the value may contain '=', the key may not be empty."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def key_value_pairs(args: list[str], what: str) -> dict[str, str]:
    """The pairs of ``tag set`` / ``metric set``: ``KEY=VALUE ...`` when every argument has
    an '=' (a value may hold more), else the single pair ``KEY VALUE`` (two arguments)."""
    if len(args) == 2 and not all("=" in a for a in args):
        return {args[0]: args[1]}
    out: dict[str, str] = {}
    for item in args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"give {what.upper()} VALUE, or one or more {what.upper()}=VALUE pairs; got {item!r}")
        if key in out:
            raise UsageError(f"{what} {key} is given twice")
        out[key] = value
    return out


def parse_metric_value(text: str, what: str = "metric value") -> Any:
    """JSON, else a bare word taken as a string (see jsonvalue.parse_cli_value)."""
    from mlreg.jsonvalue import parse_cli_value

    return parse_cli_value(text, what)


def parse_metric_pairs(values: list[str] | None) -> dict[str, Any]:
    """``--metric K=JSON``: the value is JSON, else the bare word as a string."""
    return {k: parse_metric_value(v, f"--metric {k}") for k, v in parse_pairs(values, "--metric").items()}


def name_and_version(name: str | None, version: str | None) -> tuple[str, str] | None:
    """Optional NAME VERSION positional pair: both or neither."""
    if (name is None) != (version is None):
        raise UsageError("give both NAME and VERSION, or neither")
    return (name, version) if name is not None and version is not None else None


def split_columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]
