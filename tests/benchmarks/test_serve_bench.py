"""The server's half of a stream, in process: our app served over ASGI, with no sockets.

`test_stream_events_per_second` measures the server through the CPU clock of its process, and
on a shared host that clock moves by a third for seconds at a time while the code does the
same work. This benchmark sends the same kind of request (the burst workflow) through the same
app on one event loop in this process: routing, the body read and checked, the agent, the
producer and sender of `EventStreamResponse`, the batching, the encoding, every
`http.response.body` message. The ASGI `send` only keeps the bytes, and `receive` hands over
the request body and then waits, like a client that stays connected.

It is `cpu_bound`, so the gate also counts its instructions under callgrind. With nothing left
that waits on a clock or a socket, the event loop runs the same steps every call, and the
count is exact (REPEATABILITY in `gate.decide.count_compare`). A slowdown of the server's
per-event code then fails the gate whatever the host does. What it leaves out (uvicorn's HTTP
layer, the socket writes, the wake-ups across cores) the loopback benchmarks still measure.

Run: `.venv/bin/python -m pytest tests/benchmarks/test_serve_bench.py --benchmark-only`
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import orjson
import pytest

from agui_perf.stream.app import create_app
from agui_perf.stream.encoder import encode_many
from agui_perf.stream.workflows import WORKFLOWS, WorkflowParams
from tests.benchmarks._cpu import measure

if TYPE_CHECKING:
    from collections.abc import Iterator, MutableMapping

    from pytest_benchmark.fixture import BenchmarkFixture
    from starlette.types import ASGIApp, Message

    from agui_perf.stream.types import Event

#: Events per call: about a millisecond a call, so callgrind counts its 30 calls in a few seconds.
EVENTS: Final = 500
WORKFLOW: Final = "burst"
THREAD: Final = "bench-thread"
RUN_ID: Final = "bench-run"
BODY: Final = orjson.dumps(
    {
        "threadId": THREAD,
        "runId": RUN_ID,
        "messages": [],
        "forwardedProps": {"workflow": WORKFLOW, "params": {"events": EVENTS}},
    }
)


async def _events() -> list[Event]:
    agent = WORKFLOWS[WORKFLOW](THREAD, RUN_ID, WorkflowParams(events=EVENTS))
    return [event async for event in agent]


#: The body a client must receive: every event of the run, encoded, in order.
EXPECTED: Final = encode_many(asyncio.run(_events()))


def request_scope() -> MutableMapping[str, object]:
    """`POST /agent` as uvicorn hands it to the app (ASGI 3, HTTP/1.1)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/agent",
        "raw_path": b"/agent",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


class InProcessExchange:
    """One request served by `app` on `runner`'s loop; what it sent, kept as it came."""

    def __init__(self, app: ASGIApp, runner: asyncio.Runner) -> None:
        self._app = app
        self._runner = runner

    def serve(self) -> tuple[int, bytes]:
        """The status and the whole body of one response."""
        return self._runner.run(self._exchange())

    async def _exchange(self) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        # The client never leaves: after the body, receive() waits until the response is over
        # (the response then cancels the wait).
        stay: asyncio.Future[Message] = loop.create_future()
        messages: list[Message] = [{"type": "http.request", "body": BODY, "more_body": False}]
        status: list[int] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            if messages:
                return messages.pop()
            return await stay

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            else:
                chunks.append(message.get("body", b""))

        try:
            await self._app(request_scope(), receive, send)
        finally:
            stay.cancel()
        return (status[0] if status else 0), b"".join(chunks)


@pytest.fixture(scope="module")
def exchange() -> Iterator[InProcessExchange]:
    # One loop for every call: a loop's set-up is not the server's work.
    with asyncio.Runner() as runner:
        yield InProcessExchange(create_app(), runner)


# cpu_bound: the whole path runs in this process, so the gate calibrates its timing and counts
# its instructions (see the module docstring).
@pytest.mark.cpu_bound
def test_serve_burst_in_process(benchmark: BenchmarkFixture, exchange: InProcessExchange) -> None:
    benchmark.group = f"serve one {WORKFLOW} run of {EVENTS} events in process (ASGI)"
    status, body = measure(benchmark, exchange.serve, EVENTS + 4)
    assert status == 200
    # Same events, same bytes, in the same order, as the encoder makes them.
    assert body == EXPECTED
