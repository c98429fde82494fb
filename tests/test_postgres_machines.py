"""Several machines on one PostgreSQL registry: real `mlreg` processes, each with its own
working directory, download cache, state directory and temp directory (what differs
between machines), sharing only the server and one stage. And the server stopped
(``pg_ctl stop -m immediate``) in the middle of a `mlreg log`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.data.harness import MLREG, env, write_signatures
from tests.fixtures.postgres import start_server

pytestmark = pytest.mark.slow


class Machine:
    """One machine's environment: its own directories, the team's home and stage."""

    def __init__(self, root: Path, home: str, stage: Path):
        self.root = root
        for sub in ("work", "cache", "state", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.env = env({"MLREG_HOME": home, "MLREG_STAGE": str(stage), "XDG_CACHE_HOME": str(root / "cache"),
                        "XDG_STATE_HOME": str(root / "state"), "TMPDIR": str(root / "tmp"),
                        "MLREG_ROLE": root.name})

    def popen(self, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen([MLREG, *args], env={**self.env, **(extra or {})}, cwd=self.root / "work",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run([MLREG, *args], env=self.env, cwd=self.root / "work", capture_output=True, text=True,
                              timeout=300)
        if check is not None:
            assert proc.returncode == check, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: str):
        return json.loads(self.run(*args, "--format", "json").stdout)


@pytest.fixture
def team(pg_url, tmp_path, model_file):
    stage = tmp_path / "team-stage"
    machines = [Machine(tmp_path / f"machine{i}", pg_url, stage) for i in range(4)]
    machines[0].run("create")
    return machines, stage


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, stdout, stderr))
    return out


def test_machines_logging_and_tagging_at_once_lose_nothing(team, model_file, tmp_path):
    machines, stage = team
    sig = str(write_signatures(tmp_path / "sig.json"))
    machines[0].run("log", str(model_file), "-n", "shared", "-V", "1", "--signatures", sig)
    procs = []
    for i, m in enumerate(machines):
        for v in range(3):
            procs.append(m.popen("log", str(model_file), "-n", f"m{i}", "-V", str(v), "--signatures", sig,
                                 "-t", f"by={m.root.name}"))
        for n in range(3):
            procs.append(m.popen("tag", "set", "shared", "1", "counter", f"{m.root.name}-{n}"))
    results = finish(procs)
    assert [code for code, _, _ in results] == [0] * len(procs), [err for code, _, err in results if code]
    rows = machines[1].json("list")
    assert sorted((r["NAME"], r["VERSION"]) for r in rows) == sorted(
        [("shared", "1")] + [(f"m{i}", str(v)) for i in range(4) for v in range(3)])
    chain = [e for e in machines[2].json("history", "shared", "1") if e["KEY"] == "counter"]
    assert len(chain) == 12 and chain[0]["OLD_VALUE"] is None
    for before, after in zip(chain, chain[1:]):
        assert after["OLD_VALUE"] == before["NEW_VALUE"]
    assert machines[3].run("tag", "get", "shared", "1", "counter").stdout.strip() == chain[-1]["NEW_VALUE"]
    # a model logged on one machine loads on another (its own empty cache)
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    machines[3].run("deploy", "create", "m0", "2", "m0_fn")
    assert machines[1].json("sql", "SELECT m0_fn(1.0, 2.0) AS y") == [{"y": 3.0}]
    assert machines[2].json("verify") and all(r["OK"] for r in machines[2].json("verify"))


@pytest.mark.parametrize("point", ["log:publish", "log:commit"])
def test_gc_on_another_machine_never_deletes_a_package_being_published(team, model_file, tmp_path, point):
    machines, stage = team
    sig = str(write_signatures(tmp_path / "sig.json"))
    proc = machines[0].popen("log", str(model_file), "-n", "m", "-V", "1", "--signatures", sig,
                             extra={"MLREG_FAULT": f"{point}:stop"})
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)  # the log has stopped itself mid-publication
        assert os.WIFSTOPPED(status)
        entries = set(os.listdir(stage / "MODEL_REGISTRY"))
        assert len(entries) == 1
        assert machines[1].json("gc", "--dry-run") == [] and machines[2].json("gc") == []
        assert set(os.listdir(stage / "MODEL_REGISTRY")) == entries
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    (code, out, err), = finish([proc])
    assert code == 0, err
    assert [r["ID"] for r in machines[3].json("list")] == [out.strip()]
    assert machines[1].json("gc") == []


@pytest.fixture
def private_server():
    """A server of this test's own: it is stopped and started again by the test."""
    server = start_server("mlreg-pg-crash-")
    try:
        yield server
    finally:
        server.destroy()
        import shutil

        shutil.rmtree(server.root.parent, ignore_errors=True)


@pytest.mark.parametrize("point, killed, registered", [
    ("log:commit", False, False),  # the server goes away before the registration: refused, nothing left
    ("log:commit", True, False),  # ... and the log is killed meanwhile: an orphan package, which gc removes
    ("write:committed", False, True),  # the server goes away right after the COMMIT: registered and loadable
])
def test_the_server_stopped_during_a_log(private_server, tmp_path, model_file, point, killed, registered):
    home = private_server.url(private_server.new_database())
    stage = tmp_path / "team-stage"
    machine = Machine(tmp_path / "laptop", home, stage)
    machine.run("create")
    sig = str(write_signatures(tmp_path / "sig.json"))
    proc = machine.popen("log", str(model_file), "-n", "m", "-V", "1", "--signatures", sig,
                         extra={"MLREG_FAULT": f"{point}:stop", "MLREG_LOCK_TIMEOUT": "5"})
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        private_server.stop("immediate")  # a crash of the server
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    (code, out, err), = finish([proc])
    if killed:
        assert code == -signal.SIGKILL
    elif registered:
        assert code == 0, err
    else:
        assert code == 5, err
        assert f"127.0.0.1:{private_server.port}" in err and err.count("\n") == 1
    private_server.start()  # the server is back
    rows = machine.json("list")
    if registered:
        assert [(r["NAME"], r["VERSION"], r["ID"]) for r in rows] == [("m", "1", out.strip())]
        assert machine.json("verify")[0]["OK"] is True
        machine.run("deploy", "create", "m", "1", "fn")  # loads and unpickles the package
        assert machine.json("sql", "SELECT fn(1.0, 2.0) AS y") == [{"y": 3.0}]
        assert machine.json("gc") == []
    else:
        assert rows == []
        leftovers = set(os.listdir(stage / "MODEL_REGISTRY")) if (stage / "MODEL_REGISTRY").is_dir() else set()
        assert {e["ENTRY"] for e in machine.json("gc")} == leftovers
        assert len(leftovers) == (1 if killed else 0)
        assert not (stage / "MODEL_REGISTRY").is_dir() or os.listdir(stage / "MODEL_REGISTRY") == []
    assert private_server.sql("SELECT count(*) FROM \"MODEL_REGISTRY\".inflight", home.rsplit("/", 1)[1]) == [(0,)]
    machine.run("log", str(model_file), "-n", "m", "-V", "2", "--signatures", sig)  # the registry works on
