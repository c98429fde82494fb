"""Workload: log and load a large NumPy-in-custom-model through an S3 stage (moto on 127.0.0.1).

mlreg: a fresh process logs ``ArrayModel(array)`` (``--size-mb`` of float64) to an
``s3://`` stage; another fresh process, with an empty download cache, loads it back.
Floor: the same work by hand with s3fs in fresh processes: ``np.save`` + ``put_file``,
then ``get_file`` + ``np.load`` of the same bytes. Each side is timed inside its process
around the operation (imports and interpreter start excluded, the first request's
session setup included on both sides; both use the same stage options, with a long read
timeout because moto assembles a 1 GiB multipart upload slower than s3fs's default 15 s
allows). Goals: log+load at >= 0.8x the floor's throughput (time <= 1.25x the floor) and
a peak RSS less than 300 MiB above the process's baseline (for load: above baseline + the
array itself, which the caller asked for).

Quick mode (--quick): 32 MiB, 2 runs (4 fresh processes each), no warm-up. Quicker still while developing:
``python benchmarks/bench_s3.py --size-mb 64 --runs 1 --warmup 0``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import (BENCH_DIR, BENCH_PYTHON, alternate, emit, fig, info, main_args, peer, quick_runs, row, run,
                     scratch)

MIB = 1 << 20
KEY, SECRET = "bench-key", "bench-secret"

PRELUDE = r"""
import json, os, re, sys, time
sys.path.insert(0, os.environ["BENCH_DIR"])
import numpy as np
def _status(field):
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
# moto assembles a multipart upload in one request that can outlast s3fs's 15 s read timeout
OPTS = {"endpoint_url": os.environ["BENCH_ENDPOINT"], "key": "bench-key", "secret": "bench-secret",
        "client_kwargs": {"region_name": "us-east-1"}, "config_kwargs": {"read_timeout": 600}}
def report(seconds, base, extra=0):
    print(json.dumps({"seconds": seconds, "peak_above": _status("VmHWM") - base - extra}))
"""

MLREG_LOG = PRELUDE + r"""
import warnings; warnings.simplefilter("ignore")
import common, mlreg, s3fs
from mlreg import model_registry
home, url, npy, version = sys.argv[1:5]
model = common.ArrayModel(np.load(npy))
# explicit signatures: inferring them from sample data would import pandas, not the point here
SIGNATURES = {"predict": {"inputs": [{"name": f"x{i}", "type": "DOUBLE"} for i in range(4)],
                          "outputs": [{"name": "y", "type": "DOUBLE"}]}}
