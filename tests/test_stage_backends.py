"""The stage suite: every kind of stage passes the same tests. ``local`` is a directory;
``s3``, ``gcs``, ``azure`` and ``sftp`` each run against a real server on 127.0.0.1
(moto, gcp-storage-emulator, Azurite, asyncssh; see tests/fixtures/). Tests that concern
only what a remote stage adds (commit markers, the download cache) run on those four.
Failures and credentials of each backend: tests/test_stage_credentials.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlreg
from mlreg import model_registry
from mlreg.errors import AlreadyExists, IntegrityError, InvalidInput, MlregError, NotFound
from mlreg.stage import open_stage
from mlreg.stage.remote import COMMIT
from tests.data.harness import MLREG, write_model_pickle
from tests.fixtures.models import SumModel
from tests.fixtures.s3 import TcpProxy
from tests.fixtures.stages import StageBackend, connection_env, write_config

DB = "MODEL_REGISTRY"
X = np.arange(12, dtype=float).reshape(4, 3)
PACKAGE = {
    "MANIFEST.json": b'{"format": 1}\n',
    "model/model.pkl": os.urandom(300_000),
    "code/pkg/__init__.py": b"X = 1\n",
    "env/requirements.txt": b"numpy\n",
}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "download-cache"
    monkeypatch.setenv("MLREG_CACHE_DIR", str(path))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stage_of(b: StageBackend) -> Any:
    return open_stage(b.url, DB, b.options)


def write_package(stage: Any, package_id: str, contents: dict[str, bytes]) -> tuple[Path, dict[str, str]]:
    root = stage.begin(package_id)
    for rel, data in contents.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, {rel: sha(data) for rel, data in contents.items()}


def publish(stage: Any, package_id: str, contents: dict[str, bytes]) -> dict[str, str]:
    root, files = write_package(stage, package_id, contents)
    stage.publish(package_id, root, files)
    return files


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def drop_cache() -> None:
    shutil.rmtree(os.environ["MLREG_CACHE_DIR"], ignore_errors=True)


# -- the stage contract ----------------------------------------------------------------------------
def test_publish_exists_load_hashes_delete(backend: StageBackend) -> None:
    stage = stage_of(backend)
    assert not stage.exists("m1")
    assert list(stage.entries()) == []
    files = publish(stage, "m1", PACKAGE)
    assert stage.exists("m1")
    assert stage.hashes("m1") == files
    [entry] = stage.entries()
    assert (entry.name, entry.temporary, entry.uri) == ("m1", False, stage.uri("m1"))
    if backend.remote:  # the data files and the commit marker
        assert entry.size is not None and entry.size > sum(len(v) for v in PACKAGE.values())
        assert sorted(backend.keys()) == sorted(f"{DB}/m1/{rel}" for rel in [*PACKAGE, COMMIT])
    assert read_dir(stage.local_dir("m1", files)) == PACKAGE
    stage.delete("m1")
    assert not stage.exists("m1")
    assert list(stage.entries()) == []
    assert backend.keys() == []
    stage.delete("m1")  # missing is not an error


def test_uri_names_the_stage_and_holds_no_secret(backend: StageBackend) -> None:
    stage = stage_of(backend)
    assert stage.uri("m1") == f"{backend.url}/{DB}/m1"
    for secret in backend.secrets:
        assert secret not in repr(stage) + stage.url + stage.uri("m1")


def test_ids_sharing_a_prefix_stay_apart(backend: StageBackend) -> None:
    stage = stage_of(backend)
    a = publish(stage, "abc", {"f": b"a"})
    b = publish(stage, "abc2", {"f": b"bb"})
    assert stage.hashes("abc") == a and stage.hashes("abc2") == b
    stage.delete("abc")
    assert [e.name for e in stage.entries()] == ["abc2"]
    assert stage.exists("abc2")


def test_invalid_ids_and_missing_packages(backend: StageBackend) -> None:
    stage = stage_of(backend)
    for bad in ("", "a/b", "..", ".hidden"):
        with pytest.raises(InvalidInput):
            stage.exists(bad)
    with pytest.raises(IntegrityError, match="is missing from the stage"):
        stage.local_dir("nope", {"MANIFEST.json": "0" * 64})
    assert stage.hashes("nope") == {}


# -- what a remote stage adds: commit markers and the download cache --------------------------------
def test_loads_into_an_empty_cache_once(remote_backend: StageBackend, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    files = publish(stage_of(remote_backend), "m1", PACKAGE)
    fresh = tmp_path / "other-cache"
    monkeypatch.setenv("MLREG_CACHE_DIR", str(fresh))
    stage = stage_of(remote_backend)
    first = stage.local_dir("m1", files)
    assert first.is_relative_to(fresh)
    assert read_dir(first) == PACKAGE
    remote_backend.delete(f"{DB}/m1/model/model.pkl")  # a second load needs no download
    assert stage.local_dir("m1", files) == first
    assert sorted(p.name for p in (fresh / "blobs").rglob("*") if p.is_file()) == sorted(set(files.values()))
    assert read_dir(stage.local_dir("m1", {})) == PACKAGE  # no files given: what the marker lists


def test_publishing_twice_or_a_changed_file_is_refused(remote_backend: StageBackend) -> None:
    stage = stage_of(remote_backend)
    publish(stage, "m1", PACKAGE)
    root, files = write_package(stage, "m1", {"x": b"y"})
    with pytest.raises(AlreadyExists, match="already on the stage"):
        stage.publish("m1", root, files)
    assert stage.hashes("m1") == {k: sha(v) for k, v in PACKAGE.items()}
    root, files = write_package(stage, "m2", PACKAGE)
    (root / "model/model.pkl").write_bytes(b"changed")
    with pytest.raises(IntegrityError, match="model/model.pkl"):
        stage.publish("m2", root, files)
    assert not stage.exists("m2")
    stage.abort("m2", root)
    assert not root.exists()
    assert [e.name for e in stage.entries()] == ["m1"]


def test_tampered_missing_and_corrupt_objects_are_caught(remote_backend: StageBackend, cache_dir: Path) -> None:
    stage = stage_of(remote_backend)
    files = publish(stage, "m1", PACKAGE)
    remote_backend.put(f"{DB}/m1/model/model.pkl", b"evil")
    assert stage.hashes("m1")["model/model.pkl"] == sha(b"evil")
    shutil.rmtree(cache_dir)  # the upload left a copy in the cache
    with pytest.raises(IntegrityError, match=rf"file model/model.pkl of model package {remote_backend.url}/.*/m1 "
                                             "does not match"):
        stage.local_dir("m1", files)
    assert not [p for p in cache_dir.rglob("*") if p.name == files["model/model.pkl"]]
    remote_backend.delete(f"{DB}/m1/env/requirements.txt")
    shutil.rmtree(cache_dir)
    with pytest.raises(IntegrityError, match="env/requirements.txt of model package .* is missing from the stage"):
        stage.local_dir("m1", {"env/requirements.txt": files["env/requirements.txt"]})
    remote_backend.put(f"{DB}/m1/{COMMIT}", b"{not json")
    with pytest.raises(IntegrityError, match="commit marker .* is corrupt"):
        stage.local_dir("m1", {})


def test_a_tampered_cache_is_fetched_again(remote_backend: StageBackend, cache_dir: Path) -> None:
    stage = stage_of(remote_backend)
    files = publish(stage, "m1", PACKAGE)
    blob = cache_dir / "blobs" / files["model/model.pkl"][:2] / files["model/model.pkl"]
    blob.chmod(0o644)
    blob.write_bytes(b"rotten")
    assert read_dir(stage.local_dir("m1", files)) == PACKAGE


def test_an_upload_without_its_marker_is_temporary(remote_backend: StageBackend) -> None:
    stage = stage_of(remote_backend)
    publish(stage, "done", PACKAGE)
    remote_backend.put(f"{DB}/half/MANIFEST.json", b"{}")
    remote_backend.put(f"{DB}/half/model/model.pkl", b"x" * 10)
    assert not stage.exists("half")
    entries = {e.name: e for e in stage.entries()}
    assert (entries["half"].temporary, entries["done"].temporary) == (True, False)
    with pytest.raises(IntegrityError, match="missing from the stage"):
        stage.local_dir("half", {})
    stage.delete_entry(entries["half"])
    assert [e.name for e in stage.entries()] == ["done"]
    # gc spares an upload that completed between its listing and its delete
    root, files = write_package(stage, "late", PACKAGE)
    remote_backend.put(f"{DB}/late/MANIFEST.json", PACKAGE["MANIFEST.json"])
    [stale] = [e for e in stage.entries() if e.name == "late"]
    assert stale.temporary
    stage.publish("late", root, files)
    stage.delete_entry(stale)
    assert stage.exists("late")
    # abort removes what an attempt left
    root, _files = write_package(stage, "gone", PACKAGE)
    remote_backend.put(f"{DB}/gone/MANIFEST.json", b"{}")
    stage.abort("gone", root)
    assert not root.exists()
    assert sorted(e.name for e in stage.entries()) == ["done", "late"]


# -- the registry on each stage ------------------------------------------------------------------
def open_registry(b: StageBackend, url: str | None = None, options: dict[str, Any] | None = None) -> Any:
    session = mlreg.connect(stage=url or b.url, stage_options=b.options if options is None else options)
    model_registry.create_model_registry(session=session)
    return model_registry.ModelRegistry(session=session)


def log(registry: Any, version: str = "1", **kw: Any) -> str:
    kw.setdefault("sample_input_data", X)
    return registry.log_model(model=SumModel(), model_name="m", model_version=version, **kw)


def test_log_list_load_verify(backend: StageBackend) -> None:
    registry = open_registry(backend)
    model_id = log(registry, description="on a stage", tags={"stage": "testing"}, metrics={"acc": 0.5})
    if backend.remote:
        assert f"{DB}/{model_id}/{COMMIT}" in backend.keys()
    uri, tags = registry.list_models().filter(f"ID = '{model_id}'").select("URI, TAGS").fetchall()[0]
    assert uri == f"{backend.url}/{DB}/{model_id}"
    assert json.loads(tags) == {"stage": "testing"}
    drop_cache()
    assert registry.load_model("m", "1").predict(X).tolist() == [3.0, 12.0, 21.0, 30.0]
    assert [r.ok for r in registry.verify()] == [True]
    dump = json.dumps([registry.list_models().fetchall(), registry.get_history().fetchall()], default=str)
    for secret in backend.secrets:
        assert secret.encode() not in (Path(os.environ["MLREG_HOME"]) / f"{DB}.duckdb").read_bytes()
        assert secret not in dump


def test_verify_reports_changed_missing_and_extra_files(backend: StageBackend) -> None:
    registry = open_registry(backend)
    ids = [log(registry, v) for v in ("1", "2", "3")]
    model_file = f"{DB}/{ids[0]}/model/model.pkl"
    backend.put(model_file, backend.read(model_file) + b"x")
    backend.delete(f"{DB}/{ids[1]}/MANIFEST.json")
    backend.put(f"{DB}/{ids[2]}/model/extra.bin", b"planted")
    report = {r.version: (r.changed, r.missing, r.extra) for r in registry.verify()}
    assert report == {"1": (["model/model.pkl"], [], []), "2": ([], ["MANIFEST.json"], []),
                      "3": ([], [], ["model/extra.bin"])}
    drop_cache()
    with pytest.raises(IntegrityError, match="model/model.pkl of model package .* does not match|model/model.pkl"):
        registry.load_model("m", "1")


def test_delete_with_and_without_artifact_and_gc(backend: StageBackend) -> None:
    registry = open_registry(backend)
    id1, id2, live = log(registry, "1"), log(registry, "2"), log(registry, "3")
    registry.delete_model(model_name="m", model_version="1")
    assert not registry.stage.exists(id1)
    assert not [k for k in backend.keys() if f"/{id1}/" in k]
    registry.delete_model(model_name="m", model_version="2", delete_artifact=False)
    assert registry.stage.exists(id2)
    # an upload of this registry that stopped half way (its manifest, uploaded first, names it)
    mine = json.dumps({"id": "deadbeef", "registry_id": registry.store.registry_id()}).encode()
    backend.put(f"{DB}/deadbeef/MANIFEST.json", mine)
    # ... and what gc cannot prove is this registry's: another registry's, and not a package
    backend.put(f"{DB}/cafebabe/MANIFEST.json", json.dumps({"id": "cafebabe", "registry_id": "other"}).encode())
    backend.put(f"{DB}/important_data/MANIFEST.json", b"{}")
    # a remote stage tells a half upload by its missing commit marker; gc removes both either way
    expected = sorted([("deadbeef", backend.remote), (id2, False)])
    assert sorted((e.name, e.temporary) for e in registry.gc(dry_run=True)) == expected
    registry.gc()
    assert {k.split("/")[1] for k in backend.keys()} == {live, "cafebabe", "important_data"}
    with pytest.raises(NotFound):
        registry.load_model("m", "2")
    assert registry.load_model("m", "3").predict(X).tolist() == [3.0, 12.0, 21.0, 30.0]


@pytest.mark.slow
def test_a_lost_connection_publishes_nothing_and_a_retry_succeeds(remote_backend: StageBackend, tmp_path: Path,
                                                                  no_backoff: None) -> None:
    proxy = TcpProxy(remote_backend.port).start()
    try:
        url, options = remote_backend.via(proxy.port)
        registry = open_registry(remote_backend, url, options)
        code = tmp_path / "bigcode"
        code.mkdir()
        (code / "weights.bin").write_bytes(os.urandom(12 << 20))
        proxy.cut_after(6 << 20)
        with pytest.raises(MlregError, match=rf"^cannot reach the storage service of stage {url}") as err:
            log(registry, code_paths=[str(code)])
        assert proxy.cut.is_set()
        assert "\n" not in str(err.value) and not any(s in str(err.value) for s in remote_backend.secrets)
        assert registry.list_models().count("*").fetchall()[0][0] == 0
        direct = stage_of(remote_backend)
        assert all(e.temporary for e in direct.entries())
        proxy.restore()
        registry.gc()
        assert remote_backend.keys() == []
        model_id = log(registry, code_paths=[str(code)])
        assert direct.exists(model_id)
        assert registry.load_model("m", "1").predict(X).tolist() == [3.0, 12.0, 21.0, 30.0]
    finally:
        proxy.stop()


# -- real processes: the CLI with a configured stage, deployments, concurrent and killed writers ---------
@pytest.fixture
def configured(backend: StageBackend, tmp_path: Path, hermetic_env: Path) -> dict[str, str]:
    """The environment of an ``mlreg`` process whose connection uses the stage."""
    config = write_config(tmp_path / "stage-config.toml", hermetic_env, backend.url, backend.options)
    return connection_env(config)


def run(*args: str, env: dict[str, str], check: int | None = 0, timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([MLREG, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1.0,2.0\n3.0,4.0\n")
    return write_model_pickle(tmp_path / "model.pkl", SumModel())


def cli_log(version: str, env: dict[str, str], model: Path, **kw: Any) -> subprocess.Popen | subprocess.CompletedProcess:
    return run("log", str(model), "--name", "m", "--version", version, "--sample-input",
               str(model.with_name("sample.csv")), env=env, **kw)


@pytest.mark.slow
def test_cli_and_deployment_score_from_the_stage(backend: StageBackend, configured: dict[str, str],
                                                 model_file: Path, tmp_path: Path) -> None:
    run("create", env=configured)
    cli_log("1", configured, model_file)
    [row] = json.loads(run("list", "--format", "json", env=configured).stdout)
    assert row["URI"].startswith(f"{backend.url}/{DB}/")
    run("deploy", "create", "m", "1", "scorer", env=configured)
    copies = f"{backend.url}-deployments"  # a permanent deployment's own copy, on a stage of the same kind
    run("deploy", "create", "m", "1", "located", "-o", f"permanent_udf_stage_location={copies}", env=configured)
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1.0,2.0\n5.0,5.0\n")
    for name in ("scorer", "located"):
        cache = tmp_path / f"empty-cache-{name}"  # each scores from the stage itself
        out = run("predict", name, "-i", str(data), "--format", "json", env=dict(configured, MLREG_CACHE_DIR=str(cache)))
        assert [r["output_feature_0"] for r in json.loads(out.stdout)] == [3.0, 10.0]
        assert any(cache.rglob("*")) == backend.remote
    assert [e.temporary for e in open_stage(f"{copies}/mlreg-deployments", DB, backend.options).entries()] == [False]
    out = run("verify", env=configured)
    run("gc", env=configured)
    for secret in backend.secrets:
        assert secret not in out.stdout + out.stderr
    assert [r["ID"] for r in json.loads(run("list", "--format", "json", env=configured).stdout)] == [row["ID"]]


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(backend: StageBackend, configured: dict[str, str], model_file: Path) -> None:
    run("create", env=configured)
    procs = [subprocess.Popen([MLREG, "log", str(model_file), "--name", "m", "--version", str(v), "--sample-input",
                               str(model_file.with_name("sample.csv"))], env=configured, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for v in range(4)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0] * 4, results
    rows = json.loads(run("list", "--format", "json", env=configured).stdout)
    assert sorted(r["VERSION"] for r in rows) == ["0", "1", "2", "3"]
    stage = stage_of(backend)
    assert sorted(e.name for e in stage.entries() if not e.temporary) == sorted(r["ID"] for r in rows)
    assert json.loads(run("verify", "--format", "json", env=configured, check=0).stdout)


@pytest.mark.slow
def test_a_killed_upload_leaves_no_visible_package(backend: StageBackend, configured: dict[str, str],
                                                   model_file: Path) -> None:
    run("create", env=configured)
    fault = "log:upload" if backend.remote else "log:publish"  # SIGKILL with a file uploaded, no marker
    proc = cli_log("1", dict(configured, MLREG_FAULT=fault), model_file, check=None)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert json.loads(run("list", "--format", "json", env=configured).stdout) == []
    stage = stage_of(backend)
    left = list(stage.entries())
    assert left and all(e.temporary for e in left)
    assert not (backend.remote and any(stage.exists(e.name) for e in left))
    run("gc", env=configured)
    assert list(stage.entries()) == [] and backend.keys() == []
    cli_log("1", configured, model_file)
    assert [r["VERSION"] for r in json.loads(run("list", "--format", "json", env=configured).stdout)] == ["1"]


LARGE_MIB = 256
LARGE = r"""
import json, re, sys, time
import numpy as np, mlreg
from mlreg import model_registry
from tests.fixtures.models import ArrayModel
def status(field):
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
mode, url, options, nbytes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
session = mlreg.connect(stage=url, stage_options=options)
if mode == "log":
    model_registry.create_model_registry(session)
