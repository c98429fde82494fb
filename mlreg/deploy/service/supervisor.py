"""Start, watch and stop detached server processes.

A service runs as ``python -m mlreg.deploy.service.server --daemon``: it forks into a
session of its own (so it outlives the deploying process and is never its zombie),
writes its pid and bound port to a state file, and logs to ``<name>.log``. The
deployment row records pid, process start time (to tell a reused pid apart), port, URL
and log; status checks the process and ``GET /health``.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlreg.deploy.service.spec import TOKEN_ENV
from mlreg.errors import MlregError

LOG_TAIL_LINES = 20


# -- processes ------------------------------------------------------------------------------
def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text[text.rfind(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to detect pid reuse."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_alive(pid: int | None, started: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if known, started at ``started``."""
    if not pid:
        return False
    if Path("/proc").is_dir() and Path("/proc/self/stat").exists():
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return started is None or int(fields[19]) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int, not_before: int | None) -> list[int]:
    """Live processes of process group ``pgid`` started no earlier than ``not_before``
    (the service's workers, possibly orphaned when its main process was killed)."""
    if not Path("/proc").is_dir():
        return []
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if not fields or fields[0] in ("Z", "X") or int(fields[2]) != pgid:
            continue
        if not_before is not None and int(fields[19]) < not_before:
            continue
        out.append(int(entry.name))
    return out


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# -- network --------------------------------------------------------------------------------
def connect_host(host: str) -> str:
    """Where a client reaches a server bound to ``host`` (wildcards → loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def health(host: str, port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """The JSON of ``GET /health``, or None when nothing healthy answers."""
    conn = http.client.HTTPConnection(connect_host(host), port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return None
        doc = json.loads(body)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((connect_host(host), port), timeout=timeout):
            return True
    except OSError:
        return False


# -- logs -----------------------------------------------------------------------------------
def log_tail(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log written since ``offset``."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail) if tail else "(the log is empty)"


# -- files ----------------------------------------------------------------------------------
def private_dir(path: Path) -> None:
    """The services directory: created if needed, writable by its owner only (whatever
    the umask), so nobody else can plant a link or a file in it."""
    from mlreg.fsutil import mkdirs

    mkdirs(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o022:
        os.chmod(path, mode & ~0o022)


def private_file(path: Path, flags: int) -> int:
    """A descriptor of a service file open for writing, created 0600 (the umask can only
    narrow it); never through a symbolic link (O_NOFOLLOW), nor onto anything but a
    regular file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MlregError(f"service file {path} is a symbolic link; refusing to write through it (remove it)") from None
        raise MlregError(f"cannot write service file {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise MlregError(f"service file {path} is not a regular file; refusing to write to it (remove it)")
    os.set_blocking(fd, True)
    if st.st_mode & 0o022:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o022)
    return fd


