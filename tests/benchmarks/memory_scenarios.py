"""Memory scenarios: what the gate measures under memray (run by `agui_perf.gate.measure.memory`).

This file lives in the measured tree because the gate also runs the accepted commit's own copy
of it from a git worktree: each side is measured with the scenarios written for its code. The
harness loads it by path with that tree's `src/` first on `sys.path`, so it imports only
`agui_perf` and its dependencies, never other test modules.

`SCENARIOS` maps a name to a plain callable that runs its own event loop. The harness calls it
twice in one fresh process, once untracked (warm-up) and once tracked, so a scenario must be
repeatable and keep nothing between calls beyond what the code under test keeps itself.

Every scenario drives the real ASGI app in process through a minimal receive/send pair: no
sockets, no threads, no timers that fire. Everything then runs on `call_soon` in an order that
only the code decides, which is what makes the allocation count identical run to run. The
things that would break that are kept out on purpose:
- the workflows' `token_delay` is 0 and `stamp` is "off" (a sleep or a clock value makes the
  interleaving, and so the number of coalesced sends, depend on the machine);
- the heartbeat is an hour, so its timer is armed but never fires within a scenario;
- the concurrent streams meet at a barrier (`_Hold`) instead of being paced by time.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import TYPE_CHECKING, Any

from agui_perf.stream.app import create_app
from agui_perf.stream.workflows import (
    WORKFLOWS,
    WorkflowFactory,
    WorkflowParams,
    iter_account_analysis,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.types import ASGIApp, Message, Scope

    from agui_perf.stream.types import Event

__all__ = [
    "CONCURRENT_STREAMS",
    "MANY_CONCURRENT_STREAMS",
    "SCENARIOS",
    "SEQUENTIAL_STREAMS",
    "request_scope",
]

SEQUENTIAL_STREAMS = 100
CONCURRENT_STREAMS = 100
#: Enough streams that what each one holds dominates the peak (the fixed share, a batch being
#: encoded, is a few percent of it): the gate's guard against a heavier stream.
MANY_CONCURRENT_STREAMS = 1000

#: Pinned here rather than taken from `WorkflowParams()` so that a changed default shows up as
#: a change to this file, in the same diff as the memory it moves.
_PARAMS: dict[str, Any] = {"text_chunks": 40, "chunk_size": 24, "tool_calls": 3, "state_deltas": 3}

#: An hour: the idle ping must never fire during a scenario (its timer firing or not would
#: depend on how busy the machine is).
_HEARTBEAT_S = 3600.0

_HELD = "held_account_analysis"
_HELD_REPLAY = "held_replayed_account_analysis"
#: What the account-analysis agent does to share the loop (`workflows._YIELD_EVERY`): the
#: replaying agent pauses at the same points, so its streams batch the same way.
_YIELD_EVERY = 64


class _Hold:
    """A barrier: the held agents wait here until `expected` of them have arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.all_open = asyncio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.expected:
            self.all_open.set()
        await self.all_open.wait()


_hold: _Hold | None = None


async def _held_account_analysis(
    thread_id: str, run_id: str, params: WorkflowParams
) -> AsyncIterator[Event]:
    """The account-analysis agent, paused half-way until every concurrent stream is open.

    At the pause each stream holds its mid-run state (response, queue, agent generator), so
    the high-water mark is `CONCURRENT_STREAMS` streams open at once.
    """
    half = _event_count(params) // 2
    index = 0
    async for event in WORKFLOWS["account_analysis"](thread_id, run_id, params):
        if index == half:
            if _hold is None:
                raise RuntimeError(f"{_HELD} runs only inside a concurrent_streams scenario")
            await _hold.arrive()
        index += 1
        yield event
    if index <= half:
        # Ending before the barrier would leave the other streams waiting forever; raising
        # turns this stream into RUN_ERROR, which fails the scenario instead.
        raise RuntimeError(f"the workflow yielded {index} events, expected more than {half}")


async def _held_replay(thread_id: str, run_id: str, params: WorkflowParams) -> AsyncIterator[Event]:
    """One account-analysis run's events, replayed as fresh dicts, paused half-way like `_HELD`.

    The events are generated once per process (the warm-up) and every stream yields shallow
    copies of them: each queued event still costs a dict of its own, but the generation does
    not run per stream. Generating them (random draws, string building) is 80 % of the
    allocations of an account-analysis stream; here the count is mostly the core's, so a
    change to what the core allocates per stream is a large share of it, and the capture
    of a thousand streams stays quick to read.
    """
    events = _run_events(params)
    half = len(events) // 2
    for index, event in enumerate(events):
        if index == half:
            if _hold is None:
                raise RuntimeError(f"{_HELD_REPLAY} runs only inside a concurrent_streams scenario")
            await _hold.arrive()
        elif index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
        yield dict(event)


