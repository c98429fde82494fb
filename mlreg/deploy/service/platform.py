"""The SERVICE platform: a model's target method behind an HTTP inference server that
mlreg starts, watches and stops (see ``supervisor``), always permanent.

Options, as in the seed: ``host`` (127.0.0.1), ``port`` (0: a free one), ``num_workers``
(2 x cores + 1), ``min_instances``/``max_instances`` (1; recorded, and written as labels
of a build context for a container platform: one instance runs locally), ``endpoint``
(predict), ``use_gpu`` (False hides GPUs from the server: ``CUDA_VISIBLE_DEVICES=""``),
``auth_token`` (requests need ``Authorization: Bearer <token>``; recorded as ``"<set>"``,
never its value), ``prebuilt_image`` or the seed's ``prebuilt_snowflake_image`` (the base
image of a build context, holding the environment: no ``pip install`` step),
``compute_pool`` and ``image_repo`` (the seed's SPCS placement: recorded with the
deployment; there is no compute pool or image registry here, the server runs on this
machine and a build context is only built locally). mlreg's own: ``image`` (write a container build
context to ``context_dir``, default ``<home>/services/<db>/<name>.context``, and build it
when a Docker engine answers), ``max_request_bytes`` (100 MiB; larger bodies get 413),
``startup_timeout`` (120 s), ``batch_requests`` (score small requests that arrive
together in one call; default: for row-wise model types), and the options of every
platform: ``output_with_input_features`` (False), ``keep_order`` (True; a service
always keeps the order).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlreg.deploy.base import Deployment, Platform, PlatformContext
from mlreg.deploy.options import REGISTRY_OPTIONS, check_known, parse_bool, parse_int, parse_text
from mlreg.deploy.service import supervisor
from mlreg.deploy.service.spec import DEFAULT_MAX_REQUEST_BYTES, TOKEN_ENV, check_endpoint, default_workers
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import InvalidInput, MlregError
from mlreg.runtime.spec import ScoringSpec

SECRET_MARKER = "<set>"
DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "num_workers": None,
    "min_instances": 1,
    "max_instances": 1,
    "endpoint": "predict",
    "use_gpu": False,
    "auth_token": None,
    "prebuilt_image": None,
    "compute_pool": None,
    "image_repo": None,
    "prebuilt_snowflake_image": None,
    "image": None,
    "context_dir": None,
    "max_request_bytes": DEFAULT_MAX_REQUEST_BYTES,
    "startup_timeout": 120,
    "batch_requests": None,
    "output_with_input_features": False,
    "keep_order": True,
}

# tokens given to deploy() in this process, so that predict() here needs no env var
_TOKENS: dict[tuple[str, str], str] = {}


def check(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    check_known(options, DEFAULTS, "service")
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if k not in REGISTRY_OPTIONS and v is not None}}
    host = parse_text("host", opts["host"])
    if host is None or any(c in host for c in "/@?#"):
        raise InvalidInput(f"option host must be an IP address or host name, got {opts['host']!r}")
    recorded: dict[str, Any] = {
        "host": host,
        "port": parse_int("port", opts["port"], 0, 65535),
        "num_workers": parse_int("num_workers", opts["num_workers"], 1, 256) if opts["num_workers"] is not None else default_workers(),
        "min_instances": parse_int("min_instances", opts["min_instances"], 1),
        "max_instances": parse_int("max_instances", opts["max_instances"], 1),
        "endpoint": check_endpoint(opts["endpoint"]),
        "use_gpu": parse_bool("use_gpu", opts["use_gpu"]),
        "prebuilt_image": _prebuilt_image(opts),
        "compute_pool": parse_text("compute_pool", opts["compute_pool"]),
        "image_repo": parse_text("image_repo", opts["image_repo"]),
        "image": parse_text("image", opts["image"]),
        "context_dir": str(Path(opts["context_dir"]).expanduser().resolve()) if opts["context_dir"] is not None else None,
        "max_request_bytes": parse_int("max_request_bytes", opts["max_request_bytes"], 1),
        "startup_timeout": parse_int("startup_timeout", opts["startup_timeout"], 1),
        "batch_requests": parse_bool("batch_requests", opts["batch_requests"]) if opts["batch_requests"] is not None else None,
        "output_with_input_features": parse_bool("output_with_input_features", opts["output_with_input_features"]),
        "keep_order": parse_bool("keep_order", opts["keep_order"]),
    }
    if recorded["min_instances"] > recorded["max_instances"]:
        raise InvalidInput(
            f"option min_instances ({recorded['min_instances']}) is more than max_instances ({recorded['max_instances']})"
        )
    if not recorded["keep_order"]:
        raise InvalidInput("option keep_order=False is not supported by a service: it always keeps the input order")
    secrets: dict[str, Any] = {}
    token = opts["auth_token"]
    if token is None and os.environ.get(TOKEN_ENV):  # as `mlreg serve` does
        token = os.environ[TOKEN_ENV]
    if token is not None:
        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
            raise InvalidInput("option auth_token must be a non-empty string without spaces")
        secrets["auth_token"] = token
    recorded["auth_token"] = SECRET_MARKER if token is not None else None
    return recorded, secrets


def read_token_file(path: str | Path) -> str:
    """A bearer token kept in a file (its first line), for `--auth-token-file`."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not token:
        raise InvalidInput(f"the token file {path} is empty")
    return token


