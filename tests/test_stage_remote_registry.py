"""The registry's core scenarios with an S3 stage (moto on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlreg
from mlreg import model_registry
from mlreg.errors import IntegrityError, NotFound
from tests.fixtures.models import SumModel

X = np.arange(12, dtype=float).reshape(4, 3)
SECRET = "moto-secret-must-never-be-stored"


@pytest.fixture
def s3_session(s3_url: str, s3_options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLREG_CACHE_DIR", str(tmp_path / "download-cache"))
    monkeypatch.setenv("MLREG_STAGE", s3_url)
    return mlreg.connect(stage=s3_url, stage_options=dict(s3_options, secret=SECRET))


@pytest.fixture
def s3_registry(s3_session: Any) -> Any:
    model_registry.create_model_registry(session=s3_session)
    return model_registry.ModelRegistry(session=s3_session)


def log(registry: Any, version: str = "1", **kw: Any) -> str:
    kw.setdefault("sample_input_data", X)
    return registry.log_model(model=SumModel(), model_name="m", model_version=version, **kw)


def keys(moto_server: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in moto_server.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def drop_cache() -> None:
    shutil.rmtree(os.environ["MLREG_CACHE_DIR"], ignore_errors=True)


def test_log_list_load(s3_registry: Any, s3_url: str, moto_server: Any, s3_bucket: str) -> None:
    model_id = log(s3_registry, description="on S3", tags={"stage": "testing"})
    assert f"registry/MODEL_REGISTRY/{model_id}/.mlreg-commit.json" in keys(moto_server, s3_bucket)
    uri, tags = s3_registry.list_models().filter(f"ID = '{model_id}'").select("URI, TAGS").fetchall()[0]
    assert uri == f"{s3_url}/MODEL_REGISTRY/{model_id}"
    assert json.loads(tags) == {"stage": "testing"}
    drop_cache()
    assert s3_registry.load_model("m", "1").predict(X).tolist() == [3.0, 12.0, 21.0, 30.0]
    assert all(r.ok for r in s3_registry.verify())


@pytest.mark.slow
def test_load_in_a_fresh_process_with_settings_from_config_and_environment(
    s3_registry: Any, s3_url: str, moto_server: Any, tmp_path: Path
) -> None:
    log(s3_registry)
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


def test_no_secret_is_stored_in_the_registry(s3_registry: Any) -> None:
    log(s3_registry)
    assert SECRET.encode() not in s3_registry.store.path.read_bytes()
    dump = json.dumps([s3_registry.list_models().fetchall(), s3_registry.get_history().fetchall()], default=str)
    assert SECRET not in dump


def test_tags_and_metrics(s3_registry: Any) -> None:
    log(s3_registry)
    ref = model_registry.ModelReference(registry=s3_registry, model_name="m", model_version="1")
    ref.set_tag("stage", "prod")
    ref.set_metric("confusion", np.array([[1, 2], [3, 4]]))
    assert ref.get_tags() == {"stage": "prod"}
    assert ref.get_metric_value("confusion") == [[1, 2], [3, 4]]
    ref.remove_tag("stage")
    assert not ref.has_tag("stage")


def test_delete_with_and_without_artifact_and_gc(s3_registry: Any, moto_server: Any, s3_bucket: str) -> None:
    id1 = log(s3_registry, "1")
    id2 = log(s3_registry, "2")
    s3_registry.delete_model(model_name="m", model_version="1")
    assert not s3_registry.stage.exists(id1)
    assert not [k for k in keys(moto_server, s3_bucket) if f"/{id1}/" in k]
    s3_registry.delete_model(model_name="m", model_version="2", delete_artifact=False)
    assert s3_registry.stage.exists(id2)
    assert [e.name for e in s3_registry.gc(dry_run=True)] == [id2]
    s3_registry.gc()
    assert keys(moto_server, s3_bucket) == []
    with pytest.raises(NotFound):
        s3_registry.load_model("m", "2")


def test_gc_removes_an_interrupted_upload_and_keeps_live_packages(s3_registry: Any, moto_server: Any,
                                                                  s3_bucket: str) -> None:
    live = log(s3_registry)
    client = moto_server.client()
    client.put_object(Bucket=s3_bucket, Key="registry/MODEL_REGISTRY/deadbeef/MANIFEST.json", Body=b"{}")
    removed = s3_registry.gc()
    assert [(e.name, e.temporary) for e in removed] == [("deadbeef", True)]
    assert {k.split("/")[2] for k in keys(moto_server, s3_bucket)} == {live}
    assert s3_registry.load_model("m", "1") is not None


@pytest.mark.slow
def test_failed_upload_leaves_nothing_registered_or_published(
    s3_url: str, s3_proxy: Any, moto_server: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.s3 import stage_options

    monkeypatch.setenv("MLREG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MLREG_STAGE", s3_url)
    session = mlreg.connect(stage=s3_url, stage_options=stage_options(s3_proxy.endpoint))
    model_registry.create_model_registry(session=session)
    registry = model_registry.ModelRegistry(session=session)
    code_dir = _big_dir(tmp_path)  # 24 MiB in the package
    s3_proxy.cut_after(8 << 20)
    with pytest.raises(mlreg.MlregError, match="cannot reach the storage service"):
        registry.log_model(model=SumModel(), model_name="m", model_version="1", sample_input_data=X,
                           code_paths=[code_dir])
    assert registry.list_models().count("*").fetchall()[0][0] == 0
    s3_proxy.restore()
    assert all(e.temporary for e in registry.stage.entries())
    registry.gc()
    assert keys(moto_server, s3_bucket) == []
    log(registry)
    assert registry.load_model("m", "1") is not None


def _big_dir(tmp_path: Path) -> str:
    code = tmp_path / "bigcode"
    code.mkdir(exist_ok=True)
    (code / "weights.bin").write_bytes(os.urandom(24 << 20))
    return str(code)


def test_tampered_object_is_caught_on_load(s3_registry: Any, moto_server: Any, s3_bucket: str) -> None:
    model_id = log(s3_registry)
    key = f"registry/MODEL_REGISTRY/{model_id}/model/model.pkl"
    client = moto_server.client()
    body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3_bucket, Key=key, Body=body + b"x")
    drop_cache()
    with pytest.raises(IntegrityError, match="model/model.pkl of model package s3://.* does not match"):
        s3_registry.load_model("m", "1")
    assert s3_registry.verify()[0].changed == ["model/model.pkl"]


@pytest.mark.slow
def test_cli_list_and_gc_with_an_s3_stage(s3_registry: Any, s3_url: str, s3_options: dict[str, Any],
                                           tmp_path: Path) -> None:
    model_id = log(s3_registry)
    config = tmp_path / "config.toml"
    opts = s3_options
    config.write_text(
        '[connections.ci]\n'
        f'stage = "{s3_url}"\n'
        '[connections.ci.stage_options]\n'
        f'endpoint_url = "{opts["endpoint_url"]}"\nkey = "{opts["key"]}"\nsecret = "{SECRET}"\n'
    )
    config.chmod(0o600)
    env = dict(os.environ, MLREG_CONFIG=str(config), MLREG_CONNECTION="ci")
    env.pop("MLREG_STAGE")
    mlreg_bin = Path(sys.executable).with_name("mlreg")
    out = subprocess.run([str(mlreg_bin), "list", "--format", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [r["ID"] for r in json.loads(out.stdout)] == [model_id]
    out = subprocess.run([str(mlreg_bin), "gc"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout + out.stderr
