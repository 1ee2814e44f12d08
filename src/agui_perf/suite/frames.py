"""SSE frames out of a response body, and whether the official TypeScript client reads them.

Two readings of the same bytes, on purpose:

- `read_frames` follows the SSE standard (a line ends with CRLF, LF or CR; a blank line ends
  a frame), so a run's figures can be taken even from a server whose framing a client would
  reject, and says when each frame's last byte arrived.
- `check_framing` reads the body the way `@ag-ui/client` 1.0's `parseSSEStream` does: the
  decoded text is split into events on `"\\n\\n"` only, each event into lines on `"\\n"`, the
  `data:` lines (one space after the colon dropped) joined with `"\\n"` and handed to
  `JSON.parse`; the first failure ends the run in the client. A server that ends its lines
  with CRLF (sse-starlette's default separator) therefore never produces a `"\\n\\n"`: the
  client reads every frame up to the end of the stream as one event, the `data:` values
  joined, and `JSON.parse` fails with "Unexpected non-whitespace character after JSON".
  Even a stream whose JSON survives that (a single event) reaches the client only when the
  stream ends, so any CR line end is reported. Later releases of the client normalize CR and
  CRLF to LF before splitting; the check follows 1.0, the stricter reading.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CLIENT", "Frame", "FrameRead", "Framing", "check_framing", "read_frames"]

#: The client whose framing `check_framing` reproduces.
CLIENT: Final = "@ag-ui/client 1.0"
_LINE_END: Final = re.compile(rb"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame (up to its blank line) and when its last byte arrived."""

    received_ns: int
    #: Bytes of the frame, its terminating blank line included.
    size: int
    #: The `data:` lines joined with newlines, or None for a frame without data (a comment).
    data: str | None
    #: The `event:` field, if any.
    event: str | None
    #: The frame held only comment lines (`: ping`): a heartbeat.
    comment: bool


@dataclass(frozen=True, slots=True)
class FrameRead:
    """The frames of a body and what did not fit in one."""

    frames: list[Frame]
    #: Bytes after the last complete frame (a body cut off mid-frame): 0 for a clean end.
    trailing: int
    #: Which line ends the body uses: a subset of {"LF", "CRLF", "CR"}.
    line_ends: frozenset[str]


@dataclass(frozen=True, slots=True)
class Framing:
    """Whether `CLIENT` reads the stream, how many events it would deliver, and why not."""

    ok: bool
    #: Events the client would pass on before the first failure (all of them when `ok`).
    delivered: int
    #: None when `ok`; else what the client chokes on, its error and the cause.
    problem: str | None


def read_frames(body: Sequence[tuple[int, bytes]]) -> FrameRead:
    """Split a body that arrived in timed pieces into SSE frames (the standard's reading)."""
    raw = b"".join(data for _, data in body)
    read_ends = list(itertools.accumulate(len(data) for _, data in body))
    frames: list[Frame] = []
    line_ends: set[str] = set()
    lines: list[bytes] = []
    frame_start = 0
    pos = 0
    for match in _LINE_END.finditer(raw):
        # A CR that ends the body may be the first half of a CRLF not yet sent: a body cut
        # there is incomplete either way, so the difference does not matter.
        line_ends.add({b"\n": "LF", b"\r\n": "CRLF", b"\r": "CR"}[match.group()])
        line = raw[pos : match.start()]
        pos = match.end()
        if line:
            lines.append(line)
            continue
        if lines:
            read = min(bisect.bisect_left(read_ends, pos), len(body) - 1)
            frames.append(_frame(lines, body[read][0], pos - frame_start))
        lines = []
        frame_start = pos
    return FrameRead(frames, len(raw) - frame_start, frozenset(line_ends))


def _frame(lines: list[bytes], received_ns: int, size: int) -> Frame:
    data: list[str] = []
    event: str | None = None
    fields = 0
    for line in lines:
        if line.startswith(b":"):
            continue
        fields += 1
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value.decode("utf-8", errors="replace"))
        elif name == b"event":
            event = value.decode("utf-8", errors="replace")
    return Frame(received_ns, size, "\n".join(data) if data else None, event, fields == 0)


def check_framing(body: bytes) -> Framing:
    """Read `body` as `CLIENT` would; the first event it cannot parse is the problem."""
    text = body.decode("utf-8", errors="replace")
    *events, rest = text.split("\n\n")
    if rest:
        # At the end of the stream the client parses whatever is left in its buffer.
        events.append(rest)
    delivered = 0
    for number, event in enumerate(events, start=1):
        data = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if not data:
            continue
        joined = "\n".join(data)
        try:
            value = _json_parse(joined)
        except ValueError as exc:
            return Framing(False, delivered, _diagnose(number, joined, _js_error(exc), text))
        if not isinstance(value, dict):
            return Framing(
                False,
                delivered,
                f"{CLIENT} reads event {number} as JSON {type(value).__name__} "
                f"{joined[:60]!r}, not an object: its event schema rejects it",
            )
        delivered += 1
    if "\r" in text:
        return Framing(
            False,
            delivered,
            f"{CLIENT} delivers no event before the stream ends: it splits events on "
            f"'\\n\\n' only and the stream ends its lines with {_cr_kind(text)}"
            f"{_FIX}",
        )
    return Framing(True, delivered, None)


def _json_parse(text: str) -> Any:
    """`JSON.parse`: RFC 8259 JSON, surrounding whitespace allowed, no NaN or Infinity."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


_FIX: Final = " — end lines with '\\n' (sse-starlette: EventSourceResponse(..., sep='\\n'))"


def _js_error(exc: ValueError) -> str:
    """The message `JSON.parse` (V8) gives where Python's differs in wording."""
    if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data":
        return f"Unexpected non-whitespace character after JSON at position {exc.pos}"
    return str(exc)


def _cr_kind(text: str) -> str:
    return "CRLF ('\\r\\n')" if "\r\n" in text else "CR ('\\r')"


def _diagnose(number: int, joined: str, error: str, text: str) -> str:
    head = f"{CLIENT} fails on event {number}: JSON.parse({joined[:60]!r}) — {error}"
    if "\r" in text:
        return (
            f"{head}; cause: the stream ends its lines with {_cr_kind(text)} and {CLIENT} "
            "splits events on '\\n\\n' only, so it reads the frames as one event with their "
            f"data joined{_FIX}"
        )
    return f"{head}; the frame's data is not one JSON value"