# -- start / stop ---------------------------------------------------------------------------
def start(
    spec: dict[str, Any],
    *,
    name: str,
    run_dir: Path,
    host: str,
    port: int,
    workers: int,
    token: str | None = None,
    use_gpu: bool = False,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Start a detached server for ``spec``; return once ``/health`` answers for this
    model. Raises MlregError with the log's last lines when it does not come up."""
    import mlreg

    private_dir(run_dir)
    log_path = run_dir / f"{name}.log"
    run_id = uuid.uuid4().hex[:12]  # two deploys of one name at once must not share files
    spec_path = run_dir / f"{name}.{run_id}.spec.json"
    state_path = run_dir / f"{name}.{run_id}.state.json"
    state_path.unlink(missing_ok=True)
    with os.fdopen(private_file(spec_path, os.O_TRUNC), "w", encoding="utf-8") as f:
        f.write(json.dumps(spec, indent=1))

    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)  # the token goes through a pipe: never in the server's environment
    if not use_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONUNBUFFERED"] = "1"
    src_root = str(Path(mlreg.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, "-m", "mlreg.deploy.service.server", "--spec", str(spec_path), "--host", host,
           "--port", str(port), "--workers", str(workers), "--state-file", str(state_path), "--daemon"]
    if token:
        cmd.append("--token-stdin")

    with os.fdopen(private_file(log_path, os.O_APPEND), "ab") as log:
        offset = log.seek(0, os.SEEK_END)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        log.write(f"--- {stamp} starting {spec['model_name']}/{spec['model_version']} as {name}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if token else subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=str(run_dir), start_new_session=True,
                                close_fds=True)
        if token and proc.stdin is not None:
            try:
                proc.stdin.write(token.encode("utf-8") + b"\n")
            except BrokenPipeError:
                pass  # the server is gone already: its exit code and log tell why
            finally:
                proc.stdin.close()
    files = {"spec": str(spec_path), "state": str(state_path)}
    found: dict[str, Any] = {}
    try:
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = -1
        if rc != 0:
            raise MlregError(f"service {name} did not start (exit {rc}); last lines of {log_path}:\n{log_tail(log_path, offset)}")
        bound = _wait_ready(spec, name, host, state_path, log_path, offset, timeout, found)
    except BaseException:  # failed, timed out or interrupted: leave nothing running
        if found.get("pid"):
            stop({"pid": found["pid"], "pid_start": found.get("pid_start"), "host": host, "port": found.get("port")})
        remove_files(files)
        raise
    base = f"http://{url_host(connect_host(host))}:{bound}"
    return {
        "pid": found["pid"],
        "pid_start": found["pid_start"],
        "host": host,
        "port": bound,
        "url": f"{base}/{spec['endpoint']}",
        "health_url": f"{base}/health",
        "metadata_url": f"{base}/metadata",
        "log": str(log_path),
        **files,
        "workers": workers,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _wait_ready(spec: dict[str, Any], name: str, host: str, state_path: Path, log_path: Path, offset: int,
                timeout: float, found: dict[str, Any]) -> int:
    """Wait until the detached server answers /health for this model; fill ``found``
    with its pid (and start time) and port as soon as they are known. Returns the port."""
    began = time.monotonic()

    def fail(what: str) -> MlregError:
        return MlregError(f"service {name} {what}; last lines of {log_path}:\n{log_tail(log_path, offset)}")

    while True:
        state = _read_state(state_path)
        if state.get("unhealthy"):  # a worker found the package changed since it was verified
            raise fail(f"refused to serve: {unhealthy({'state': str(state_path)})}")
        if "pid" not in found and state.get("pid"):
            found["pid"] = int(state["pid"])
            found["pid_start"] = start_time(found["pid"])
        if state.get("port"):
            found["port"] = int(state["port"])
        pid = found.get("pid")
        if pid is None and time.monotonic() - began > 30:  # the detached child never reported
            raise fail("did not start")
        if pid is not None and found.get("port"):
            doc = health(host, found["port"], timeout=1.0)
            if doc is not None and doc.get("model_id") == spec["model_id"]:
                return found["port"]
        if pid is not None and not is_alive(pid, found.get("pid_start")):
            raise fail("exited while starting")
        if time.monotonic() - began > timeout:
            raise fail(f"did not answer /health within {timeout:g} s")
        time.sleep(0.05)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def status(details: dict[str, Any]) -> str:
    """'running' (process alive and /health answers), 'unhealthy' (alive, but no answer,
    or a worker refuses to serve: see :func:`unhealthy`) or 'stopped'."""
    pid = details.get("pid")
    if not pid or not is_alive(int(pid), details.get("pid_start")):
        return "stopped"
    if unhealthy(details) is not None:
        return "unhealthy"
    return "running" if health(details.get("host", "127.0.0.1"), int(details["port"])) is not None else "unhealthy"


def unhealthy(details: dict[str, Any]) -> str | None:
    """Why a worker of the service refuses to serve (recorded in its state file by the
    worker: its model package changed since it was deployed), or None."""
    if not details.get("state"):
        return None
    found = _read_state(Path(details["state"])).get("unhealthy")
    if not found:
        return None
    return str(found.get("reason") if isinstance(found, dict) else found)


def stop(details: dict[str, Any], timeout: float = 15.0) -> None:
    """Stop a service gracefully (SIGTERM, then SIGKILL after ``timeout``), its workers
    too, and wait until its port is closed. Idempotent."""
    pid = details.get("pid")
    if not pid:
        return
    pid = int(pid)
    started = details.get("pid_start")
    main_alive = is_alive(pid, started)
    members = group_members(pid, started) if started is not None else []
    if not main_alive and not members:
        return
    # the main process stops its workers itself; orphaned workers are stopped one by one
    for target in [pid] if main_alive else members:
        _signal(target, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid, started) and not (started is not None and group_members(pid, started)):
            break
        time.sleep(0.05)
    else:
        for member in ([pid] if is_alive(pid, started) else []) + (group_members(pid, started) if started is not None else []):
            _signal(member, signal.SIGKILL)
    host, port = details.get("host", "127.0.0.1"), details.get("port")
    if port:
        deadline = time.monotonic() + timeout
        while port_open(host, int(port)) and time.monotonic() < deadline:
            time.sleep(0.05)


def remove_files(details: dict[str, Any]) -> None:
    """Remove a service's spec and state files (its log stays, for post-mortems)."""
    for key in ("spec", "state"):
        if details.get(key):
            Path(details[key]).unlink(missing_ok=True)
