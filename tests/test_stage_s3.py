"""What only the S3 stage has (multipart uploads, AWS credentials and IAM, moto on
127.0.0.1), the stage contract on ``file://`` and ``memory://`` through fsspec, and what
every remote stage URL shares (missing extras, bad URLs, passwords in URLs). The suite
every stage passes is tests/test_stage_backends.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlreg.errors import InvalidInput, MlregError
from mlreg.stage import open_stage, progress, transfer
from mlreg.stage.remote import RemoteStage, open_remote_stage
from tests.fixtures.progress import Recorder
from tests.fixtures.s3 import QUICK, DUMMY_SECRET, free_port, stage_options

DB = "MODEL_REGISTRY"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "download-cache"
    monkeypatch.setenv("MLREG_CACHE_DIR", str(path))
    return path


def write_package(stage: Any, package_id: str, contents: dict[str, bytes]) -> tuple[Path, dict[str, str]]:
    root = stage.begin(package_id)
    for rel, data in contents.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, {rel: hashlib.sha256(data).hexdigest() for rel, data in contents.items()}


def publish(stage: Any, package_id: str, contents: dict[str, bytes]) -> dict[str, str]:
    root, files = write_package(stage, package_id, contents)
    stage.publish(package_id, root, files)
    return files


def put_raw(stage: RemoteStage, rel: str, data: bytes) -> None:
    """Write an object behind the stage's back (a crashed upload, a tampering user)."""
    key = f"{stage.root}/{rel}"
    if stage.scheme == "file":
        stage.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
    stage.fs.pipe_file(key, data)


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


PACKAGE = {
    "MANIFEST.json": b'{"format": 1}\n',
    "model/model.pkl": os.urandom(300_000),
    "code/pkg/__init__.py": b"X = 1\n",
    "env/requirements.txt": b"numpy\n",
}


@pytest.fixture
def s3_stage(s3_url: str, s3_options: dict[str, Any]) -> RemoteStage:
    stage = open_stage(s3_url, DB, s3_options)
    assert isinstance(stage, RemoteStage)
    return stage


@pytest.fixture(params=["file", "memory"])
def any_stage(request: pytest.FixtureRequest, tmp_path: Path) -> RemoteStage:
    """The stage contract on two fsspec filesystems that need no server."""
    if request.param == "file":
        return open_remote_stage(f"file://{tmp_path}/remote-stage/{DB}", {})
    return open_remote_stage(f"memory://mlreg-{os.getpid()}-{tmp_path.name}/{DB}", {})


# -- the contract --------------------------------------------------------------------------
def test_publish_exists_load_hashes_delete(any_stage: RemoteStage) -> None:
    assert not any_stage.exists("m1")
    assert list(any_stage.entries()) == []
    files = publish(any_stage, "m1", PACKAGE)
    assert any_stage.exists("m1")
    assert any_stage.hashes("m1") == files
    [entry] = any_stage.entries()
    assert (entry.name, entry.temporary, entry.uri) == ("m1", False, any_stage.uri("m1"))
    assert entry.size is not None and entry.size > sum(len(v) for v in PACKAGE.values())
    assert read_dir(any_stage.local_dir("m1", files)) == PACKAGE
    any_stage.delete("m1")
    assert not any_stage.exists("m1")
    assert list(any_stage.entries()) == []
    any_stage.delete("m1")  # missing is not an error


def test_transfers_report_their_bytes(any_stage: RemoteStage, cache_dir: Path) -> None:
    """The core reports each upload, download and hashing pass to the installed reporter."""
    size = sum(len(data) for data in PACKAGE.values())
    recorder = Recorder()
    with progress.reporting(recorder):
        files = publish(any_stage, "m1", PACKAGE)
        shutil.rmtree(cache_dir)  # nothing cached: every file is downloaded
        assert read_dir(any_stage.local_dir("m1", files)) == PACKAGE
        assert any_stage.local_dir("m1", files)  # all cached now: nothing to move
        any_stage.hashes("m1")
    assert recorder.transfers() == [("uploading m1", size, size), ("downloading m1", size, size),
                                    ("downloading m1", 0, 0), ("hashing m1", size, size)]
    assert [e for e in recorder.events if e[0] == "advance" and e[1] <= 0] == []








