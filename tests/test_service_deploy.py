"""SERVICE deployments through the registry: start, score, status, kill, replace, delete,
and what is (never) recorded. Real server processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from mlreg import MlregError, model_registry
from mlreg.deploy.service import supervisor
from mlreg.deploy_platforms import TargetPlatform
from mlreg.errors import AlreadyExists, InvalidInput
from tests.fixtures.cli import subprocess_env

pytestmark = pytest.mark.usefixtures("process_guard")

SERVICE = TargetPlatform.SERVICE
SECRET = "s3cr3t-T0KEN-never-recorded"


def statuses(registry: Any) -> dict[str, str]:
    return dict(registry.list_deployments().select("NAME, STATUS").fetchall())


def wait_for(predicate: Any, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_deploy_score_list_and_delete(classifier: Any) -> None:
    registry, model, X = classifier
    ref = model_registry.ModelReference(registry=registry, model_name="clf", model_version="1")
    dep = ref.deploy("svc", platform=SERVICE, options={"num_workers": 1})
    details = dep.details
    assert dep.permanent is True  # services are always permanent
    assert set(details) >= {"pid", "pid_start", "host", "port", "url", "log", "workers"}
    assert details["url"] == f"http://127.0.0.1:{details['port']}/predict"
    assert details["log"] == str(registry.session.home / "services" / "MODEL_REGISTRY" / "svc.log")
    assert supervisor.is_alive(details["pid"], details["pid_start"])

    want = model.predict(X).tolist()
    out = ref.predict("svc", X)
    assert isinstance(out, pd.DataFrame) and out["output_feature_0"].tolist() == want
    table = ref.predict("svc", pa.Table.from_pandas(X))
    assert isinstance(table, pa.Table) and table.column("output_feature_0").to_pylist() == want
    assert ref.predict("svc", X.to_numpy())["output_feature_0"].tolist() == want  # columns in signature order
    assert ref.predict("svc", X.to_dict("records"))["output_feature_0"].tolist() == want
    import duckdb

    rel = ref.predict("svc", duckdb.connect().from_arrow(pa.Table.from_pandas(X)))
    assert [r[0] for r in rel.fetchall()] == want
    path = registry.session.home / "x.parquet"
    X.to_parquet(path)
    rel = registry.predict("clf", "1", "svc", str(path))
    assert [r[0] for r in rel.fetchall()] == want

    row = registry.get_deployment("clf", "1", "svc").select("NAME, PLATFORM, STATUS, DETAILS").fetchall()[0]
    assert row[:3] == ("svc", "service", "running")
    assert json.loads(row[3])["pid"] == details["pid"]
    assert statuses(registry) == {"svc": "running"}

    with pytest.raises(AlreadyExists):
        ref.deploy("svc", platform=SERVICE, options={"num_workers": 1})

    ref.delete_deployment("svc")
    assert not supervisor.is_alive(details["pid"], details["pid_start"])
    assert not supervisor.port_open("127.0.0.1", details["port"])
    assert statuses(registry) == {}
    ops = registry.get_history().filter("ATTRIBUTE_NAME = 'DEPLOYMENT'").select("OPERATION, KEY").fetchall()
    assert ops == [("SET", "svc"), ("DROP", "svc")]


def test_the_token_is_never_recorded(classifier: Any, tmp_path: Path) -> None:
    registry, model, X = classifier
    dep = registry.deploy("clf", "1", "locked", platform=SERVICE, options={"num_workers": 1, "auth_token": SECRET})
    try:
        assert dep.options["auth_token"] == "<set>"
        # this process gave the token: it scores without the environment variable
        assert registry.predict("clf", "1", "locked", X.head(3))["output_feature_0"].tolist() == model.predict(X.head(3)).tolist()

        # another process needs MLREG_SERVICE_TOKEN
        script = textwrap.dedent(f"""
            import sys, mlreg
            from mlreg import model_registry
            import pandas as pd
            r = model_registry.ModelRegistry(mlreg.connect(home={str(registry.session.home)!r}))
            X = pd.DataFrame([[0.1, 0.2, 0.3, 0.4]], columns=list("abcd"))
            try:
                print(r.predict("clf", "1", "locked", X)["output_feature_0"].tolist())
            except mlreg.MlregError as e:
                print("Error:", e)
        """)
        env = subprocess_env()
        env.pop("MLREG_SERVICE_TOKEN", None)
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert run.stdout.strip() == "Error: service deployment locked needs its bearer token: set MLREG_SERVICE_TOKEN"
        for token, expected in (("wrong", "Error: the service answered 401: a valid bearer token is required "
                                          "(header 'Authorization: Bearer <token>')"),
                                (SECRET, str(model.predict(pd.DataFrame([[0.1, 0.2, 0.3, 0.4]], columns=list("abcd"))).tolist()))):
            run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                 env={**env, "MLREG_SERVICE_TOKEN": token}, timeout=120)
            assert run.stdout.strip() == expected, run.stderr

        # nowhere on disk, nor in the server's command line
        cmdline = Path(f"/proc/{dep.details['pid']}/cmdline").read_bytes()
        assert SECRET.encode() not in cmdline
    finally:
        registry.delete_deployment("clf", "1", "locked")
    home = registry.session.home
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    history = registry.get_history().fetchall()
    assert SECRET not in repr(history)
    assert ("SET", "DEPLOYMENT_OPTION", "locked/auth_token", '"<set>"') in [
        (r[6], r[7], r[8], r[10]) for r in history]


@pytest.mark.slow
def test_a_killed_service_is_reported_stopped_and_replace_restarts_it(classifier: Any) -> None:
    registry, model, X = classifier
    dep = registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 2})
    pid, started, port = dep.details["pid"], dep.details["pid_start"], dep.details["port"]
    # two uvicorn workers (and multiprocessing's resource tracker) in the service's process group
    assert len([p for p in supervisor.group_members(pid, started) if p != pid]) >= 2

    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not supervisor.is_alive(pid, started))
    assert statuses(registry) == {"svc": "stopped"}
    # the workers die with their supervisor and free the port
    assert wait_for(lambda: not supervisor.group_members(pid, started) and not supervisor.port_open("127.0.0.1", port))
    with pytest.raises(MlregError, match=r"^service deployment svc is stopped \(its process \d+ is gone; log: .*svc.log\); "
                                         r"restart it by deploying again with options=\{'replace_udf': True\}$"):
        registry.predict("clf", "1", "svc", X)

    new = registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1, "replace_udf": True})
    assert new.details["pid"] != pid
    assert statuses(registry) == {"svc": "running"}
    assert registry.predict("clf", "1", "svc", X.head(5))["output_feature_0"].tolist() == model.predict(X.head(5)).tolist()
    registry.delete_deployment("clf", "1", "svc")
    assert not supervisor.port_open("127.0.0.1", new.details["port"])


@pytest.mark.slow
def test_a_replaced_service_frees_its_port_for_the_new_one(classifier: Any) -> None:
    registry, _, X = classifier
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    first = registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1, "port": port})
    second = registry.deploy("clf", "1", "svc", platform=SERVICE,
                             options={"num_workers": 1, "port": port, "replace_udf": "true"})
    assert second.details["port"] == port and second.details["pid"] != first.details["pid"]
    assert not supervisor.is_alive(first.details["pid"], first.details["pid_start"])
    assert len(registry.predict("clf", "1", "svc", X)) == len(X)
    registry.delete_deployment("clf", "1", "svc")


def test_a_service_that_cannot_start_fails_with_its_log(classifier: Any) -> None:
    registry, _, _ = classifier
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MlregError) as err:
            registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1, "port": port})
    message = str(err.value)
    assert message.startswith("service svc exited while starting; last lines of ")
    assert message.endswith(f"\nmlreg service failed: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert statuses(registry) == {}


def test_deleting_the_model_stops_its_service(classifier: Any) -> None:
    registry, _, _ = classifier
    dep = registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1})
    registry.delete_model("clf", "1")
    assert not supervisor.is_alive(dep.details["pid"], dep.details["pid_start"])
    assert not supervisor.port_open("127.0.0.1", dep.details["port"])


@pytest.mark.parametrize("options, message", [
    ({"colour": "blue"}, r"^unknown service deployment option\(s\) colour; known: "),
    ({"port": -1}, r"^option port must be between 0 and 65535, got -1$"),
    ({"port": "eighty"}, r"^option port must be a whole number, got 'eighty'$"),
    ({"port": 70000}, r"^option port must be between 0 and 65535, got 70000$"),
    ({"num_workers": 0}, r"^option num_workers must be between 1 and 256, got 0$"),
    ({"num_workers": True}, r"^option num_workers must be a whole number, got True$"),
    ({"endpoint": "health"}, r"^option endpoint cannot be 'health': GET /health is a route of every service$"),
    ({"endpoint": "a b"}, r"^option endpoint must be a URL path"),
    ({"endpoint": "../x"}, r"^option endpoint must be a URL path"),
    ({"min_instances": 3, "max_instances": 2}, r"^option min_instances \(3\) is more than max_instances \(2\)$"),
    ({"use_gpu": "maybe"}, r"^option use_gpu must be true or false, not 'maybe'$"),
    ({"keep_order": False}, r"^option keep_order=False is not supported by a service"),
    ({"auth_token": ""}, r"^option auth_token must be a non-empty string without spaces$"),
    ({"host": "a/b"}, r"^option host must be an IP address or host name"),
])
def test_bad_options_are_refused_before_anything_starts(classifier: Any, options: dict, message: str) -> None:
    registry, _, _ = classifier
    with pytest.raises(InvalidInput, match=message):
        registry.deploy("clf", "1", "svc", platform=SERVICE, options=options)
    assert not (registry.session.home / "services").exists()


def test_options_are_recorded_with_their_defaults(classifier: Any) -> None:
    from mlreg.deploy.service.platform import check

    recorded, secrets = check({"port": "8123", "use_gpu": "false", "auth_token": SECRET, "replace_udf": True})
    assert secrets == {"auth_token": SECRET}
    assert recorded == {
        "host": "127.0.0.1", "port": 8123, "num_workers": 2 * (os.cpu_count() or 1) + 1, "min_instances": 1,
        "max_instances": 1, "endpoint": "predict", "use_gpu": False, "prebuilt_image": None, "compute_pool": None,
        "image_repo": None, "image": None,
        "context_dir": None, "max_request_bytes": 100 * 1024 * 1024, "startup_timeout": 120,
        "batch_requests": None, "output_with_input_features": False, "keep_order": True, "auth_token": "<set>",
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_that_cannot_load_fails_the_deploy(registry: Any, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    from tests.fixtures.service import FailsToLoad

    registry.log_model(FailsToLoad(), model_name="bad", model_version="1",
                       sample_input_data=pd.DataFrame({"x": [1.0, 2.0]}))
    monkeypatch.setenv("MLREG_TEST_FAIL_LOAD", "1")
    with pytest.raises(MlregError) as err:
        registry.deploy("bad", "1", "svc", platform=SERVICE, options={"num_workers": workers})
    message = str(err.value)
    assert message.startswith("service svc exited while starting; last lines of ")
    assert "RuntimeError: this model refuses to load here" in message
    assert statuses(registry) == {}


def test_a_service_that_does_not_come_up_in_time_is_stopped(registry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.service import SlowToLoad

    registry.log_model(SlowToLoad(), model_name="slow", model_version="1",
                       sample_input_data=pd.DataFrame({"x": [1.0, 2.0]}))
    monkeypatch.setenv("MLREG_TEST_SLOW_LOAD", "1")
    with pytest.raises(MlregError, match=r"^service svc did not answer /health within 2 s; last lines of "):
        registry.deploy("slow", "1", "svc", platform=SERVICE, options={"num_workers": 1, "startup_timeout": 2})
    assert statuses(registry) == {}
    # the half-started server was stopped (the guard checks), and left no spec or state file
    assert sorted(p.name for p in (registry.session.home / "services" / "MODEL_REGISTRY").iterdir()) == ["svc.log"]


def test_large_inputs_go_in_several_requests_and_keep_their_index(classifier: Any) -> None:
    from mlreg.deploy.service import client

    registry, model, X = classifier
    dep = registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1, "max_request_bytes": 4096})
    try:
        frame = X.set_index(X.index * 10)
        out = client.predict(dep.details["url"], frame, signature=dep.signature, chunk_bytes=2048)  # ~60 rows each
        assert out.index.tolist() == frame.index.tolist()
        assert out["output_feature_0"].tolist() == model.predict(X).tolist()
        with pytest.raises(InvalidInput, match=r"^the service refused the input \(413\): the body of \d+ bytes is over "
                                               r"this service's limit of 4096 bytes$"):
            client.predict(dep.details["url"], X, signature=dep.signature)
    finally:
        registry.delete_deployment("clf", "1", "svc")


class _Planted:
    """Unpickling this creates the file it names: what an attacker's pickle would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


