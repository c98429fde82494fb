"""Workload: log and load a large NumPy-in-custom-model through each remote stage
(S3, GCS, Azure Blob, SFTP), each on its server on 127.0.0.1.

mlreg: a fresh process logs ``ArrayModel(array)`` (``--size-mb`` of float64) to the
stage; another fresh process, with an empty download cache, loads it back. Floor: the
same work by hand with the same fsspec filesystem (the class and options mlreg uses) in
fresh processes: ``np.save`` + ``put_file``, then ``get_file`` + ``np.load`` of the same
bytes. Each side is timed inside its process around the operation (imports and
interpreter start excluded, the first request's session setup included on both sides).
Goals, for each stage: log+load at >= 0.8x the floor's throughput (time <= 1.25x the
floor) and a peak RSS less than 300 MiB above the process's baseline (for load: above
baseline + the array itself, which the caller asked for). The servers are moto,
gcp-storage-emulator, Azurite and asyncssh's SFTP server (benchmarks/stage_servers.py):
their own speed bounds both sides alike.

Quick mode (--quick): 32 MiB, 2 runs (4 fresh processes each), no warm-up. Quicker still
while developing: ``python benchmarks/bench_stages.py --size-mb 64 --runs 1 --warmup 0 --backends sftp``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from harness import (BENCH_DIR, BENCH_PYTHON, alternate, emit, fig, info, main_args, peer, quick_runs, row, run,
                     scratch)
from stage_servers import STARTERS, Backend

MIB = 1 << 20

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
URL, OPTS = os.environ["BENCH_URL"], json.loads(os.environ["BENCH_OPTS"])
def filesystem(url):
    # the floor uses the filesystem class and options mlreg uses for the stage
    import fsspec
    from mlreg.stage.backends import make_filesystem
    return make_filesystem(fsspec, url.split("://")[0], url, OPTS)
def report(seconds, base, extra=0):
    print(json.dumps({"seconds": seconds, "peak_above": _status("VmHWM") - base - extra}))
"""

MLREG_LOG = PRELUDE + r"""
import warnings; warnings.simplefilter("ignore")
import common, mlreg
from mlreg import model_registry
home, npy, version = sys.argv[1:4]
model = common.ArrayModel(np.load(npy))
# explicit signatures: inferring them from sample data would import pandas, not the point here
SIGNATURES = {"predict": {"inputs": [{"name": f"x{i}", "type": "DOUBLE"} for i in range(4)],
                          "outputs": [{"name": "y", "type": "DOUBLE"}]}}
reg = model_registry.ModelRegistry(mlreg.connect(home=home, stage=URL, stage_options=OPTS, role="bench"))
filesystem(URL)  # import the filesystem library before the clock starts, as the floor does
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
reg.log_model(model, model_name="big", model_version=version, signatures=SIGNATURES)
report(time.perf_counter() - t0, base)
"""

MLREG_LOAD = PRELUDE + r"""
import warnings; warnings.simplefilter("ignore")
import common, mlreg
from mlreg import model_registry
home, version, nbytes = sys.argv[1:4]
reg = model_registry.ModelRegistry(mlreg.connect(home=home, stage=URL, stage_options=OPTS, role="bench"))
filesystem(URL)
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
model = reg.load_model("big", version)
seconds = time.perf_counter() - t0
assert model.array.nbytes == int(nbytes), model.array.nbytes
report(seconds, base, model.array.nbytes)
reg.delete_model("big", version)  # untimed: keep the server's memory flat
"""

FLOOR_PUT = PRELUDE + r"""
npy, local = sys.argv[1:3]
array = np.load(npy)
import fsspec, mlreg.stage.backends  # imports outside the clock, as for mlreg
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
np.save(local, array)
fs, key = filesystem(URL + "/floor/array.npy")
if URL.startswith("sftp://"):
    fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
fs.put_file(local, key)
report(time.perf_counter() - t0, base)
"""

FLOOR_GET = PRELUDE + r"""
local, nbytes = sys.argv[1:3]
import fsspec, mlreg.stage.backends
reset_peak(); base = _status("VmRSS"); t0 = time.perf_counter()
fs, key = filesystem(URL + "/floor/array.npy")
fs.get_file(key, local)
array = np.load(local)
seconds = time.perf_counter() - t0
assert array.nbytes == int(nbytes)
report(seconds, base, array.nbytes)
"""


