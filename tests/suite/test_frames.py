"""SSE frames by the standard's reading, and the framing check that reads like @ag-ui/client 1.0."""

from __future__ import annotations

import json

import pytest

from agui_perf.stream.encoder import encode
from agui_perf.stream.events import run_finished, run_started, text_message_content
from agui_perf.suite.frames import check_framing, read_frames

EVENTS = [
    run_started("t", "r"),
    text_message_content("m", "hi"),
    run_finished("t", "r"),
]


def _lf_body() -> bytes:
    return b"".join(encode(event) for event in EVENTS)


def _crlf_body() -> bytes:
    """What sse-starlette sends by default: every line ended with CRLF."""
    return b"".join(
        b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\r\n\r\n"
        for event in EVENTS
    )


def test_frames_keep_the_time_of_the_read_that_completed_them() -> None:
    body = _lf_body() + b": ping\n\n"
    cut = body.index(b"\n\n") + 1  # the first frame's blank line arrives in the next read
    read = read_frames([(10, body[:cut]), (20, body[cut:])])
    assert [frame.received_ns for frame in read.frames] == [20, 20, 20, 20]
    assert [json.loads(f.data) for f in read.frames if f.data] == EVENTS
    assert [frame.comment for frame in read.frames] == [False, False, False, True]
    assert sum(frame.size for frame in read.frames) == len(body)
    assert read.trailing == 0
    assert read.line_ends == {"LF"}


def test_the_standard_reading_accepts_crlf_and_counts_a_cut_frame() -> None:
    body = _crlf_body() + b"data: {"
    read = read_frames([(5, body)])
    assert [json.loads(f.data) for f in read.frames if f.data] == EVENTS
    assert read.trailing == len(b"data: {")
    assert read.line_ends == {"CRLF"}


def test_event_field_and_multiline_data() -> None:
    read = read_frames([(1, b'event: x\ndata: {"a":\ndata:1}\n\n')])
    (frame,) = read.frames
    assert frame.event == "x"
    assert frame.data == '{"a":\n1}'


def test_lf_framing_is_read_by_the_client() -> None:
    framing = check_framing(_lf_body() + b": ping\n\n")
    assert framing.ok
    assert framing.delivered == 3
    assert framing.problem is None


def test_crlf_framing_fails_on_the_first_event_and_says_why() -> None:
    framing = check_framing(_crlf_body())
    assert not framing.ok
    assert framing.delivered == 0
    assert framing.problem is not None
    assert "fails on event 1" in framing.problem
    assert "Unexpected non-whitespace character after JSON" in framing.problem
    assert "CRLF" in framing.problem
    assert "sep='\\n'" in framing.problem


def test_a_single_crlf_event_parses_but_only_at_the_end_of_the_stream() -> None:
    framing = check_framing(b'data: {"type":"RUN_STARTED"}\r\n\r\n')
    assert not framing.ok
    assert framing.delivered == 1
    assert framing.problem is not None
    assert "no event before the stream ends" in framing.problem
    assert "CRLF" in framing.problem


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"data: {nope}\n\n", "not one JSON value"),
        (b"data: NaN\n\n", "not one JSON value"),
        (b"data: [1, 2]\n\n", "not an object"),
    ],
)
def test_data_the_client_cannot_use(body: bytes, words: str) -> None:
    framing = check_framing(body)
    assert not framing.ok
    assert framing.problem is not None
    assert words in framing.problem


def test_a_last_frame_without_its_blank_line_is_still_parsed_at_the_end() -> None:
    # The client parses what is left in its buffer when the stream completes.
    framing = check_framing(_lf_body()[:-1])
    assert framing.ok
    assert framing.delivered == 3
