"""The load test's client logic, pure: SSE frames from bytes, a run's outcome from its events.

It lives apart from the locustfile so that `nox -s tests` can test it without Locust (which is
only in the `load` dependency group); the locustfile does the I/O and reports to Locust.
Failure reasons are short and stable (no ids, no counts): Locust groups failures by their text,
so each distinct reason becomes one row of `*_failures.csv`.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import orjson

__all__ = [
    "FrameParser",
    "RunCheck",
    "RunFailure",
    "check_response",
    "frame_payload",
    "run_body",
]

_DATA: Final = b"data:"
_REASON_CHARS: Final = 200


class RunFailure(Exception):
    """A run that did not end as the protocol promises; `str(err)` is the stable reason."""


def frame_payload(frame: bytes) -> bytes | None:
    """The data of one SSE frame (without its `\\n\\n`), or None for a frame without data.

    Only `data:` lines count: `: ping` is a comment (the core's heartbeat) and `event:`/`id:`
    lines carry nothing AG-UI uses. Several data lines join with `\\n` (SSE spec, "dispatch
    the event"), and one space after the colon belongs to the syntax, not to the value.
    """
    if frame.startswith(b"data: ") and b"\n" not in frame:
        return frame[6:]  # the AG-UI encoder's one shape: a single `data: <json>` line
    lines = [
        line[6:] if line.startswith(b"data: ") else line[5:]
        for line in frame.split(b"\n")
        if line.startswith(_DATA)
    ]
    return b"\n".join(lines) if lines else None


class FrameParser:
    """Splits an SSE byte stream into the payloads of its frames, whatever the chunking.

    Frames end at `\\n\\n` only: the AG-UI clients split there and CRLF framing breaks them,
    so a server that sent `\\r\\n\\r\\n` fails here as it would in a browser.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Payloads of the frames that `chunk` completes, in stream order."""
        buffer = self._buffer + chunk if self._buffer else chunk
        frames = buffer.split(b"\n\n")
        self._buffer = frames.pop()
        payloads: list[bytes] = []
        for frame in frames:
            payload = frame_payload(frame)
            if payload is not None:
                payloads.append(payload)
        return payloads

    @property
    def pending(self) -> int:
        """Bytes of a frame that has begun but not ended (non-zero at the end: truncated)."""
        return len(self._buffer)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def check_response(status: int, content_type: str | None, error: object = None) -> None:
    """Raise RunFailure unless the response is the start of an event stream."""
    if status == 0:
        # Locust's FastHttpSession reports a connection that never got a response as status 0.
        raise RunFailure(_clip(f"no response: {type(error).__name__}: {error}"))
    if status != 200:
        raise RunFailure(f"HTTP {status}")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "text/event-stream":
        raise RunFailure(_clip(f"content type {content_type!r} is not text/event-stream"))


class RunCheck:
    """Follows the events of one run and measures each one's latency.

    A run succeeds only if it starts with RUN_STARTED, ends with RUN_FINISHED and every event
    carries the protocol `timestamp` (int ms since the epoch) the workflow was asked to stamp:
    an event without one could not be measured, and a silent gap in the latency numbers
    would read as a good result.
    """

    __slots__ = ("events", "finished", "last_type")

    def __init__(self) -> None:
        self.events = 0
        self.finished = False
        self.last_type: str | None = None

    def feed(self, payload: bytes, received_ms: float) -> float:
        """Account for one event received at `received_ms` (epoch ms); return its latency (ms).

        Client and server share this machine's clock, so the difference is the time from the
        workflow yielding the event to the client parsing it. The server truncates to whole
        milliseconds, so the latency reads up to 1 ms high and never negative unless the clock
        steps; a step backwards is clamped to 0 rather than recorded as a negative time.
        """
        try:
            event: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise RunFailure("event frame is not JSON") from None
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            raise RunFailure("event is not a JSON object with a string 'type'")
        if self.finished:
            raise RunFailure(f"{kind} after RUN_FINISHED")
        if self.events == 0 and kind not in ("RUN_STARTED", "RUN_ERROR"):
            raise RunFailure(f"first event is {kind}, not RUN_STARTED")
        self.events += 1
        self.last_type = kind
        if kind == "RUN_ERROR":
            code = event.get("code")
            prefix = f"RUN_ERROR {code}" if code is not None else "RUN_ERROR"
            raise RunFailure(_clip(f"{prefix}: {event.get('message')}"))
        stamp = event.get("timestamp")
        if not isinstance(stamp, int) or isinstance(stamp, bool):
            raise RunFailure(f"{kind} without an integer 'timestamp' (params.stamp='timestamp')")
        if kind == "RUN_FINISHED":
            self.finished = True
        return max(0.0, received_ms - stamp)

    def finish(self, pending: int) -> None:
        """The stream has ended; `pending` is FrameParser.pending. Raise unless it ended well."""
        if pending:
            raise RunFailure("stream ended inside a frame")
        if self.events == 0:
            raise RunFailure("stream ended before the first event")
        if not self.finished:
            raise RunFailure(f"stream ended without RUN_FINISHED (last event {self.last_type})")


def run_body(workflow: str, params: dict[str, object]) -> str:
    """A minimal RunAgentInput for `POST /agent`, with fresh ids, asking for `timestamp` stamps."""
    return orjson.dumps(
        {
            "threadId": f"load-{uuid.uuid4().hex}",
            "runId": f"run-{uuid.uuid4().hex}",
            "messages": [],
            "state": {},
            "tools": [],
            "context": [],
            "forwardedProps": {"workflow": workflow, "params": {**params, "stamp": "timestamp"}},
        }
    ).decode()
