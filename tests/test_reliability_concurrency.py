"""Concurrency: many real processes write to and read from one registry at once.

Nothing may be lost, duplicated or half-applied, no command may fail while the lock
timeout has not run out, and readers never fail. When the timeout does run out, the
command exits 5 and names the holder of the lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from tests.data.harness import (
    MLREG, SIGNATURES, assert_one_line_error, env, mlreg, write_model_pickle, write_signatures,
)
from tests.fixtures.models import SumModel

WRITERS = 8
VERSIONS = 10


def start_together(procs: list[subprocess.Popen]) -> None:
    """Wait until every process is ready, then let them all go (no sleeps)."""
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.data.concurrency_worker", *args],
        env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
def test_concurrent_writers_and_readers_lose_nothing(tmp_path, hermetic_env, registry):
    home = hermetic_env
    for version in ("1", "2"):
        registry.log_model(SumModel(), "shared", version, signatures=SIGNATURES)

    done_flag = tmp_path / "writers-done"
    writers = [spawn("writer", str(w), str(VERSIONS), str(tmp_path / f"w{w}.json")) for w in range(WRITERS)]
    readers = [spawn("reader", str(done_flag), str(tmp_path / f"r{r}.json")) for r in range(2)]
    start_together(writers + readers)
    for p in writers:
        assert p.wait(timeout=300) == 0
    done_flag.touch()
    for p in readers:
        assert p.wait(timeout=300) == 0

    # zero failed commands: every writer did every step
    results = [json.loads((tmp_path / f"w{w}.json").read_text()) for w in range(WRITERS)]
    assert [r["errors"] for r in results] == [[]] * WRITERS
    assert all(len(r["done"]) == VERSIONS * 4 + 1 for r in results)
    # readers never failed, and saw the registry while it was being written
    runs = [run for r in range(2) for run in json.loads((tmp_path / f"r{r}.json").read_text())]
    assert runs and [run for run in runs if not run["ok"]] == []
    assert Counter(run["cmd"] for run in runs)["list"] >= 2

    # one race for race/1: exactly one winner, the others refused as duplicates
    assert sorted(r["race"] for r in results) == ["refused"] * (WRITERS - 1) + ["won"]

    # all 80 versions, each with its tags and metrics
    models = {(n, v): (json.loads(t), json.loads(m)) for n, v, t, m in
              registry.list_models().select("NAME, VERSION, TAGS::VARCHAR, METRICS::VARCHAR").fetchall()}
    logged = {(f"model{i % 2}", f"{w}.{i}") for w in range(WRITERS) for i in range(VERSIONS)}
    assert set(models) == logged | {("shared", "1"), ("shared", "2"), ("race", "1")}
    for w in range(WRITERS):
        for i in range(VERSIONS):
            assert models[f"model{i % 2}", f"{w}.{i}"] == ({"worker": str(w), "i": str(i)}, {"i": i})
    expected_tags = {f"w{w}-{i}": f"{w}:{i}" for w in range(WRITERS) for i in range(VERSIONS)}
    assert registry.get_tags("shared", "1") == expected_tags
    expected_metrics = {f"w{w}-{i}": [w, i] for w in range(WRITERS) for i in range(VERSIONS)}
    assert registry.get_metrics("shared", "2") == expected_metrics

    # history complete: every write is one event, in a consistent order
    events = registry.get_history().select(
        "MODEL_NAME, MODEL_VERSION, OPERATION, ATTRIBUTE_NAME, KEY, OLD_VALUE::VARCHAR, NEW_VALUE::VARCHAR"
    ).fetchall()
    kinds = Counter((e[0] if e[0] in ("shared", "race") else "model", e[3]) for e in events)
    n = WRITERS * VERSIONS
    assert kinds == {
        ("shared", "REGISTRATION"): 2, ("race", "REGISTRATION"): 1, ("race", "TAG"): 1,
        ("model", "REGISTRATION"): n, ("model", "TAG"): 2 * n, ("model", "METRIC"): n,
        ("shared", "TAG"): 2 * n, ("shared", "METRIC"): n,
    }
    # the contended key: each SET saw the value of the SET before it (none lost)
    last = [e for e in events if e[:2] == ("shared", "2") and e[4] == "last"]
    assert len(last) == n and last[0][5] is None
    assert all(b[5] == a[6] for a, b in zip(last, last[1:]))
    assert registry.get_tag_value("shared", "2", "last") == json.loads(last[-1][6])

    # the stage holds exactly the registered packages (the race losers cleaned up), intact
    ids = {r[0] for r in registry.list_models().select("ID").fetchall()}
    assert {p.name for p in (home / "stage" / "MODEL_REGISTRY").iterdir()} == ids
    assert registry.gc(dry_run=True) == []
    assert all(r.ok for r in registry.verify())


@pytest.mark.slow
def test_concurrent_cli_commands_all_succeed(tmp_path, registry):
    """The real command line under contention: 8 `mlreg log`, 8 `mlreg tag set`/`metric set`
    and 8 `mlreg list`/`history` processes at once; every one exits 0."""
    sig = write_signatures(tmp_path / "sig.json")
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    registry.log_model(SumModel(), "shared", "1", signatures=SIGNATURES)
    commands = []
    for w in range(WRITERS):
        commands.append(["log", str(model), "-n", "cli", "-V", str(w), "--signatures", str(sig), "--tag", f"w={w}"])
        if w % 2:
            commands.append(["tag", "set", "shared", "1", f"t{w}", str(w)])
            commands.append(["history", "--format", "json"])
        else:
            commands.append(["metric", "set", "shared", "1", f"m{w}", f"[{w}, 0.5]"])
            commands.append(["list", "--format", "json"])
    commands.append(["log", str(model), "-n", "cli", "-V", "0", "--signatures", str(sig)])  # a duplicate
    procs = [subprocess.Popen([MLREG, *c], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    outcomes = [(c, p.wait(timeout=300), p.stderr.read()) for c, p in zip(commands, procs)]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    failed = [(c, rc, err) for c, rc, err in outcomes[1:-1] if rc != 0]
    assert failed == []
    # the two logs of cli/0 raced: one of them was refused as a duplicate (exit 4)
    first, dup = outcomes[0], outcomes[-1]
    assert sorted([first[1], dup[1]]) == [0, 4]
    refused = first if first[1] == 4 else dup
    assert_one_line_error(refused[2])
    assert "already exists" in refused[2]
    versions = sorted(v for (v,) in registry.list_models().filter("NAME = 'cli'").select("VERSION").fetchall())
    assert versions == [str(w) for w in range(WRITERS)]
    assert registry.get_tags("shared", "1") == {f"t{w}": str(w) for w in range(1, WRITERS, 2)}
    assert registry.get_metrics("shared", "1") == {f"m{w}": [w, 0.5] for w in range(0, WRITERS, 2)}
    assert registry.gc(dry_run=True) == []


HOLD_MLREG_LOCK = """
import sys
from mlreg.store.duckdb.file import RegistryFile
with RegistryFile(sys.argv[1]).write():
    print("locked", flush=True)
    sys.stdin.readline()
