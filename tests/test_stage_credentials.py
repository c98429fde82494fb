"""Credentials and failures of the GCS, Azure and SFTP stages, against their real servers
on 127.0.0.1: each way a stage fails is one line naming the stage (exit 1 on the command
line, no traceback without --verbose), and no secret ever appears in it. The same for S3:
tests/test_stage_s3.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from mlreg.errors import InvalidInput, MlregError
from mlreg.stage import open_stage
from tests.data.harness import MLREG, assert_one_line_error
from tests.fixtures._servers import free_port
from tests.fixtures.azure import Azurite
from tests.fixtures.gcs import gcs_stage_options
from tests.fixtures.sftp import PASSPHRASE, USER, SftpServer
from tests.fixtures.stages import connection_env, write_config

DB = "MODEL_REGISTRY"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "download-cache"
    monkeypatch.setenv("MLREG_CACHE_DIR", str(path))
    return path


def publish(stage: Any, package_id: str = "m1", data: bytes = b"weights") -> dict[str, str]:
    root = stage.begin(package_id)
    (root / "model.bin").write_bytes(data)
    files = {"model.bin": hashlib.sha256(data).hexdigest()}
    stage.publish(package_id, root, files)
    return files


def refused(call: Callable[[], Any], pattern: str, secrets: tuple[str, ...] = ()) -> str:
    with pytest.raises(MlregError, match=pattern) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and err.value.exit_code == 1, message
    for secret in secrets:
        assert secret not in message
    return message


def round_trip(stage: Any) -> None:
    files = publish(stage)
    assert stage.hashes("m1") == files
    assert (stage.local_dir("m1", files) / "model.bin").read_bytes() == b"weights"


# -- GCS ------------------------------------------------------------------------------------------------
def service_account(path: Path, token_uri: str) -> Path:
    """A service-account JSON file, as the Google Cloud console gives one, with a new key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "mlreg-test", "private_key_id": "0" * 40, "private_key": pem,
        "client_email": "ci@mlreg-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}))
    return path


def test_gcs_missing_bucket(gcs_options: dict[str, Any]) -> None:
    stage = open_stage("gs://no-such-bucket-here/registry", DB, gcs_options)
    for call in (lambda: publish(stage), stage.entries):
        refused(call, rf"^bucket 'no-such-bucket-here' of stage gs://no-such-bucket-here/registry/{DB} does not exist$")


def test_gcs_credentials_from_the_environment(gcs_server: Any, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint)
    round_trip(open_stage(f"gs://{gcs_bucket}/registry", DB, {"token": "anon"}))


def test_gcs_service_account_key_refused_by_the_token_server(gcs_server: Any, gcs_bucket: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, no_backoff: None) -> None:
    # the token endpoint is a real HTTP server on 127.0.0.1 (the emulator's) that grants nothing
    sa = service_account(tmp_path / "sa.json", f"{gcs_server.endpoint}/token")
    private_key = json.loads(sa.read_text())["private_key"].splitlines()[1]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa))  # the usual way: found by google-auth
    stage = open_stage(f"gs://{gcs_bucket}/registry", DB, {"endpoint_url": gcs_server.endpoint})
    refused(stage.entries, r"^access denied to stage gs://.* while listing the stage: ", (private_key,))


def test_gcs_unreachable(no_backoff: None) -> None:
    stage = open_stage("gs://bucket/registry", DB, gcs_stage_options(f"http://127.0.0.1:{free_port()}"))
    refused(lambda: stage.exists("m1"), rf"^cannot reach the storage service of stage gs://bucket/registry/{DB} while ")


# -- Azure -----------------------------------------------------------------------------------------------
def test_azure_missing_container(azure_options: dict[str, Any], azurite: Azurite) -> None:
    stage = open_stage("az://no-such-container/registry", DB, azure_options)
    for call in (lambda: publish(stage), stage.entries):
        refused(call, rf"^container 'no-such-container' of stage az://no-such-container/registry/{DB} does not exist$",
                (azurite.key,))


