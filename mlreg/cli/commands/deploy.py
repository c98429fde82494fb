"""Deployments: ``mlreg deploy create|list|show|delete``.

Deployments made here are always permanent (a temporary one would vanish with this
process): a warehouse deployment becomes a function in `mlreg sql` and `mlreg predict`;
a service deployment is an HTTP server that keeps running.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.params import FormatOpt, NameArg, OptNameArg, OptVersionArg, VersionArg, name_and_version, parse_pairs
from mlreg.errors import UsageError

#: columns of `deploy list` in the text formats (json/jsonl carry every column)
LIST_COLUMNS = ["NAME", "MODEL_NAME", "MODEL_VERSION", "PLATFORM", "TARGET_METHOD", "PERMANENT", "STATUS", "CREATED_TIME"]
JSON_COLUMNS = {"SIGNATURE", "OPTIONS", "DETAILS"}

DeploymentArg = Annotated[str, typer.Argument(metavar="DEPLOYMENT", show_default=False, help="Deployment name.")]


class Platform(str, Enum):
    warehouse = "warehouse"
    service = "service"
    spark = "spark"


deploy_app = typer.Typer(
    help="Deploy model versions as SQL functions (warehouse), HTTP services or Spark functions, and manage deployments.",
    no_args_is_help=True,
)


@deploy_app.command("create")
@funnel
def create(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    deployment: DeploymentArg,
    platform: Annotated[Platform, typer.Option(
        "--platform", "-p", case_sensitive=False,
        help="warehouse: a DuckDB SQL function for `mlreg sql` and `mlreg predict`; service: an HTTP server; "
             "spark: scored by Spark executors (`mlreg predict --master`, mlreg.spark.register_functions).")] = Platform.warehouse,
    target_method: Annotated[str, typer.Option(
        "--target-method", "-m", metavar="METHOD", help="The model's method to deploy (predict, predict_proba, ...).")] = "predict",
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", "-o", metavar="KEY=VALUE",
        help="A deployment option, e.g. output_with_input_features=true, keep_order=false, relax_version=true, "
             "replace_udf=true, permanent_udf_stage_location=DIR; service: host, port, num_workers, auth_token, ...; "
             "repeat for several.")] = None,
    auth_token_file: Annotated[Optional[Path], typer.Option(
        "--auth-token-file", metavar="FILE", dir_okay=False,
        help="service: read the bearer token from FILE (its first line), so that it never shows in `ps`; "
             "MLREG_SERVICE_TOKEN works too.")] = None,
) -> None:
    """Deploy a model version under a name unique in the registry (always permanent).

    Exit 4 when the name is taken (pass --option replace_udf=true to replace it); the
    deploy is refused when an installed package the model needs differs from the version
    it was logged with, unless --option relax_version=true.
    """
    state = get_state(ctx)
    options: dict[str, Any] = dict(parse_pairs(option, "--option"))
    if auth_token_file is not None:
        from mlreg.deploy.service.platform import read_token_file

        if "auth_token" in options:
            raise UsageError("give the token once: --auth-token-file or --option auth_token, not both")
        options["auth_token"] = read_token_file(auth_token_file)
    dep = state.registry().deploy(name, version, deployment, target_method=target_method, permanent=True,
                                  platform=platform.value, options=options)
    args = ", ".join(f.get("name", "?") for f in dep.signature.get("inputs", []))
    if dep.details.get("url"):
        where = f"at {dep.details['url']}"
    elif platform is Platform.spark:
        where = f"as Spark function {dep.name}({args})"
    else:
        where = f"as SQL function {dep.name}({args})"
    state.out.message(f"Deployed {name}/{version} {target_method} {where}")


@deploy_app.command("list")
@funnel
def list_(ctx: typer.Context, name: OptNameArg = None, version: OptVersionArg = None, fmt: FormatOpt = Format.table) -> None:
    """List the deployments of the registry, or of one model version."""
    from mlreg.cli import query

    state = get_state(ctx)
    which = name_and_version(name, version)
    rel = state.registry().deployments.list(*(which or (None, None)))  # the relation: no frame on the CLI
    if fmt not in (Format.json, Format.jsonl):
        rel = query.select_columns(rel, LIST_COLUMNS)
    state.out.table(query.fetch(rel), fmt)


@deploy_app.command("show")
@funnel
def show(ctx: typer.Context, deployment: DeploymentArg, fmt: FormatOpt = Format.table) -> None:
    """Show one deployment: model, platform, target method, signature, options, details (exit 3 when unknown)."""
    from mlreg.cli import query
    from mlreg.cli.output import jsonable

    registry = get_state(ctx).registry()
    table = query.fetch(registry.deployments.frame([registry.find_deployment(deployment)]))
    record = dict(zip(table.columns, table.rows[0]))
    get_state(ctx).out.record({k: jsonable(v, k in JSON_COLUMNS) for k, v in record.items()}, fmt)


@deploy_app.command("delete")
@funnel
def delete(ctx: typer.Context, deployment: DeploymentArg) -> None:
    """Delete a deployment: drop its function, or stop its service (exit 3 when unknown)."""
    state = get_state(ctx)
    registry = state.registry()
    registry.deployments.delete(registry.find_deployment(deployment))
    state.out.message(f"Deleted deployment {deployment}")


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy", rich_help_panel="Deployments")