def _workers(pid: int, started: int) -> list[int]:
    """The uvicorn worker processes of a service (not multiprocessing's resource tracker)."""
    out = []
    for member in supervisor.group_members(pid, started):
        cmdline = Path(f"/proc/{member}/cmdline").read_bytes()
        if member != pid and b"spawn_main" in cmdline:
            out.append(member)
    return out


@pytest.mark.slow
def test_a_restarted_worker_refuses_a_changed_package_and_the_service_is_unhealthy(
        classifier: Any, mlreg_bin: Any, tmp_path: Path) -> None:
    import pickle

    import httpx

    registry, model, X = classifier
    dep = registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 2})
    try:
        pid, started = dep.details["pid"], dep.details["pid_start"]
        workers = _workers(pid, started)
        assert len(workers) == 2
        package_dir = Path(json.loads(Path(dep.details["spec"]).read_text())["package_dir"])
        marker = tmp_path / "pwned"
        (package_dir / "model" / "model.pkl").write_bytes(pickle.dumps(_Planted(str(marker))))

        os.kill(workers[0], signal.SIGKILL)
        # uvicorn starts a new worker, which checks the package before unpickling it
        assert wait_for(lambda: supervisor.status(dep.details) == "unhealthy", timeout=60)
        refusing = json.loads(Path(dep.details["state"]).read_text())["unhealthy"]
        assert "failed its checksum check (changed: model/model.pkl)" in refusing["reason"]
        assert supervisor.is_alive(refusing["pid"])  # it stays up (refusing), uvicorn does not restart it in a loop
        assert refusing["pid"] in _workers(pid, started) and workers[0] not in _workers(pid, started)

        want = model.predict(X.head(3)).tolist()
        for _ in range(20):
            resp = httpx.post(dep.details["url"], json={"dataframe_records": X.head(3).to_dict("records")}, timeout=30)
            if resp.status_code == 200:  # the worker that loaded the verified package before
                assert [r["output_feature_0"] for r in resp.json()["predictions"]] == want
            else:
                assert resp.status_code == 503, resp.text
                assert "refuses to serve model clf/1" in resp.json()["error"]
        assert not marker.exists()

        listed = json.loads(mlreg_bin("deploy", "list", "--format", "json").stdout)
        assert [(d["NAME"], d["STATUS"]) for d in listed] == [("svc", "unhealthy")]
        assert "refusing to serve" in Path(dep.details["log"]).read_text()
    finally:
        registry.delete_deployment("clf", "1", "svc")
    assert not marker.exists()


