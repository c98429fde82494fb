"""Integrity: packages are checked against their recorded sha256 (`verify`, and before
anything is unpickled), and a corrupt registry file is reported as such (exit 6)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mlreg import IntegrityError
from tests.data.harness import SIGNATURES, assert_one_line_error, fingerprint, mlreg, mlreg_json
from tests.data.reliability_models import TRIPWIRE_ENV, Tripwire
from tests.fixtures.models import SumModel


@pytest.fixture
def tripwire(tmp_path, monkeypatch) -> Path:
    """A file that appears when a Tripwire model is unpickled."""
    path = tmp_path / "unpickled.txt"
    monkeypatch.setenv(TRIPWIRE_ENV, str(path))
    return path


@pytest.fixture
def models(registry, tmp_path):
    """Two model versions: a/1 (a Tripwire, with a code path) and b/1."""
    code = tmp_path / "src" / "helpers"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("SCALE = 2\n")
    (code / "util.py").write_text("def f(x):\n    return x\n")
    a = registry.log_model(Tripwire(), "a", "1", signatures=SIGNATURES, code_paths=[code])
    b = registry.log_model(SumModel(), "b", "1", signatures=SIGNATURES)
    return {"a": registry.stage.local_dir(a, {}), "b": registry.stage.local_dir(b, {})}


def tamper(kind: str, package: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Damage a package; return what verify must report."""
    pkl = package / "model" / "model.pkl"
    if kind == "changed":
        with open(pkl, "ab") as f:
            f.write(b"\0")  # pickle stops reading at STOP: an unchecked load would still succeed
        return {"CHANGED": ["model/model.pkl"], "MISSING": [], "EXTRA": []}
    if kind == "missing":
        (package / "code" / "helpers" / "util.py").unlink()
        return {"CHANGED": [], "MISSING": ["code/helpers/util.py"], "EXTRA": []}
    if kind == "extra":
        (package / "code" / "helpers" / "planted.py").write_text("import os\n")
        return {"CHANGED": [], "MISSING": [], "EXTRA": ["code/helpers/planted.py"]}
    if kind == "symlink":
        copy = tmp_path / "outside.pkl"
        shutil.copyfile(pkl, copy)  # identical bytes, but outside the package
        pkl.unlink()
        pkl.symlink_to(copy)
        return {"CHANGED": ["model/model.pkl"], "MISSING": [], "EXTRA": []}
    if kind == "fifo":  # reading one would block forever: it must be reported, never opened
        pkl.unlink()
        os.mkfifo(pkl)
        os.mkfifo(package / "code" / "helpers" / "pipe.py")
        return {"CHANGED": ["model/model.pkl"], "MISSING": [], "EXTRA": ["code/helpers/pipe.py"]}
    if kind == "gone":
        expected = sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
        shutil.rmtree(package)
        return {"CHANGED": [], "MISSING": expected, "EXTRA": []}
    raise AssertionError(kind)


def test_intact_registry_verifies(models, registry, tripwire):
    assert [(r.name, r.ok) for r in registry.verify()] == [("a", True), ("b", True)]
    records = mlreg_json("verify")
    assert [(r["NAME"], r["VERSION"], r["OK"], r["CHANGED"], r["MISSING"], r["EXTRA"]) for r in records] == [
        ("a", "1", True, [], [], []), ("b", "1", True, [], [], [])
    ]
    assert mlreg("verify", "a", "1").returncode == 0
    assert not tripwire.exists()  # verifying never unpickles


@pytest.mark.parametrize("kind", ["changed", "missing", "extra", "symlink", "fifo", "gone"])
def test_verify_reports_damage(kind, models, registry, tmp_path, tripwire):
    expected = tamper(kind, models["a"], tmp_path)

    (a, b) = registry.verify()
    assert (a.ok, a.changed, a.missing, a.extra) == (False, expected["CHANGED"], expected["MISSING"], expected["EXTRA"])
    assert b.ok

    proc = mlreg("verify", "--format", "json")
    assert proc.returncode == 6
    assert_one_line_error(proc.stderr)
    assert "1 of 2 model package(s) failed verification: a/1" in proc.stderr
    records = {r["NAME"]: r for r in json.loads(proc.stdout)}
    assert {k: records["a"][k] for k in expected} == expected and records["a"]["OK"] is False
    assert records["b"]["OK"] is True
    assert mlreg("verify", "a", "1").returncode == 6
    assert mlreg("verify", "b", "1").returncode == 0
    assert not tripwire.exists()


