"""serve: run a model's inference server in the foreground (containers, systemd)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlreg.cli.context import funnel, get_state
from mlreg.cli.params import NameArg, VersionArg

PANEL = "Deployments"
TOKEN_ENV = "MLREG_SERVICE_TOKEN"  # mlreg.deploy.service.spec.TOKEN_ENV, without importing it


@funnel
def serve(
    ctx: typer.Context,
    name: NameArg,
    version: VersionArg,
    host: Annotated[str, typer.Option(
        "--host", envvar="MLREG_SERVICE_HOST", help="Address to bind (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        "--port", envvar="MLREG_SERVICE_PORT", min=0, max=65535, help="Port to bind; 0 picks a free one.")] = 8080,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", envvar="MLREG_SERVICE_WORKERS", min=1, max=256, show_default="2 x cores + 1",
        help="Worker processes, each with its own copy of the model.")] = None,
    target_method: Annotated[str, typer.Option(
        "--target-method", metavar="M", help="The model method to serve.")] = "predict",
    endpoint: Annotated[str, typer.Option(
        "--endpoint", metavar="PATH", help="Path of the predict route (POST /PATH).")] = "predict",
    package: Annotated[Optional[Path], typer.Option(
        "--package", metavar="DIR", file_okay=False,
        help="Serve the model package in DIR (from `mlreg load` or a build context) instead of the registry's.")] = None,
    max_request_bytes: Annotated[int, typer.Option(
        "--max-request-bytes", metavar="N", min=1, help="Larger request bodies get 413.")] = 100 * 1024 * 1024,
    batch_requests: Annotated[Optional[bool], typer.Option(
        "--batch-requests/--no-batch-requests", show_default="for row-wise model types",
        help="Score small requests that arrive together in one model call.")] = None,
) -> None:
    """Serve a model version over HTTP in the foreground until SIGTERM or Ctrl-C.

    Routes: POST /predict (JSON records, split or inputs; Arrow IPC stream),
    GET /health, GET /metadata. When MLREG_SERVICE_TOKEN is set, requests need the
    header 'Authorization: Bearer <token>'. The same server a service deployment runs.
    """
    from mlreg.deploy.service import server
    from mlreg.deploy.service import spec as service_spec
    from mlreg.deploy.service.supervisor import url_host

    state = get_state(ctx)
    token = os.environ.get(TOKEN_ENV) or None
    settings = {"endpoint": endpoint, "max_request_bytes": max_request_bytes, "auth": token is not None,
                "batch_requests": batch_requests}
    if package is not None:
        spec = service_spec.from_package(package, name, version, target_method, **settings)
    else:
        spec = service_spec.from_scoring(state.registry().scoring_spec(name, version, target_method), **settings)

    def listening(bound_host: str, bound_port: int) -> None:
        auth = "; requests need the bearer token from MLREG_SERVICE_TOKEN" if token else ""
        state.out.message(
            f"Serving {name}/{version} ({target_method}) at http://{url_host(bound_host)}:{bound_port}/{spec['endpoint']}{auth}"
        )

    saved = os.environ.pop(TOKEN_ENV, None)  # workers get the token's digest, not the token
    try:
        server.serve(spec, host=host, port=port, workers=workers or service_spec.default_workers(),
                     token=token, on_listen=listening, log_level="warning" if state.quiet else "info")
    finally:
        if saved is not None:
            os.environ[TOKEN_ENV] = saved
    state.out.message("Stopped")


def register(app: typer.Typer) -> None:
    app.command("serve", rich_help_panel=PANEL)(serve)