def test_service_files_are_never_world_writable_and_logs_never_follow_a_link(classifier: Any, tmp_path: Path) -> None:
    import stat as st

    registry, _, X = classifier
    previous = os.umask(0)
    try:
        registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1})
        services = registry.session.home / "services"
        modes = {p: st.S_IMODE(p.lstat().st_mode) for p in [services, *services.rglob("*")]}
        assert {p.name for p in modes} >= {"services", "MODEL_REGISTRY", "svc.log"}
        assert any(p.name.endswith(".state.json") for p in modes) and any(p.name.endswith(".spec.json") for p in modes)
        assert [p for p, mode in modes.items() if mode & st.S_IWOTH] == []
        registry.delete_deployment("clf", "1", "svc")

        victim = tmp_path / "victim.txt"
        victim.write_text("precious\n")
        log = services / "MODEL_REGISTRY" / "svc.log"
        log.unlink()
        log.symlink_to(victim)
        with pytest.raises(MlregError, match=r"svc.log is a symbolic link; refusing to write through it"):
            registry.deploy("clf", "1", "svc", platform=SERVICE, options={"num_workers": 1})
        assert victim.read_text() == "precious\n"
        assert statuses(registry) == {}
    finally:
        os.umask(previous)


@pytest.mark.parametrize("same_port", [False, True])
def test_a_replacement_that_fails_leaves_the_running_service_up(classifier: Any, mlreg_bin: Any, same_port: bool) -> None:
    registry, model, X = classifier
    options: dict[str, Any] = {"num_workers": 1}
    if same_port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            options["port"] = s.getsockname()[1]
    dep = registry.deploy("clf", "1", "svc", platform=SERVICE, options=options)
    try:
        package_dir = Path(json.loads(Path(dep.details["spec"]).read_text())["package_dir"])
        with open(package_dir / "model" / "model.pkl", "ab") as f:
            f.write(b"\0")
        args = ["deploy", "create", "clf", "1", "svc", "--platform", "service", "--option", "replace_udf=true",
                "--option", "num_workers=1"] + (["--option", f"port={options['port']}"] if same_port else [])
        run = mlreg_bin(*args)
        assert run.exit_code == 6 and "failed its checksum check" in run.stderr, run
        # the old service was never stopped: same process, still answering
        assert supervisor.is_alive(dep.details["pid"], dep.details["pid_start"])
        assert statuses(registry) == {"svc": "running"}
        assert registry.get_deployment("clf", "1", "svc").select("DETAILS").fetchall()[0][0] is not None
        from mlreg.deploy.service import client

        out = client.predict(dep.details["url"], X.head(3), signature=dep.signature)
        assert out["output_feature_0"].tolist() == model.predict(X.head(3)).tolist()
    finally:
        registry.delete_deployment("clf", "1", "svc")