@pytest.mark.parametrize("kind", ["changed", "missing", "extra", "symlink", "fifo", "gone"])
def test_load_refuses_a_damaged_package_before_unpickling(kind, models, registry, tmp_path, tripwire):
    tamper(kind, models["a"], tmp_path)
    with pytest.raises(IntegrityError, match="a/1" if kind != "gone" else "is missing from the stage"):
        registry.load_model("a", "1")
    out = tmp_path / "out"
    proc = mlreg("load", "a", "1", "--output", str(out))
    assert proc.returncode == 6
    assert_one_line_error(proc.stderr)
    assert not out.exists() or not any(out.iterdir())
    assert not tripwire.exists()  # refused before anything was unpickled
    # the undamaged model still loads
    assert registry.load_model("b", "1").predict([[1.0, 2.0]])[0] == 3.0


def test_load_of_an_intact_package_unpickles_it(models, registry, tripwire):
    """The positive control: the tripwire does fire when a model is really loaded."""
    assert isinstance(registry.load_model("a", "1"), Tripwire)
    assert tripwire.read_text() == "unpickled\n"


def test_an_extra_file_outside_code_paths_is_reported_but_does_not_stop_a_load(models, registry, tripwire):
    (models["a"] / "NOTES.txt").write_text("hello")
    (a, _b) = registry.verify()
    assert a.extra == ["NOTES.txt"] and not a.ok
    assert isinstance(registry.load_model("a", "1"), Tripwire)


def test_python_bytecode_written_by_a_load_is_not_damage(models, registry, tmp_path):
    """Loading a model whose code paths are imported makes Python write __pycache__ into
    the package: verify must not call that damage, but planted bytecode is."""
    import importlib.util
    import py_compile

    helpers = models["a"] / "code" / "helpers"
    pyc = Path(importlib.util.cache_from_source(str(helpers / "util.py")))
    py_compile.compile(str(helpers / "util.py"), cfile=str(pyc), doraise=True)  # what an import writes
    (a, _b) = registry.verify()
    assert a.ok, (a.changed, a.missing, a.extra)
    registry.load_model("a", "1")

    # bytecode that is not the compiled source (same header, other code) is reported, and refused
    data = pyc.read_bytes()
    import marshal

    pyc.write_bytes(data[:16] + marshal.dumps(compile("import os\n", "util.py", "exec")))
    (a, _b) = registry.verify()
    assert a.extra == [pyc.relative_to(models["a"]).as_posix()]
    with pytest.raises(IntegrityError, match="extra: code/helpers/__pycache__/"):
        registry.load_model("a", "1")


# -- a corrupt registry file ------------------------------------------------------------------

