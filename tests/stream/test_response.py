"""EventStreamResponse driven as a bare ASGI app: fake `receive`/`send` record every message.

Nothing here sleeps to wait for something: tests wait on events (with generous timeouts)
or on `anyio.wait_all_tasks_blocked()`.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import pytest

from agui_perf.stream import events as ev
from agui_perf.stream.encoder import HEARTBEAT, encode, encode_many
from agui_perf.stream.response import (
    AGENT_ERROR,
    ENCODE_ERROR,
    PROTOCOL_ERROR,
    EventStreamResponse,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from starlette.types import Message

    from agui_perf.stream.types import Event

pytestmark = pytest.mark.anyio

#: Generous: only reached when something is broken.
TIMEOUT = 30.0
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "POST",
    "path": "/agent",
    "headers": [],
}
RUN: list[Event] = [
    ev.run_started("t", "r"),
    ev.text_message_start("m"),
    ev.text_message_content("m", "hello"),
    ev.text_message_content("m", " wörld 💡"),
    ev.text_message_end("m"),
    ev.run_finished("t", "r"),
]


async def agent_of(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event


async def no_disconnect() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


def disconnect_when(event: anyio.Event) -> Callable[[], Awaitable[Message]]:
    async def receive() -> Message:
        await event.wait()
        return {"type": "http.disconnect"}

    return receive


class Recorder:
    """A `send` that records messages; `on_body` runs after each body message is recorded."""

    def __init__(self, on_body: Callable[[bytes], Awaitable[None]] | None = None) -> None:
        self.messages: list[Message] = []
        self.on_body = on_body

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and self.on_body is not None:
            await self.on_body(message["body"])

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]

    @property
    def complete(self) -> bool:
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body", False)


def frames(body: bytes) -> list[Event]:
    return [orjson.loads(part[len(b"data: ") :]) for part in body.split(b"\n\n") if part]


async def run(
    response: EventStreamResponse,
    send: Recorder | None = None,
    receive: Callable[[], Awaitable[Message]] = no_disconnect,
) -> Recorder:
    send = send or Recorder()
    with anyio.fail_after(TIMEOUT):
        await response(SCOPE, receive, send)
    return send


async def test_sends_start_then_every_event_in_order_then_completes() -> None:
    sent = await run(EventStreamResponse(agent_of(RUN)))
    start = sent.messages[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    assert b"".join(sent.bodies) == encode_many(RUN)
    assert sent.complete


async def test_headers_disable_caching_and_proxy_buffering() -> None:
    sent = await run(EventStreamResponse(agent_of(RUN), headers={"X-Run": "r"}))
    headers = dict(sent.messages[0]["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache"
    assert headers[b"x-accel-buffering"] == b"no"
    assert headers[b"x-run"] == b"r"
    assert b"content-length" not in headers


async def test_events_already_queued_go_out_in_one_body_message() -> None:
    # The agent never awaits, so all events are queued before the sender runs again.
    sent = await run(EventStreamResponse(agent_of(RUN), max_queue=64))
    assert sent.bodies == [encode_many(RUN)]
    assert sent.complete


async def test_a_full_queue_is_sent_as_one_message_per_queueful() -> None:
    sent = await run(EventStreamResponse(agent_of(RUN), max_queue=2))
    assert b"".join(sent.bodies) == encode_many(RUN)
    assert all(len(frames(body)) <= 2 for body in sent.bodies)
    assert len(sent.bodies) >= len(RUN) // 2


async def test_a_lone_event_is_sent_without_waiting_for_a_batch() -> None:
    release = anyio.Event()
    first_body = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        yield RUN[0]
        await release.wait()
        yield RUN[-1]

    async def on_body(body: bytes) -> None:
        first_body.set()

    sent = Recorder(on_body)
    async with anyio.create_task_group() as group:
        group.start_soon(run, EventStreamResponse(agent()), sent)
        with anyio.fail_after(TIMEOUT):
            await first_body.wait()
        assert sent.bodies == [encode(RUN[0])]
        release.set()
    assert b"".join(sent.bodies) == encode_many([RUN[0], RUN[-1]])


async def test_heartbeat_comment_while_the_agent_is_idle() -> None:
    pinged = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        yield RUN[0]
        await pinged.wait()
        yield RUN[-1]

    async def on_body(body: bytes) -> None:
        if body == HEARTBEAT:
            pinged.set()

    sent = await run(EventStreamResponse(agent(), heartbeat=0.05), Recorder(on_body))
    assert sent.bodies[0] == encode(RUN[0])
    assert HEARTBEAT in sent.bodies
    assert b"".join(b for b in sent.bodies if b != HEARTBEAT) == encode_many([RUN[0], RUN[-1]])


async def test_slow_client_bounds_the_agents_progress_by_the_queue() -> None:
    max_queue = 4
    produced = 0
    closed = anyio.Event()
    unblock = anyio.Event()
    gone = anyio.Event()

    async def endless() -> AsyncIterator[Event]:
        nonlocal produced
        try:
            for i in range(10_000_000):
                produced += 1
                yield ev.text_message_content("m", f"chunk {i}")
        finally:
            closed.set()

    async def stuck(body: bytes) -> None:
        await unblock.wait()

    response = EventStreamResponse(endless(), max_queue=max_queue)
    async with anyio.create_task_group() as group:
        group.start_soon(run, response, Recorder(stuck), disconnect_when(gone))
        with anyio.fail_after(TIMEOUT):
            await anyio.wait_all_tasks_blocked()
        # One batch held by the blocked send, a full queue, and one event waiting to be put.
        assert max_queue <= produced <= 2 * max_queue + 1
        gone.set()
    assert closed.is_set()
    assert not unblock.is_set()


async def test_client_disconnect_cancels_the_agent_promptly() -> None:
    cancelled = anyio.Event()
    closed = anyio.Event()
    gone = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        try:
            yield RUN[0]
            await anyio.sleep_forever()
            yield RUN[-1]
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        finally:
            closed.set()

    async def leave(body: bytes) -> None:
        gone.set()

    sent = await run(EventStreamResponse(agent()), Recorder(leave), disconnect_when(gone))
    assert cancelled.is_set()
    assert closed.is_set()
    assert sent.bodies == [encode(RUN[0])]
    assert not sent.complete


async def test_agent_exception_becomes_run_error_then_the_stream_completes() -> None:
    async def agent() -> AsyncIterator[Event]:
        yield RUN[0]
        raise ValueError("model backend unreachable")

    sent = await run(EventStreamResponse(agent()))
    assert frames(b"".join(sent.bodies)) == [
        RUN[0],
        {"type": "RUN_ERROR", "message": "model backend unreachable", "code": AGENT_ERROR},
    ]
    assert sent.complete


async def test_agent_that_reported_its_own_run_error_gets_no_second_one() -> None:
    own = ev.run_error("quota exceeded", code="QUOTA")

    async def agent() -> AsyncIterator[Event]:
        yield RUN[0]
        yield own
        raise RuntimeError("after the fact")

    sent = await run(EventStreamResponse(agent()))
    assert frames(b"".join(sent.bodies)) == [RUN[0], own]
    assert sent.complete


async def test_unencodable_event_ends_the_run_with_run_error_after_the_good_frames() -> None:
    closed = anyio.Event()
    bad = ev.custom("weird", {1, 2})

    async def agent() -> AsyncIterator[Event]:
        try:
            yield RUN[0]
            yield bad
            yield RUN[-1]
        finally:
            closed.set()

    sent = await run(EventStreamResponse(agent()))
    received = frames(b"".join(sent.bodies))
    assert received[0] == RUN[0]
    assert received[1]["type"] == "RUN_ERROR"
    assert received[1]["code"] == ENCODE_ERROR
    assert "value" in received[1]["message"]
    assert len(received) == 2
    assert sent.complete
    assert closed.is_set()


async def test_strict_mode_passes_a_valid_run_unchanged() -> None:
    sent = await run(EventStreamResponse(agent_of(RUN), strict=True))
    assert b"".join(sent.bodies) == encode_many(RUN)


async def test_strict_mode_turns_a_violation_into_run_error() -> None:
    stray = ev.text_message_content("never-started", "x")
    sent = await run(EventStreamResponse(agent_of([RUN[0], stray, RUN[-1]]), strict=True))
    received = frames(b"".join(sent.bodies))
    assert received[0] == RUN[0]
    assert [e["type"] for e in received] == ["RUN_STARTED", "RUN_ERROR"]
    assert received[1]["code"] == PROTOCOL_ERROR
    assert sent.complete


async def test_strict_mode_reports_a_run_that_never_finishes() -> None:
    sent = await run(EventStreamResponse(agent_of(RUN[:2]), strict=True))
    received = frames(b"".join(sent.bodies))
    assert [e["type"] for e in received] == ["RUN_STARTED", "TEXT_MESSAGE_START", "RUN_ERROR"]
    assert received[-1]["code"] == PROTOCOL_ERROR


async def test_send_timeout_gives_up_on_a_client_that_stopped_reading() -> None:
    closed = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        try:
            for i in range(10_000_000):
                yield ev.text_message_content("m", f"chunk {i}")
        finally:
            closed.set()

    async def stuck(body: bytes) -> None:
        await anyio.sleep_forever()

    sent = await run(EventStreamResponse(agent(), max_queue=4, send_timeout=0.05), Recorder(stuck))
    assert closed.is_set()
    assert not sent.complete


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heartbeat": 0}, "heartbeat"),
        ({"heartbeat": float("inf")}, "heartbeat"),
        ({"max_queue": 0}, "max_queue"),
        ({"send_timeout": -1}, "send_timeout"),
    ],
)
async def test_bad_settings_are_refused_by_name(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventStreamResponse(agent_of(RUN), **kwargs)


class Tracked(dict[str, Any]):
    """An event that can be watched by weak reference (a plain dict cannot)."""


def content(i: int) -> Tracked:
    return Tracked(ev.text_message_content("m", f"chunk {i}"))


async def test_events_queued_for_a_blocked_client_are_held_as_bytes() -> None:
    alive: list[weakref.ref[Tracked]] = []
    queued = anyio.Event()
    unblock = anyio.Event()
    gone = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        yield RUN[0]
        for i in range(100):
            event = content(i)
            alive.append(weakref.ref(event))
            yield event
            del event  # the generator itself keeps nothing
        queued.set()
        await anyio.sleep_forever()

    async def stuck(body: bytes) -> None:
        await unblock.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(
            run,
            EventStreamResponse(agent(), max_queue=256),
            Recorder(stuck),
            disconnect_when(gone),
        )
        with anyio.fail_after(TIMEOUT):
            await queued.wait()
        gc.collect()
        # The send is blocked on the first event; the 100 after it are queued. All but the
        # last few (not yet packed) are bytes already, their dicts let go.
        still_alive = sum(ref() is not None for ref in alive)
        assert still_alive < 100 // 4, f"{still_alive} of 100 queued events still held as dicts"
        gone.set()


async def test_a_waiting_stream_holds_neither_the_sent_events_nor_their_bytes() -> None:
    alive: list[weakref.ref[Tracked]] = []
    sent_all = anyio.Event()
    gone = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        for i in range(40):
            event = content(i)
            alive.append(weakref.ref(event))
            yield event
            del event
        await anyio.sleep_forever()

    async def on_body(body: bytes) -> None:
        if b"".join(sent.bodies).count(b"\n\n") == 40:
            sent_all.set()

    sent = Recorder(on_body)
    async with anyio.create_task_group() as group:
        group.start_soon(run, EventStreamResponse(agent()), sent, disconnect_when(gone))
        with anyio.fail_after(TIMEOUT):
            await sent_all.wait()
            # The sender is now waiting for the agent's next event.
            await anyio.wait_all_tasks_blocked()
        bodies = sent.bodies
        sent.messages.clear()  # the recorder's own references
        gc.collect()
        # Only the last event is still referenced (the producer keeps it to tell whether an
        # agent that raises had reported its own RUN_ERROR).
        assert [ref for ref in alive if ref() is not None] == alive[-1:]
        # Nothing but `bodies` refers to a body that was sent: each has as many references as
        # a fresh copy held the same way.
        copies = [bytes(bytearray(body)) for body in bodies]
        assert [sys.getrefcount(b) for b in bodies] == [sys.getrefcount(c) for c in copies]
        gone.set()


async def test_an_agent_closed_after_an_unencodable_event_finishes_its_cleanup() -> None:
    cleaned_up = anyio.Event()

    async def agent() -> AsyncIterator[Event]:
        try:
            yield RUN[0]
            # Without a pause, so the producer encodes them itself (the bad one is the
            # sixteenth: the first group it packs), then closes the agent.
            for i in range(14):
                yield content(i)
            yield ev.custom("weird", {1, 2})
            yield RUN[-1]
        finally:
            # Cleanup that takes a few turns of the loop, as closing a client would.
            for _ in range(5):
                await anyio.sleep(0)
            cleaned_up.set()

    sent = await run(EventStreamResponse(agent()))
    received = frames(b"".join(sent.bodies))
    assert received[-1]["type"] == "RUN_ERROR"
    assert received[-1]["code"] == ENCODE_ERROR
    assert len(received) == 16
    assert sent.complete
    assert cleaned_up.is_set()


@pytest.mark.parametrize("max_queue", [1, 15, 16, 17, 21, 40])
async def test_the_queue_bound_holds_whatever_it_is(max_queue: int) -> None:
    # The agent never pauses, so every body is as full as the bound lets the channel get;
    # events are encoded in groups of 16, which must never carry it past the bound.
    run_events = [RUN[0], *(content(i) for i in range(100)), RUN[-1]]
    sent = await run(EventStreamResponse(agent_of(run_events), max_queue=max_queue))
    assert b"".join(sent.bodies) == encode_many(run_events)
    sizes = [len(frames(body)) for body in sent.bodies]
    assert max(sizes) == max_queue
