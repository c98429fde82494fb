"""Security: names never escape the stage or reach SQL text, files are never
world-writable, secrets never leak, and nothing is unpickled before it is verified."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from mlreg import InvalidInput, model_registry
from mlreg.errors import IntegrityError
from tests.data.harness import (
    MLREG, SIGNATURES, assert_one_line_error, env, fingerprint, mlreg, write_model_pickle,
    write_signatures,
)
from tests.data.reliability_models import TRIPWIRE_ENV, Tripwire
from tests.fixtures.models import SumModel

HOSTILE_NAMES = [
    "..", "../x", "../../etc/passwd", "/etc/passwd", "/tmp/x", "a/b", "a\\b", ".hidden", ".", "~root",
    "x\x00y", "x\ny", "", " ", "a b", "a" * 256, "名前", "%2e%2e%2f", "C:\\x", "'; DROP TABLE models; --",
    'x" OR "1"="1', "$(touch pwned)", "`id`", "*", "x;y",
]


@pytest.fixture
def logged(registry):
    registry.log_model(SumModel(), "m", "1", signatures=SIGNATURES, tags={"t": "v"})
    return registry


# -- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_everywhere(name, logged, tmp_path):
    before = fingerprint(tmp_path)
    calls = [
        lambda: logged.log_model(SumModel(), name, "1", signatures=SIGNATURES),
        lambda: logged.log_model(SumModel(), "m", name, signatures=SIGNATURES),
        lambda: logged.get_model(name, "1"),
        lambda: logged.set_tag(name, "1", "t", "v"),
        lambda: logged.set_metric("m", name, "acc", 1),
        lambda: logged.delete_model(name, "1"),
        lambda: logged.delete_model("m", name),
    ]
    if name:  # an empty database name means the default one
        calls += [
            lambda: model_registry.ModelRegistry(logged.session, database_name=name, create_if_not_exists=True),
            lambda: model_registry.create_model_registry(logged.session, database_name=name),
        ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call()
    assert fingerprint(tmp_path) == before  # nothing created, anywhere under the test's directory
    assert logged.get_tags("m", "1") == {"t": "v"}


def test_hostile_names_on_the_command_line(logged, tmp_path):
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    before = fingerprint(tmp_path)
    for name in ["../../escape", "/tmp/abs", "x'--"]:
        for args in (["log", str(model), "-n", name, "-V", "1", "--signatures", str(sig)],
                     ["-d", name, "create"], ["tag", "set", "--", name, "1", "t", "v"]):
            proc = mlreg(*args)
            assert proc.returncode == 1, (args, proc.stderr)
            assert_one_line_error(proc.stderr)
            assert "invalid" in proc.stderr
    assert fingerprint(tmp_path) == before


def test_sql_text_in_values_is_stored_verbatim(logged):
    evil = "'); DROP TABLE models; --"
    logged.set_tag("m", "1", evil, evil)
    logged.set_metric("m", "1", evil, {evil: [evil]})
    logged.set_model_description("m", "1", evil)
    assert logged.get_tag_value("m", "1", evil) == evil
    assert logged.get_metric_value("m", "1", evil) == {evil: [evil]}
    assert logged.get_model_description("m", "1") == evil
    assert logged.list_models().count("*").fetchall()[0][0] == 1
    proc = mlreg("tag", "get", "m", "1", "--", evil, check=0)
    assert proc.stdout.strip() == evil


WHERE_ATTACKS = [
    "1=1; DROP TABLE models",
    "1=1); DROP TABLE models; --",
    "NAME = 'm' OR 1=1",
    "(SELECT count(*) FROM query('DROP TABLE models')) > 0",
    "(SELECT count(*) FROM query('ATTACH ''{registry}'' AS r')) > 0",
    "(SELECT count(*) FROM query('COPY (SELECT 1) TO ''{outside}''')) > 0",
    "(SELECT count(*) FROM query_table('reg.models')) > 0",
    "(SELECT count(*) FROM read_blob('{registry}')) > 0",
]


@pytest.mark.parametrize("attack", WHERE_ATTACKS)
def test_where_cannot_change_anything(attack, logged, hermetic_env, tmp_path):
    outside = tmp_path / "written.csv"
    where = attack.format(registry=logged.store.path, outside=outside)
    before = fingerprint(hermetic_env)
    for args in (["list", "--where", where], ["list", "--order-by", where], ["list", "--columns", where]):
        proc = mlreg(*args, "--format", "json")
        assert proc.returncode in (0, 2), (args, proc.stderr)
        if proc.returncode:
            assert_one_line_error(proc.stderr)
    assert fingerprint(hermetic_env) == before
    assert not outside.exists()
    assert logged.list_models().count("*").fetchall()[0][0] == 1


SQL_ATTACKS = [
    "ATTACH '{registry}' AS r; DELETE FROM r.events",
    "SELECT 1 AS x; ATTACH '{registry}' AS r (READ_ONLY)",
    "COPY (SELECT 1) TO '{outside}'",
    "COPY models TO '{outside}' (FORMAT csv)",
    "EXPORT DATABASE '{outside}'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA threads = 1",
    "CALL checkpoint()",
    "SELECT * FROM query('ATTACH ''{registry}'' AS r')",
]


@pytest.mark.parametrize("attack", SQL_ATTACKS)
def test_sql_cannot_attach_the_registry_or_write_anything(attack, logged, hermetic_env, tmp_path):
    outside = tmp_path / "written.csv"
    query = attack.format(registry=logged.store.path, outside=outside)
    before = fingerprint(hermetic_env)
    events = len(logged.get_history().fetchall())
    proc = mlreg("sql", query)
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stderr)
    assert fingerprint(hermetic_env) == before and not outside.exists()
    assert len(logged.get_history().fetchall()) == events
    # what it is for still works: queries on the copies, and the user's own in-memory tables
    out = mlreg("sql", "CREATE TABLE t AS SELECT count(*) AS n FROM history; SELECT n FROM t", "--format", "json",
                check=0)
    assert json.loads(out.stdout) == [{"n": events}]


BAD_INVOCATIONS = [
    (["list", "--bogus"], {}, 2, "No such option: --bogus"),
    (["tag", "set", "m"], {}, 2, "Missing argument"),
    (["list", "--limit", "99999999999999999999"], {}, 2, "--limit"),
    (["tag", "set", "m", "1", "k", "v"], {"MLREG_LOCK_TIMEOUT": "inf"}, 1, "MLREG_LOCK_TIMEOUT"),
    (["tag", "set", "m", "1", "k", "v"], {"MLREG_LOCK_TIMEOUT": "nan"}, 1, "MLREG_LOCK_TIMEOUT"),
    (["tag", "set", "m", "1", "k\u0085x", "v"], {}, 1, "invalid tag name"),
    (["tag", "set", "m", "1", "a\u202eb", "v"], {}, 1, "invalid tag name"),
    (["tag", "set", "m", "1", "k", "v"], {"MLREG_ROLE": "ann\nroot"}, 1, "invalid role"),
    (["tag", "set", "m", "1", "k", "v"], {"MLREG_ROLE": "\x1b[31mred"}, 1, "invalid role"),
    (["tag", "set", "m", "1", "k", "v"], {"MLREG_ROLE": "x" * 100_000}, 1, "invalid role"),
    (["metric", "set", "m", "1", "big", "1e400"], {}, 1, "out of the range of a double"),
    (["metric", "set", "m", "1", "tiny", "[1, 1e-400]"], {}, 1, "out of the range of a double"),
    # a byte the shell could not decode as UTF-8 (Python sees a lone surrogate): refused, not a database error
    (["tag", "set", "m", "1", "k", "a\udc9bb"], {}, 1, "value of tag 'k' is not valid UTF-8"),
    (["metric", "set", "m", "1", "k", '"a\udc9bb"'], {}, 1, "metric value at $ is not valid UTF-8"),
    (["describe", "m", "1", "x\udc9b"], {}, 1, "description is not valid UTF-8"),
]


@pytest.mark.parametrize("args, extra, code, message", BAD_INVOCATIONS)
def test_bad_invocations_are_one_line_errors_that_change_nothing(args, extra, code, message, logged, hermetic_env):
    before = fingerprint(hermetic_env)
    proc = mlreg(*args, extra_env=extra)
    assert proc.returncode == code, (args, proc.returncode, proc.stderr)
    assert_one_line_error(proc.stderr)
    assert message in proc.stderr
    assert fingerprint(hermetic_env) == before


@pytest.mark.parametrize("spec", ["bad spec!!", "--index-url=http://evil/simple", "-r other.txt", "pkg>=1 extra"])
def test_pip_requirements_must_be_pep_508(spec, logged, hermetic_env, tmp_path):
    """A requirement goes into the package's requirements.txt, which pip obeys: an option
    there (another index) or a malformed line is refused when the model is logged."""
    import pickle

    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(SumModel()))
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1.0,2.0\n")
    before = fingerprint(hermetic_env)
    proc = mlreg("log", str(model), "--name", "p", "--version", "1", "--sample-input", str(sample),
                 "--pip-requirement", spec)
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stderr)
    assert f"pip requirement {spec!r} is not a PEP 508 requirement" in proc.stderr
    assert fingerprint(hermetic_env) == before
    with pytest.raises(InvalidInput, match="not a PEP 508 requirement"):
        logged.log_model(SumModel(), "p", "1", signatures=SIGNATURES, pip_requirements=["ok>=1", spec])
    # what PEP 508 allows is kept as written: versions, extras, markers, direct URLs
    good = ["scikit-learn>=1.3", "requests[socks]==2.*", "tomli; python_version < '3.11'",
            "pkg @ https://example.com/pkg-1.0-py3-none-any.whl"]
    logged.log_model(SumModel(), "p", "2", signatures=SIGNATURES, pip_requirements=good)
    manifest = json.loads(mlreg("show", "p", "2", "--format", "json").stdout)["MANIFEST"]
    assert manifest["pip_requirements"] == good


# -- code paths ----------------------------------------------------------------------------------

def _code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "src" / "pkg"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("X = 1\n")
    return code


@pytest.mark.parametrize("kind", ["dir is a link", "file links outside", "subdir links outside", "dangling link"])
def test_symlinks_in_code_paths_are_refused(kind, logged, tmp_path, hermetic_env):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    code = _code_dir(tmp_path)
    target = code
    if kind == "dir is a link":
        target = tmp_path / "link-to-pkg"
        target.symlink_to(code, target_is_directory=True)
    elif kind == "file links outside":
        (code / "data.txt").symlink_to(secret)
    elif kind == "subdir links outside":
        (code / "sub").symlink_to(tmp_path, target_is_directory=True)
    else:
        (code / "gone.py").symlink_to(tmp_path / "does-not-exist.py")
    before = fingerprint(hermetic_env)
    with pytest.raises(InvalidInput, match="symbolic link"):
        logged.log_model(SumModel(), "m", "2", signatures=SIGNATURES, code_paths=[target])
    assert fingerprint(hermetic_env) == before

    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    proc = mlreg("log", str(model), "-n", "m", "-V", "2", "--signatures", str(sig), "--code-path", str(target))
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr)
    assert "symbolic link" in proc.stderr
    assert fingerprint(hermetic_env) == before
    assert not any("do not copy me" in p.read_text(errors="replace")
                   for p in hermetic_env.rglob("*") if p.is_file() and not p.is_symlink())


# -- file permissions -----------------------------------------------------------------------------

def _run_with_umask(umask: int, *args: str, cwd: Path) -> None:
    proc = subprocess.run([MLREG, *args], env=env(), capture_output=True, text=True, cwd=cwd,
                          preexec_fn=lambda: os.umask(umask))
    assert proc.returncode == 0, (args, proc.stderr)


def _modes(root: Path) -> dict[str, int]:
    out = {root.name: stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[p.relative_to(root).as_posix()] = stat.S_IMODE(p.lstat().st_mode)
    return out


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o022, 0o077])
def test_files_follow_the_umask_and_are_never_world_writable(umask, tmp_path, hermetic_env):
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    code = _code_dir(tmp_path)
    os.chmod(code / "__init__.py", 0o666)  # a source file that is world-writable itself
    _run_with_umask(umask, "create", cwd=tmp_path)
    _run_with_umask(umask, "log", str(model), "-n", "m", "-V", "1", "--signatures", str(sig),
                    "--code-path", str(code), cwd=tmp_path)
    _run_with_umask(umask, "tag", "set", "m", "1", "k", "v", cwd=tmp_path)
    modes = _modes(hermetic_env)
    assert {"MODEL_REGISTRY.duckdb", "MODEL_REGISTRY.duckdb.lock", ".inflight", "stage"} <= set(modes)
    assert [p for p in modes if p.endswith("__init__.py")]
    world_writable = {p: oct(m) for p, m in modes.items() if m & stat.S_IWOTH}
    assert world_writable == {}
    # nothing is opened up beyond what the umask allows
    too_open = {p: oct(m) for p, m in modes.items() if m & umask}
    assert too_open == {}
    if umask == 0o022:
        assert modes["MODEL_REGISTRY.duckdb"] == 0o644  # the user's umask, not a stricter mode of ours


# -- secrets -------------------------------------------------------------------------------------

SECRETS = ["SEKRIT-stage-key-0x5eed", "TKN-4f1c2b-passw0rd", "AWS-ENV-SECRET-77"]


def _config_with_secrets(path: Path, home: Path, mode: int) -> None:
    path.write_text(
        'default_connection = "local"\n'
        "[connections.local]\n"
        f'home = "{home}"\n'
        f'stage = "{home / "stage"}"\n'
        "[connections.local.stage_options]\n"
        f'secret = "{SECRETS[0]}"\n'
        f'token = "{SECRETS[1]}"\n'
    )
    os.chmod(path, mode)


def test_a_config_file_holding_secrets_readable_by_others_gets_a_warning(tmp_path, hermetic_env, monkeypatch):
    monkeypatch.delenv("MLREG_HOME")
    monkeypatch.delenv("MLREG_STAGE")
    config = Path(os.environ["MLREG_CONFIG"])
    _config_with_secrets(config, hermetic_env, 0o644)
    proc = mlreg("create")
    assert proc.returncode == 0
    warnings = [line for line in proc.stderr.splitlines() if "readable by others" in line]
    assert warnings == [f"Warning: config file {config} holds a secret and is readable by others; run: chmod 600 {config}"]
    assert not any(s in proc.stderr for s in SECRETS)

    os.chmod(config, 0o600)
    proc = mlreg("list")
    assert proc.returncode == 0 and "readable by others" not in proc.stderr

    config.write_text(f'[connections.local]\nhome = "{hermetic_env}"\n')  # no secret: no warning
    os.chmod(config, 0o644)
    proc = mlreg("-c", "local", "list")
    assert proc.returncode == 0 and "readable by others" not in proc.stderr


@pytest.mark.parametrize("where, text", [
    ("mlreg.toml", '[stage_options]\nconnection_string = "AccountKey=SuperSecret123"\n'),
    ("mlreg.toml", '[stage_options]\npassphrase = "SuperSecret123"\n'),
    ("mlreg.toml", 'stage = "sftp://ann:SuperSecret123@127.0.0.1/stage"\n'),
    ("config", '[connections.c]\nstage = "sftp://ann:SuperSecret123@127.0.0.1/stage"\n'),
    ("config", '[connections.c.stage_options]\nconnection_string = "AccountKey=SuperSecret123"\n'),
])
def test_every_file_with_a_credential_readable_by_others_gets_a_warning(where, text, tmp_path, hermetic_env):
    mlreg("create", check=0)
    path = tmp_path / "mlreg.toml" if where == "mlreg.toml" else Path(os.environ["MLREG_CONFIG"])
    path.write_text(text)
    os.chmod(path, 0o644)
    args = ["-c", "c", "list"] if where == "config" else ["list"]
    proc = mlreg(*args, extra_env={"MLREG_STAGE": ""} if "stage =" in text else None)
    warnings = [line for line in proc.stderr.splitlines() if "readable by others" in line]
    assert warnings == [f"Warning: config file {path} holds a secret and is readable by others; run: chmod 600 {path}"], \
        proc.stderr
    assert "SuperSecret123" not in proc.stderr + proc.stdout
    os.chmod(path, 0o600)
    assert "readable by others" not in mlreg(*args).stderr


@pytest.mark.slow
def test_secrets_never_appear_in_output_files_or_history(tmp_path, hermetic_env, monkeypatch):
    monkeypatch.delenv("MLREG_HOME")
    monkeypatch.delenv("MLREG_STAGE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRETS[2])
    _config_with_secrets(Path(os.environ["MLREG_CONFIG"]), hermetic_env, 0o600)
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "bad.json").write_text("{not json")
    commands = [
        ["create"], ["create"],
        ["log", str(model), "-n", "m", "-V", "1", "--signatures", str(sig), "--tag", "t=v", "--metric", "acc=0.5"],
        ["log", str(model), "-n", "m", "-V", "1", "--signatures", str(sig)],  # duplicate
        ["log", str(model), "-n", "m", "-V", "2", "--signatures", str(tmp_path / "bad.json")],
        ["log", str(tmp_path / "nope.pkl"), "-n", "m", "-V", "3", "--signatures", str(sig)],
        ["list", "--format", "json"], ["list", "--where", "NOPE("], ["show", "m", "1", "--format", "json"],
        ["show", "m", "9"], ["describe", "m", "1", "hello"], ["describe", "m", "1"],
        ["tag", "set", "m", "1", "k", "v"], ["tag", "list", "m", "1"], ["tag", "remove", "m", "1", "zz"],
        ["metric", "set", "m", "1", "f1", "0.7"], ["metric", "get", "m", "1", "nope"],
        ["history", "--format", "json"], ["verify", "--format", "json"], ["gc", "--dry-run"],
        ["load", "m", "1", "--output", str(tmp_path / "out")],
        ["deploy", "create", "m", "1", "dep"], ["predict", "dep", "--input", str(tmp_path / "in.csv")],
        ["predict", "dep", "--input", str(tmp_path / "missing.csv")],
        ["deploy", "delete", "dep"], ["delete", "m", "1", "--yes"], ["delete", "m", "1", "--yes"],
        ["-c", "nope", "list"],
    ]
    seen = []
    for args in commands:
        proc = mlreg("--verbose", *args, timeout=300)  # --verbose: tracebacks too
        seen.append((args, proc.returncode, proc.stdout + proc.stderr))
    assert any("Traceback" in out for _a, _rc, out in seen)
    assert {rc for _a, rc, _o in seen} >= {0, 1, 3, 4}  # successes and failures both covered
    leaks = [(a, s) for a, _rc, out in seen for s in SECRETS if s in out]
    assert leaks == []
    for p in [*hermetic_env.rglob("*"), *(tmp_path / "out").rglob("*")]:
        if p.is_file():
            data = p.read_bytes()
            assert not any(s.encode() in data for s in SECRETS), p
    # the session and its settings never show the secret either
    import mlreg as api

    session = api.Session.builder.configs(api.login_options()).create()
    assert not any(s in repr(session) + repr(session.settings) for s in SECRETS)


@pytest.mark.parametrize("stage", ["s3://AKIAKEYID:SuperSecret123@bucket/x", "sftp://ann:SuperSecret123@127.0.0.1:1/x"])
def test_verbose_tracebacks_never_show_a_password_in_the_stage_url(stage, tmp_path, hermetic_env):
    mlreg("create", check=0)
    model = write_model_pickle(tmp_path / "m.pkl", SumModel())
    sig = write_signatures(tmp_path / "sig.json")
    proc = mlreg("-v", "log", str(model), "-n", "m", "-V", "1", "--signatures", str(sig),
                 extra_env={"MLREG_STAGE": stage, "AWS_EC2_METADATA_DISABLED": "true"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("Error: ")
    assert "SuperSecret123" not in proc.stderr + proc.stdout


# -- nothing is unpickled before it is verified ------------------------------------------------------

@pytest.fixture
def tripwire_model(registry, tmp_path, monkeypatch):
    mark = tmp_path / "unpickled.txt"
    monkeypatch.setenv(TRIPWIRE_ENV, str(mark))
    model_id = registry.log_model(Tripwire(), "a", "1", signatures=SIGNATURES)
    return registry, registry.stage.local_dir(model_id, {}), mark


def test_show_inspects_the_manifest_without_unpickling(tripwire_model):
    registry, package, mark = tripwire_model
    # no PYTHONPATH: the Tripwire class is not even importable for this process
    proc = subprocess.run([MLREG, "show", "a", "1", "--format", "json"], capture_output=True, text=True,
                          env={k: v for k, v in env().items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    manifest = shown["MANIFEST"]
    assert manifest["type"] == "custom" and manifest["target_methods"] == ["predict"]
    assert manifest["signatures"] == SIGNATURES
    assert set(shown["FILES"]) == {"MANIFEST.json", "model/model.pkl"}
    assert json.loads((package / "MANIFEST.json").read_text())["files"] == {
        k: v for k, v in shown["FILES"].items() if k != "MANIFEST.json"
    }
    for args in (["list"], ["history"], ["verify"], ["load", "a", "1", "--output", str(package.parent.parent / "o")]):
        mlreg(*args, check=0)
    assert not mark.exists()
    registry.load_model("a", "1")  # the control: a real load does unpickle
    assert mark.exists()


def test_deploy_and_predict_refuse_a_changed_package_before_unpickling(tripwire_model, tmp_path):
    registry, package, mark = tripwire_model
    (tmp_path / "in.csv").write_text("a,b\n1,2\n3,4\n")
    mlreg("deploy", "create", "a", "1", "dep", check=0)
    assert mlreg("predict", "dep", "--input", str(tmp_path / "in.csv"), "--format", "json", check=0).stdout
    mark.unlink(missing_ok=True)

    with open(package / "model" / "model.pkl", "ab") as f:
        f.write(b"\0")  # still unpicklable: only the checksum tells
    for args in (["predict", "dep", "--input", str(tmp_path / "in.csv")], ["deploy", "create", "a", "1", "dep2"],
                 ["load", "a", "1", "--output", str(tmp_path / "o")]):
        proc = mlreg(*args)
        assert proc.returncode == 6, (args, proc.returncode, proc.stderr)
        assert_one_line_error(proc.stderr)
        assert "checksum" in proc.stderr
    import pandas as pd

    with pytest.raises(IntegrityError, match="checksum"):
        registry.predict("a", "1", "dep", pd.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(IntegrityError, match="checksum"):
        registry.deploy("a", "1", "dep3")
    assert not mark.exists()


def test_sql_refuses_a_changed_package_with_exit_6(tripwire_model):
    registry, package, mark = tripwire_model
    mlreg("deploy", "create", "a", "1", "dep", check=0)
    mark.unlink(missing_ok=True)
    with open(package / "model" / "model.pkl", "ab") as f:
        f.write(b"\0")
    proc = mlreg("sql", "SELECT dep(1.0, 2.0)")
    assert not mark.exists() and "checksum" in proc.stderr
    assert proc.returncode == 6, proc.stderr


def test_the_bytes_checked_are_the_bytes_unpickled(logged, tmp_path, monkeypatch):
    """No window between the checksum check and the load: a pickle replaced right after
    its check is not what is unpickled (small pickles are read once, like large ones)."""
    from mlreg.package import pickles
    from mlreg.package.verify import verify_dir

    mark = tmp_path / "unpickled.txt"
    monkeypatch.setenv(TRIPWIRE_ENV, str(mark))
    row = logged._core.resolve("m", "1")
    package = logged.stage.local_dir(row.id, {})
    verify_dir(package, row.files, "m/1", keep=True)
    write_model_pickle(package / "model" / "model.pkl", Tripwire())  # swapped after the check
    model = pickles.load_model(package)
    assert isinstance(model, SumModel) and not mark.exists()