def test_azure_connection_string_from_the_environment(azurite: Azurite, azure_container: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    round_trip(open_stage(f"abfs://{azure_container}/registry", DB, {}))


def test_azure_account_in_an_abfs_url(azurite: Azurite, azure_container: str) -> None:
    url = f"abfs://{azure_container}@mlregaccount.dfs.core.windows.net/registry"
    stage = open_stage(url, DB, {"connection_string": azurite.connection_string()})
    assert (stage.root, stage.uri("m1")) == (f"{azure_container}/registry/{DB}", f"{url}/{DB}/m1")
    round_trip(stage)


def test_azure_without_credentials_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InvalidInput, match=r"^bad stage_options or URL for stage az://c/registry/.*connection_string"):
        open_stage("az://c/registry", DB, {})


def test_azure_wrong_key_and_read_only_sas(azurite: Azurite, azure_container: str) -> None:
    wrong = "A" * 86 + "=="
    stage = open_stage(f"az://{azure_container}/registry", DB, {"connection_string": azurite.connection_string(wrong)})
    for call in (lambda: publish(stage), stage.entries, lambda: stage.exists("m1")):
        refused(call, rf"^access denied to stage az://{azure_container}/registry/{DB} while .*AuthorizationFailure|"
                      "^access denied .*authenticate", (wrong, azurite.key))
    round_trip(open_stage(f"az://{azure_container}/registry", DB, {"connection_string": azurite.connection_string()}))
    sas = azurite.sas_connection_string(azure_container, permission="rl")  # read and list only
    reader = open_stage(f"az://{azure_container}/registry", DB, {"connection_string": sas})
    assert [e.name for e in reader.entries()] == ["m1"]
    sas_token = sas.split("SharedAccessSignature=", 1)[1]
    refused(lambda: publish(reader, "m2"), r"^access denied to stage az://.* while uploading a package: "
                                           ".*(not authorized|permission)", (sas_token, azurite.key))


def test_azure_unreachable(azurite: Azurite, no_backoff: None) -> None:
    moved = azurite.connection_string().replace(f":{azurite.server.port}/", f":{free_port()}/")
    stage = open_stage("az://container/registry", DB, {"connection_string": moved})
    refused(lambda: stage.exists("m1"), r"^cannot reach the storage service of stage az://container/registry/",
            (azurite.key,))


# -- SFTP ------------------------------------------------------------------------------------------------
def sftp_stage(server: SftpServer, path: str, user: str = USER, **options: Any) -> Any:
    options.setdefault("client_keys", [str(server.client_key)])
    options.setdefault("known_hosts", str(server.known_hosts))
    return open_stage(server.url(path, user), DB, options)


