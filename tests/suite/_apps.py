"""Tiny ASGI apps for the suite's tests: each breaks (or keeps) one promise on purpose.

Also copied into pytester's folder by the plugin tests, so it imports only the standard
library and agui_perf.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import TYPE_CHECKING, Any

from agui_perf.stream.app import create_app

if TYPE_CHECKING:
    from starlette.applications import Starlette

Scope = dict[str, Any]
RUN = [
    {"type": "RUN_STARTED", "threadId": "t", "runId": "r"},
    {"type": "TEXT_MESSAGE_START", "messageId": "m", "role": "assistant"},
    {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": "hi"},
    {"type": "TEXT_MESSAGE_END", "messageId": "m"},
    {"type": "RUN_FINISHED", "threadId": "t", "runId": "r"},
]


def _frame(event: dict[str, Any], sep: bytes) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + sep + sep


async def _stream(receive: Any, send: Any, frames: list[bytes], pause: float = 0.0) -> None:
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    for number, frame in enumerate(frames):
        if pause and number:
            await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def crlf_app(scope: Scope, receive: Any, send: Any) -> None:
    """A valid run framed the way sse-starlette frames it by default: CRLF line ends."""
    if scope["type"] == "http":
        await _stream(receive, send, [_frame(event, b"\r\n") for event in RUN], pause=0.01)


async def lf_app(scope: Scope, receive: Any, send: Any) -> None:
    """`crlf_app` with LF line ends (sse-starlette's `sep="\\n"`): what the client reads."""
    if scope["type"] == "http":
        await _stream(receive, send, [_frame(event, b"\n") for event in RUN], pause=0.01)


async def out_of_order_app(scope: Scope, receive: Any, send: Any) -> None:
    """Content for a message that was never started: the ordering rules forbid it."""
    if scope["type"] == "http":
        events = [RUN[0], RUN[2], RUN[4]]
        await _stream(receive, send, [_frame(event, b"\n") for event in events])


async def silent_app(scope: Scope, receive: Any, send: Any) -> None:
    """Half a second without a byte, heartbeat or not, between two events."""
    if scope["type"] == "http":
        frames = [
            b"".join(_frame(e, b"\n") for e in RUN[:2]),
            b"".join(_frame(e, b"\n") for e in RUN[2:]),
        ]
        await _stream(receive, send, frames, pause=0.5)


_requests = itertools.count()


async def flaky_app(scope: Scope, receive: Any, send: Any) -> None:
    """Every second request gets a 500: an error rate of one half."""
    if scope["type"] != "http":
        return
    if next(_requests) % 2:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})
        return
    await _stream(receive, send, [_frame(event, b"\n") for event in RUN], pause=0.2)


def ours_with_heartbeat() -> Starlette:
    """Our core with a 50 ms heartbeat (a zero-argument factory)."""
    return create_app(heartbeat=0.05)


ours = create_app()


def broken_factory() -> Starlette:
    raise RuntimeError("boom: the factory failed")


not_an_app = 3


async def chatty_app(scope: Scope, receive: Any, send: Any) -> None:
    """Prints 256 KiB to stdout per request (more than a pipe holds) before it answers."""
    if scope["type"] == "http":
        print("x" * 262_144, flush=True)
        await _stream(receive, send, [_frame(event, b"\n") for event in RUN])


async def lifespan_fails_app(scope: Scope, receive: Any, send: Any) -> None:
    """A run over HTTP, and a lifespan that fails: served only where lifespan is off (or auto)."""
    if scope["type"] == "lifespan":
        raise RuntimeError("boom: the lifespan failed")
    await _stream(receive, send, [_frame(event, b"\n") for event in RUN])