"""

HOLD_DUCKDB_FILE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
con.close()
"""


@pytest.mark.parametrize("holder", ["mlreg write", "foreign duckdb connection"])
def test_lock_timeout_exits_5_and_names_the_holder(holder, registry):
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES)
    before = registry.get_tags("m", "1")
    script = HOLD_MLREG_LOCK if holder == "mlreg write" else HOLD_DUCKDB_FILE
    hold = subprocess.Popen([sys.executable, "-c", script, str(registry.store.path)], env=env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout.readline().strip() == "locked"
        for args in (["tag", "set", "m", "1", "a", "b"], ["list"], ["history"]):
            proc = mlreg(*args, extra_env={"MLREG_LOCK_TIMEOUT": "0.5"})
            assert proc.returncode == 5, (args, proc.stderr)
            assert_one_line_error(proc.stderr)
            assert "is busy" in proc.stderr and "MLREG_LOCK_TIMEOUT" in proc.stderr
            assert f"held by pid {hold.pid}" in proc.stderr
    finally:
        hold.stdin.write("\n")
        hold.stdin.close()
        assert hold.wait(timeout=60) == 0
        hold.stdout.close()
    # released: the same command now succeeds, and the failed attempt changed nothing
    assert registry.get_tags("m", "1") == before
    mlreg("tag", "set", "m", "1", "a", "b", check=0)
    assert registry.get_tags("m", "1") == {"a": "b"}


def test_bad_lock_timeout_value_is_a_clear_error(registry):
    proc = mlreg("list", extra_env={"MLREG_LOCK_TIMEOUT": "soon"})
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr)
    assert "MLREG_LOCK_TIMEOUT must be a number of seconds" in proc.stderr