def _corrupt(kind: str, path: Path) -> None:
    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif kind == "truncated-header":
        path.write_bytes(data[:100])
    elif kind == "truncated-half":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "zeroed-blocks":
        path.write_bytes(data[:4096] + b"\0" * (len(data) - 4096))
    elif kind == "text":
        path.write_text("this is not a database\n")
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated-header", "truncated-half", "zeroed-blocks", "text"])
def test_corrupt_registry_file_exits_6_without_traceback(kind, models, registry, hermetic_env):
    _corrupt(kind, registry.store.path)
    before = fingerprint(hermetic_env)
    commands = [["list"], ["tag", "set", "a", "1", "k", "v"], ["verify"], ["create"], ["--verbose", "history"]]
    for args in commands:
        proc = mlreg(*args)
        assert proc.returncode == 6, (args, proc.returncode, proc.stderr)
        if "--verbose" in args:
            assert proc.stderr.splitlines()[-1].startswith("Error: ") and "corrupt" in proc.stderr
        else:
            assert_one_line_error(proc.stderr)
            assert "corrupt" in proc.stderr or "not a valid" in proc.stderr, proc.stderr
    assert fingerprint(hermetic_env) == before  # nothing tried to "repair" it


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated-header", "truncated-half", "zeroed-blocks", "text"])
def test_corrupt_registry_file_is_an_integrity_error_for_every_operation(kind, models, registry, hermetic_env):
    from mlreg import model_registry

    _corrupt(kind, registry.store.path)
    before = fingerprint(hermetic_env)
    operations = {
        "list_models": lambda: registry.list_models(),
        "get_history": lambda: registry.get_history(),
        "get_model": lambda: registry.get_model("a", "1"),
        "get_tags": lambda: registry.get_tags("a", "1"),
        "set_tag": lambda: registry.set_tag("a", "1", "k", "v"),
        "set_metric": lambda: registry.set_metric("a", "1", "m", 1),
        "set_model_description": lambda: registry.set_model_description("a", "1", "d"),
        "log_model": lambda: registry.log_model(SumModel(), "c", "1", signatures=SIGNATURES),
        "delete_model": lambda: registry.delete_model("a", "1"),
        "load_model": lambda: registry.load_model("a", "1"),
        "verify": lambda: registry.verify(),
        "gc": lambda: registry.gc(dry_run=True),
        "create_model_registry": lambda: model_registry.create_model_registry(registry.session),
    }
    for _name, op in operations.items():
        with pytest.raises(IntegrityError, match="corrupt|not a valid"):
            op()
    assert fingerprint(hermetic_env) == before


@pytest.mark.parametrize("tables", [["models"], ["customers", "orders"]])
def test_create_refuses_a_duckdb_file_that_is_not_a_registry(tables, hermetic_env):
    import duckdb

    hermetic_env.mkdir(parents=True, exist_ok=True)
    path = hermetic_env / "MODEL_REGISTRY.duckdb"
    con = duckdb.connect(str(path))
    for table in tables:
        con.execute(f"CREATE TABLE {table} (id INTEGER, name VARCHAR)")
        con.execute(f"INSERT INTO {table} VALUES (1, 'kept')")
    con.close()
    before = path.read_bytes()
    for args in (["create"], ["list"], ["tag", "set", "a", "1", "k", "v"]):
        proc = mlreg(*args)
        assert proc.returncode == 6, (args, proc.returncode, proc.stderr)
        assert_one_line_error(proc.stderr)
        assert "not an mlreg registry" in proc.stderr, proc.stderr
    assert path.read_bytes() == before and not path.with_name(path.name + ".wal").exists()
    con = duckdb.connect(str(path), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()) == sorted(tables)


def test_a_corrupt_block_read_by_history_is_reported_as_corruption_not_as_an_option(models, registry, hermetic_env, cli):
    """4 bytes flipped in each block of the registry in turn: `history` either reads
    what it needs intact (exit 0) or says the file is corrupt (exit 6), never that an
    option it was not given is invalid (exit 2)."""
    path = registry.store.path
    good = path.read_bytes()
    seen = set()
    for offset in range(16384 + 8192, len(good), 16384):
        damaged = bytearray(good)
        damaged[offset:offset + 4] = bytes(b ^ 0xFF for b in damaged[offset:offset + 4])
        path.write_bytes(bytes(damaged))
        run = cli("history", "--format", "json")
        assert run.exit_code in (0, 6), (offset, run)
        if run.exit_code == 6:
            assert "corrupt" in run.stderr and "--where" not in run.stderr, (offset, run.stderr)
        seen.add(run.exit_code)
    path.write_bytes(good)
    assert 6 in seen  # some block holds the history


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + 4] = bytes(b ^ 0xFF for b in data[offset:offset + 4])
    path.write_bytes(bytes(data))


