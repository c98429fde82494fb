"""Model versions: log, list, show, describe, load, delete."""

import sys
from pathlib import Path
from typing import Annotated, Any, Optional, Sequence

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.github import GithubOutputOpt, SummaryOpt, write_outputs, write_summary
from mlreg.cli.params import (
    MAX_LIMIT,
    VALUE_MAY_START_WITH_DASH,
    AsOfOpt,
    FormatOpt,
    NameArg,
    VersionArg,
    parse_metric_pairs,
    parse_pairs,
    reader,
    split_columns,
)
from mlreg.errors import UsageError
from mlreg.handlers import handler_names

PANEL = "Models"

#: columns of `mlreg list` in the text formats unless --columns says otherwise
LIST_COLUMNS = ["NAME", "VERSION", "TYPE", "ID", "CREATION_TIME", "CREATION_ROLE", "DESCRIPTION", "TAGS", "METRICS"]
#: JSON-typed fields of `show`
SHOW_JSON = {"CREATION_CONTEXT", "CREATION_ENVIRONMENT_SPEC", "TAGS", "METRICS", "INPUT_SPEC", "OUTPUT_SPEC"}


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@funnel
def log(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(
        metavar="MODEL", show_default=False,
        help="Model file (pickle, cloudpickle, joblib, or a framework's native file), an MLflow "
             "model directory, or module:attribute (the working directory is on sys.path).")],
    name: Annotated[str, typer.Option("--name", "-n", metavar="NAME", show_default=False, help="Model name.")],
    version: Annotated[str, typer.Option("--version", "-V", metavar="VERSION", show_default=False,
                                         help="Model version.")],
    description: Annotated[Optional[str], typer.Option("--description", metavar="TEXT",
                                                       help="Description of the model version.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", metavar="KEY=VALUE",
                                                     help="Tag; repeat for more.")] = None,
    metric: Annotated[Optional[list[str]], typer.Option(
        "--metric", "-m", metavar="KEY=JSON",
        help="Metric; the value is JSON, else taken as a string. Repeat for more.")] = None,
    code_path: Annotated[Optional[list[Path]], typer.Option(
        "--code-path", metavar="DIR",
        help="Code directory to package and put on sys.path when loading; repeatable.")] = None,
    conda_dependency: Annotated[Optional[list[str]], typer.Option(
        "--conda-dependency", metavar="SPEC",
        help="Conda dependency, e.g. 'conda-forge::xgboost>=2'; repeatable.")] = None,
    pip_requirement: Annotated[Optional[list[str]], typer.Option(
        "--pip-requirement", metavar="SPEC", help="Pip requirement (PEP 508: name, extras, version, marker or @ URL; no pip options), e.g. 'scikit-learn>=1.3'; repeatable.")] = None,
    sample_input: Annotated[Optional[Path], typer.Option(
        "--sample-input", metavar="FILE",
        help="A few input rows (CSV, TSV, Parquet or JSON records) to infer the signature from.")] = None,
    signatures: Annotated[Optional[Path], typer.Option(
        "--signatures", metavar="FILE",
        help='JSON file: {"predict": {"inputs": [{"name": ..., "type": ...}], "outputs": [...]}}.')] = None,
    type_name: Annotated[Optional[str], typer.Option(
        "--type", metavar="HANDLER",
        help=f"Model type to use instead of detecting it: {', '.join(handler_names())}.")] = None,
    embed_local_ml_library: Annotated[bool, typer.Option(
        "--embed-local-ml-library", help="Embed a copy of the installed mlreg in the package.")] = False,
    fmt: FormatOpt = Format.table,
    github_output: GithubOutputOpt = False,
    summary: SummaryOpt = False,
) -> None:
    """Log a model: package it, store it on the stage and register it.

    Prints the new model ID (with --format json, an object with ID, NAME and VERSION).
    A version that exists already is refused with exit 4. --github-output writes id,
    name and version.
    """
    from mlreg.cli import inputs
    from mlreg.data import readers

    state = get_state(ctx)
    tags = parse_pairs(tag, "--tag")
    metrics = parse_metric_pairs(metric)
    if sample_input is not None and signatures is not None:
        raise UsageError("give --sample-input or --signatures, not both")
    registry = state.registry()
    registry.versions.check_new(name, version)  # before reading a possibly large model file
    options: dict = {"embed_local_ml_library": embed_local_ml_library}
    if type_name:
        options["model_type"] = type_name
    model_id = registry.log_model(
        model=inputs.read_model(model, type_name),
        model_name=name,
        model_version=version,
        code_paths=code_path or None,
        conda_dependencies=conda_dependency or None,
        description=description,
        options=options,
        pip_requirements=pip_requirement or None,
        sample_input_data=readers.read_sample_input(sample_input) if sample_input else None,
        signatures=readers.read_signatures(signatures) if signatures else None,
        tags=tags,
        metrics=metrics,
    )
    if fmt is Format.table:
        state.out.value(model_id, fmt)
    else:
        state.out.record({"ID": model_id, "NAME": name, "VERSION": version}, fmt)
    write_outputs(github_output, {"id": model_id, "name": name, "version": version}, state.out)
    write_summary(summary, f"### Logged {name}/{version}\n\nID `{model_id}`\n", state.out)