def test_a_timed_out_waiter_does_not_keep_the_lock(registry):
    """In a long-lived process (the Python API), a wait that timed out must not leave a
    lock behind once the holder lets go."""
    from mlreg import RegistryBusy
    from mlreg.store.duckdb.file import RegistryFile

    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES)
    hold = subprocess.Popen([sys.executable, "-c", HOLD_MLREG_LOCK, str(registry.store.path)], env=env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline().strip() == "locked"
    impatient = RegistryFile(registry.store.path, timeout=0.2)
    for _ in range(3):
        with pytest.raises(RegistryBusy, match=f"held by pid {hold.pid}"):
            with impatient.write():
                pass
    hold.stdin.write("\n")
    hold.stdin.close()
    assert hold.wait(timeout=60) == 0
    hold.stdout.close()
    # another process gets the lock (the abandoned waiters released whatever they got) ...
    mlreg("tag", "set", "m", "1", "a", "b", extra_env={"MLREG_LOCK_TIMEOUT": "20"}, check=0)
    # ... and so does this one
    registry.set_tag("m", "1", "c", "d")
    assert registry.get_tags("m", "1") == {"a": "b", "c": "d"}


def _lock_is_free(lock_path) -> bool:
    """Whether anyone (this process included: flock locks belong to open files) holds the
    registry's side lock."""
    import fcntl
    import os

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases it
    return True


class _ProbingModel(SumModel):
    """Records, while it is being pickled, whether the registry's lock is free."""

    lock_path = None
    seen: list = []

    def __getstate__(self):
        type(self).seen.append(("pickling", _lock_is_free(type(self).lock_path)))
        return {}


def test_the_lock_is_held_for_the_commit_only_never_while_pickling_or_publishing(registry, monkeypatch):
    from mlreg.store.duckdb.operations import DuckDBWriter

    lock_path = registry.store.file.lock_path
    _ProbingModel.lock_path, _ProbingModel.seen = lock_path, []
    seen = _ProbingModel.seen
    stage = registry.stage
    publish, register = stage.publish, DuckDBWriter.register

    def probing_publish(*args, **kwargs):
        seen.append(("publishing", _lock_is_free(lock_path)))
        return publish(*args, **kwargs)

    def probing_register(self, *args, **kwargs):
        seen.append(("committing", _lock_is_free(lock_path)))
        return register(self, *args, **kwargs)

    monkeypatch.setattr(stage, "publish", probing_publish)
    monkeypatch.setattr(DuckDBWriter, "register", probing_register)
    registry.log_model(_ProbingModel(), "m", "1", signatures=SIGNATURES)
    assert ("pickling", True) in seen and ("publishing", True) in seen
    assert ("pickling", False) not in seen and ("publishing", False) not in seen
    assert seen[-1] == ("committing", False)  # the probe does see the lock when it is held
    assert registry.exists("m", "1")
