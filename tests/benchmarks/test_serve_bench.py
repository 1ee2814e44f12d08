"""The server's half of a stream, in process: our app served over ASGI, with no sockets.

`test_stream_events_per_second` measures the server through the CPU clock of its process, and
on a shared host that clock moves by a third for seconds at a time while the code does the
same work. These benchmarks send the same kind of request through the same app on one event
loop in this process: routing, the body read and checked, the agent, the producer and sender
of `EventStreamResponse`, the batching, the encoding, every `http.response.body` message. The
ASGI `send` only keeps the bytes, and `receive` hands over the request body and then waits,
like a client that stays connected. The loop is the one uvicorn serves on (uvloop where it is
installed, as the core's dependencies have it).

- `test_serve_burst_in_process`: the burst workflow, as `test_stream_events_per_second`
  requests it: the agent yields a loop turn every 64 events, so the sender sends batches.
- `test_serve_per_event_in_process`: the same events, each on a loop turn of its own, as a
  model's tokens arrive, so each goes out in a body message of its own. This is the path of
  the paced streams (latency, concurrency, workflow) without their clock: a wake-up, a send,
  a send timeout and an idle wait per event.

Both are `cpu_bound`, so the gate also counts their instructions under callgrind. With nothing
left that waits on a clock or a socket, the event loop runs the same steps every call and the
count is exact (REPEATABILITY in `gate.decide.count_compare`), so a slowdown of the server's
per-event code fails the gate whatever the host does. What they leave out (uvicorn's HTTP
layer, the socket writes, the wake-ups across cores, a slow reader's effect on batching) the
loopback benchmarks still measure.

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
from tests.benchmarks.memory_scenarios import request_scope

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_benchmark.fixture import BenchmarkFixture
    from starlette.types import ASGIApp, Message

    from agui_perf.stream.types import Agent, Event

#: Events of the burst: about a millisecond a call, so callgrind counts its 30 calls in seconds.
BURST_EVENTS: Final = 500
#: Events of the per-event run, which costs about five times as much per event.
PER_EVENT_EVENTS: Final = 100
#: The name the per-event agent is served under, beside the core's own workflows.
PER_EVENT: Final = "per_event"
THREAD: Final = "bench-thread"
RUN_ID: Final = "bench-run"


async def per_event(thread_id: str, run_id: str, params: WorkflowParams) -> Agent:
    """The burst's events, each after a loop turn of its own (no clock, unlike `paced`)."""
    async for event in WORKFLOWS["burst"](thread_id, run_id, params):
        await asyncio.sleep(0)
        yield event


APP_WORKFLOWS: Final = {**WORKFLOWS, PER_EVENT: per_event}


def request_body(workflow: str, events: int) -> bytes:
    return orjson.dumps(
        {
            "threadId": THREAD,
            "runId": RUN_ID,
            "messages": [],
            "forwardedProps": {"workflow": workflow, "params": {"events": events}},
        }
    )


def expected_body(workflow: str, events: int) -> bytes:
    """What a client must receive: every event of the run, encoded, in order."""

    async def collect() -> list[Event]:
        agent = APP_WORKFLOWS[workflow](THREAD, RUN_ID, WorkflowParams(events=events))
        return [event async for event in agent]

    return encode_many(asyncio.run(collect()))


class InProcessExchange:
    """Requests served by `app` on `loop`; what each response sent, as it came.

    `loop.run_until_complete`, not `asyncio.Runner.run`: a Runner installs and removes its
    own SIGINT handler on every call when SIGINT has Python's default handler, and putting
    the old handler back formats the repr of the task it wrapped. Measured: 45 % of a call's
    instructions, and none of them when the process was started with SIGINT ignored (a
    background job), so the figure would depend on how the gate was started.
    """

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self._app = app
        self._loop = loop

    def serve(self, body: bytes) -> tuple[int, list[bytes]]:
        """The status and the body messages of one response to a request with `body`."""
        return self._loop.run_until_complete(self._exchange(body))

    async def _exchange(self, body: bytes) -> tuple[int, list[bytes]]:
        loop = asyncio.get_running_loop()
        # The client never leaves: after the body, receive() waits until the response is over
        # (the response then cancels the wait).
        stay: asyncio.Future[Message] = loop.create_future()
        messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
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
            await self._app(request_scope(body), receive, send)
        finally:
            stay.cancel()
        return (status[0] if status else 0), chunks


def server_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind uvicorn serves on (`loop="auto"`): uvloop where installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@pytest.fixture(scope="module")
def exchange() -> Iterator[InProcessExchange]:
    # One loop for every call: a loop's set-up is not the server's work.
    loop = server_loop()
    try:
        yield InProcessExchange(create_app(workflows=APP_WORKFLOWS), loop)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def served(
    benchmark: BenchmarkFixture, exchange: InProcessExchange, workflow: str, events: int
) -> list[bytes]:
    """One run of `workflow` served and measured; its body messages, checked."""
    body = request_body(workflow, events)
    benchmark.group = f"serve one {workflow} run of {events} events in process (ASGI)"
    status, chunks = measure(benchmark, lambda: exchange.serve(body), events + 4)
    assert status == 200
    # Same events, same bytes, in the same order, as the encoder makes them.
    assert b"".join(chunks) == expected_body(workflow, events)
    return chunks


# cpu_bound: the whole path runs in this process, so the gate calibrates its timing and counts
# its instructions (see the module docstring).
@pytest.mark.cpu_bound
def test_serve_burst_in_process(benchmark: BenchmarkFixture, exchange: InProcessExchange) -> None:
    chunks = served(benchmark, exchange, "burst", BURST_EVENTS)
    # Batches: far fewer body messages than events.
    assert len(chunks) < BURST_EVENTS / 8


@pytest.mark.cpu_bound
def test_serve_per_event_in_process(
    benchmark: BenchmarkFixture, exchange: InProcessExchange
) -> None:
    chunks = served(benchmark, exchange, PER_EVENT, PER_EVENT_EVENTS)
    # One event a message: the frames of the run, each sent alone (plus the final empty body).
    assert len([chunk for chunk in chunks if chunk]) == PER_EVENT_EVENTS + 4