@funnel
def list_(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Option(
        "--name", "-n", metavar="NAME", help="Only versions of this model.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(
        "--tag", "-t", metavar="KEY=VALUE", help="Only models with this tag value; repeat to require several.")] = None,
    where: Annotated[Optional[str], typer.Option(
        "--where", "-w", metavar="SQL",
        help="SQL condition on the columns, e.g. \"TAGS->>'stage' = 'prod'\" or "
             "\"(METRICS->>'acc')::DOUBLE > 0.9\".")] = None,
    columns: Annotated[Optional[str], typer.Option(
        "--columns", metavar="C,...",
        help="Columns to show, comma-separated (names or SQL expressions); json/jsonl show all by default.")] = None,
    order_by: Annotated[Optional[str], typer.Option(
        "--order-by", metavar="EXPR", help="SQL ORDER BY expression, e.g. 'CREATION_TIME DESC'.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", metavar="N", min=0, max=MAX_LIMIT, help="At most N rows.")] = None,
    fmt: FormatOpt = Format.table,
    as_of: AsOfOpt = None,
) -> None:
    """List model versions, oldest first.

    Columns: ID, NAME, VERSION, TYPE, URI, CREATION_TIME, CREATION_ROLE, CREATION_CONTEXT,
    CREATION_ENVIRONMENT_SPEC, DESCRIPTION, TAGS, METRICS, INPUT_SPEC, OUTPUT_SPEC; unless
    --columns is given, ALIASES follows VERSION: the aliases naming each version (those
    set with `mlreg alias set`, then DEFAULT, FIRST, LAST). An invalid --where, --order-by or --columns
    expression exits 2. With --as-of, the versions of that moment from the history, with the
    description, tags and metrics they had; columns ID, NAME, VERSION, TYPE, URI,
    CREATION_TIME, CREATION_ROLE, DESCRIPTION, TAGS, METRICS, DELETED (deleted since).
    """
    state = get_state(ctx)
    wanted = split_columns(columns) if columns else None
    if wanted is None and fmt not in (Format.json, Format.jsonl):
        wanted = LIST_COLUMNS
    tags = parse_pairs(tag, "--tag")
    registry = state.registry()
    plain = _known_columns(wanted)
    if as_of is None and where is None and order_by is None and plain is not None:
        from mlreg.cli.output import Table

        with registry.reading():  # the listing and its aliases: one read of one state
            rows = registry.versions.listing_text(name, tags, plain, limit)
            table = Table(list(rows.columns), rows.rows, rows.json_columns, bool(rows.json_columns),
                          rows.utc_columns)
            if columns is None:
                table = _with_aliases(table, registry)
        state.out.table(table, fmt)  # printed after the read: a slow reader holds no lock
        return
    from mlreg.cli import query

    if as_of is not None:
        with registry.as_of(as_of).scan() as past:  # replayed where the history lies: no copy
            rel = query.filter_models(past, name=name, tags=tags, where=where, order_by=order_by, limit=limit,
                                      columns=wanted)
            table = query.fetch(rel, utc_text=True)
        state.out.table(table, fmt)
        return
    with registry.reading(), registry.versions.scan(name=name, tags=tags) as models:  # in place: no copy
        rel = query.filter_models(models, where=where, order_by=order_by, limit=limit, columns=wanted)
        table = query.fetch(rel, utc_text=True)
        if columns is None:
            table = _with_aliases(table, registry)
    state.out.table(table, fmt)


def _known_columns(wanted: Sequence[str] | None) -> list[str] | None:
    """The listing's own columns named (any case, each once), in their own spelling, all
    of them when none are named; None when one is an SQL expression or repeated, which
    only a relation can give."""
    from mlreg.store.base import VERSION_COLUMNS  # imported late: it loads while DuckDB starts

    if wanted is None:
        return list(VERSION_COLUMNS)
    known = {c.upper(): c for c in VERSION_COLUMNS}
    plain = [known.get(c.upper()) for c in wanted]
    if None in plain or len(set(plain)) != len(plain):
        return None
    return [c for c in plain if c is not None]


