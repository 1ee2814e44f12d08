"""The SSE response that streams one agent's events to one client (the I/O half of the core).

A producer task pulls events from the agent into a bounded channel; the sender takes all of
it whenever it is not empty (whatever is ready, *without waiting* for more) and writes it in
one `http.response.body` message. Batching never delays an event: a lone event goes out alone.

An open stream is kept small, because a server holds thousands of them: the hand-over is one
slotted object (`_Channel`) rather than an `asyncio.Queue` (four deques and an Event); queued
events are held mostly as their encoded bytes; the two helper tasks are plain asyncio tasks
rather than an anyio task group; and between two batches the sender holds neither the events
it sent nor their bytes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Final

from starlette.responses import Response

from agui_perf.stream.encoder import HEARTBEAT, EncodeError, encode, encode_many
from agui_perf.stream.events import run_error
from agui_perf.stream.verify import ProtocolError, Verifier

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

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

#: Queued events are encoded (and the agent's dicts let go) in groups of this many: enough
#: that the encoding keeps its per-batch economy, few enough that a stream whose client is
#: busy or slow holds little more than the bytes it has not sent yet.
_PACK_EVERY: Final = 16

#: How long closing the agent generator may take once the stream is over.
_CLOSE_TIMEOUT: Final = 5.0

logger = logging.getLogger(__name__)


class _Channel:
    """What the producer task and the sender share for one stream.

    The producer appends the agent's events to `pending`, and every few events (`_PACK_EVERY`)
    encodes them onto `frames`; the sender takes everything at once. Queued events are thus
    held mostly as their bytes (about a hundred each) rather than as the agent's dicts
    (several hundred), while the encoding still runs a batch at a time (`encode_many`: one
    join and one search for nulls per batch, not one per event). `count` is the number of
    events in `frames`: with `pending` that is what `max_queue` bounds. `ended` says nothing
    more will be added. `waiter` is set while the sender waits for a first event (the
    producer wakes it, `True`; the heartbeat timer, `False`), and `room` while the producer
    waits for the sender to take a full channel.
    """

    __slots__ = (
        "closing",
        "count",
        "disconnected",
        "ended",
        "frames",
        "host",
        "pending",
        "producer",
        "room",
        "waiter",
    )

    def __init__(self) -> None:
        self.pending: list[Event] = []
        self.frames = bytearray()
        self.count = 0
        self.ended = False
        self.waiter: asyncio.Future[bool] | None = None
        self.room: asyncio.Future[None] | None = None
        #: The task running the sender, while it may be cancelled by a disconnect.
        self.host: asyncio.Task[object] | None = None
        self.producer: asyncio.Task[None] | None = None
        #: The producer is closing the agent: that cleanup is never interrupted.
        self.closing = False
        self.disconnected = False

    def wake(self) -> None:
        """Tell a waiting sender that there is something to send."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(True)

    def pack(self) -> None:
        """Encode the pending events onto `frames`, which lets the agent's dicts go."""
        self.count += len(self.pending)
        self.frames += self._encode_pending()

    def take(self) -> bytes:
        """Everything queued, as one body; a producer waiting for room goes on."""
        frames = self.frames
        if frames:
            if self.pending:
                self.pack()
            body = bytes(frames)
            # Emptied, not replaced: clear() also gives its memory back.
            frames.clear()
        else:
            # The common case (nothing packed yet): no copy through `frames`.
            body = self._encode_pending()
        self.count = 0
        room = self.room
        if room is not None:
            self.room = None
            if not room.done():
                room.set_result(None)
        return body

    def _encode_pending(self) -> bytes:
        pending = self.pending
        self.pending = []
        try:
            return encode_many(pending)
        except EncodeError as exc:
            # The run ends here: the frames before the unencodable event, then RUN_ERROR.
            self.ended = True
            return _encode_until_error(pending, exc)

    async def wait_for_room(self) -> None:
        room = self.room = asyncio.get_running_loop().create_future()
        await room

    async def put(self, event: Event, limit: int) -> None:
        """Append one event (off the hot loop: the final RUN_ERROR)."""
        while self.count + len(self.pending) >= limit:
            await self.wait_for_room()
        self.pending.append(event)
        self.wake()

    def finish(self) -> None:
        """Nothing more will be added: the sender sends what is queued and ends the response."""
        self.ended = True
        self.wake()

    def stop_producer(self) -> None:
        """Cancel the producer, once, unless it is already closing the agent.

        A second cancellation, or one during the close, would interrupt the agent's cleanup
        (`_close` bounds it instead).
        """
        task = self.producer
        if task is not None and not self.closing and not task.done() and not task.cancelling():
            task.cancel()

    def disconnect(self) -> None:
        """The client went away: stop the agent and the sender, as an anyio scope would."""
        self.disconnected = True
        self.stop_producer()
        if self.host is not None:
            # The sender is suspended inside its cancellable region (we run only while it
            # waits), so the cancellation is delivered there and caught by `__call__`.
            self.host.cancel()


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
        loop = asyncio.get_running_loop()
        channel = _Channel()
        host = asyncio.current_task()
        producer = channel.producer = loop.create_task(self._produce(channel))
        # Whichever of "the stream ended" and "the client left" happens first ends the rest,
        # so an agent never outlives its client.
        watcher = loop.create_task(_cancel_on_disconnect(receive, channel))
        try:
            channel.host = host
            try:
                await self._stream(send, channel)
            except asyncio.CancelledError:
                # Our own cancellation (the client left) ends the stream quietly; any other
                # (the server shutting down) goes on up.
                if not (channel.disconnected and host is not None and host.uncancel() == 0):
                    raise
            finally:
                channel.host = None
        finally:
            watcher.cancel()
            if not producer.done():
                channel.stop_producer()
                # The agent's cleanup (bounded by `_close`) finishes before the response does.
                await asyncio.wait((producer,))
        if not producer.cancelled() and (failure := producer.exception()) is not None:
            raise failure
        if self.background is not None:
            await self.background()

    async def _produce(self, channel: _Channel) -> None:
        """Move the agent's events into `channel`, then an optional RUN_ERROR, then end it."""
        agent = self.agent
        limit = self.max_queue
        # Pack at most every _PACK_EVERY events, and never past the bound: `max_queue` events
        # queued in all means the producer waits.
        pack_at = min(_PACK_EVERY, limit)
        # The last event stays referenced here (one dict): it says whether an agent that
        # raised had already reported its own RUN_ERROR.
        event: Event | None = None
        final: Event | None = None
        # Strict mode checks each event on its way in, in a generator of its own, so the loop
        # below (the hot path) is the same in both modes.
        events = _verified(agent) if self.strict else agent
        try:
            try:
                # An append and two cheap checks per event. No local holds `channel.pending`:
                # the sender swaps it, and the old list (the events it just took) must not stay
                # alive in this frame while the agent works.
                async for event in events:
                    channel.pending.append(event)
                    if channel.waiter is not None:
                        channel.wake()
                    if len(channel.pending) >= pack_at:
                        channel.pack()
                        if channel.ended:  # an unencodable event ended the run
                            break
                        if channel.count >= limit:
                            await channel.wait_for_room()
                        pack_at = min(_PACK_EVERY, limit - channel.count)
            except ProtocolError as exc:
                final = run_error(str(exc), code=PROTOCOL_ERROR)
            except Exception as exc:
                logger.exception("agent failed; ending the run with RUN_ERROR")
                # After RUN_ERROR only RUN_STARTED may follow, so an agent that already
                # reported its own error before raising gets no second one.
                if event is None or event.get("type") != "RUN_ERROR":
                    final = run_error(str(exc) or type(exc).__name__, code=AGENT_ERROR)
            finally:
                channel.closing = True
                if events is not agent:
                    await _close(events)
                await _close(agent)
            if final is not None and not channel.ended:
                await channel.put(final, limit)
        finally:
            # Even if this task fails or is cancelled, the sender must not wait for more.
            channel.finish()

    async def _stream(self, send: Send, channel: _Channel) -> None:
        """Send the response: each batch of ready frames as one body message."""
        loop = asyncio.get_running_loop()
        heartbeat = self.heartbeat
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
                if not channel.pending and not channel.frames and not channel.ended:
                    # Give a producer that is ready to run its turn before arming the idle
                    # timer: a busy agent then never costs a timer per batch.
                    await asyncio.sleep(0)
                    if (
                        not channel.pending
                        and not channel.frames
                        and not channel.ended
                        and not await _wait(loop, channel, heartbeat)
                    ):
                        await self._send_body(send, HEARTBEAT, more_body=True)
                        continue
                # `ended` is read right after the take, with no await between: once it is
                # set, every frame the producer will ever add is in this body.
                body = channel.take()
                done = channel.ended
                await self._send_body(send, body, more_body=not done)
                # The bytes are not kept while the next batch is awaited.
                del body
        except TimeoutError:
            # The client stopped reading. Returning without completing the response makes the
            # server close the connection; the producer is then cancelled.
            logger.warning("client stopped reading for %ss; closing the stream", self.send_timeout)
        except OSError:
            # ASGI 2.4 servers report a vanished client by raising OSError from send().
            pass

    async def _send_body(self, send: Send, body: bytes, *, more_body: bool) -> None:
        await self._send(send, {"type": "http.response.body", "body": body, "more_body": more_body})

    async def _send(self, send: Send, message: dict[str, object]) -> None:
        # asyncio.timeout rather than anyio.fail_after: this runs once per batch and costs
        # about half as much (the response is asyncio-only anyway).
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