registry = model_registry.ModelRegistry(session)
if mode == "log":
    model = ArrayModel(np.random.default_rng(0).random(nbytes // 8))
    sig = {"predict": {"inputs": [{"name": "x", "type": "DOUBLE"}], "outputs": [{"name": "y", "type": "DOUBLE"}]}}
    reset_peak(); base = status("VmRSS")
    registry.log_model(model, model_name="big", model_version="1", signatures=sig)
    extra = 0
else:
    reset_peak(); base = status("VmRSS")
    model = registry.load_model("big", "1")
    extra = model.array.nbytes
    assert extra == nbytes
print(json.dumps({"peak_above": status("VmHWM") - base - extra}))
"""


@pytest.mark.slow
def test_a_large_model_streams_through_the_stage(backend: StageBackend, tmp_path: Path) -> None:
    """A model of a few hundred MiB is logged and loaded (into an empty cache) without
    ever holding a second copy of it in memory."""
    from tests.data.harness import env as child_env

    nbytes = LARGE_MIB << 20
    peaks = {}
    for mode in ("log", "load"):
        env = child_env({"MLREG_CACHE_DIR": str(tmp_path / f"cache-{mode}")})
        proc = subprocess.run([sys.executable, "-c", LARGE, mode, backend.url, json.dumps(backend.options),
                               str(nbytes)], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        peaks[mode] = json.loads(proc.stdout.splitlines()[-1])["peak_above"] >> 20
        shutil.rmtree(tmp_path / f"cache-{mode}", ignore_errors=True)
    # bounded by the transfer's buffers (S3: up to 4 parts in flight plus the one being read and
    # hashed), not by the model: reading it whole would add all of it
    assert peaks["log"] < LARGE_MIB * 3 // 4 and peaks["load"] < LARGE_MIB * 3 // 4, peaks
