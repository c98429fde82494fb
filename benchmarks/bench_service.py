"""Service throughput: mlreg's inference server against `mlflow models serve`, side by side.

The same small scikit-learn model (LogisticRegression, 8 float features) is registered in
mlreg and deployed as a SERVICE, and saved as an MLflow model served by
``mlflow models serve --env-manager local``. For each worker count of ``--workers``
(default: 1, and the number of cores) both servers run with that many uvicorn workers,
at the same time, and the cases alternate between them (A B, B A, ...):

1. single-row JSON requests (``{"dataframe_records": [{...}]}``, the same bytes to both)
   from ``--clients`` concurrent keep-alive connections (default 4) for ``--duration``
   seconds: requests/s, p50 and p99 latency, and server CPU time per request;
2. with the largest worker count, 10,000-row batches from the same clients: rows/s of
   mlreg with Arrow IPC bodies against MLflow with its binary batch format (Parquet),
   and both with JSON (``dataframe_split``).

Goal: mlreg answers at least 2x MLflow's single-row requests/s at a lower p99.
The load generator is one process per client writing raw HTTP/1.1 on a blocking
keep-alive socket, cheap enough not to be the bottleneck. Not a test: run
``python benchmarks/bench_service.py [--quick] [--duration S] [--workers 1,2]``. Quick mode:
1 s runs, 3 of them, no warm-up, and no `mlflow models serve` (10-20 s to start each)
unless --peers once/all (then its runs are measured like mlreg's: they are cheap).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import bin_path, clean_env, emit, fig, info, main_args, peer, peers_wanted, row, scratch, skipped_peer

N_FEATURES = 8
BATCH_ROWS = 10_000
JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"


# -- load generator ---------------------------------------------------------------------------
def _request(port: int, path: str, content_type: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Accept: {JSON if content_type != ARROW else ARROW}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _client(port: int, requests: list[bytes], seconds: float, start_at: float, out: Any) -> None:
    """One client process: blocking keep-alive socket, one request at a time (cheap, so
    that the load generator is not what limits the servers)."""
    latencies: list[float] = []
    errors: list[int] = []
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while time.time() < start_at:
        time.sleep(0.001)
    stop_at = time.perf_counter() + seconds
    buf = b""
    i = 0
    t_start = time.perf_counter()
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        sock.sendall(requests[i % len(requests)])
        i += 1
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        while len(buf) < length:
            buf += sock.recv(max(65536, length - len(buf)))
        buf = buf[length:]
        latencies.append(time.perf_counter() - t0)
        if head[9:12] != b"200":
            errors.append(int(head[9:12]))
    elapsed = time.perf_counter() - t_start
    sock.close()
    out.send((latencies, errors, elapsed))
    out.close()


def load(port: int, requests: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """Drive ``clients`` keep-alive connections (one process each) for ``seconds``;
    requests/s and latencies."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    start_at = time.time() + 0.2
    pipes, procs = [], []
    for _ in range(clients):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client, args=(port, requests, seconds, start_at, send))
        proc.start()
        send.close()
        pipes.append(recv)
        procs.append(proc)
    latencies: list[float] = []
    errors: list[int] = []
    elapsed = 0.0
    for recv, proc in zip(pipes, procs):
        lat, err, took = recv.recv()
        proc.join()
        latencies += lat
        errors += err
        elapsed = max(elapsed, took)
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. HTTP {errors[0]}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "n": len(latencies),
    }


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of a process group (a server and its
    workers): robust to a busy machine, unlike rates."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(port: int, requests: list[bytes], clients: int, seconds: float, pgid: int) -> dict[str, Any]:
    before = group_cpu(pgid)
    result = load(port, requests, clients, seconds)
    result["cpu_per_request"] = (group_cpu(pgid) - before) / result["n"]
    return result


# -- servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(port: int, proc: subprocess.Popen | None, timeout: float = 180) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no answer on port {port} within {timeout} s")


