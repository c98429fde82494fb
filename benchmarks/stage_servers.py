"""The servers of the stage benchmark, on 127.0.0.1 (the same ones the tests use):
moto (S3), gcp-storage-emulator (GCS), Azurite (Azure Blob, Node.js) and asyncssh's SFTP
server (tests/fixtures/_sftp_server.py). Each ``start_*`` returns a ``Backend``: the stage
URL, its ``stage_options``, how to make the bucket, and the server process to stop."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Backend:
    name: str  # S3, GCS, Azure, SFTP
    url: str  # the stage URL
    options: dict[str, Any]
    proc: subprocess.Popen[bytes]
    prepare: Callable[[], None] = lambda: None  # make the bucket / container / directory
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        _OPENER.open(url, timeout=1).read()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _start(name: str, argv: list[str], log: Path, ready: Callable[[], bool], env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL)
    for _ in range(600):
        if proc.poll() is not None:
            break
        if ready():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{name} did not start; see {log}")


def start_s3(tmp: Path, python: str) -> Backend:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    proc = _start("moto", [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], tmp / "moto.log",
                  lambda: _answers(f"{endpoint}/moto-api/data.json"), env=env)
    # moto assembles a multipart upload in one request that can outlast s3fs's 15 s read timeout
    opts = {"endpoint_url": endpoint, "key": "bench-key", "secret": "bench-secret",
            "client_kwargs": {"region_name": "us-east-1"}, "config_kwargs": {"read_timeout": 600}}

    def prepare() -> None:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench-key", aws_secret_access_key="bench-secret",
                     region_name="us-east-1").create_bucket(Bucket="mlreg-bench")

    return Backend("S3", "s3://mlreg-bench/registry", opts, proc, prepare, {"AWS_EC2_METADATA_DISABLED": "true"})


def start_gcs(tmp: Path, python: str) -> Backend:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    emulator = str(Path(python).with_name("gcp-storage-emulator"))
    (tmp / "gcs").mkdir()
    proc = _start("gcp-storage-emulator", [emulator, "start", "-H", "127.0.0.1", "--port", str(port), "-q"],
                  tmp / "gcs.log", lambda: _answers(f"{endpoint}/storage/v1/b?project=bench"), cwd=tmp / "gcs")
    opts = {"endpoint_url": endpoint, "token": "anon", "project": "bench"}

    def prepare() -> None:
        from gcsfs.core import GCSFileSystem

        GCSFileSystem(skip_instance_cache=True, **opts).mkdir("mlreg-bench")

    return Backend("GCS", "gs://mlreg-bench/registry", opts, proc, prepare)


def start_azure(tmp: Path, python: str) -> Backend:
    script = os.environ.get("MLREG_AZURITE") or str(Path(python).parent.parent / "node" / "node_modules" / ".bin"
                                                    / "azurite-blob")
    key = base64.b64encode(os.urandom(64)).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZURITE_"))}
    env["AZURITE_ACCOUNTS"] = f"mlregbench:{key}"
    log = tmp / "azurite.log"
    port: list[int] = []

    def ready() -> bool:
        if not port:
            m = re.search(r"listens on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
            if not m:
                return False
            port.append(int(m.group(1)))
        return _answers(f"http://127.0.0.1:{port[0]}/mlregbench?comp=list")

    proc = _start("Azurite", ["node", script, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location",
                              str(tmp / "azurite"), "--skipApiVersionCheck", "--disableProductStyleUrl",
                              "--disableTelemetry", "--silent"], log, ready, env=env)
    opts = {"connection_string": f"DefaultEndpointsProtocol=http;AccountName=mlregbench;AccountKey={key};"
                                 f"BlobEndpoint=http://127.0.0.1:{port[0]}/mlregbench;"}

    def prepare() -> None:
        from adlfs import AzureBlobFileSystem

        AzureBlobFileSystem(skip_instance_cache=True, **opts).mkdir("mlreg-bench")

    return Backend("Azure", "az://mlreg-bench/registry", opts, proc, prepare)


def start_sftp(tmp: Path, python: str) -> Backend:
    import asyncssh

    root = tmp / "sftp-root"
    (root / "bench").mkdir(parents=True)
    keys = {}
    for name in ("host", "client"):
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(tmp / f"{name}_key"))
        key.write_public_key(str(tmp / f"{name}_key.pub"))
        keys[name] = key
    log = tmp / "sftp.log"
    port: list[int] = []

    def ready() -> bool:
        m = re.search(r"(?m)^port (\d+)$", log.read_text(errors="replace"))
        if m:
            port.append(int(m.group(1)))
        return bool(port)

    proc = _start("the SFTP server", [python, "-m", "tests.fixtures._sftp_server", str(root), str(tmp / "host_key"),
                                      str(tmp / "client_key.pub"), "reader", "full"], log, ready, cwd=REPO)
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port[0]} {(tmp / 'host_key.pub').read_text()}")
    opts = {"client_keys": [str(tmp / "client_key")], "known_hosts": str(known)}
    return Backend("SFTP", f"sftp://bench@127.0.0.1:{port[0]}/bench/registry", opts, proc)


STARTERS = {"s3": start_s3, "gcs": start_gcs, "azure": start_azure, "sftp": start_sftp}
