"""The HTTP face of a service, against one real server on loopback (started once for the
module): request formats, answers, and every status code it gives."""

from __future__ import annotations

import io
import json
import threading
from typing import Any, Iterator

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import mlreg
from mlreg import model_registry
from mlreg.deploy_platforms import TargetPlatform
from tests.fixtures.service import log_classifier, no_leftover_processes

TOKEN = "t0ken-for-tests"
LIMIT = 64 * 1024
ARROW = "application/vnd.apache.arrow.stream"


class Service:
    def __init__(self, registry: Any, model: Any, X: pd.DataFrame, details: dict[str, Any]):
        self.registry, self.model, self.X, self.details = registry, model, X, details
        self.base = details["url"].rsplit("/", 1)[0]
        self.http = httpx.Client(base_url=self.base, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"})

    def expected(self, frame: pd.DataFrame) -> list[int]:
        return self.model.predict(frame[["a", "b", "c", "d"]]).tolist()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with no_leftover_processes("the module's service"):
        home = tmp_path_factory.mktemp("service-http")
        session = mlreg.connect(home=home, stage=home / "stage")
        model_registry.create_model_registry(session)
        registry = model_registry.ModelRegistry(session)
        model, X = log_classifier(registry)
        dep = registry.deploy("clf", "1", "svc", platform=TargetPlatform.SERVICE,
                              options={"num_workers": 1, "auth_token": TOKEN, "max_request_bytes": LIMIT})
        svc = Service(registry, model, X, dep.details)
        try:
            yield svc
        finally:
            svc.http.close()
            registry.delete_deployment("clf", "1", "svc")


def arrow_bytes(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def predictions(resp: httpx.Response) -> list[Any]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return [row["output_feature_0"] for row in resp.json()["predictions"]]


def error_of(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["status"] == status
    return body["error"]


# -- answers ------------------------------------------------------------------------------------
def test_health_needs_no_token(service: Service) -> None:
    resp = httpx.get(f"{service.base}/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "model_id": service.registry.get_model("clf", "1").id, "deployment": "svc"}


def test_metadata(service: Service) -> None:
    row = service.registry.get_model("clf", "1")
    meta = service.http.get("/metadata").json()
    assert {k: meta[k] for k in ("deployment", "model_name", "model_version", "model_id", "model_type",
                                 "target_method", "endpoint")} == {
        "deployment": "svc", "model_name": "clf", "model_version": "1", "model_id": row.id,
        "model_type": "sklearn", "target_method": "predict", "endpoint": "/predict"}
    assert meta["signature"] == row.manifest["signatures"]["predict"]
    assert [f["name"] for f in meta["signature"]["inputs"]] == ["a", "b", "c", "d"]


def test_json_records_split_and_inputs(service: Service) -> None:
    X = service.X.head(7)
    want = service.expected(X)
    records = X.to_dict("records")
    assert predictions(service.http.post("/predict", json={"dataframe_records": records})) == want
    split = {"columns": list(X.columns), "data": X.to_numpy().tolist()}
    assert predictions(service.http.post("/predict", json={"dataframe_split": split})) == want
    assert predictions(service.http.post("/predict", json={"inputs": records})) == want
    assert predictions(service.http.post("/predict", json={"instances": records})) == want
    assert predictions(service.http.post("/predict", json={"inputs": X.to_numpy().tolist()})) == want
    assert predictions(service.http.post("/predict", json={"inputs": {c: X[c].tolist() for c in X}})) == want
    assert predictions(service.http.post("/predict", json={"inputs": records[0]})) == want[:1]


def test_json_without_content_type_is_sniffed(service: Service) -> None:
    body = json.dumps({"dataframe_records": service.X.head(2).to_dict("records")}).encode()
    for headers in ({}, {"Content-Type": "application/x-www-form-urlencoded"}):  # curl -d sends the latter
        resp = service.http.post("/predict", content=body, headers=headers)
        assert predictions(resp) == service.expected(service.X.head(2))


def test_arrow_in_arrow_out(service: Service) -> None:
    X = service.X.head(50)
    resp = service.http.post("/predict", content=arrow_bytes(X), headers={"Content-Type": ARROW, "Accept": ARROW})
    assert resp.status_code == 200 and resp.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(resp.content).read_all()
    assert table.column_names == ["output_feature_0"]
    assert table.column("output_feature_0").to_pylist() == service.expected(X)


def test_the_accept_header_chooses_the_answer(service: Service) -> None:
    X = service.X.head(3)
    body = {"dataframe_records": X.to_dict("records")}
    resp = service.http.post("/predict", json=body, headers={"Accept": f"application/json;q=0.5, {ARROW}"})
    assert resp.headers["content-type"] == ARROW
    assert pa.ipc.open_stream(resp.content).read_all().column(0).to_pylist() == service.expected(X)
    for accept in ("*/*", "application/*", "text/html;q=0.9, application/json"):
        assert predictions(service.http.post("/predict", json=body, headers={"Accept": accept})) == service.expected(X)
    resp = service.http.post("/predict", content=arrow_bytes(X), headers={"Content-Type": ARROW})
    assert predictions(resp) == service.expected(X)


def test_no_rows_gives_no_predictions(service: Service) -> None:
    resp = service.http.post("/predict", json={"dataframe_records": []})
    assert resp.status_code == 200 and resp.json() == {"predictions": []}


def test_concurrent_requests_each_get_their_own_answer(service: Service) -> None:
    """Requests that arrive together may be scored in one model call; a bad one among
    them must fail alone and the others must get exactly their own rows."""
    X = service.X
    results: dict[int, httpx.Response] = {}

    def send(i: int) -> None:
        rows = X.iloc[i: i + 1 + i % 3].to_dict("records")
        if i == 5:
            rows[0]["a"] = "not a number"
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            results[i] = client.post(f"{service.base}/predict", json={"dataframe_records": rows})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, resp in results.items():
        if i == 5:
            assert error_of(resp, 422) == "feature 'a' expects DOUBLE, got the value 'not a number' (str) in row 0"
        else:
            assert predictions(resp) == service.expected(X.iloc[i: i + 1 + i % 3]), i


# -- refusals -----------------------------------------------------------------------------------
def test_401_without_the_bearer_token(service: Service) -> None:
    body = {"dataframe_records": service.X.head(1).to_dict("records")}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer"}):
        resp = httpx.post(f"{service.base}/predict", json=body, headers=headers)
        assert error_of(resp, 401) == "a valid bearer token is required (header 'Authorization: Bearer <token>')"
        assert resp.headers["www-authenticate"] == 'Bearer realm="mlreg"'
        assert TOKEN not in resp.text
    assert httpx.get(f"{service.base}/metadata").status_code == 401


def test_400_malformed_bodies(service: Service) -> None:
    post = service.http.post
    assert error_of(post("/predict", content=b"{", headers={"Content-Type": "application/json"}), 400).startswith(
        "the body is not valid JSON: ")
    keys = "a JSON body is an object with exactly one of the keys: dataframe_records, dataframe_split, inputs, instances"
    assert error_of(post("/predict", json={"rows": []}), 400) == keys
    assert error_of(post("/predict", json=[1, 2]), 400) == keys
    assert error_of(post("/predict", json={"inputs": [], "instances": []}), 400) == keys
    assert error_of(post("/predict", json={"dataframe_records": [1, 2]}), 400) == (
        "dataframe_records must be a list of objects, one per row")
    assert error_of(post("/predict", json={"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}), 400) == (
        "cannot read dataframe_split: 1 columns passed, passed data had 2 columns")
    assert error_of(post("/predict", json={"dataframe_split": [1]}), 400).startswith("dataframe_split must be an object")
    assert error_of(post("/predict", json={"inputs": {}}), 400) == "inputs is empty"
    resp = post("/predict", content=b"\xff\xff\xff\xffgarbage", headers={"Content-Type": ARROW})
    assert error_of(resp, 400).startswith("the body is not a valid Arrow IPC stream: ")


def test_404_and_405(service: Service) -> None:
    assert error_of(service.http.get("/nothing"), 404) == (
        "no route /nothing; routes: POST /predict, GET /health, GET /metadata")
    assert error_of(service.http.get("/predict"), 405) == "method GET is not allowed on /predict"
    assert error_of(service.http.post("/health"), 405) == "method POST is not allowed on /health"


def test_406_unacceptable_answer(service: Service) -> None:
    resp = service.http.post("/predict", json={"inputs": [[1, 2, 3, 4]]}, headers={"Accept": "text/html"})
    assert error_of(resp, 406) == (
        "cannot answer in 'text/html'; this service answers application/json or application/vnd.apache.arrow.stream")


def test_413_for_a_small_compressed_arrow_body_that_decodes_past_the_limit(service: Service) -> None:
    frame = pd.DataFrame({c: np.zeros(200_000) for c in "abcd"})  # 6.4 MB of zeros, ~1 KB compressed
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for stream in (True, False):
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        new = pa.ipc.new_stream if stream else pa.ipc.new_file
        with new(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        body = sink.getvalue().to_pybytes()
        assert len(body) < LIMIT
        media = ARROW if stream else "application/vnd.apache.arrow.file"
        resp = service.http.post("/predict", content=body, headers={"Content-Type": media})
        assert error_of(resp, 413) == (f"the Arrow body decodes to {frame.size * 8} bytes, over this service's "
                                       f"limit of {LIMIT} bytes")
    # what fits is scored as before
    small = service.X.head(5)
    body = arrow_bytes(small)
    resp = service.http.post("/predict", content=body, headers={"Content-Type": ARROW})
    assert predictions(resp) == service.expected(small)


def test_400_for_deeply_nested_json(service: Service) -> None:
    body = b'{"inputs": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    assert len(body) < LIMIT
    resp = service.http.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert error_of(resp, 400) == "the body is JSON nested too deeply"


def test_413_oversized_bodies(service: Service) -> None:
    big = json.dumps({"inputs": [[0.5, 0.5, 0.5, 0.5]] * 5000}).encode()
    assert len(big) > LIMIT
    resp = service.http.post("/predict", content=big, headers={"Content-Type": "application/json"})
    assert error_of(resp, 413) == f"the body of {len(big)} bytes is over this service's limit of {LIMIT} bytes"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for i in range(0, len(big), 8192):
            yield big[i: i + 8192]

    resp = service.http.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert error_of(resp, 413) == f"the body is over this service's limit of {LIMIT} bytes"


def test_415_unsupported_content_type(service: Service) -> None:
    resp = service.http.post("/predict", content=b"a,b,c,d\n1,2,3,4\n", headers={"Content-Type": "text/csv"})
    assert error_of(resp, 415) == (
        "unsupported Content-Type 'text/csv'; send application/json or application/vnd.apache.arrow.stream")


def test_422_input_that_does_not_fit(service: Service) -> None:
    post = service.http.post
    assert error_of(post("/predict", json={"dataframe_records": [{"a": 1.0, "b": 2.0}]}), 422) == (
        "input is missing column 'c' (expected DOUBLE); it has: a, b")
    assert error_of(post("/predict", json={"inputs": {"a": "x", "b": 1, "c": 2, "d": 3}}), 422) == (
        "feature 'a' expects DOUBLE, got the value 'x' (str) in row 0")
    table = pa.table({"a": ["x"], "b": [1.0], "c": [1.0], "d": [1.0]})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    resp = post("/predict", content=sink.getvalue(), headers={"Content-Type": ARROW})
    assert error_of(resp, 422) == "feature 'a' expects DOUBLE, got the value 'x' (str) in row 0"
    resp = post("/predict", json={"dataframe_records": [{"a": None, "b": 1, "c": 2, "d": 3}]})
    assert error_of(resp, 422).startswith("the model rejected the input: ValueError: Input X contains NaN.")


def test_the_service_survives_all_of_that(service: Service) -> None:
    from mlreg.deploy.service import supervisor

    assert supervisor.status(service.details) == "running"
    assert predictions(service.http.post("/predict", json={"inputs": [[0.0, 0.0, 0.0, 0.0]]})) == [
        service.model.predict(pd.DataFrame([[0.0] * 4], columns=list("abcd"))).tolist()[0]]
    log = open(service.details["log"]).read()
    assert TOKEN not in log
    assert "Traceback" not in log
    assert np.isfinite(len(log))
