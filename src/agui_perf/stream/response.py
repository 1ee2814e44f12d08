"""The SSE response that streams one agent's events to one client (the I/O half of the core).

A producer task pulls events from the agent into a bounded queue; the sender takes one item,
drains whatever else is already queued *without waiting*, and writes it all in one
`http.response.body` message. Batching never delays an event: a lone event goes out alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Final

import anyio
from starlette.responses import Response

from agui_perf.stream.encoder import HEARTBEAT, EncodeError, encode, encode_many
from agui_perf.stream.events import run_error
from agui_perf.stream.verify import ProtocolError, Verifier

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.background import BackgroundTask
    from starlette.types import Receive, Scope, Send

    from agui_perf.stream.types import Agent, Event

__all__ = [
    "AGENT_ERROR",
    "ENCODE_ERROR",
    "PROTOCOL_ERROR",
    "EventStreamResponse",
]

#: RUN_ERROR codes this response emits on the agent's behalf.
AGENT_ERROR: Final = "AGENT_ERROR"
PROTOCOL_ERROR: Final = "PROTOCOL_ERROR"
ENCODE_ERROR: Final = "ENCODE_ERROR"

#: How long closing the agent generator may take once the stream is over.
_CLOSE_TIMEOUT: Final = 5.0

logger = logging.getLogger(__name__)


class EventStreamResponse(Response):
    """Stream `agent`'s events as Server-Sent Events.

    - heartbeat: seconds of silence after which a `: ping` comment is sent, so proxies and
      gateways do not cut an idle stream (ag-ui-protocol/ag-ui#1001).
    - max_queue: events buffered between agent and socket. A slow client fills it and then
      the agent waits, so memory stays bounded instead of growing with the backlog.
    - send_timeout: seconds one write may block before the client is given up on.
    - strict: check the protocol's ordering rules on the way out; a violation ends the run
      with RUN_ERROR (code PROTOCOL_ERROR) instead of sending the offending event.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        agent: Agent,
        *,
        heartbeat: float = 15.0,
        max_queue: int = 256,
        send_timeout: float = 30.0,
        strict: bool = False,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if not (heartbeat > 0 and math.isfinite(heartbeat)):
            raise ValueError(f"heartbeat must be a positive number of seconds, got {heartbeat!r}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue!r}")
        if not send_timeout > 0:
            raise ValueError(
                f"send_timeout must be a positive number of seconds, got {send_timeout!r}"
            )
        self.agent = agent
        self.heartbeat = heartbeat
        self.max_queue = max_queue
        self.send_timeout = send_timeout
        self.strict = strict
        self.status_code = status_code
        self.background = background
        # no-cache: an SSE stream is never a cacheable document. X-Accel-Buffering: nginx (and
        # proxies that copy it) otherwise buffer the whole stream (ag-ui-protocol/ag-ui#2084).
        merged = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        if headers:
            merged.update({key.lower(): value for key, value in headers.items()})
        self.init_headers(merged)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(self.max_queue)
        # One task group: whichever of "the stream ended" and "the client left" happens first
        # cancels the rest, so an agent never outlives its client.
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            group.start_soon(self._produce, queue)
            await self._stream(send, queue)
            group.cancel_scope.cancel()
        if self.background is not None:
            await self.background()

    async def _produce(self, queue: asyncio.Queue[Event | None]) -> None:
        """Move the agent's events into `queue`, then an optional RUN_ERROR, then None (the end)."""
        agent = self.agent
        put_nowait = queue.put_nowait
        event: Event | None = None
        final: Event | None = None
        try:
            if self.strict:
                verifier = Verifier()
                async for event in agent:
                    verifier.feed(event)
                    try:
                        put_nowait(event)
                    except asyncio.QueueFull:
                        await queue.put(event)
                verifier.finish()
            else:
                # The hot loop: no per-event branches beyond the queue's own.
                async for event in agent:
                    try:
                        put_nowait(event)
                    except asyncio.QueueFull:
                        await queue.put(event)
        except ProtocolError as exc:
            final = run_error(str(exc), code=PROTOCOL_ERROR)
        except Exception as exc:
            logger.exception("agent failed; ending the run with RUN_ERROR")
            # After RUN_ERROR only RUN_STARTED may follow, so an agent that already reported
            # its own error before raising gets no second one.
            if event is None or event.get("type") != "RUN_ERROR":
                final = run_error(str(exc) or type(exc).__name__, code=AGENT_ERROR)
        finally:
            await _close(agent)
        if final is not None:
            await queue.put(final)
        await queue.put(None)

    async def _stream(self, send: Send, queue: asyncio.Queue[Event | None]) -> None:
        """Send the response: each batch of ready events as one body message."""
        get_nowait = queue.get_nowait
        try:
            await self._send(
                send,
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                },
            )
            done = False
            while not done:
                if queue.empty():
                    # Give a producer that is ready to run its turn before arming the idle
                    # timer: a busy agent then never costs a timer per batch.
                    await asyncio.sleep(0)
                if queue.empty():
                    try:
                        async with asyncio.timeout(self.heartbeat):
                            item = await queue.get()
                    except TimeoutError:
                        await self._send_body(send, HEARTBEAT, more_body=True)
                        continue
                else:
                    item = get_nowait()
                batch: list[Event] = []
                try:
                    while item is not None:
                        batch.append(item)
                        item = get_nowait()
                    done = True
                except asyncio.QueueEmpty:
                    pass
                try:
                    body = encode_many(batch)
                except EncodeError as exc:
                    body = _encode_until_error(batch, exc)
                    done = True
                await self._send_body(send, body, more_body=not done)
        except TimeoutError:
            # The client stopped reading. Returning without completing the response makes the
            # server close the connection; the task group then cancels the agent.
            logger.warning("client stopped reading for %ss; closing the stream", self.send_timeout)
        except OSError:
            # ASGI 2.4 servers report a vanished client by raising OSError from send().
            pass

    async def _send_body(self, send: Send, body: bytes, *, more_body: bool) -> None:
        await self._send(send, {"type": "http.response.body", "body": body, "more_body": more_body})

    async def _send(self, send: Send, message: dict[str, object]) -> None:
        # asyncio.timeout rather than anyio.fail_after: this runs once per batch and costs
        # about half as much (the response is asyncio-only anyway: asyncio.Queue).
        async with asyncio.timeout(self.send_timeout):
            await send(message)


def _encode_until_error(batch: list[Event], error: EncodeError) -> bytes:
    """The frames before the unencodable event, then RUN_ERROR naming it (the run ends there)."""
    frames: list[bytes] = []
    for event in batch:
        try:
            frames.append(encode(event))
        except EncodeError:
            break
    frames.append(encode(run_error(str(error), code=ENCODE_ERROR)))
    return b"".join(frames)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _close(agent: Agent) -> None:
    """Run the agent generator's cleanup, even when we got here by cancellation.

    A generator suspended at `yield` (we were waiting on a full queue) only runs its
    `finally` when closed; shield the close so the pending cancellation does not abort it,
    and bound it so a misbehaving agent cannot hold the connection open.
    """
    aclose = getattr(agent, "aclose", None)
    if aclose is None:
        return
    with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
        try:
            await aclose()
        except Exception:
            logger.exception("agent raised while being closed")
