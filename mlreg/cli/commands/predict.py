"""``mlreg predict DEPLOYMENT --input FILE|- [--output FILE|-] [--master URL] [--conf K=V]``:
batch scoring (a spark deployment runs on Spark; pyspark is imported only then)."""

import sys
from typing import Annotated, Optional

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.output import Format, table_from_relation
from mlreg.cli.params import parse_pairs
from mlreg.errors import UsageError

#: output formats a file may take when its extension does not say
_FILE_FORMATS = {Format.csv: "csv", Format.tsv: "tsv", Format.json: "json", Format.jsonl: "jsonl"}


@funnel
def predict(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(metavar="DEPLOYMENT", show_default=False, help="Deployment name.")],
    input_: Annotated[str, typer.Option(
        "--input", "-i", metavar="FILE|-", show_default=False,
        help="Parquet, CSV or JSON file to score (by extension); - reads standard input (format detected).")],
    output: Annotated[str, typer.Option(
        "--output", "-o", metavar="FILE|-",
        help="Where the predictions go: a .parquet, .csv, .tsv, .json or .jsonl file, written whole or not at all; "
             "- prints them.")] = "-",
    fmt: Annotated[Optional[Format], typer.Option(
        "--format", case_sensitive=False,
        help="Format of printed predictions (table, json, jsonl, csv, tsv, markdown; default table); "
             "for a FILE without a known extension: csv, tsv, json or jsonl.")] = None,
    master: Annotated[Optional[str], typer.Option(
        "--master", metavar="URL", show_default=False,
        help="Spark deployments: the Spark master to run on (default local[*]).")] = None,
    conf: Annotated[Optional[list[str]], typer.Option(
        "--conf", metavar="KEY=VALUE", show_default=False,
        help="Spark deployments: a Spark setting, e.g. spark.executor.memory=4g; repeat for several.")] = None,
) -> None:
    """Score a file with a deployment: one row of predictions per input row.

    Input columns are matched to the model's signature by name; a missing or mistyped
    column is an error naming it. The deployment's options apply (e.g.
    output_with_input_features puts the input columns first). A spark deployment runs
    on Spark (--master, --conf): it reads a Parquet, CSV or JSON file or directory and
    writes a directory of parts, as Spark does, put in place when complete.
    """
    spark_conf = parse_pairs(conf, "--conf")
    state = get_state(ctx)
    registry = state.registry()
    if output == "-":
        rel = registry.deployments.predict_file(deployment, input_, None, input_stream=sys.stdin.buffer, master=master,
                                                conf=spark_conf)
        state.out.table(table_from_relation(rel), fmt or Format.table)
        return
    file_format = None
    if fmt is not None:
        from pathlib import Path

        from mlreg.data.readers import EXTENSIONS

        if Path(output).suffix.lower() in EXTENSIONS or fmt not in _FILE_FORMATS:
            raise UsageError(
                "--format applies to printed predictions, or to an output FILE without a known extension "
                "(csv, tsv, json or jsonl); the format of FILE is taken from its extension"
            )
        file_format = _FILE_FORMATS[fmt]
    rows = registry.deployments.predict_file(deployment, input_, output, input_stream=sys.stdin.buffer, output_format=file_format,
                                             master=master, conf=spark_conf)
    state.out.message(f"Wrote {rows} prediction{'s' if rows != 1 else ''} to {output}")


def register(app: typer.Typer) -> None:
    app.command("predict", rich_help_panel="Deployments")(predict)