def train(root: Path, with_mlflow: bool = True) -> tuple[Any, Any, Path | None, Any]:
    """The model, its data, the MLflow model directory (None without MLflow) and the mlreg
    registry holding it."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlreg
    from mlreg import model_registry

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2000, N_FEATURES)), columns=[f"f{i}" for i in range(N_FEATURES)])
    y = (X.sum(axis=1) > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    mlflow_dir = None
    if with_mlflow:
        import mlflow.sklearn
        from mlflow.models import infer_signature

        mlflow_dir = root / "mlflow-model"
        mlflow.sklearn.save_model(clf, str(mlflow_dir), signature=infer_signature(X, clf.predict(X)))
    session = mlreg.connect(home=root / "mlreg-home")
    model_registry.create_model_registry(session)
    registry = model_registry.ModelRegistry(session)
    registry.log_model(clf, model_name="bench", model_version="1", sample_input_data=X.head(20))
    return clf, X, mlflow_dir, registry


class Servers:
    """One mlreg service and one `mlflow models serve` (none when ``mlflow_dir`` is None),
    each with ``workers`` workers."""

    def __init__(self, root: Path, registry: Any, mlflow_dir: Path | None, workers: int):
        from mlreg import deploy_platforms

        self.registry, self.name = registry, f"bench-w{workers}"
        self.mlflow: subprocess.Popen | None = None
        self.mlflow_port = free_port()
        if mlflow_dir is not None:
            log = open(root / f"mlflow-w{workers}.log", "wb")
            self.mlflow = subprocess.Popen(
                [bin_path("mlflow"), "models", "serve", "-m", str(mlflow_dir), "--env-manager", "local",
                 "-h", "127.0.0.1", "-p", str(self.mlflow_port), "-w", str(workers)],
                # mlflow execs `uvicorn` by name: the bench venv's bin must come first on PATH
                env=clean_env(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            # the mlreg service starts while MLflow's does (both are mostly imports), then
            # both are waited for
            dep = registry.deploy("bench", "1", self.name, platform=deploy_platforms.TargetPlatform.SERVICE,
                                  options={"num_workers": workers})
            if self.mlflow is not None:
                wait_health(self.mlflow_port, self.mlflow)
        except BaseException:
            if self.mlflow is not None:
                stop_mlflow(self.mlflow)
            raise
        self.mlreg_port, self.mlreg_pgid = int(dep.details["port"]), int(dep.details["pid"])

    def stop(self) -> None:
        if self.mlflow is not None:
            stop_mlflow(self.mlflow)
        self.registry.delete_deployment("bench", "1", self.name)


def stop_mlflow(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def check_same(mlreg_port: int, mlflow_port: int, body: bytes) -> None:
    """Both servers must give the same predictions for the same request."""
    import http.client

    answers = []
    for port, path in ((mlreg_port, "/predict"), (mlflow_port, "/invocations")):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers={"Content-Type": JSON})
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"port {port}: HTTP {resp.status}: {doc}")
        preds = doc["predictions"]
        answers.append([next(iter(p.values())) if isinstance(p, dict) else p for p in preds])
    if answers[0] != answers[1]:
        raise RuntimeError(f"mlreg and MLflow disagree: {answers[0][:5]} vs {answers[1][:5]}")


# -- payloads ---------------------------------------------------------------------------------
def single_rows(X: Any, n: int = 200) -> list[bytes]:
    return [json.dumps({"dataframe_records": [r]}).encode() for r in X.head(n).to_dict("records")]


def batch(X: Any, fmt: str) -> bytes:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame(np.resize(X.to_numpy(), (BATCH_ROWS, N_FEATURES)), columns=X.columns)
    if fmt == "json":
        return json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}).encode()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if fmt == "parquet":
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


# -- main -------------------------------------------------------------------------------------
def main() -> None:
    def extra(p: Any) -> None:
        p.add_argument("--duration", type=float, default=None, help="seconds per measured run (default 10; quick 1)")
        p.add_argument("--clients", type=int, default=4, help="concurrent connections (default 4)")
        p.add_argument("--workers", default=f"1,{os.cpu_count() or 1}",
                       help="worker processes of each server, a comma-separated list: one pair of servers "
                            "per count (default: 1 and the number of cores)")

    args = main_args(__doc__.splitlines()[0], extra=extra)
    duration = args.duration or (1.0 if args.quick else 10.0)
    with_mlflow = peers_wanted(args)
    root = scratch(args, "service")
    worker_counts = sorted({int(w) for w in args.workers.split(",")})
    info(f"bench_service: {worker_counts} worker(s) per server, {args.clients} clients, {duration:g} s per run, "
         f"{args.runs} runs (+{args.warmup} warm-up), alternating")
    _, X, mlflow_dir, registry = train(root, with_mlflow)
    results: dict[str, list[dict[str, Any]]] = {}

    def run_group(group: dict[str, tuple[int, list[bytes], int]]) -> None:
        names = list(group)
        for name in names:  # warm-up, discarded
            for _ in range(args.warmup):
                load(group[name][0], group[name][1], args.clients, min(duration, 1.0 if args.quick else 2.0))
        for i in range(args.runs):
            for name in (names if i % 2 == 0 else names[::-1]):
                port, requests, pgid = group[name]
                results.setdefault(name, []).append(measure(port, requests, args.clients, duration, pgid))
        for name in names:
            r = results[name]
            info(f"  {name}: {statistics.median(x['rps'] for x in r):.1f} req/s, "
                 f"p50 {statistics.median(x['p50'] for x in r) * 1e3:.2f} ms, "
                 f"p99 {statistics.median(x['p99'] for x in r) * 1e3:.2f} ms, "
                 f"server CPU {statistics.median(x['cpu_per_request'] for x in r) * 1e3:.2f} ms/request")

    def pair(mine: tuple[str, tuple], theirs: tuple[str, Any]) -> dict[str, tuple]:
        """A group of mlreg's case and MLflow's (a callable building it: it needs the server)."""
        group = {mine[0]: mine[1]}
        if with_mlflow:
            group[theirs[0]] = theirs[1]()
        return group

    singles = single_rows(X)
    for workers in worker_counts:
        servers = Servers(root, registry, mlflow_dir, workers)
        try:
            mp, fp = servers.mlreg_port, servers.mlflow_port
            fpid = servers.mlflow.pid if servers.mlflow is not None else 0
            if with_mlflow:
                check_same(mp, fp, singles[0])
                check_same(mp, fp, json.dumps({"dataframe_records": X.head(50).to_dict("records")}).encode())
            run_group(pair(
                (f"single/mlreg/{workers}", (mp, [_request(mp, "/predict", JSON, b) for b in singles], servers.mlreg_pgid)),
                (f"single/mlflow/{workers}", lambda: (fp, [_request(fp, "/invocations", JSON, b) for b in singles], fpid)),
            ))
            if workers == worker_counts[-1]:
                run_group(pair(
                    ("batch/mlreg/arrow", (mp, [_request(mp, "/predict", ARROW, batch(X, "arrow"))], servers.mlreg_pgid)),
                    ("batch/mlflow/parquet", lambda: (fp, [_request(fp, "/invocations", PARQUET, batch(X, "parquet"))],
                                                      fpid)),
                ))
                run_group(pair(
                    ("batch/mlreg/json", (mp, [_request(mp, "/predict", JSON, batch(X, "json"))], servers.mlreg_pgid)),
                    ("batch/mlflow/json", lambda: (fp, [_request(fp, "/invocations", JSON, batch(X, "json"))], fpid)),
                ))
        finally:
            servers.stop()

    def rate(name: str, scale: float = 1.0, unit: str = "req/s") -> dict[str, Any]:
        return fig([x["rps"] * scale for x in results[name]], unit=unit, better="higher")

    def cpu(name: str) -> dict[str, Any]:
        return fig([x["cpu_per_request"] * 1e3 for x in results[name]], unit="ms", better="lower")

    def lat(name: str, key: str) -> dict[str, Any]:
        return fig([x[key] * 1e3 for x in results[name]], unit="ms", better="lower")

    mlflow = "mlflow models serve"

    def theirs_peer(name: str, figure: Any) -> list[dict[str, Any]]:
        return [peer(mlflow, figure(name))] if name in results else [skipped_peer(args, mlflow)]

    rows = []
    for w in worker_counts:
        ours, theirs = f"single/mlreg/{w}", f"single/mlflow/{w}"
        label = f"{w} worker{'s' if w > 1 else ''} each"
        note = f"{label}, {args.clients} concurrent keep-alive clients, {duration:g} s runs"
        if theirs in results:
            rps_ratio = rate(ours)["median"] / rate(theirs)["median"]
            p99_lower = lat(ours, "p99")["median"] < lat(theirs, "p99")["median"]
            passed, p99_passed = rps_ratio >= 2 and p99_lower, p99_lower
            note += f"; MLflow {mlflow_version()} `models serve --env-manager local -w {w}`"
            if w > 1:
                note += ("; with more than one worker MLflow's uvicorn shares a socket without TCP_NODELAY, so its "
                         "small answers stall on Nagle + delayed ACK (mlreg sets it)")
        else:  # quick mode without the peer: the goals cannot be judged
            passed = p99_passed = None
        rows += [
            row(f"service, single-row JSON ({label}): requests/s", rate(ours), peers=theirs_peer(theirs, rate),
                goal=">= 2x MLflow req/s at lower p99", passed=passed, note=note),
            row(f"service, single-row JSON ({label}): p50 latency", lat(ours, "p50"),
                peers=theirs_peer(theirs, lambda n: lat(n, "p50"))),
            row(f"service, single-row JSON ({label}): p99 latency", lat(ours, "p99"),
                peers=theirs_peer(theirs, lambda n: lat(n, "p99")),
                goal="< MLflow p99", passed=p99_passed),
            row(f"service, single-row JSON ({label}): server CPU per request", cpu(ours),
                peers=theirs_peer(theirs, cpu),
                note="CPU time of the server and its workers per request: the figure least disturbed by a busy machine"),
        ]
    w = worker_counts[-1]
    rows += [
        row(f"service, 10,000-row batches ({w} workers each): rows/s, mlreg Arrow vs MLflow Parquet",
            rate("batch/mlreg/arrow", BATCH_ROWS, "rows/s"),
            peers=theirs_peer("batch/mlflow/parquet", lambda n: rate(n, BATCH_ROWS, "rows/s"))),
        row(f"service, 10,000-row batches ({w} workers each): rows/s, JSON dataframe_split (both)",
            rate("batch/mlreg/json", BATCH_ROWS, "rows/s"),
            peers=theirs_peer("batch/mlflow/json", lambda n: rate(n, BATCH_ROWS, "rows/s"))),
    ]
    emit(rows, args)


def mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


if __name__ == "__main__":
    sys.exit(main())
