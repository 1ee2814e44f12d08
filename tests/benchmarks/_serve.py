"""The in-process serve benchmarks' exchange: our app served over ASGI on one event loop.

Shared by `test_serve_bench` (the benchmarks) and `tests/test_benchmarks_smoke.py` (which
checks the exchange gets the bytes uvicorn sends over loopback). The benchmarks' module
docstring says what is measured and why.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import orjson

from agui_perf.stream.encoder import encode_many
from agui_perf.stream.workflows import WORKFLOWS, WorkflowParams
from tests.benchmarks.memory_scenarios import request_scope

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message

    from agui_perf.stream.types import Agent, Event

__all__ = [
    "APP_WORKFLOWS",
    "BURST_EVENTS",
    "PER_EVENT",
    "PER_EVENT_EVENTS",
    "InProcessExchange",
    "expected_body",
    "per_event",
    "request_body",
    "server_loop",
]

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
