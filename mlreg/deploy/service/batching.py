"""How a worker runs the model: small requests that arrive together are scored in one
call (adaptive batching); large ones on a thread, so that the event loop keeps reading
other requests and answering /health meanwhile. Never two model calls at once.

Batching: while a worker runs the model, new requests wait in the socket; when the loop
gets to them, each parsed request is queued and a drain is scheduled a few loop turns
later (enough for requests whose bytes are already here to be parsed and queued too).
The drain scores every queued request in one call and gives each its slice of the
answer. No timer: a lone request waits only those few turns, and batches grow only with
concurrency. Only row-wise model types are batched (``ServedModel.batching``); when a batch
fails (one request's bad value, a model error), each request is scored alone so that
errors stay with their requests.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from mlreg.deploy.service.payloads import Parsed, ServedModel

#: loop turns between the first queued request and the drain: one to read sockets that
#: are ready, one to run the new requests up to their queueing, one to spare
DRAIN_TURNS = 3


class Runner:
    """Runs scoring inline on the event loop, or on one worker thread when asked to (or
    while that thread is busy, so that calls never overlap)."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlreg-score")
        self.busy = 0

    def offload(self, fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        loop = asyncio.get_running_loop()
        self.busy += 1
        future = loop.run_in_executor(self.executor, fn, *args)

        def done(_: Any) -> None:
            self.busy -= 1

        future.add_done_callback(done)
        return future

    async def run(self, fn: Callable[..., Any], *args: Any, offload: bool = False) -> Any:
        if offload or self.busy:
            return await self.offload(fn, *args)
        return fn(*args)


class Batcher:
    def __init__(self, scorer: ServedModel, runner: Runner):
        self.scorer = scorer
        self.runner = runner
        self.pending: list[tuple[Parsed, asyncio.Future]] = []

    def submit(self, parsed: Parsed) -> "asyncio.Future[Any]":
        """A future of the request's output frame."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((parsed, future))
        if len(self.pending) == 1:
            loop.call_soon(self._later, DRAIN_TURNS - 1)
        return future

    def _later(self, turns: int) -> None:
        if turns > 0:
            asyncio.get_running_loop().call_soon(self._later, turns - 1)
        else:
            self._drain()

    def _drain(self) -> None:
        batch, self.pending = self.pending, []
        live = [(p, f) for p, f in batch if not f.done()]  # a client may have gone away
        if not live:
            return
        parsed = [p for p, _ in live]
        if self.runner.busy:
            job = self.runner.offload(self.compute, parsed)

            def finish(j: "asyncio.Future[Any]") -> None:
                try:
                    outcomes = j.result()
                except BaseException as e:  # noqa: BLE001 - every waiting request must get an answer
                    outcomes = [(False, e)] * len(live)
                self._deliver(live, outcomes)

            job.add_done_callback(finish)
        else:
            self._deliver(live, self.compute(parsed))

    def compute(self, parsed: list[Parsed]) -> list[tuple[bool, Any]]:
        """``(ok, output frame or exception)`` per request."""
        if len(parsed) > 1:
            try:
                return self._together(parsed)
            except Exception:  # noqa: BLE001 - fall back to one call per request: errors stay with their request
                pass
        outcomes: list[tuple[bool, Any]] = []
        for p in parsed:
            try:
                outcomes.append((True, self.scorer.score(p)))
            except Exception as e:  # noqa: BLE001 - the error goes back to its request
                outcomes.append((False, e))
        return outcomes

    def _together(self, parsed: list[Parsed]) -> list[tuple[bool, Any]]:
        records = [r for p in parsed for r in p.records or ()]
        out = self.scorer.score(Parsed(records=records))
        if len(out) != len(records):
            raise ValueError("the model answered a different number of rows")
        outcomes: list[tuple[bool, Any]] = []
        start = 0
        for p in parsed:
            outcomes.append((True, out.iloc[start: start + p.rows]))
            start += p.rows
        return outcomes

    @staticmethod
    def _deliver(live: list[tuple[Parsed, asyncio.Future]], outcomes: list[tuple[bool, Any]]) -> None:
        for (_, future), (ok, value) in zip(live, outcomes):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