@pytest.mark.slow
@pytest.mark.parametrize("part_mib, multipart", [(8, True), (5, True), (8, False)])
def test_large_file_streams_in_parts(s3_stage: RemoteStage, s3_url: str, s3_options: dict, part_mib: int,
                                     multipart: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(transfer, "PART", part_mib << 20)  # 5 MiB: more parts than may be in flight
    if multipart:
        monkeypatch.setattr(transfer, "SINGLE_PUT", 0)
    big = os.urandom(37 * 1024 * 1024 + 5)  # a ragged last part
    files = publish(s3_stage, "big", {"model/w.bin": big, "MANIFEST.json": b"{}"})
    assert s3_stage.hashes("big") == files
    monkeypatch.setenv("MLREG_CACHE_DIR", str(tmp_path / "empty-cache"))
    fresh = open_stage(s3_url, DB, s3_options)
    assert (fresh.local_dir("big", files) / "model/w.bin").read_bytes() == big








# -- integrity ------------------------------------------------------------------------------








def test_cache_size_cap_evicts_what_is_not_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   cache_dir: Path) -> None:
    monkeypatch.setenv("MLREG_CACHE_MAX_BYTES", "1")
    stage = open_remote_stage(f"file://{tmp_path}/capped/{DB}", {})
    one = publish(stage, "p1", {"a": b"first package"})
    two = publish(stage, "p2", {"b": b"second package"})
    assert read_dir(stage.local_dir("p1", one)) == {"a": b"first package"}
    assert read_dir(stage.local_dir("p2", two)) == {"b": b"second package"}
    blobs = {p.name for p in (cache_dir / "blobs").rglob("*") if p.is_file()}
    assert blobs == {two["b"]}
    assert read_dir(stage.local_dir("p1", one)) == {"a": b"first package"}  # fetched again




# -- incomplete uploads and gc --------------------------------------------------------------------




@pytest.mark.slow
def test_server_gone_mid_upload_publishes_nothing_and_a_retry_succeeds(s3_proxy: Any, s3_bucket: str,
                                                                       moto_server: Any) -> None:
    stage = open_stage(f"s3://{s3_bucket}/registry", DB, stage_options(s3_proxy.endpoint))
    contents = {"MANIFEST.json": b"{}", "model/a.bin": os.urandom(20 << 20), "model/b.bin": os.urandom(20 << 20)}
    root, files = write_package(stage, "m1", contents)
    s3_proxy.cut_after(30 << 20)  # inside the second data file
    with pytest.raises(MlregError, match=r"cannot reach the storage service of stage s3://") as err:
        stage.publish("m1", root, files)
    assert s3_proxy.cut.is_set()
    assert DUMMY_SECRET not in str(err.value)
    direct = open_stage(f"s3://{s3_bucket}/registry", DB, stage_options(moto_server.endpoint))
    assert not direct.exists("m1")
    assert all(e.temporary for e in direct.entries())
    s3_proxy.restore()
    stage.publish("m1", root, files)
    assert direct.exists("m1")
    assert direct.hashes("m1") == files
    assert [(e.name, e.temporary) for e in direct.entries()] == [("m1", False)]




# -- clear errors ----------------------------------------------------------------------------------
def test_missing_bucket(moto_server: Any, aws_env: None) -> None:
    stage = open_stage("s3://no-such-bucket-here/registry", DB, stage_options(moto_server.endpoint))
    root, files = write_package(stage, "m1", {"f": b"x"})
    for call in (lambda: stage.publish("m1", root, files), stage.entries):
        with pytest.raises(MlregError) as err:
            call()
        assert str(err.value) == f"bucket 'no-such-bucket-here' of stage s3://no-such-bucket-here/registry/{DB} does not exist"