async def _wait(loop: asyncio.AbstractEventLoop, channel: _Channel, heartbeat: float) -> bool:
    """Wait for the producer's next event (True) or `heartbeat` seconds of silence (False).

    A future and one timer handle: what an idle stream holds while it waits.
    """
    waiter: asyncio.Future[bool] = loop.create_future()
    channel.waiter = waiter
    timer = loop.call_later(heartbeat, _expire, waiter)
    try:
        return await waiter
    finally:
        timer.cancel()
        channel.waiter = None


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


async def _cancel_on_disconnect(receive: Receive, channel: _Channel) -> None:
    while True:
        try:
            message = await receive()
        except Exception:
            # A server whose receive() fails has lost the client: the same as a disconnect
            # (and nobody would ever retrieve the exception from this task).
            logger.debug("receive() failed; treating it as a disconnect", exc_info=True)
            message = {"type": "http.disconnect"}
        if message["type"] == "http.disconnect":
            channel.disconnect()
            return


async def _verified(agent: Agent) -> AsyncIterator[Event]:
    """The agent's events, each fed to a `Verifier` first: a ProtocolError ends the run."""
    verifier = Verifier()
    async for event in agent:
        verifier.feed(event)
        yield event
    verifier.finish()


async def _close(agent: Agent) -> None:
    """Run the agent generator's cleanup, even when we got here by cancellation.

    A generator suspended at `yield` (we were waiting for room) only runs its `finally` when
    closed. The producer is not cancelled once it is closing (`_Channel.stop_producer`), so
    nothing interrupts the close; it is bounded so a misbehaving agent cannot hold the
    connection open.
    """
    aclose = getattr(agent, "aclose", None)
    if aclose is None:
        return
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            await aclose()
    except TimeoutError:
        logger.warning("agent took more than %ss to close; abandoned", _CLOSE_TIMEOUT)
    except Exception:
        logger.exception("agent raised while being closed")
