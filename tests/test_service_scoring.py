"""The server's parts without a server: the scorer (bodies in, predictions out), adaptive
batching, Accept negotiation and the app's options, in-process (httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pandas as pd
import pytest

from mlreg.deploy.service import spec as service_spec
from mlreg.deploy.service.app import build_app, token_digest
from mlreg.deploy.service.batching import Batcher, Runner
from mlreg.runtime import loading
from mlreg.deploy.service.payloads import ARROW, JSON, Parsed, RequestError, ServedModel, choose_output


@pytest.fixture
def spec(classifier: Any) -> dict[str, Any]:
    registry, _, _ = classifier
    return service_spec.from_scoring(registry.scoring_spec("clf", "1"), deployment="svc")


def test_spec_holds_what_a_server_needs_and_no_secret(classifier: Any, spec: dict[str, Any]) -> None:
    registry, _, _ = classifier
    row = registry.get_model("clf", "1")
    path = loading.verified(registry.scoring_spec("clf", "1").package)
    assert spec == {
        "model_id": row.id, "model_name": "clf", "model_version": "1", "model_type": "sklearn",
        "package": registry.scoring_spec("clf", "1").package.to_json(), "package_dir": str(path.resolve()),
        "target_method": "predict", "signature": row.manifest["signatures"]["predict"], "deployment": "svc",
        "endpoint": "predict", "max_request_bytes": 100 * 1024 * 1024, "output_with_input_features": False,
        "auth": False, "batch_requests": None,
    }
    with pytest.raises(Exception, match=r"^model clf/1 has no target method 'transform'; it has: predict"):
        service_spec.from_scoring(registry.scoring_spec("clf", "1", "transform"))


def test_spec_from_a_package_directory_checks_the_model(classifier: Any, tmp_path: Any) -> None:
    registry, _, _ = classifier
    path = loading.verified(registry.scoring_spec("clf", "1").package)
    assert service_spec.from_package(path, "clf", "1")["model_name"] == "clf"
    with pytest.raises(Exception, match=r"holds model clf/1, not clf/2$"):
        service_spec.from_package(path, "clf", "2")
    with pytest.raises(Exception, match=r"is not a model package: it has no MANIFEST.json$"):
        service_spec.from_package(tmp_path, "clf", "1")


@pytest.mark.parametrize("accept, chosen", [
    (None, JSON), ("", JSON), ("*/*", JSON), ("application/json", JSON), (ARROW, ARROW),
    (f"application/json;q=0.4, {ARROW};q=0.9", ARROW), (f"{ARROW}, application/json", ARROW),
    (f"application/json, {ARROW}", JSON), (f"text/html, {ARROW};q=0.1", ARROW),
])
def test_accept_negotiation(accept: str | None, chosen: str) -> None:
    assert choose_output(accept) == chosen


def test_unacceptable_accept() -> None:
    with pytest.raises(RequestError) as err:
        choose_output(f"text/csv, {ARROW};q=0")
    assert err.value.status == 406


def test_split_with_duplicate_columns_is_not_turned_into_records(spec: dict[str, Any]) -> None:
    scorer = ServedModel(spec)
    parsed = scorer.read(b'{"dataframe_split": {"columns": ["a", "a", "c", "d"], "data": [[1, 2, 3, 4]]}}', JSON)
    assert parsed.records is None and list(parsed.frame.columns) == ["a", "a", "c", "d"]
    with pytest.raises(RequestError) as err:
        scorer.score(parsed)
    assert err.value.status == 422


class AppClient:
    """The app in-process, over httpx's ASGI transport (no server, no socket)."""

    def __init__(self, app: Any):
        self.app = app

    def __enter__(self) -> "AppClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


class CountingServedModel(ServedModel):
    def __init__(self, spec: dict[str, Any]):
        super().__init__(spec)
        self.calls: list[int] = []

    def score(self, parsed: Parsed) -> Any:
        self.calls.append(parsed.rows)
        return super().score(parsed)


def run_batch(scorer: ServedModel, items: list[Parsed]) -> list[Any]:
    async def main() -> list[Any]:
        batcher = Batcher(scorer, Runner())
        futures = [batcher.submit(p) for p in items]  # all in one turn of the loop
        return await asyncio.gather(*futures, return_exceptions=True)

    return asyncio.run(main())


def test_requests_that_arrive_together_are_scored_in_one_call(spec: dict[str, Any], classifier: Any) -> None:
    _, model, X = classifier
    scorer = CountingServedModel(spec)
    assert scorer.batching  # a scikit-learn model is row-wise
    items = [Parsed(records=X.iloc[i: i + n].to_dict("records")) for i, n in ((0, 1), (5, 3), (20, 2))]
    assert all(scorer.batchable(p) for p in items)
    results = run_batch(scorer, items)
    assert scorer.calls == [6]
    for (i, n), out in zip(((0, 1), (5, 3), (20, 2)), results):
        assert out["output_feature_0"].tolist() == model.predict(X.iloc[i: i + n]).tolist()