def _with_aliases(table: Any, registry: Any) -> Any:
    """The listing with an ALIASES column after VERSION: the aliases naming each version
    (those set, then DEFAULT, FIRST, LAST), as a JSON list."""
    import json

    from mlreg.cli.output import Table

    if "NAME" not in table.columns or "VERSION" not in table.columns or not table.rows:
        return table
    i_name, i_version = table.columns.index("NAME"), table.columns.index("VERSION")
    held = {key: json.dumps(names, separators=(",", ":"))
            for key, names in registry.models.held_aliases({row[i_name] for row in table.rows}).items()}
    at = i_version + 1
    rows = [(*row[:at], held.get((row[i_name], row[i_version]), "[]"), *row[at:]) for row in table.rows]
    return Table([*table.columns[:at], "ALIASES", *table.columns[at:]], rows,
                 table.json_columns | {"ALIASES"}, table.json_compact, table.utc_columns)


@funnel
def show(ctx: typer.Context, name: NameArg, version: VersionArg, fmt: FormatOpt = Format.table,
         as_of: AsOfOpt = None) -> None:
    """Show everything about one model version, including its manifest.

    Nothing is unpickled: this is safe on models from registries you do not trust. With
    --as-of, the version as it was then (also when deleted since), without its manifest.
    """
    from mlreg.cli.output import jsonable

    state = get_state(ctx)
    record = reader(state, as_of).describe_model(name, version)
    state.out.record({k: jsonable(v, k in SHOW_JSON) for k, v in record.items()}, fmt)


@funnel
def describe(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    text: Annotated[Optional[str], typer.Argument(
        metavar="TEXT", show_default=False, help="New description; '-' reads it from stdin. Omit to print it.")] = None,
    fmt: FormatOpt = Format.table,
    as_of: AsOfOpt = None,
) -> None:
    """Print the description of a model version, or set it."""
    state = get_state(ctx)
    registry = state.registry()
    if as_of is not None and text is not None:
        raise UsageError("--as-of reads the past; it cannot set a description")
    if text is None:
        description = reader(state, as_of).get_model_description(name, version)
        if description is not None or fmt is not Format.table:
            state.out.value(description, fmt)
        return
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    registry.set_model_description(name, version, text)
    state.out.message(f"Set the description of {name}/{version}")


@funnel
def load(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="DIR", show_default=False,
                                         help="Directory to write the package to (new or empty).")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Write the model package, verified against its checksums, to a directory.

    Nothing is unpickled. Prints the directory (with --format json, an object with
    ID, NAME, VERSION, PATH and FILES).
    """
    state = get_state(ctx)
    row = state.registry().export_package(name, version, output)
    target = output.resolve()
    if fmt is Format.table:
        state.out.value(str(target), fmt)
    else:
        state.out.record({"ID": row.id, "NAME": row.name, "VERSION": row.version, "PATH": str(target),
                          "FILES": sorted(row.files)}, fmt)


@funnel
def delete(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    keep_artifact: Annotated[bool, typer.Option(
        "--keep-artifact", help="Keep the package on the stage (gc removes it later).")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Do not ask; required when stdin is not a terminal.")] = False,
) -> None:
    """Delete a model version: its entry, its deployments and (unless --keep-artifact)
    its package. Its history stays."""
    state = get_state(ctx)
    registry = state.registry()
    if not yes:
        if not _stdin_is_terminal():
            raise UsageError(f"refusing to delete {name}/{version} without --yes when stdin is not a terminal")
        registry.get_model(name, version)  # not found → exit 3 before asking
        if not typer.confirm(f"Delete model {name}/{version}?", default=False, err=True):
            state.out.message("Nothing deleted")
            raise typer.Exit(1)
    registry.delete_model(name, version, delete_artifact=not keep_artifact)
    kept = " (package kept on the stage)" if keep_artifact else ""
    state.out.message(f"Deleted model {name}/{version}{kept}")


def register(app: typer.Typer) -> None:
    app.command("log", rich_help_panel=PANEL)(log)
    app.command("list", rich_help_panel=PANEL)(list_)
    app.command("show", rich_help_panel=PANEL)(show)
    app.command("describe", rich_help_panel=PANEL, context_settings=VALUE_MAY_START_WITH_DASH)(describe)
    app.command("load", rich_help_panel=PANEL)(load)
    app.command("delete", rich_help_panel=PANEL)(delete)