def test_sftp_host_key_unknown_or_changed(sftp_server: SftpServer, sftp_dir: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    host = f"127.0.0.1:{sftp_server.port}"
    message = rf"^the host key of {host} is not trusted for stage sftp://{USER}@{host}/{sftp_dir}/{DB}: "
    refused(lambda: sftp_stage(sftp_server, sftp_dir, known_hosts=str(sftp_server.wrong_known_hosts)), message)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    refused(lambda: sftp_stage(sftp_server, sftp_dir, known_hosts=str(empty)), message)
    monkeypatch.setenv("HOME", str(tmp_path / "home-without-ssh"))  # no ~/.ssh/known_hosts: nothing is trusted
    refused(lambda: open_stage(sftp_server.url(sftp_dir), DB, {"client_keys": [str(sftp_server.client_key)]}), message)


def test_sftp_keys_and_known_hosts_from_home(sftp_server: SftpServer, sftp_dir: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    shutil.copy(sftp_server.client_key, ssh / "id_ed25519")
    shutil.copy(sftp_server.known_hosts, ssh / "known_hosts")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    round_trip(open_stage(sftp_server.url(f"{sftp_dir}/registry"), DB, {}))


def test_sftp_encrypted_key_and_passphrase(sftp_server: SftpServer, sftp_dir: str) -> None:
    round_trip(sftp_stage(sftp_server, sftp_dir, client_keys=[str(sftp_server.encrypted_key)], passphrase=PASSPHRASE))
    refused(lambda: sftp_stage(sftp_server, sftp_dir, client_keys=[str(sftp_server.encrypted_key)],
                               passphrase="not the passphrase"),
            r"^bad stage_options or URL for stage sftp://.*: Incorrect passphrase$", ("not the passphrase",))


def test_sftp_key_not_authorized(sftp_server: SftpServer, sftp_dir: str) -> None:
    refused(lambda: sftp_stage(sftp_server, sftp_dir, client_keys=[str(sftp_server.stranger_key)]),
            rf"^access denied to stage sftp://{USER}@127.0.0.1:\d+/.* while connecting to the stage: .*[Pp]ermission denied")


def test_sftp_permission_denied_and_quota(sftp_server: SftpServer, sftp_dir: str) -> None:
    round_trip(sftp_stage(sftp_server, sftp_dir))
    reader = sftp_stage(sftp_server, sftp_dir, user="reader")
    assert reader.exists("m1") and [e.name for e in reader.entries()] == ["m1"]
    refused(lambda: publish(reader, "m2"), r"^access denied to stage sftp://reader@.* while uploading a package: "
                                           "read-only account")
    refused(lambda: reader.delete("m1"), r"^access denied to stage sftp://reader@.* while deleting a package")
    full = sftp_stage(sftp_server, sftp_dir, user="full")
    refused(lambda: publish(full, "m3"), r"^the storage of stage sftp://full@.* is full \(quota or disk\) while "
                                         "uploading a package: Disk quota exceeded")
    assert not full.exists("m3")


def test_sftp_unreachable(sftp_server: SftpServer) -> None:
    url = f"sftp://{USER}@127.0.0.1:{free_port()}/x"
    refused(lambda: open_stage(url, DB, {"client_keys": [str(sftp_server.client_key)]}),
            rf"^cannot reach the storage service of stage {url}/{DB} while connecting to the stage: ")


def test_a_password_in_the_url_is_never_shown(sftp_server: SftpServer, sftp_dir: str) -> None:
    url = f"sftp://{USER}:hunter2-secret@127.0.0.1:{sftp_server.port}/{sftp_dir}"
    message = refused(lambda: open_stage(url, DB, {"known_hosts": str(sftp_server.wrong_known_hosts)}),
                      r"^the host key of .* stage sftp://mlreg@127", ("hunter2-secret",))
    assert "hunter2" not in message


# -- the command line: one line, exit 1, the traceback only with --verbose ---------------------------------
@pytest.mark.parametrize("kind", ["gcs-bucket", "azure-key", "sftp-host-key"])
def test_cli_stage_failures_are_one_line(kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                                         hermetic_env: Path) -> None:
    if kind == "gcs-bucket":
        url, options, secret = "gs://no-such-bucket-here/registry", request.getfixturevalue("gcs_options"), None
        expected = "Error: bucket 'no-such-bucket-here' of stage gs://no-such-bucket-here/registry/MODEL_REGISTRY does not exist"
    elif kind == "azure-key":
        azurite, container = request.getfixturevalue("azurite"), request.getfixturevalue("azure_container")
        secret = "B" * 86 + "=="
        url, options = f"az://{container}/registry", {"connection_string": azurite.connection_string(secret)}
        expected = f"Error: access denied to stage az://{container}/registry/MODEL_REGISTRY while listing the stage: "
    else:
        server, path = request.getfixturevalue("sftp_server"), request.getfixturevalue("sftp_dir")
        url, secret = server.url(path), PASSPHRASE
        options = {"client_keys": [str(server.encrypted_key)], "passphrase": PASSPHRASE,
                   "known_hosts": str(server.wrong_known_hosts)}
        expected = f"Error: the host key of 127.0.0.1:{server.port} is not trusted for stage {url}/MODEL_REGISTRY: "
    env = connection_env(write_config(tmp_path / "c.toml", hermetic_env, url, options))
    assert subprocess.run([MLREG, "create"], env=env, capture_output=True, timeout=120).returncode == 0
    proc = subprocess.run([MLREG, "gc"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stderr)
    assert proc.stderr.startswith(expected), proc.stderr
    verbose = subprocess.run([MLREG, "--verbose", "gc"], env=env, capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    assert verbose.stderr.rstrip().endswith(proc.stderr.rstrip())
    for out in (proc, verbose):
        assert secret is None or secret not in out.stdout + out.stderr


def test_cli_unreachable_gcs_is_one_line_without_gcsfs_logging(cli: Any, no_backoff: None, tmp_path: Path,
                                                              hermetic_env: Path) -> None:
    # gcsfs logs a traceback when it runs out of retries; mlreg's output stays one line
    url = "gs://bucket/registry"
    config = write_config(tmp_path / "c.toml", hermetic_env, url, gcs_stage_options(f"http://127.0.0.1:{free_port()}"))
    env = {"MLREG_CONFIG": str(config), "MLREG_CONNECTION": "ci", "MLREG_STAGE": None, "MLREG_HOME": None}
    assert cli("create", env=env).exit_code == 0
    result = cli("gc", env=env)
    assert result.exit_code == 1
    assert_one_line_error(result.stderr)
    assert result.stderr.startswith(f"Error: cannot reach the storage service of stage {url}/{DB} while listing")


@pytest.mark.parametrize("options", [
    'connection_string = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0"',
    'account_name = "a"\naccount_key = "c2VjcmV0"',
    'client_keys = ["~/.ssh/ci"]\npassphrase = "open sesame"',
    'token = "/etc/mlreg/service-account.json"\nclient_secret = "s3cr3t"',
])
def test_a_world_readable_config_holding_a_stage_credential_gets_the_warning(options: str, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import mlreg
    from mlreg import config

    path = tmp_path / "readable.toml"
    path.write_text(f'[connections.ci]\nstage = "az://c/p"\n[connections.ci.stage_options]\n{options}\n')
    path.chmod(0o644)
    monkeypatch.setenv("MLREG_CONFIG", str(path))
    with pytest.warns(config.ConfigWarning, match=f"config file {path} holds a secret and is readable by others"):
        mlreg.login_options("ci")
    path.chmod(0o600)
    mlreg.login_options("ci")  # no warning once only its owner can read it


def test_a_password_in_a_stage_url_of_a_readable_config_gets_the_warning(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    import mlreg
    from mlreg import config

    path = tmp_path / "readable.toml"
    path.write_text('[connections.ci]\nstage = "sftp://ann:hunter2@host/models"\n'
                    '[connections.other]\nstage = "sftp://ann@host/models"\n')
    path.chmod(0o644)
    monkeypatch.setenv("MLREG_CONFIG", str(path))
    with pytest.warns(config.ConfigWarning, match="holds a secret") as rec:
        mlreg.login_options("ci")
    assert "hunter2" not in str(rec[0].message)
    path.write_text('[connections.other]\nstage = "sftp://ann@host/models"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlreg.login_options("other")


@pytest.fixture
def silent_server() -> Any:
    """A TCP server on 127.0.0.1 that accepts connections and never says anything."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_silent_server_is_reported_not_waited_for(silent_server: int, no_backoff: None) -> None:
    # gcsfs alone would wait forever; the default is two minutes without a byte, here one second
    gs = open_stage("gs://bucket/registry", DB, dict(gcs_stage_options(f"http://127.0.0.1:{silent_server}"),
                                                      requests_timeout=1))
    refused(lambda: gs.exists("m1"), r"^cannot reach the storage service of stage gs://bucket/registry/")
    url = f"sftp://{USER}@127.0.0.1:{silent_server}/x"
    refused(lambda: open_stage(url, DB, {"connect_timeout": 1}), rf"^cannot reach the storage service of stage {url}/")
