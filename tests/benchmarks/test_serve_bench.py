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

from typing import TYPE_CHECKING

import pytest

from agui_perf.stream.app import create_app
from tests.benchmarks._cpu import measure
from tests.benchmarks._serve import (
    APP_WORKFLOWS,
    BURST_EVENTS,
    PER_EVENT,
    PER_EVENT_EVENTS,
    InProcessExchange,
    expected_body,
    request_body,
    server_loop,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_benchmark.fixture import BenchmarkFixture


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