@pytest.mark.parametrize("how", ["file", "environment"])
def test_the_token_from_a_file_or_the_environment_is_never_in_the_server_environment(
        classifier: Any, mlreg_bin: Any, tmp_path: Path, how: str) -> None:
    import httpx

    registry, model, X = classifier
    args = ["deploy", "create", "clf", "1", "svc", "--platform", "service", "--option", "num_workers=2"]
    env: dict[str, str] = {}
    if how == "file":
        token_file = tmp_path / "token"
        token_file.write_text(SECRET + "\n")
        args += ["--auth-token-file", str(token_file)]
    else:
        env["MLREG_SERVICE_TOKEN"] = SECRET  # as `mlreg serve` honours it
    run = mlreg_bin(*args, env=env)
    assert run.exit_code == 0, run
    try:
        dep = registry.get_deployment("clf", "1", "svc").select("OPTIONS, DETAILS").fetchall()[0]
        options, details = json.loads(dep[0]), json.loads(dep[1])
        assert options["auth_token"] == "<set>"
        body = {"dataframe_records": X.head(2).to_dict("records")}
        assert httpx.post(details["url"], json=body, timeout=30).status_code == 401
        ok = httpx.post(details["url"], json=body, headers={"Authorization": f"Bearer {SECRET}"}, timeout=30)
        assert ok.status_code == 200, ok.text
        # neither the command line nor the environment of the server or its workers holds it
        for pid in supervisor.group_members(details["pid"], details["pid_start"]):
            for part in ("cmdline", "environ"):
                assert SECRET.encode() not in Path(f"/proc/{pid}/{part}").read_bytes(), (pid, part)
    finally:
        registry.delete_deployment("clf", "1", "svc")