def _prebuilt_image(opts: dict[str, Any]) -> str | None:
    """``prebuilt_image``, or the seed's ``prebuilt_snowflake_image`` (the same option)."""
    mine = parse_text("prebuilt_image", opts["prebuilt_image"])
    seeds = parse_text("prebuilt_snowflake_image", opts["prebuilt_snowflake_image"])
    if mine is not None and seeds is not None and mine != seeds:
        raise InvalidInput(f"options prebuilt_image ({mine}) and prebuilt_snowflake_image ({seeds}) differ: "
                           "they are one option, pass one of them")
    return mine if mine is not None else seeds


def run_dir(ctx: PlatformContext) -> Path:
    """Where services of this registry keep their logs, specs and state files."""
    return Path(ctx.home) / "services" / ctx.database


def token_for(ctx: PlatformContext, deployment: Deployment) -> str | None:
    if not deployment.options.get("auth_token"):
        return None
    token = _TOKENS.get((ctx.registry, deployment.name)) or os.environ.get(TOKEN_ENV)
    if not token:
        raise InvalidInput(f"service deployment {deployment.name} needs its bearer token: set {TOKEN_ENV}")
    return token


class ServicePlatform(Platform):
    platform = TargetPlatform.SERVICE

    def check_options(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return check(options)

    def create(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment,
               secrets: dict[str, Any]) -> dict[str, Any]:
        from mlreg.deploy.service import spec as service_spec
        from mlreg.runtime import loading

        opts = deployment.options
        package = loading.verified(spec.package, what=spec.label)
        server = service_spec.from_verified(
            spec, package, deployment=deployment.name, endpoint=opts["endpoint"],
            max_request_bytes=opts["max_request_bytes"], output_with_input_features=opts["output_with_input_features"],
            auth="auth_token" in secrets, batch_requests=opts.get("batch_requests"),
        )
        extra: dict[str, Any] = {}
        if opts.get("image"):
            from mlreg.deploy.service import container

            directory = Path(opts["context_dir"]) if opts.get("context_dir") else run_dir(ctx) / f"{deployment.name}.context"
            built = container.write_and_build(
                spec, package, directory, image=opts["image"], endpoint=opts["endpoint"],
                workers=opts["num_workers"], prebuilt_image=opts["prebuilt_image"],
                min_instances=opts["min_instances"], max_instances=opts["max_instances"],
            )
            extra = {"image": opts["image"], "context_dir": str(directory), "image_built": built}
        details = supervisor.start(
            server, name=deployment.name, run_dir=run_dir(ctx), host=opts["host"], port=opts["port"],
            workers=opts["num_workers"], token=secrets.get("auth_token"), use_gpu=opts["use_gpu"],
            timeout=float(opts["startup_timeout"]),
        )
        if "auth_token" in secrets:
            _TOKENS[(ctx.registry, deployment.name)] = secrets["auth_token"]
        return {**details, **extra}

    def runs_beside(self, old: Deployment, new: Deployment) -> bool:
        # a new service on a port of its own starts before the old one stops; one that
        # needs the old one's port can only start after it (once its package is verified)
        port = new.options.get("port")
        return not port or port != old.details.get("port")

    def predict(self, ctx: PlatformContext, spec: ScoringSpec, deployment: Deployment, data: Any) -> Any:
        from mlreg.deploy.service import client

        details = deployment.details
        if not supervisor.is_alive(details.get("pid"), details.get("pid_start")):
            raise MlregError(
                f"service deployment {deployment.name} is stopped (its process {details.get('pid')} is gone; "
                f"log: {details.get('log')}); restart it by deploying again with options={{'replace_udf': True}}"
            )
        refused = supervisor.unhealthy(details)
        if refused is not None:
            from mlreg.errors import IntegrityError

            raise IntegrityError(
                f"service deployment {deployment.name} is unhealthy: a worker refuses to serve ({refused}); "
                "check the package with `mlreg verify`, then deploy again with options={'replace_udf': True}"
            )
        return client.predict(details["url"], data, token_for(ctx, deployment), deployment.signature)

    def status(self, deployment: Deployment) -> str:
        return supervisor.status(deployment.details)

    def delete(self, ctx: PlatformContext, deployment: Deployment) -> None:
        supervisor.stop(deployment.details)
        supervisor.remove_files(deployment.details)
        _TOKENS.pop((ctx.registry, deployment.name), None)