reg = model_registry.ModelRegistry(mlreg.connect(home=home, stage=url, stage_options=OPTS, role="bench"))
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
reg.log_model(model, model_name="big", model_version=version, signatures=SIGNATURES)
report(time.perf_counter() - t0, base)
"""

MLREG_LOAD = PRELUDE + r"""
import warnings; warnings.simplefilter("ignore")
import common, mlreg, s3fs
from mlreg import model_registry
home, url, version, nbytes = sys.argv[1:5]
reg = model_registry.ModelRegistry(mlreg.connect(home=home, stage=url, stage_options=OPTS, role="bench"))
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
model = reg.load_model("big", version)
seconds = time.perf_counter() - t0
assert model.array.nbytes == int(nbytes), model.array.nbytes
report(seconds, base, model.array.nbytes)
reg.delete_model("big", version)  # untimed: keep the server's memory flat
"""

FLOOR_PUT = PRELUDE + r"""
import s3fs
npy, local, key = sys.argv[1:4]
array = np.load(npy)
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
np.save(local, array)
fs = s3fs.S3FileSystem(skip_instance_cache=True, **OPTS)
fs.put_file(local, key)
report(time.perf_counter() - t0, base)
"""

FLOOR_GET = PRELUDE + r"""
import s3fs
key, local, nbytes = sys.argv[1:4]
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
fs = s3fs.S3FileSystem(skip_instance_cache=True, **OPTS)
fs.get_file(key, local)
array = np.load(local)
seconds = time.perf_counter() - t0
assert array.nbytes == int(nbytes)
report(seconds, base, array.nbytes)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    proc = subprocess.Popen([BENCH_PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(300):
        try:
            opener.open(f"{endpoint}/moto-api/data.json", timeout=1).read()
            return proc, endpoint
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"moto server did not start; see {log}")


def main() -> None:
    def extra(p: Any) -> None:
        p.add_argument("--size-mb", type=int, default=None, help="array size in MiB (default 1024; quick 32)")

    args = main_args(__doc__.splitlines()[0], extra=extra)
    quick_runs(args, 2)
    size_mb = args.size_mb or (32 if args.quick else 1024)
    tmp = scratch(args, "s3")
    proc, endpoint = start_moto(tmp / "moto.log")
    try:
        rows = measure(args, tmp, endpoint, size_mb)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    emit(rows, args)


def measure(args: Any, tmp: Path, endpoint: str, size_mb: int) -> list[dict[str, Any]]:
    import numpy as np

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLREG_", "AWS_"))}
    env.update(BENCH_DIR=str(BENCH_DIR), BENCH_ENDPOINT=endpoint, NO_COLOR="1", PYTHONWARNINGS="ignore",
               AWS_EC2_METADATA_DISABLED="true", MLREG_CONFIG=str(tmp / "no-config.toml"))
    bucket = "mlreg-bench"
    url = f"s3://{bucket}/registry"
    home = tmp / "home"
    nbytes = size_mb * MIB
    npy = tmp / "array.npy"
    np.save(npy, np.random.default_rng(0).random(nbytes // 8))
    info(f"bench_s3: {size_mb} MiB array, moto at {endpoint}")
    setup = (PRELUDE + "import s3fs, mlreg, warnings; warnings.simplefilter('ignore')\n"
             "import boto3  # moto's own dependency\n"
             "boto3.client('s3', endpoint_url=OPTS['endpoint_url'], aws_access_key_id=OPTS['key'],\n"
             "             aws_secret_access_key=OPTS['secret'], region_name='us-east-1').create_bucket(Bucket=sys.argv[1])\n"
             "from mlreg import model_registry\n"
             "model_registry.create_model_registry(mlreg.connect(home=sys.argv[2], stage=sys.argv[3], stage_options=OPTS))\n")
    run([BENCH_PYTHON, "-c", setup, bucket, home, url], env=env)

    figures: dict[str, list[dict[str, float]]] = {k: [] for k in ("log", "load", "put", "get")}
    counter = iter(range(1, 1_000_000))

    def child(name: str, argv: list[Any], cache: Path) -> dict[str, float]:
        out = json.loads(run([BENCH_PYTHON, "-c", *argv], env=dict(env, MLREG_CACHE_DIR=str(cache))).stdout)
        figures[name].append(out)
        return out

    def mlreg_case() -> float:
        version = str(next(counter))
        log_cache, load_cache = tmp / f"cache-log-{version}", tmp / f"cache-load-{version}"
        a = child("log", [MLREG_LOG, home, url, npy, version], log_cache)
        b = child("load", [MLREG_LOAD, home, url, version, nbytes], load_cache)
        shutil.rmtree(log_cache, ignore_errors=True)
        shutil.rmtree(load_cache, ignore_errors=True)
        return a["seconds"] + b["seconds"]

    def floor_case() -> float:
        key = f"{bucket}/floor/array.npy"
        a = child("put", [FLOOR_PUT, npy, tmp / "put.npy", key], tmp)
        b = child("get", [FLOOR_GET, key, tmp / "get.npy", nbytes], tmp)
        for name in ("put.npy", "get.npy"):
            (tmp / name).unlink(missing_ok=True)
        return a["seconds"] + b["seconds"]

    totals = alternate({"mlreg log+load": mlreg_case, "s3fs by hand": floor_case}, runs=args.runs, warmup=args.warmup)
    measured = {k: v[args.warmup:] for k, v in figures.items()}

    def seconds(name: str) -> dict[str, Any]:
        return fig([f["seconds"] for f in measured[name]])

    def rss(name: str) -> dict[str, Any]:
        return fig([f["peak_above"] / MIB for f in measured[name]], unit="MiB")

    both = fig(totals["mlreg log+load"])
    floor = fig(totals["s3fs by hand"])
    rate = both["median"] and floor["median"] / both["median"]
    label = f"{size_mb} MiB"
    rows = [
        row(f"S3 log+load {label}", both, floor, "s3fs put+get", goal=">= 0.8x floor throughput",
            passed=rate >= 0.8, note=f"throughput {rate:.2f}x the floor's; {2 * size_mb / both['median']:.0f} MiB/s moved"),
        row(f"S3 log {label}", seconds("log"), seconds("put"), "np.save + put_file"),
        row(f"S3 load {label} (empty cache)", seconds("load"), seconds("get"), "get_file + np.load"),
        row(f"S3 log {label}: peak RSS above baseline", rss("log"), peers=[peer("s3fs put_file", rss("put"))],
            goal="< 300 MiB", passed=rss("log")["max"] < 300),
        row(f"S3 load {label}: peak RSS above baseline + array", rss("load"), peers=[peer("s3fs get_file", rss("get"))],
            goal="< 300 MiB", passed=rss("load")["max"] < 300),
    ]
    return rows


if __name__ == "__main__":
    main()
