"""Run the inference server: in the foreground (`mlreg serve`) or detached, as the
process a SERVICE deployment starts (``python -m mlreg.deploy.service.server``).

One worker serves in this process; more run as uvicorn worker processes sharing the
socket this process binds. SIGTERM and SIGINT stop the server gracefully and return.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Callable

from mlreg.deploy.service.spec import TOKEN_ENV
from mlreg.errors import MlregError

STARTUP_FAILURE = 3  # uvicorn.config.STARTUP_FAILURE


def _write_state(path: Path | None, state: dict[str, Any]) -> None:
    if path is None:
        return
    _replace_private(path, path.with_name(path.name + ".tmp"), state)


def _replace_private(path: Path, tmp: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically, 0600, never through a link."""
    from mlreg.deploy.service.supervisor import private_file

    tmp.unlink(missing_ok=True)
    with os.fdopen(private_file(tmp, os.O_EXCL), "w", encoding="utf-8") as f:
        f.write(json.dumps(state))
    os.replace(tmp, path)


def serve(
    spec: dict[str, Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    token: str | None = None,
    token_sha256: str | None = None,
    on_listen: Callable[[str, int], None] | None = None,
    log_level: str = "info",
    state_file: Path | None = None,
) -> None:
    """Serve ``spec`` until SIGTERM or SIGINT. ``token``: the bearer token requests
    need (None: no authentication); or ``token_sha256``, its digest, so that the caller
    need not keep the token itself. ``on_listen(host, port)`` is called once the socket
    is bound (``port`` is the real one when 0 was asked). ``state_file``: where a worker
    that refuses to serve (its package changed) records it, for `deploy list`."""
    try:
        import uvicorn
        from uvicorn.supervisors import Multiprocess
    except ImportError:
        from mlreg.errors import MissingDependency

        raise MissingDependency("serving a model", "service") from None
    from mlreg.deploy.service.app import build_app, token_digest
    from mlreg.errors import InvalidInput

    digest = token_digest(token) if token else token_sha256
    del token  # from here on only the digest is kept
    if spec.get("auth") and not digest:
        raise InvalidInput(f"the service needs a bearer token: set {TOKEN_ENV}")
    workers = max(1, int(workers))
    if workers == 1:
        factory = functools.partial(build_app, spec, digest, None)
    else:
        factory = functools.partial(_worker_app, spec, digest, os.getpid(), state_file)
    config = uvicorn.Config(
        factory, factory=True, host=host, port=port, workers=workers, log_level=log_level,
        access_log=False, lifespan="off", timeout_graceful_shutdown=10,
    )
    sock = _bind(host, port)
    if on_listen is not None:
        on_listen(host, sock.getsockname()[1])
    # until uvicorn takes over the signals (and after it gives them back), SIGTERM and
    # SIGINT end the server at once: e.g. while the model loads
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if workers == 1:
            config.load()  # loads the model before the socket listens: /health means ready
            _freeze()
            uvicorn.Server(config).run(sockets=[sock])
        else:
            supervisor = Multiprocess(config, sockets=[sock])
            supervisor.run()
            if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
                raise MlregError("a worker could not load the model (see its error above)")
    except _Stop:
        pass
    finally:
        sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Stop(BaseException):
    """SIGTERM or SIGINT outside uvicorn's own handling."""


def _stop(sig: int, frame: Any) -> None:
    raise _Stop()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a busy port is a clear error (and port 0
    gives the real port at once); uvicorn's workers share it."""
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of a socket
    # that says TCP. Without it, Nagle's algorithm meets the client's delayed ACK and each
    # small answer (headers, then body) stalls 40 ms.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise MlregError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def _worker_app(spec: dict[str, Any], digest: str | None, parent_pid: int, state_file: Path | None = None) -> Any:
    """The app factory of a worker process (also of one uvicorn starts again after a
    worker died). A package that fails its checksum check is never unpickled: the worker
    refuses to serve (503 on every route), records why in the state file (`deploy list`
    shows the deployment ``unhealthy``) and stays up, so that uvicorn does not restart it
    forever. Any other model that cannot be loaded ends the worker with uvicorn's
    startup-failure code, so that the supervisor stops instead of restarting it forever."""
    import logging

    from mlreg.deploy.service.app import build_app, build_refusing_app
    from mlreg.errors import IntegrityError

    try:
        app = build_app(spec, digest, parent_pid)
    except IntegrityError as e:
        logging.getLogger("uvicorn.error").error("refusing to serve: %s", e)
        record_unhealthy(state_file, str(e))
        return build_refusing_app(spec, str(e), parent_pid)
    except Exception as e:  # noqa: BLE001 - logged with its type; the supervisor reports the exit
        logging.getLogger("uvicorn.error").error("cannot load the model: %s: %s", type(e).__name__, e)
        sys.exit(STARTUP_FAILURE)
    _freeze()
    return app


def _freeze() -> None:
    """The model and its libraries are loaded for good: keep the garbage collector from
    walking them on every collection (shorter pauses, a better tail latency)."""
    import gc

    gc.collect()
    gc.freeze()


def record_unhealthy(state_file: Path | None, reason: str) -> None:
    """Add to the service's state file that a worker (this process) refuses to serve."""
    if state_file is None:
        return
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if not isinstance(state, dict):
        state = {}
    state["unhealthy"] = {"pid": os.getpid(), "reason": reason}
    _replace_private(state_file, state_file.with_name(f"{state_file.name}.{os.getpid()}.tmp"), state)


def _daemonize(state_file: Path) -> None:
    """Fork; the parent returns to its caller's ``wait()`` at once and the child, in a
    session of its own, carries on as the server (adopted by init, not by the caller)."""
    if os.fork():
        os._exit(0)
    os.setsid()
    _write_state(state_file, {"pid": os.getpid()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlreg.deploy.service.server")
    parser.add_argument("--spec", required=True, type=Path, help="the service spec (JSON)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--state-file", type=Path, help="where to write the pid and the bound port")
    parser.add_argument("--daemon", action="store_true", help="detach: fork, new session")
    parser.add_argument("--token-stdin", action="store_true",
                        help="read the bearer token from the first line of stdin (not from the environment)")
    args = parser.parse_args(argv)
    piped = sys.stdin.readline().strip() if args.token_stdin else None  # before the fork: the caller waits

    if args.daemon:
        if args.state_file is None:
            parser.error("--daemon needs --state-file")
        _daemonize(args.state_file)
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    # only the token's digest is kept, here and in the workers; a piped token never shows in
    # /proc/<pid>/environ
    token = piped or os.environ.pop(TOKEN_ENV, None) or None
    digest = _digest(token)
    del token, piped

    def listening(host: str, port: int) -> None:
        print(f"mlreg service listening on {host}:{port}", file=sys.stderr, flush=True)
        _write_state(args.state_file, {"pid": os.getpid(), "port": port})

    try:
        serve(spec, host=args.host, port=args.port, workers=args.workers, token_sha256=digest, on_listen=listening,
              state_file=args.state_file)
    except Exception as e:  # noqa: BLE001 - the supervisor shows the log's last lines
        what = str(e) if isinstance(e, MlregError) else f"{type(e).__name__}: {e}"
        print(f"mlreg service failed: {what}", file=sys.stderr, flush=True)
        return 1
    return 0


def _digest(token: str | None) -> str | None:
    from mlreg.deploy.service.app import token_digest

    return token_digest(token) if token else None


if __name__ == "__main__":
    sys.exit(main())
