"""Metrics: ``mlreg metric list|get|set|remove NAME VERSION [METRIC [VALUE | --file F] | METRIC=VALUE...]``."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlreg.cli import complete
from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format
from mlreg.cli.params import (
    VALUE_MAY_START_WITH_DASH,
    AsOfOpt,
    FormatOpt,
    NameArg,
    VersionArg,
    key_value_pairs,
    parse_metric_value,
    reader,
)
from mlreg.errors import UsageError

MetricArg = Annotated[str, typer.Argument(metavar="METRIC", show_default=False, help="Metric name.",
                                          autocompletion=complete.when_completing(complete.metric_names))]

metric_app = typer.Typer(
    help="List, get, set and remove the metrics of a model version (JSON values).",
    no_args_is_help=True,
)


@metric_app.command("list")
@funnel
def list_metrics(ctx: typer.Context, name: NameArg, version: VersionArg, fmt: FormatOpt = Format.table,
                 as_of: AsOfOpt = None) -> None:
    """List the metrics of a model version (values as JSON; with --format json, one object)."""
    state = get_state(ctx)
    state.out.mapping(reader(state, as_of).get_metrics(name, version), fmt, key="METRIC")


@metric_app.command("get")
@funnel
def get_metric(
    ctx: typer.Context, name: NameArg, version: VersionArg, metric: MetricArg, fmt: FormatOpt = Format.table,
    as_of: AsOfOpt = None,
) -> None:
    """Print the JSON value of one metric (exit 3, listing the metrics there are, when absent)."""
    state = get_state(ctx)
    state.out.value(reader(state, as_of).get_metric_value(name, version, metric), fmt, raw_string=False)


@metric_app.command("set", context_settings=VALUE_MAY_START_WITH_DASH)
@funnel
def set_metric(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    pairs: Annotated[list[str], typer.Argument(
        metavar="METRIC [VALUE] | METRIC=VALUE...", show_default=False,
        help="One metric and its JSON value (0.93, [1, 2], {\"a\": 1}, NaN, -0.5; anything that is not "
             "JSON is taken as a string), or one or more METRIC=VALUE pairs (set together). Put -- before "
             "a value that looks like an option.",
        autocompletion=complete.when_completing(complete.metric_names))],
    file: Annotated[Optional[Path], typer.Option(
        "--file", metavar="FILE", help="Read the value of the one METRIC from a .json file or a NumPy .npy "
                                       "array.")] = None,
) -> None:
    """Set a metric from VALUE or --file, or several at once (METRIC=VALUE ...: one
    transaction, one history event each), creating them if necessary."""
    if file is not None:
        if len(pairs) != 1 or "=" in pairs[0]:
            raise UsageError("give the metric VALUE or --file FILE (one of them)")
        from mlreg.data.readers import read_metric_file

        metrics = {pairs[0]: read_metric_file(file)}
    elif len(pairs) == 1 and "=" not in pairs[0]:
        raise UsageError("give the metric VALUE or --file FILE (one of them)")
    else:
        single = len(pairs) == 2 and not all("=" in a for a in pairs)
        metrics = {k: parse_metric_value(v, "metric value" if single else f"value of metric {k}")
                   for k, v in key_value_pairs(pairs, "metric").items()}
    state = get_state(ctx)
    if len(metrics) == 1:
        [(metric, value)] = metrics.items()
        state.registry().set_metric(name, version, metric, value)
        state.out.message(f"Set metric {metric} of {name}/{version}")
    else:
        state.registry().set_metrics(name, version, metrics)
        state.out.message(f"Set metrics {', '.join(metrics)} of {name}/{version}")


@metric_app.command("remove")
@funnel
def remove_metric(ctx: typer.Context, name: NameArg, version: VersionArg, metric: MetricArg) -> None:
    """Remove a metric (exit 3, listing the metrics there are, when it is absent)."""
    state = get_state(ctx)
    state.registry().remove_metric(name, version, metric)
    state.out.message(f"Removed metric {metric} of {name}/{version}")


def register(app: typer.Typer) -> None:
    app.add_typer(metric_app, name="metric", rich_help_panel="Metadata")
