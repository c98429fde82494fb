"""Services from the command line: `deploy create --platform service`, `predict`,
`deploy delete`, `mlreg serve` in the foreground, and the container build context (run
through its entrypoint command, as no Docker engine is at hand). Real subprocesses."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlreg.deploy.service import supervisor
from tests.fixtures.cli import MLREG_BIN, subprocess_env

pytestmark = [pytest.mark.usefixtures("process_guard"), pytest.mark.slow]

SECRET = "cli-s3cret-T0KEN"


def start_serve(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 120) -> tuple[subprocess.Popen, str, list[str]]:
    """Start a foreground server; return it, its base URL and its stderr lines so far."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(env), cwd=cwd)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline and url is None:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line.rstrip("\n"))
            m = re.match(r"Serving .* at (http://[^/]+)/", line)
            if m:
                url = m.group(1)
    if url is None:
        proc.kill()
        proc.wait()
        pytest.fail(f"the server did not start: {lines}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url, lines
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    pytest.fail(f"the server did not answer /health: {lines}")


def stop_serve(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_deploy_predict_and_delete_from_the_command_line(classifier: Any, mlreg_bin: Any, tmp_path: Path) -> None:
    _, model, X = classifier
    run = mlreg_bin("deploy", "create", "clf", "1", "svc", "--platform", "service", "--option", "num_workers=1")
    assert run.exit_code == 0, run
    assert re.fullmatch(r"Deployed clf/1 predict at http://127\.0\.0\.1:\d+/predict\n", run.stderr), run.stderr

    # the service outlives the command that started it
    listed = json.loads(mlreg_bin("deploy", "list", "--format", "json").stdout)
    assert [(d["NAME"], d["PLATFORM"], d["STATUS"]) for d in listed] == [("svc", "service", "running")]
    details = listed[0]["DETAILS"]

    X.to_parquet(tmp_path / "x.parquet")
    run = mlreg_bin("predict", "svc", "--input", tmp_path / "x.parquet", "--format", "json")
    assert run.exit_code == 0, run
    assert [r["output_feature_0"] for r in json.loads(run.stdout)] == model.predict(X).tolist()
    run = mlreg_bin("predict", "svc", "--input", tmp_path / "x.parquet", "--output", tmp_path / "out.csv")
    assert (run.exit_code, run.stderr) == (0, f"Wrote {len(X)} predictions to {tmp_path / 'out.csv'}\n")
    assert pd.read_csv(tmp_path / "out.csv")["output_feature_0"].tolist() == model.predict(X).tolist()

    run = mlreg_bin("deploy", "delete", "svc")
    assert (run.exit_code, run.stderr) == (0, "Deleted deployment svc\n")
    assert not supervisor.port_open("127.0.0.1", details["port"])
    assert not supervisor.is_alive(details["pid"], details["pid_start"])


def test_a_token_protected_service_from_the_command_line(classifier: Any, mlreg_bin: Any, tmp_path: Path) -> None:
    _, model, X = classifier
    run = mlreg_bin("--verbose", "deploy", "create", "clf", "1", "locked", "--platform", "service",
                    "--option", "num_workers=1", "--option", f"auth_token={SECRET}")
    assert run.exit_code == 0, run
    assert SECRET not in run.stdout + run.stderr
    X.head(4).to_csv(tmp_path / "x.csv", index=False)
    try:
        run = mlreg_bin("--verbose", "predict", "locked", "--input", tmp_path / "x.csv", env={"MLREG_SERVICE_TOKEN": ""})
        assert run.exit_code == 1
        assert run.stderr.splitlines()[-1] == (
            "Error: service deployment locked needs its bearer token: set MLREG_SERVICE_TOKEN")
        run = mlreg_bin("predict", "locked", "--input", tmp_path / "x.csv", "--format", "json",
                        env={"MLREG_SERVICE_TOKEN": SECRET})
        assert [r["output_feature_0"] for r in json.loads(run.stdout)] == model.predict(X.head(4)).tolist()
        show = json.loads(mlreg_bin("deploy", "show", "locked", "--format", "json").stdout)
        assert show["OPTIONS"]["auth_token"] == "<set>" and SECRET not in json.dumps(show)
        history = mlreg_bin("history", "--format", "json").stdout
        assert SECRET not in history and "<set>" in history
    finally:
        assert mlreg_bin("deploy", "delete", "locked").exit_code == 0


def test_a_failed_start_shows_the_log_not_the_token(classifier: Any, mlreg_bin: Any) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = mlreg_bin("--verbose", "deploy", "create", "clf", "1", "svc", "--platform", "service", "--option",
                        "num_workers=1", "--option", f"port={busy.getsockname()[1]}", "--option", f"auth_token={SECRET}")
    assert run.exit_code == 1
    assert "Error: service svc exited while starting; last lines of " in run.stderr
    assert "Traceback" in run.stderr  # --verbose
    assert SECRET not in run.stderr + run.stdout


def test_serve_in_the_foreground_stops_on_sigterm(classifier: Any) -> None:
    _, model, X = classifier
    proc, url, lines = start_serve([str(MLREG_BIN), "serve", "clf", "1", "--port", "0", "--workers", "2",
                                    "--endpoint", "v1/score"])
    port = int(url.rsplit(":", 1)[1])
    resp = httpx.post(f"{url}/v1/score", json={"dataframe_records": X.head(3).to_dict("records")})
    assert [r["output_feature_0"] for r in resp.json()["predictions"]] == model.predict(X.head(3)).tolist()
    code, err = stop_serve(proc, signal.SIGTERM)
    assert code == 0, err
    assert err.splitlines()[-1] == "Stopped"
    assert not supervisor.port_open("127.0.0.1", port)


def test_serve_stops_on_sigint_and_takes_the_token_from_the_environment(classifier: Any) -> None:
    _, _, X = classifier
    proc, url, lines = start_serve([str(MLREG_BIN), "serve", "clf", "1", "--port", "0", "--workers", "1"],
                                   env={"MLREG_SERVICE_TOKEN": SECRET})
    assert lines[-1].endswith("/predict; requests need the bearer token from MLREG_SERVICE_TOKEN")
    body = {"dataframe_records": X.head(1).to_dict("records")}
    assert httpx.post(f"{url}/predict", json=body).status_code == 401
    assert httpx.post(f"{url}/predict", json=body, headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200
    code, err = stop_serve(proc, signal.SIGINT)
    assert code == 0, err
    assert SECRET not in err + "\n".join(lines)


def test_serve_refuses_an_unknown_model(cli: Any, registry: Any) -> None:
    run = cli("serve", "nope", "1", "--port", "0")
    assert (run.exit_code, run.stderr) == (3, "Error: The model nope/1 does not exist in the current registry.\n")


def test_build_context_runs_through_its_entrypoint(classifier: Any, mlreg_bin: Any, tmp_path: Path) -> None:
    _, model, X = classifier
    context = tmp_path / "ctx"
    run = mlreg_bin("deploy", "create", "clf", "1", "svc", "--platform", "service", "--option", "num_workers=1",
                    "--option", "image=clf-service:1", "--option", f"context_dir={context}")
    assert run.exit_code == 0, run
    assert run.stderr.splitlines()[0] == (
        f"Warning: no Docker engine answered: wrote the build context to {context}; "
        f"build it with `docker build -t clf-service:1 {context}`")
    details = json.loads(mlreg_bin("deploy", "show", "svc", "--format", "json").stdout)["DETAILS"]
    assert (details["image"], details["context_dir"], details["image_built"]) == ("clf-service:1", str(context), False)
    assert mlreg_bin("deploy", "delete", "svc").exit_code == 0

    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.splitlines()[1] == f"FROM python:{sys.version_info[0]}.{sys.version_info[1]}-slim"
    entry = json.loads(re.search(r"^ENTRYPOINT (.*)$", dockerfile, re.M).group(1))
    assert entry == ["python", "-m", "mlreg", "serve", "clf", "1", "--package", "model",
                     "--target-method", "predict", "--endpoint", "predict"]
    requirements = (context / "requirements.txt").read_text().splitlines()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in requirements and any(r.startswith("uvicorn==") for r in requirements)
    check = subprocess.run(["sha256sum", "--check", "--quiet", "../model.sha256"], cwd=context / "model",
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (context / "vendor" / "mlreg" / "deploy" / "service" / "server.py").is_file()

    # what the container runs, run here: the vendored mlreg, the packaged model, no registry
    env = {"PYTHONPATH": str(context / "vendor"), "MLREG_HOME": str(tmp_path / "empty-home"),
           "MLREG_SERVICE_HOST": "127.0.0.1", "MLREG_SERVICE_PORT": "0", "MLREG_SERVICE_WORKERS": "1",
           "MLREG_SERVICE_TOKEN": SECRET}
    proc, url, _ = start_serve([sys.executable, *entry[1:]], env=env, cwd=context)
    try:
        meta = httpx.get(f"{url}/metadata", headers={"Authorization": f"Bearer {SECRET}"}).json()
        assert (meta["model_name"], meta["model_version"]) == ("clf", "1")
        resp = httpx.post(f"{url}/predict", json={"dataframe_records": X.head(5).to_dict("records")},
                          headers={"Authorization": f"Bearer {SECRET}"})
        assert [r["output_feature_0"] for r in resp.json()["predictions"]] == model.predict(X.head(5)).tolist()
    finally:
        code, err = stop_serve(proc, signal.SIGTERM)
    assert code == 0, err
    assert not (tmp_path / "empty-home").exists()  # served without a registry


def test_a_build_context_goes_only_where_it_may(classifier: Any, tmp_path: Path) -> None:
    from mlreg.deploy.service.container import write_build_context
    from mlreg.errors import InvalidInput

    registry, _, _ = classifier
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="is not empty; name a new or empty one"):
        write_build_context(registry.scoring_spec("clf", "1"), taken)
    assert (taken / "precious.txt").read_text() == "keep me"
    ctx = write_build_context(registry.scoring_spec("clf", "1"), tmp_path / "ctx", prebuilt_image="registry.local/base:1")
    dockerfile = (ctx / "Dockerfile").read_text()
    assert "FROM registry.local/base:1\n" in dockerfile and "pip install" not in dockerfile
    assert write_build_context(registry.scoring_spec("clf", "1"), ctx) == ctx  # ours: rewritten whole
    assert "FROM python:" in (ctx / "Dockerfile").read_text()