@functools.cache
def _event_count(params: WorkflowParams) -> int:
    return sum(1 for _ in iter_account_analysis("t", "r", params))


@functools.cache
def _run_events(params: WorkflowParams) -> tuple[Event, ...]:
    return tuple(iter_account_analysis("thread-replayed", "run-replayed", params))


@functools.cache
def _app() -> ASGIApp:
    # One app for every stream and both calls (warm-up, tracked): Starlette builds its
    # middleware stack on the first request, and the scenarios measure streams, not app setup.
    # Anything the app keeps per stream still shows, as leaked bytes.
    workflows: dict[str, WorkflowFactory] = {
        **WORKFLOWS,
        _HELD: _held_account_analysis,
        _HELD_REPLAY: _held_replay,
    }
    app: ASGIApp = create_app(workflows=workflows, heartbeat=_HEARTBEAT_S)
    return app


@functools.cache
def _body_template(workflow: str) -> bytes:
    # The standard library, not orjson: orjson allocates a 4 KiB buffer per document, and a
    # client's buffers held for every open stream would blur the server's memory per stream.
    # Encoded once with a placeholder for the stream's number: encoding it per stream was
    # fifty allocations of harness per stream in the counts.
    return json.dumps(
        {
            "threadId": "thread-%d",
            "runId": "run-%d",
            "state": {},
            "messages": [],
            "tools": [],
            "context": [],
            "forwardedProps": {"workflow": workflow, "params": _PARAMS},
        },
        separators=(",", ":"),
    ).encode()


def _body(index: int, workflow: str) -> bytes:
    return _body_template(workflow) % (index, index)


def request_scope(body: bytes, client_port: int = 50000) -> Scope:
    """`POST /agent` with `body`, as uvicorn hands it to the app (ASGI 3, HTTP/1.1).

    Also what the in-process serve benchmarks (`test_serve_bench`) send.
    """
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
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"accept", b"text/event-stream"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", client_port),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _stream(index: int, workflow: str = "account_analysis") -> None:
    """One POST /agent, driven in process; raises unless the stream ends with RUN_FINISHED."""
    body = _body(index, workflow)
    scope = request_scope(body, 50000 + index)
    # A future rather than an asyncio.Event (which allocates a deque): the harness's own
    # memory per stream is part of the peak too, so it is kept small.
    response_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    request_sent = False
    status = 0
    finished = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # A client that stays until the response ends, then goes away (what a browser does).
        await response_done
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, finished
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            # Nothing of a chunk is kept, only whether it holds the run's end: a client that
            # kept even the last chunk would hold every open stream's latest batch, and its
            # memory would count as the server's.
            if message.get("body"):
                finished = b'"type":"RUN_FINISHED"' in message["body"]
            if not message.get("more_body", False) and not response_done.done():
                response_done.set_result(None)

    await _app()(scope, receive, send)
    if status != 200 or not finished:
        raise RuntimeError(
            f"stream {index} ({workflow}) ended with status {status}"
            f"{'' if finished else ' and without RUN_FINISHED in its last chunk'}; "
            "expected 200 and a last chunk ending the run"
        )


def workflow_run() -> None:
    """One account-analysis run, encoded through the response path end to end."""
    asyncio.run(_stream(0))


def sequential_streams_100() -> None:
    """100 streams one after another: memory kept per stream shows up as leaked bytes."""

    async def main() -> None:
        for index in range(SEQUENTIAL_STREAMS):
            await _stream(index)

    asyncio.run(main())


def _concurrent_streams(streams: int, workflow: str = _HELD) -> None:
    """`streams` streams open at once, held at a barrier half-way."""
    global _hold

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            for index in range(streams):
                group.create_task(_stream(index, workflow))

    _hold = _Hold(streams)
    try:
        asyncio.run(main())
    finally:
        _hold = None


def concurrent_streams_100() -> None:
    """100 streams open at once (held at a barrier half-way): the peak is memory per stream."""
    _concurrent_streams(CONCURRENT_STREAMS)


def concurrent_streams_1000() -> None:
    """1,000 streams open at once: peak and allocations grow with what one open stream costs.

    The agent replays one run's events (`_held_replay`), so that the numbers are the core's.
    """
    _concurrent_streams(MANY_CONCURRENT_STREAMS, _HELD_REPLAY)


SCENARIOS: dict[str, Callable[[], None]] = {
    "workflow_run": workflow_run,
    "sequential_streams_100": sequential_streams_100,
    "concurrent_streams_100": concurrent_streams_100,
    "concurrent_streams_1000": concurrent_streams_1000,
}