def test_unreachable_endpoint(aws_env: None) -> None:
    stage = open_stage("s3://bucket/registry", DB, stage_options(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(MlregError, match=r"^cannot reach the storage service of stage s3://bucket/registry/MODEL_REGISTRY"):
        stage.exists("m1")


def test_no_credentials(moto_server: Any, aws_env: None, s3_bucket: str) -> None:
    opts = {"endpoint_url": moto_server.endpoint, "config_kwargs": QUICK}
    stage = open_stage(f"s3://{s3_bucket}/registry", DB, opts)
    with pytest.raises(MlregError, match=r"^no usable credentials for stage s3://.*AWS_ACCESS_KEY_ID"):
        stage.entries()


def test_credentials_from_the_environment(moto_server: Any, aws_env: None, s3_bucket: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    stage = open_stage(f"s3://{s3_bucket}/registry", DB, {"endpoint_url": moto_server.endpoint})
    files = publish(stage, "m1", {"f": b"x"})
    assert stage.hashes("m1") == files


def test_credentials_from_an_aws_profile(moto_server: Any, aws_env: None, s3_bucket: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "aws-credentials"
    creds.write_text("[ci]\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    stage = open_stage(f"s3://{s3_bucket}/registry", DB, {"endpoint_url": moto_server.endpoint, "profile": "ci"})
    assert stage.exists("m1") is False


def test_right_credentials_on_a_server_that_checks_them(moto_auth_server: Any, aws_env: None) -> None:
    stage = open_stage(f"s3://{moto_auth_server.bucket}/ok", DB, moto_auth_server.good)
    files = publish(stage, "m1", PACKAGE)
    assert read_dir(stage.local_dir("m1", files)) == PACKAGE
    stage.delete("m1")


@pytest.mark.parametrize("who", ["unknown", "wrong_secret", "denied"])
def test_wrong_credentials_and_access_denied(moto_auth_server: Any, aws_env: None, who: str) -> None:
    opts = getattr(moto_auth_server, who)
    stage = open_stage(f"s3://{moto_auth_server.bucket}/x", DB, opts)
    root, files = write_package(stage, "m1", {"f": b"x"})
    for call in (lambda: stage.publish("m1", root, files), stage.entries, lambda: stage.exists("m1")):
        with pytest.raises(MlregError, match=r"^access denied to stage s3://mlreg-auth-bucket/x/MODEL_REGISTRY while ") as err:
            call()
        message = str(err.value)
        assert opts["secret"] not in message and opts["key"] not in message
        assert "\n" not in message


def test_secrets_never_appear_in_errors(aws_env: None) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    opts = dict(stage_options(f"http://127.0.0.1:{free_port()}"), secret=secret)
    stage = open_stage("s3://bucket/x", DB, opts)
    with pytest.raises(MlregError) as err:
        stage.exists("m1")
    assert secret not in str(err.value) and secret not in repr(stage)
    assert stage._redact(f"oops {secret} and {opts['key']}") == "oops *** and ***"


def test_a_password_in_the_url_is_not_shown() -> None:
    from mlreg.redaction import url_without_password

    assert url_without_password("sftp://ann:hunter2@host:2222/models") == "sftp://ann@host:2222/models"
    assert url_without_password("s3://bucket/models") == "s3://bucket/models"


# -- dependencies --------------------------------------------------------------------------------
def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('No module named ' + repr(name))
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize(
    "url, blocked, extra",
    [
        ("s3://bucket/p", {"s3fs"}, "s3"),
        ("s3://bucket/p", {"fsspec", "s3fs"}, "s3"),
        ("gs://bucket/p", {"gcsfs"}, "gcs"),
        ("az://container/p", {"adlfs"}, "azure"),
        ("abfs://container/p", {"adlfs"}, "azure"),
        ("sftp://host/p", {"sshfs"}, "sftp"),
    ],
)
def test_missing_extra_names_the_pip_install(url: str, blocked: set[str], extra: str) -> None:
    code = BLOCK.format(blocked=blocked) + f"""
from mlreg.stage import open_stage, progress, transfer
from mlreg.errors import MissingDependency
try:
    open_stage({url!r}, "DB", {{}})
except MissingDependency as exc:
    print(exc.exit_code, exc)
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"1 stage {url}/DB needs an optional dependency: pip install 'mlreg[{extra}]'\n"


def test_import_mlreg_does_not_import_fsspec_or_s3fs() -> None:
    proc = run_python(
        "import sys, mlreg, mlreg.stage, mlreg.stage.remote, mlreg.stage.cache, mlreg.stage.progress\n"
        "print(sorted(m for m in ('fsspec', 's3fs', 'botocore', 'aiobotocore', 'rich', 'gcsfs', 'adlfs', 'azure', "
        "'sshfs', 'asyncssh', 'google') if m in sys.modules))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"


def test_bad_urls(aws_env: None) -> None:
    with pytest.raises(InvalidInput, match="unsupported stage URL scheme nope://"):
        open_remote_stage("nope://x/y", {})
    with pytest.raises(InvalidInput, match="names no bucket"):
        open_remote_stage("s3:///y", {})
    with pytest.raises(InvalidInput, match="not of the form scheme://location"):
        open_remote_stage("s3:/DB", {})



# -- the registry with an S3 stage ----------------------------------------------------------------
@pytest.mark.slow
def test_load_in_a_fresh_process_with_settings_from_config_and_environment(
    s3_url: str, s3_options: dict[str, Any], moto_server: Any, tmp_path: Path
) -> None:
    import numpy as np

    import mlreg
    from mlreg import model_registry
    from tests.fixtures.models import SumModel

    session = mlreg.connect(stage=s3_url, stage_options=s3_options)
    model_registry.create_model_registry(session=session)
    model_registry.ModelRegistry(session=session).log_model(SumModel(), model_name="m", model_version="1",
                                                            sample_input_data=np.arange(12.0).reshape(4, 3))
    config = tmp_path / "config.toml"
    config.write_text(
        f'default_connection = "ci"\n[connections.ci]\nstage = "{s3_url}"\n'
        f'[connections.ci.stage_options]\nendpoint_url = "{moto_server.endpoint}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MLREG_STAGE", "MLREG_CACHE_DIR")}
    env.update(MLREG_CONFIG=str(config), AWS_ACCESS_KEY_ID="env-key", AWS_SECRET_ACCESS_KEY="env-secret",
               MLREG_CACHE_DIR=str(tmp_path / "fresh-cache"))
    code = (
        "import mlreg; from mlreg import model_registry as mr; import numpy as np\n"
        "r = mr.ModelRegistry(mlreg.Session.builder.configs(mlreg.login_options()).create())\n"
        "print(r.load_model('m', '1').predict(np.arange(12.0).reshape(4, 3)).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout, out.stderr) == (0, "[3.0, 12.0, 21.0, 30.0]\n", "")
    assert any((tmp_path / "fresh-cache" / "blobs").rglob("*"))
