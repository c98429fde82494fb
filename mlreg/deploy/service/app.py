"""The inference server's ASGI app (Starlette): ``POST /<endpoint>``, ``GET /health``,
``GET /metadata``.

Every bad request gets a JSON error (``{"error": message, "status": code}``), never a
crash: 400 malformed body, 401 missing or wrong bearer token, 404/405 unknown route or
method, 406 unacceptable ``Accept``, 413 body over ``max_request_bytes``, 415
unsupported ``Content-Type``, 422 input that does not fit the signature or that the
model rejects, 500 a model failure (logged). Body formats: see ``payloads``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from typing import Any

from mlreg.deploy.service.payloads import ARROW, BATCH_MAX_ROWS, JSON, RequestError, ServedModel, choose_output
from mlreg.errors import InvalidInput

__all__ = ["ARROW", "JSON", "build_app", "token_digest"]

logger = logging.getLogger("mlreg.service")
#: bodies larger than this are parsed, scored and answered on the scoring thread
OFFLOAD_BYTES = 256 * 1024


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}).encode("utf-8")


def build_app(spec: dict[str, Any], token_sha256: str | None = None, parent_pid: int | None = None) -> Any:
    """The ASGI app for ``spec`` (the model is loaded here, before the server listens).
    ``token_sha256``: requests to the endpoint and /metadata need a bearer token of that
    sha256. ``parent_pid``: in a worker process, exit when that supervisor dies."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from mlreg.deploy.service.batching import Batcher, Runner

    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if spec.get("auth") and not token_sha256:
        raise InvalidInput("the service requires a bearer token but none was given")
    scorer = ServedModel(spec)
    runner = Runner()
    batcher = Batcher(scorer, runner) if scorer.batching else None
    limit = int(spec["max_request_bytes"])
    health_body = json.dumps({"status": "ok", "model_id": spec["model_id"], "deployment": spec.get("deployment")}).encode()

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return Response(_error_body(status, message), status_code=status, media_type=JSON, headers=headers)

    def authorize(request: Request) -> None:
        if token_sha256 is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given or not hmac.compare_digest(token_digest(given), token_sha256):
            raise RequestError(401, "a valid bearer token is required (header 'Authorization: Bearer <token>')",
                               {"WWW-Authenticate": 'Bearer realm="mlreg"'})

    def handle(body: bytes, content_type: str | None, media: str) -> bytes:
        return scorer.render(scorer.score(scorer.read(body, content_type)), media)

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise RequestError(400, "invalid Content-Length")
            if int(length) > limit:
                raise RequestError(413, f"the body of {int(length)} bytes is over this service's limit of {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body is over this service's limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(request: Request) -> Response:
        try:
            authorize(request)
            media = choose_output(request.headers.get("accept"))
            body = await read_body(request)
            content_type = request.headers.get("content-type")
            if len(body) > OFFLOAD_BYTES:  # parse, score and render on the scoring thread
                answer = await runner.run(handle, body, content_type, media, offload=True)
                return Response(answer, media_type=media)
            parsed = scorer.read(body, content_type)
            if batcher is not None and scorer.batchable(parsed):
                out = await batcher.submit(parsed)
            else:
                out = await runner.run(scorer.score, parsed, offload=parsed.rows > BATCH_MAX_ROWS)
            return Response(scorer.render(out, media), media_type=media)
        except RequestError as e:
            return error(e.status, e.message, e.headers)
        except Exception as e:  # a bug or a model failure: answer, log, stay up
            logger.exception("prediction failed")
            return error(500, f"prediction failed: {type(e).__name__}: {e}")

    async def health(request: Request) -> Response:
        return Response(health_body, media_type=JSON)

    async def metadata(request: Request) -> Response:
        try:
            authorize(request)
        except RequestError as e:
            return error(e.status, e.message, e.headers)
        return Response(json.dumps(scorer.metadata()).encode("utf-8"), media_type=JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        messages = {
            404: f"no route {request.url.path}; routes: POST /{spec['endpoint']}, GET /health, GET /metadata",
            405: f"method {request.method} is not allowed on {request.url.path}",
        }
        return error(status, messages.get(status, str(getattr(exc, "detail", exc))), getattr(exc, "headers", None))

    routes = [
        Route("/" + spec["endpoint"], predict, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metadata", metadata, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def build_refusing_app(spec: dict[str, Any], reason: str, parent_pid: int | None = None) -> Any:
    """The app of a worker that refuses to serve (its model package failed its checksum
    check): 503 with the reason on every route, ``/health`` included."""
    from starlette.responses import Response

    if parent_pid is not None:
        _die_with_parent(parent_pid)
    body = _error_body(503, f"this worker refuses to serve model {spec.get('model_name')}/"
                            f"{spec.get('model_version')}: {reason}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await Response(body, status_code=503, media_type=JSON)(scope, receive, send)

    return app


def _die_with_parent(parent_pid: int) -> None:
    """Linux: ask the kernel to SIGTERM this worker when its supervisor dies, so a killed
    service leaves no worker holding its port."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl
        os._exit(0)