def test_a_write_that_meets_a_corrupt_block_saves_nothing(models, registry, hermetic_env, cli):
    """4 bytes flipped in each block in turn, then `tag set`: it either succeeds (exit 0,
    the tag readable), or says the file is corrupt (exit 6) and saved nothing: no WAL left,
    and with the bytes flipped back the registry reads as before. It used to exit 1 with
    the tag saved anyway (committed to the WAL, whose checkpoint met the corrupt block)."""
    path = registry.store.path
    wal = path.with_name(path.name + ".wal")
    good = path.read_bytes()
    before = cli("tag", "list", "b", "1", "--format", "json").stdout
    outcomes = set()
    for offset in range(16384 + 8192, len(good), 16384):
        path.write_bytes(good)
        _flip(path, offset)
        run = cli("tag", "set", "b", "1", "k2", "v2")
        assert run.exit_code in (0, 6), (offset, run)
        if run.exit_code == 6:
            assert "corrupt" in run.stderr, (offset, run.stderr)
            assert not wal.exists(), offset
            _flip(path, offset)
            assert cli("tag", "list", "b", "1", "--format", "json").stdout == before, offset
            if "not saved" in run.stderr:
                outcomes.add("refused after commit")
                after_commit = offset
            else:
                outcomes.add("refused")
        else:
            assert json.loads(cli("tag", "list", "b", "1", "--format", "json").stdout).get("k2") == "v2", offset
            outcomes.add("saved")
    assert outcomes == {"saved", "refused", "refused after commit"}  # every path was taken
    # a log there: refused, nothing registered, and its package removed from the stage again
    path.write_bytes(good)
    _flip(path, after_commit)
    with pytest.raises(IntegrityError, match="not saved"):
        registry.log_model(SumModel(), "c", "1", signatures=SIGNATURES)
    _flip(path, after_commit)
    assert [m["NAME"] for m in json.loads(cli("list", "--format", "json").stdout)] == ["a", "b"]
    assert registry.gc(dry_run=True) == []
    path.write_bytes(good)


# -- BLAKE3 beside sha256 ---------------------------------------------------------------------------------
def _drop_blake3(registry, model_id: str) -> None:
    """Make a version look logged before BLAKE3 was recorded (its manifest without it)."""
    import duckdb

    con = duckdb.connect(str(registry.store.path))
    try:
        con.execute("UPDATE models SET manifest = json_remove(manifest, '$.blake3') WHERE id = ?", [model_id])
    finally:
        con.close()


def test_every_file_has_its_blake3_beside_its_sha256(registry):
    from mlreg.package.hashing import blake3_path, sha256_path

    model_id = registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES)
    row = registry.get_model("m", "1")
    package = registry.stage.local_dir(model_id, {})
    fast = row.manifest["blake3"]
    assert set(fast) == set(row.files) and "MANIFEST.json" in fast
    for rel in row.files:
        assert row.files[rel] == sha256_path(package / rel)
        assert fast[rel] == blake3_path(package / rel) and fast[rel] != row.files[rel]
    written = json.loads((package / "MANIFEST.json").read_text())
    assert written["blake3"] == {k: v for k, v in fast.items() if k != "MANIFEST.json"}


def test_blake3_is_what_is_checked_when_it_is_recorded(registry, tmp_path):
    """A file whose sha256 still matches but whose recorded BLAKE3 does not is refused:
    the loader, `verify` and the stage check it with BLAKE3."""
    from dataclasses import replace

    from mlreg.runtime import loading

    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES)
    row = registry.get_model("m", "1")
    spec = registry.scoring_spec("m", "1").package
    wrong = dict(spec.blake3, **{"model/model.pkl": "0" * 64})
    with pytest.raises(IntegrityError, match="failed its checksum check .*changed: model/model.pkl"):
        loading.load(replace(spec, blake3=wrong))
    assert registry.stage.hashes(row.id, row.manifest["blake3"]) == row.manifest["blake3"]
    assert registry.stage.hashes(row.id) == row.files
    assert isinstance(loading.load(spec), SumModel)


def test_a_package_logged_before_blake3_is_verified_by_sha256(models, registry, tmp_path, tripwire):
    model_id = registry.get_model("b", "1").id
    _drop_blake3(registry, model_id)
    assert "blake3" not in registry.get_model("b", "1").manifest
    assert registry.scoring_spec("b", "1").package.blake3 == {}
    assert isinstance(registry.load_model("b", "1"), SumModel)
    assert [r.ok for r in registry.verify("b", "1")] == [True]
    registry.export_package("b", "1", tmp_path / "out")
    with open(models["b"] / "model" / "model.pkl", "ab") as f:
        f.write(b"x")
    with pytest.raises(IntegrityError, match="changed: model/model.pkl"):
        registry.load_model("b", "1")
    assert registry.verify("b", "1")[0].changed == ["model/model.pkl"]