def main() -> None:
    def extra(p: Any) -> None:
        p.add_argument("--size-mb", type=int, default=None, help="array size in MiB (default 1024; quick 32)")
        p.add_argument("--backends", nargs="*", default=list(STARTERS), choices=list(STARTERS),
                       help="the stages to measure (default: all)")

    args = main_args(__doc__.splitlines()[0], extra=extra)
    quick_runs(args, 2)
    size_mb = args.size_mb or (32 if args.quick else 1024)
    rows: list[dict[str, Any]] = []
    for name in args.backends:
        tmp = scratch(args, f"stage-{name}")
        backend = STARTERS[name](tmp, BENCH_PYTHON)
        try:
            backend.prepare()
            rows += measure(args, tmp, backend, size_mb)
        finally:
            backend.stop()
    emit(rows, args)


def measure(args: Any, tmp: Path, backend: Backend, size_mb: int) -> list[dict[str, Any]]:
    import numpy as np

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLREG_", "AWS_", "AZURE_", "GOOGLE_"))}
    env.update(BENCH_DIR=str(BENCH_DIR), BENCH_URL=backend.url, BENCH_OPTS=json.dumps(backend.options),
               NO_COLOR="1", PYTHONWARNINGS="ignore", MLREG_CONFIG=str(tmp / "no-config.toml"), **backend.env)
    home = tmp / "home"
    nbytes = size_mb * MIB
    npy = tmp / "array.npy"
    np.save(npy, np.random.default_rng(0).random(nbytes // 8))
    name = backend.name
    info(f"bench_stages: {size_mb} MiB array, {name} stage {backend.url}")
    setup = (PRELUDE + "import mlreg, warnings; warnings.simplefilter('ignore')\n"
             "from mlreg import model_registry\n"
             "model_registry.create_model_registry(mlreg.connect(home=sys.argv[1], stage=URL, stage_options=OPTS))\n")
    run([BENCH_PYTHON, "-c", setup, home], env=env)

    figures: dict[str, list[dict[str, float]]] = {k: [] for k in ("log", "load", "put", "get")}
    counter = iter(range(1, 1_000_000))

    def child(kind: str, argv: list[Any], cache: Path) -> dict[str, float]:
        out = json.loads(run([BENCH_PYTHON, "-c", *argv], env=dict(env, MLREG_CACHE_DIR=str(cache))).stdout)
        figures[kind].append(out)
        return out

    def mlreg_case() -> float:
        version = str(next(counter))
        log_cache, load_cache = tmp / f"cache-log-{version}", tmp / f"cache-load-{version}"
        a = child("log", [MLREG_LOG, home, npy, version], log_cache)
        b = child("load", [MLREG_LOAD, home, version, nbytes], load_cache)
        shutil.rmtree(log_cache, ignore_errors=True)
        shutil.rmtree(load_cache, ignore_errors=True)
        return a["seconds"] + b["seconds"]

    def floor_case() -> float:
        a = child("put", [FLOOR_PUT, npy, tmp / "put.npy"], tmp)
        b = child("get", [FLOOR_GET, tmp / "get.npy", nbytes], tmp)
        for f in ("put.npy", "get.npy"):
            (tmp / f).unlink(missing_ok=True)
        return a["seconds"] + b["seconds"]

    floor_name = f"{name} put_file+get_file"
    totals = alternate({"mlreg log+load": mlreg_case, floor_name: floor_case}, runs=args.runs, warmup=args.warmup)
    measured = {k: v[args.warmup:] for k, v in figures.items()}

    def seconds(kind: str) -> dict[str, Any]:
        return fig([f["seconds"] for f in measured[kind]])

    def rss(kind: str) -> dict[str, Any]:
        return fig([f["peak_above"] / MIB for f in measured[kind]], unit="MiB")

    both = fig(totals["mlreg log+load"])
    floor = fig(totals[floor_name])
    rate = both["median"] and floor["median"] / both["median"]
    label = f"{size_mb} MiB"
    return [
        row(f"{name} log+load {label}", both, floor, "fsspec put_file+get_file", goal=">= 0.8x floor throughput",
            passed=rate >= 0.8, note=f"throughput {rate:.2f}x the floor's; {2 * size_mb / both['median']:.0f} MiB/s moved"),
        row(f"{name} log {label}", seconds("log"), seconds("put"), "np.save + put_file"),
        row(f"{name} load {label} (empty cache)", seconds("load"), seconds("get"), "get_file + np.load"),
        row(f"{name} log {label}: peak RSS above baseline", rss("log"), peers=[peer("put_file", rss("put"))],
            goal="< 300 MiB", passed=rss("log")["max"] < 300),
        row(f"{name} load {label}: peak RSS above baseline + array", rss("load"), peers=[peer("get_file", rss("get"))],
            goal="< 300 MiB", passed=rss("load")["max"] < 300),
    ]


if __name__ == "__main__":
    main()