def test_a_bad_request_in_a_batch_fails_alone(spec: dict[str, Any], classifier: Any) -> None:
    _, model, X = classifier
    scorer = CountingServedModel(spec)
    bad = X.iloc[:2].to_dict("records")
    bad[1]["b"] = "oops"
    results = run_batch(scorer, [Parsed(records=X.iloc[:1].to_dict("records")), Parsed(records=bad),
                                 Parsed(records=X.iloc[3:4].to_dict("records"))])
    assert scorer.calls == [4, 1, 2, 1]  # the batch, then each request alone
    assert results[0]["output_feature_0"].tolist() == model.predict(X.iloc[:1]).tolist()
    assert isinstance(results[1], RequestError) and results[1].status == 422
    assert results[2]["output_feature_0"].tolist() == model.predict(X.iloc[3:4]).tolist()


def test_rows_that_lack_a_feature_are_not_batched(spec: dict[str, Any]) -> None:
    scorer = ServedModel(spec)
    assert not scorer.batchable(Parsed(records=[{"a": 1, "b": 2, "c": 3}]))
    assert not scorer.batchable(Parsed(records=[{"a": 1, "b": 2, "c": 3, "d": 4}] * 1000))
    assert not scorer.batchable(Parsed(frame=pd.DataFrame({"a": [1.0]})))
    assert not ServedModel({**spec, "batch_requests": False}).batchable(Parsed(records=[{"a": 1, "b": 2, "c": 3, "d": 4}]))


def test_output_with_input_features_and_empty_input(spec: dict[str, Any], classifier: Any) -> None:
    _, model, X = classifier
    app = build_app({**spec, "output_with_input_features": True, "batch_requests": False})
    with AppClient(app) as client:
        records = X.head(2).assign(id=["x", "y"]).to_dict("records")
        resp = client.post("/predict", json={"dataframe_records": records})
        rows = resp.json()["predictions"]
        assert [list(r) for r in rows] == [["a", "b", "c", "d", "id", "output_feature_0"]] * 2
        assert [r["id"] for r in rows] == ["x", "y"]
        assert [r["output_feature_0"] for r in rows] == model.predict(X.head(2)).tolist()
        assert client.post("/predict", json={"dataframe_split": {"columns": list("abcd"), "data": []}}).json() == {
            "predictions": []}
        meta = client.get("/metadata").json()
        assert (meta["output_with_input_features"], meta["batch_requests"]) == (True, False)


def test_a_custom_endpoint_and_a_token(spec: dict[str, Any], classifier: Any) -> None:
    _, _, X = classifier
    app = build_app({**spec, "endpoint": "v2/models/clf/infer", "auth": True}, token_digest("tok"))
    body = {"inputs": X.head(1).to_dict("records")}
    with AppClient(app) as client:
        assert client.post("/v2/models/clf/infer", json=body).status_code == 401
        assert client.post("/v2/models/clf/infer", json=body, headers={"Authorization": "bearer tok"}).status_code == 200
        assert client.post("/predict", json=body, headers={"Authorization": "Bearer tok"}).status_code == 404
    with pytest.raises(Exception, match="requires a bearer token but none was given"):
        build_app({**spec, "auth": True})


def test_a_model_failure_is_a_500_and_the_app_stays_up(spec: dict[str, Any], classifier: Any, monkeypatch: Any) -> None:
    _, _, X = classifier
    app = build_app({**spec, "batch_requests": False})
    body = {"dataframe_records": X.head(1).to_dict("records")}

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model fell over")

    with AppClient(app) as client:
        from sklearn.linear_model import LogisticRegression

        monkeypatch.setattr(LogisticRegression, "predict", boom)
        resp = client.post("/predict", json=body)
        assert resp.status_code == 500
        assert resp.json() == {"error": "prediction failed: RuntimeError: the model fell over", "status": 500}
        monkeypatch.undo()
        assert client.post("/predict", json=body).status_code == 200


def test_large_bodies_are_scored_on_the_scoring_thread(spec: dict[str, Any], classifier: Any) -> None:
    import numpy as np
    import pyarrow as pa

    from mlreg.deploy.service.app import OFFLOAD_BYTES

    _, model, X = classifier
    big = pd.DataFrame(np.resize(X.to_numpy(), (12_000, 4)), columns=list("abcd"))
    table = pa.Table.from_pandas(big, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue().to_pybytes()
    assert len(body) > OFFLOAD_BYTES
    with AppClient(build_app(spec)) as client:
        resp = client.post("/predict", content=body, headers={"Content-Type": ARROW, "Accept": ARROW})
    assert resp.status_code == 200
    assert pa.ipc.open_stream(resp.content).read_all().column(0).to_pylist() == model.predict(big).tolist()


def test_model_calls_never_overlap() -> None:
    """While a call runs on the scoring thread, the next one waits for it there instead
    of running on the event loop at the same time."""
    import threading

    runner = Runner()
    release = threading.Event()
    where: list[str] = []

    def slow() -> str:
        release.wait(10)
        return threading.current_thread().name

    def quick() -> str:
        where.append(threading.current_thread().name)
        return "quick"

    async def main() -> list[Any]:
        first = asyncio.ensure_future(runner.run(slow, offload=True))
        await asyncio.sleep(0)
        assert runner.busy == 1
        second = asyncio.ensure_future(runner.run(quick))
        await asyncio.sleep(0)  # one loop turn: `quick` is now queued for the busy thread
        assert where == []  # not run on the loop beside the slow call
        release.set()
        return [await first, await second]

    first, second = asyncio.run(main())
    assert first.startswith("mlreg-score") and second == "quick"
    assert where[0].startswith("mlreg-score")
    assert runner.busy == 0
    assert asyncio.run(runner.run(quick)) == "quick" and where[1] == "MainThread"  # idle: inline
