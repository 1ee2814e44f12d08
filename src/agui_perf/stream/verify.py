"""The AG-UI ordering rules, checked one event at a time.

These are the rules the reference TypeScript client's verifier enforces (a stream that
breaks one is rejected by the client mid-run), plus the empty-delta rule older clients
apply. ``Verifier`` is cheap enough to run on a live stream (``strict`` mode).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from agui_perf.stream.events import EVENT_TYPES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from agui_perf.stream.types import Event

__all__ = ["RULES", "ProtocolError", "Verifier", "verify"]

#: Every rule id ``ProtocolError.rule`` can carry, with what it means.
RULES: Final[Mapping[str, str]] = {
    "unknown-type": "every event has a `type` that is an AG-UI 1.0 event type",
    "missing-field": "the id a rule tracks (messageId, toolCallId, stepName) is a string",
    "run-not-started": "the first event is RUN_STARTED (or RUN_ERROR)",
    "run-already-started": "no RUN_STARTED while a run is active",
    "event-after-run-finished": "after RUN_FINISHED only RUN_STARTED or RUN_ERROR",
    "event-after-run-error": "after RUN_ERROR only RUN_STARTED",
    "message-already-open": "TEXT_MESSAGE_START names a message that is not open",
    "message-not-open": "TEXT_MESSAGE_CONTENT/END name an open message",
    "tool-call-already-open": "TOOL_CALL_START names a tool call that is not open",
    "tool-call-not-open": "TOOL_CALL_ARGS/END name an open tool call",
    "step-already-started": "STEP_STARTED names a step that is not running",
    "step-not-started": "STEP_FINISHED names a running step",
    "run-finished-while-open": "RUN_FINISHED only when no step, message or tool call is open",
    "empty-delta": "no empty text/args delta and no empty STATE_DELTA (older clients reject)",
    "no-events": "a stream carries at least one event",
    "run-not-finished": "a stream ends after RUN_FINISHED or RUN_ERROR, not mid-run",
}

_KNOWN: Final = frozenset(EVENT_TYPES)
_IDLE: Final = 0
_RUNNING: Final = 1
_FINISHED: Final = 2
_ERRORED: Final = 3


class ProtocolError(ValueError):
    """An event broke an ordering rule: ``rule`` (an id from ``RULES``) at ``index``."""

    def __init__(self, rule: str, index: int, detail: str) -> None:
        self.rule = rule
        self.index = index
        self.detail = detail
        super().__init__(f"event {index}: {detail} (rule {rule}: {RULES[rule]})")


class Verifier:
    """Feed events in stream order; the first one that breaks a rule raises ProtocolError.

    Message and tool-call ids are tracked separately, so different ids may interleave.
    A new RUN_STARTED after RUN_FINISHED or RUN_ERROR starts from a clean slate.
    """

    __slots__ = ("_count", "_messages", "_state", "_steps", "_tool_calls")

    def __init__(self) -> None:
        self._count = 0
        self._state = _IDLE
        self._messages: set[str] = set()
        self._tool_calls: set[str] = set()
        self._steps: set[str] = set()

    @property
    def events_seen(self) -> int:
        return self._count

    def feed(self, event: Event) -> None:
        index = self._count
        self._count = index + 1
        kind = event.get("type")
        if kind not in _KNOWN:
            raise ProtocolError("unknown-type", index, f"type {kind!r:.60} is not an AG-UI event")
        if self._state != _RUNNING:
            self._between_runs(kind, index)
            return
        if kind == "TEXT_MESSAGE_CONTENT":
            if _id(event, "messageId", index) not in self._messages:
                raise _not_open("message-not-open", "message", event["messageId"], kind, index)
            if not event.get("delta"):
                raise ProtocolError("empty-delta", index, f"{kind} with an empty delta")
        elif kind == "TOOL_CALL_ARGS":
            if _id(event, "toolCallId", index) not in self._tool_calls:
                raise _not_open("tool-call-not-open", "tool call", event["toolCallId"], kind, index)
            if not event.get("delta"):
                raise ProtocolError("empty-delta", index, f"{kind} with an empty delta")
        elif kind == "TEXT_MESSAGE_START":
            message_id = _id(event, "messageId", index)
            if message_id in self._messages:
                raise ProtocolError(
                    "message-already-open", index, f"message {message_id!r:.60} is already open"
                )
            self._messages.add(message_id)
        elif kind == "TEXT_MESSAGE_END":
            message_id = _id(event, "messageId", index)
            if message_id not in self._messages:
                raise _not_open("message-not-open", "message", message_id, kind, index)
            self._messages.discard(message_id)
        elif kind == "TOOL_CALL_START":
            call_id = _id(event, "toolCallId", index)
            if call_id in self._tool_calls:
                raise ProtocolError(
                    "tool-call-already-open", index, f"tool call {call_id!r:.60} is already open"
                )
            self._tool_calls.add(call_id)
        elif kind == "TOOL_CALL_END":
            call_id = _id(event, "toolCallId", index)
            if call_id not in self._tool_calls:
                raise _not_open("tool-call-not-open", "tool call", call_id, kind, index)
            self._tool_calls.discard(call_id)
        elif kind == "STEP_STARTED":
            step = _id(event, "stepName", index)
            if step in self._steps:
                raise ProtocolError(
                    "step-already-started", index, f"step {step!r:.60} is already running"
                )
            self._steps.add(step)
        elif kind == "STEP_FINISHED":
            step = _id(event, "stepName", index)
            if step not in self._steps:
                raise ProtocolError(
                    "step-not-started", index, f"step {step!r:.60} finished but was not running"
                )
            self._steps.discard(step)
        elif kind == "STATE_DELTA":
            if not event.get("delta"):
                raise ProtocolError("empty-delta", index, "STATE_DELTA with an empty patch")
        elif kind == "REASONING_MESSAGE_CONTENT":
            if not event.get("delta"):
                raise ProtocolError("empty-delta", index, f"{kind} with an empty delta")
        elif kind == "RUN_STARTED":
            raise ProtocolError("run-already-started", index, "RUN_STARTED while a run is active")
        elif kind == "RUN_FINISHED":
            if self._steps or self._messages or self._tool_calls:
                raise ProtocolError(
                    "run-finished-while-open", index, f"RUN_FINISHED with {self._open()} open"
                )
            self._state = _FINISHED
        elif kind == "RUN_ERROR":
            self._state = _ERRORED

    def finish(self) -> None:
        """The stream has ended: it must have carried events and not stopped mid-run."""
        if self._count == 0:
            raise ProtocolError("no-events", 0, "the stream ended without any event")
        if self._state == _RUNNING:
            raise ProtocolError(
                "run-not-finished",
                self._count,
                f"the stream ended mid-run (no RUN_FINISHED or RUN_ERROR; {self._open()} open)",
            )

    def _between_runs(self, kind: str, index: int) -> None:
        state = self._state
        if kind == "RUN_STARTED":
            self._state = _RUNNING
            self._messages.clear()
            self._tool_calls.clear()
            self._steps.clear()
        elif kind == "RUN_ERROR" and state != _ERRORED:
            self._state = _ERRORED
        elif state == _IDLE:
            raise ProtocolError("run-not-started", index, f"{kind} before RUN_STARTED")
        elif state == _FINISHED:
            raise ProtocolError("event-after-run-finished", index, f"{kind} after RUN_FINISHED")
        else:
            raise ProtocolError("event-after-run-error", index, f"{kind} after RUN_ERROR")

    def _open(self) -> str:
        parts = [
            f"{label} {', '.join(repr(i) for i in sorted(ids)[:3])}"
            + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            for label, ids in (
                ("steps", self._steps),
                ("messages", self._messages),
                ("tool calls", self._tool_calls),
            )
            if ids
        ]
        return "; ".join(parts) or "nothing"


def _id(event: Event, key: str, index: int) -> str:
    value = event.get(key)
    if type(value) is not str:
        raise ProtocolError(
            "missing-field", index, f"{event['type']} needs a string {key}, got {value!r:.60}"
        )
    return value


def _not_open(rule: str, label: str, ident: str, kind: str, index: int) -> ProtocolError:
    return ProtocolError(rule, index, f"{kind} for {label} {ident!r:.60}, which is not open")


def verify(events: Iterable[Event]) -> int:
    """Check a whole stream (feed every event, then finish); returns the number of events."""
    verifier = Verifier()
    for event in events:
        verifier.feed(event)
    verifier.finish()
    return verifier.events_seen
