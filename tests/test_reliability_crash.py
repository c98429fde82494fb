"""Crash safety: a real `mlreg log` / `mlreg delete` is killed (SIGKILL) at chosen points.

The kill points are the fault-injection checkpoints of ``mlreg/_faults.py``: with
``MLREG_FAULT=<name>`` the process kills itself there, so every run crashes at exactly
the same place. Afterwards the registry must open cleanly, the model must be either
fully registered and loadable or absent, ``gc --dry-run`` must list exactly the
leftovers and ``gc`` must remove them.
"""

from __future__ import annotations

import json
import pickle
import signal
from pathlib import Path
from typing import Any

import pytest

from mlreg import NotFound, model_registry
from tests.data.harness import SIGNATURES, mlreg, mlreg_json, write_model_pickle, write_signatures
from tests.data.reliability_models import BigModel
from tests.fixtures.models import SumModel

pytestmark = pytest.mark.slow

KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def big_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.pkl"
    return write_model_pickle(path, BigModel(24 << 20))


def stage_dir(home: Path) -> Path:
    return home / "stage" / "MODEL_REGISTRY"


def stage_entries(home: Path) -> set[str]:
    d = stage_dir(home)
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def registered(registry) -> dict[tuple[str, str], str]:
    return {(n, v): i for i, n, v in registry.list_models().select("ID, NAME, VERSION").fetchall()}


def inflight_files(home: Path) -> list[str]:
    d = home / ".inflight"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def gc_names(*args: str) -> set[str]:
    return {e["ENTRY"] for e in mlreg_json("gc", *args)}


def check_gc_removes_exactly(home: Path, registry, expected: set[str]) -> None:
    assert gc_names("--dry-run") == expected
    assert stage_entries(home) >= expected  # a dry run removes nothing
    assert gc_names() == expected
    assert stage_entries(home) == set(registered(registry).values())
    assert inflight_files(home) == []  # the crashed log's stale in-flight marker is gone too
    assert all(r.ok for r in registry.verify())


def check_opens_cleanly(registry) -> dict:
    """The real command reads the registry; the API writes to it."""
    listed = mlreg_json("list")
    registry.get_history().fetchall()
    model_registry.create_model_registry(registry.session)  # already there: False, with a warning
    return {(m["NAME"], m["VERSION"]): m for m in listed}


@pytest.mark.parametrize(
    "point, kind",
    [
        ("log:serialize", "partial temporary"),
        ("log:publish", "complete temporary"),
        ("log:commit", "published orphan"),
        ("write:committed", "registered"),
    ],
)
@pytest.mark.filterwarnings("ignore::mlreg.model_registry.RegistryExistsWarning")
def test_log_killed(point, kind, big_model_file, tmp_path, hermetic_env, registry):
    home = hermetic_env
    sig = write_signatures(tmp_path / "sig.json")
    # a model already there, so that the crash happens in a registry with content
    keep_id = registry.log_model(SumModel(), "keep", "1", signatures=SIGNATURES, tags={"k": "v"})

    args = ("log", str(big_model_file), "-n", "big", "-V", "1", "--signatures", str(sig),
            "--tag", "stage=testing", "--metric", "acc=0.9")
    proc = mlreg(*args, extra_env={"MLREG_FAULT": point})
    assert proc.returncode == KILLED, (proc.returncode, proc.stderr)

    listed = check_opens_cleanly(registry)
    left = stage_entries(home) - set(registered(registry).values())
    if kind == "registered":
        assert set(listed) == {("keep", "1"), ("big", "1")}
        assert listed["big", "1"]["TAGS"] == {"stage": "testing"}
        assert listed["big", "1"]["METRICS"] == {"acc": 0.9}
        assert left == set()
        with open(big_model_file, "rb") as f:
            assert registry.load_model("big", "1").weights == pickle.load(f).weights
    else:
        assert set(listed) == {("keep", "1")}
        with pytest.raises(NotFound):
            registry.get_model("big", "1")
        assert [e for e in registry.get_history().fetchall() if "big" in e] == []  # nothing half-recorded
        assert len(left) == 1
        (entry,) = left
        complete = (stage_dir(home) / entry / "MANIFEST.json").is_file()
        if kind == "published orphan":
            assert not entry.startswith(".tmp-") and complete
        else:
            assert entry.startswith(".tmp-") and complete == (kind == "complete temporary")
    assert len(inflight_files(home)) == 1  # the crashed log's marker, no longer locked

    check_gc_removes_exactly(home, registry, left)
    assert registry.get_tags("keep", "1") == {"k": "v"} and keep_id in stage_entries(home)

    # the same log, retried: registered now (or refused as a duplicate if it already was)
    retry = mlreg(*args)
    assert retry.returncode == (4 if kind == "registered" else 0), retry.stderr
    assert len(registry.load_model("big", "1").weights) == 24 << 20
    assert all(r.ok for r in registry.verify())


@pytest.mark.parametrize("point", ["delete:commit", "delete:stage"])
@pytest.mark.filterwarnings("ignore::mlreg.model_registry.RegistryExistsWarning")
def test_delete_killed(point, big_model_file, hermetic_env, registry):
    home = hermetic_env
    with open(big_model_file, "rb") as f:
        model_id = registry.log_model(pickle.load(f), "m", "1", signatures=SIGNATURES, tags={"t": "v"})

    proc = mlreg("delete", "m", "1", "--yes", extra_env={"MLREG_FAULT": point})
    assert proc.returncode == KILLED, (proc.returncode, proc.stderr)

    listed = check_opens_cleanly(registry)
    if point == "delete:commit":
        # killed before its transaction: the model is whole and loadable
        assert listed["m", "1"]["ID"] == model_id
        assert registry.load_model("m", "1").predict([[1.0, 2.0]]).shape == (1,)
        check_gc_removes_exactly(home, registry, set())
        assert stage_entries(home) == {model_id}
    else:
        # killed after its transaction: the model is gone, its history stays, and the
        # package is an orphan that gc removes
        assert listed == {}
        history = registry.get_history().select("ATTRIBUTE_NAME, OPERATION").fetchall()
        assert history[0] == ("REGISTRATION", "SET") and history[-1] == ("DELETION", "DROP")
        check_gc_removes_exactly(home, registry, {model_id})
        assert stage_entries(home) == set()


@pytest.mark.parametrize("point", ["log:serialize", "log:publish", "log:commit"])
def test_gc_leaves_a_log_in_flight_alone(point, big_model_file, tmp_path, hermetic_env, registry):
    """A log stopped (SIGSTOP) mid-way is not a crash: gc must not touch its files, and the
    log completes when it is resumed."""
    import os
    import subprocess

    from tests.data.harness import MLREG, env

    home = hermetic_env
    sig = write_signatures(tmp_path / "sig.json")
    proc = subprocess.Popen([MLREG, "log", str(big_model_file), "-n", "big", "-V", "1", "--signatures", str(sig)],
                            env=env({"MLREG_FAULT": f"{point}:stop"}), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _pid, status = os.waitpid(proc.pid, os.WUNTRACED)  # returns once the log has stopped itself
        assert os.WIFSTOPPED(status)
        in_flight = stage_entries(home)
        assert len(in_flight) == 1
        assert gc_names("--dry-run") == set()
        assert gc_names() == set()
        assert stage_entries(home) == in_flight
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert registered(registry) == {("big", "1"): out.decode().strip()}
    assert len(registry.load_model("big", "1").weights) == 24 << 20
    assert gc_names("--dry-run") == set() and inflight_files(home) == []


# -- two registries sharing one stage -------------------------------------------------------------
class SharedStage:
    """Two homes, h1 and h2, with the same database name on one stage (a local directory
    or an S3 bucket): ``run("h1", "gc")`` runs the real `mlreg` in one of them."""

    def __init__(self, tmp_path: Path, s3: Any = None):
        self.tmp = tmp_path
        self.s3 = s3  # (moto server, bucket) or None
        self.envs: dict[str, dict[str, str]] = {}
        for home in ("h1", "h2"):
            if s3 is None:
                self.envs[home] = {"MLREG_HOME": str(tmp_path / home), "MLREG_STAGE": str(tmp_path / "stage")}
            else:
                server, bucket = s3
                config = tmp_path / f"{home}.toml"
                config.write_text(f'default_connection = "c"\n[connections.c]\nstage = "s3://{bucket}/shared"\n'
                                  f'[connections.c.stage_options]\nendpoint_url = "{server.endpoint}"\n')
                self.envs[home] = {"MLREG_HOME": str(tmp_path / home), "MLREG_CONFIG": str(config),
                                   "MLREG_STAGE": "", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
            self.run(home, "create", check=0)

    def run(self, home: str, *args: str, check: int | None = None, **extra: str) -> Any:
        return mlreg(*args, extra_env={**self.envs[home], **extra}, check=check)

    def json(self, home: str, *args: str) -> Any:
        import json

        return json.loads(self.run(home, *args, "--format", "json", check=0).stdout)

    def put(self, rel: str, data: bytes) -> None:
        """A file on the stage folder of both registries that is not a package."""
        if self.s3 is None:
            path = self.tmp / "stage" / "MODEL_REGISTRY" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            server, bucket = self.s3
            server.client().put_object(Bucket=bucket, Key=f"shared/MODEL_REGISTRY/{rel}", Body=data)

    def names(self) -> set[str]:
        """The top-level entries of the shared stage folder."""
        if self.s3 is None:
            folder = self.tmp / "stage" / "MODEL_REGISTRY"
            return {p.name for p in folder.iterdir()}
        server, bucket = self.s3
        keys = [o["Key"] for o in server.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {k.split("/")[2] for k in keys if k.startswith("shared/MODEL_REGISTRY/")}


@pytest.fixture(params=["local", "s3"])
def shared_stage(request: pytest.FixtureRequest, tmp_path: Path) -> SharedStage:
    if request.param == "local":
        return SharedStage(tmp_path)
    server = request.getfixturevalue("moto_server")
    return SharedStage(tmp_path, (server, request.getfixturevalue("s3_bucket")))


def test_gc_removes_only_what_its_own_registry_wrote(shared_stage: SharedStage, tmp_path: Path) -> None:
    stage = shared_stage
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    a = stage.run("h1", "log", str(model), "-n", "a", "-V", "1", "--signatures", str(sig), check=0).stdout.strip()
    gone = stage.run("h1", "log", str(model), "-n", "a", "-V", "2", "--signatures", str(sig), check=0).stdout.strip()
    b = stage.run("h2", "log", str(model), "-n", "b", "-V", "1", "--signatures", str(sig), check=0).stdout.strip()
    stage.run("h1", "delete", "a", "2", "--yes", "--keep-artifact", check=0)  # an orphan of h1
    stage.put("important_data/results.csv", b"x,y\n1,2\n")
    stage.put(".git/HEAD", b"ref: refs/heads/main\n")
    before = stage.names()
    assert before == {a, gone, b, "important_data", ".git"}

    # h2 owns only b, which it still needs: nothing to remove
    assert stage.json("h2", "gc", "--dry-run") == [] and stage.json("h2", "gc") == []
    assert stage.names() == before
    assert stage.run("h1", "verify", check=0).returncode == 0
    # h1 removes its own orphan, and nothing else
    assert [e["ENTRY"] for e in stage.json("h1", "gc", "--dry-run")] == [gone]
    assert [e["ENTRY"] for e in stage.json("h1", "gc")] == [gone]
    assert stage.names() == {a, b, "important_data", ".git"}
    for home in ("h1", "h2"):
        assert stage.run(home, "verify", check=0).returncode == 0


def test_gc_of_another_registry_leaves_a_log_between_publish_and_commit_alone(
        shared_stage: SharedStage, tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.data.harness import MLREG, env

    stage = shared_stage
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    proc = subprocess.Popen([MLREG, "log", str(model), "-n", "a", "-V", "1", "--signatures", str(sig)],
                            env=env({**stage.envs["h1"], "MLREG_FAULT": "log:commit:stop"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _pid, status = os.waitpid(proc.pid, os.WUNTRACED)  # published, not yet committed
        assert os.WIFSTOPPED(status)
        published = stage.names()
        assert len(published) == 1
        assert stage.json("h2", "gc", "--dry-run") == [] and stage.json("h2", "gc") == []
        assert stage.names() == published
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert {out.decode().strip()} == published
    assert stage.run("h1", "verify", check=0).returncode == 0
    assert stage.json("h1", "gc") == [] and stage.json("h2", "gc") == []
    assert stage.names() == published


@pytest.mark.filterwarnings("ignore::mlreg.model_registry.RegistryExistsWarning")
def test_packages_from_before_registry_ids_load_verify_and_are_never_collected(
        registry: Any, monkeypatch: pytest.MonkeyPatch, hermetic_env: Path) -> None:
    from mlreg.registry import packaging

    build = packaging.build_package
    monkeypatch.setattr(packaging, "build_package", lambda **kw: build(**{**kw, "registry_id": None}))
    old = registry.log_model(SumModel(), "old", "1", signatures=SIGNATURES)
    orphan = registry.log_model(SumModel(), "old", "2", signatures=SIGNATURES)
    monkeypatch.setattr(packaging, "build_package", build)
    assert "registry_id" not in json.loads((stage_dir(hermetic_env) / old / "MANIFEST.json").read_text())
    registry.delete_model("old", "2", delete_artifact=False)

    assert registry.load_model("old", "1").predict([[1.0, 2.0]]).tolist() == [3.0]
    assert all(r.ok for r in registry.verify())
    # gc cannot prove the orphan is its own: it stays (see README, Guarantees)
    assert registry.gc(dry_run=True) == [] and registry.gc() == []
    assert stage_entries(hermetic_env) == {old, orphan}
