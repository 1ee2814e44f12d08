"""RunFigures from exchanges built by hand: timings, the verifier, the framing, the heartbeat."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from agui_perf.stream.encoder import encode
from agui_perf.stream.events import (
    run_finished,
    run_started,
    text_message_content,
    text_message_end,
    text_message_start,
)
from agui_perf.suite.client import Exchange, Request
from agui_perf.suite.figures import RunFigures, figures, gap_percentiles, scalars

MS = 1_000_000
REQUEST = Request("127.0.0.1", 9, "/agent", b"{}")
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")]
RUN = [
    run_started("t", "r"),
    text_message_start("m"),
    text_message_content("m", "a"),
    text_message_content("m", "b"),
    text_message_end("m"),
    run_finished("t", "r"),
]


def _exchange(pieces: list[tuple[int, bytes]], *, status: int = 200) -> Exchange:
    """Request sent at 0, head at 1 ms, the body pieces at the given times (ms)."""
    return Exchange(
        REQUEST,
        sent_ns=0,
        status=status,
        headers=HEADERS,
        head_ns=1 * MS,
        body=[(t * MS, data) for t, data in pieces],
        ended_ns=pieces[-1][0] * MS if pieces else 1 * MS,
    )


def test_timings_of_a_clean_run() -> None:
    ex = _exchange(
        [
            (2, encode(RUN[0]) + encode(RUN[1])),
            (5, encode(RUN[2])),
            (9, b"".join(map(encode, RUN[3:]))),
        ]
    )
    run = figures(ex, heartbeat_s=0.1)
    assert run.ok, run.problems()
    assert run.events == 6
    assert run.ttfe_s == pytest.approx(0.002)
    assert run.ttfc_s == pytest.approx(0.005)  # the first TEXT_MESSAGE_CONTENT
    assert run.duration_s == pytest.approx(0.009)
    # Gaps between events: 0 (same read), 3 ms, 4 ms, 0, 0.
    assert run.gap_max_s == pytest.approx(0.004)
    assert run.gap_p50_s == pytest.approx(0.0)
    assert run.events_per_s == pytest.approx(6 / 0.009)
    assert run.bytes == sum(len(encode(e)) for e in RUN)
    assert run.silence_max_s == pytest.approx(0.004)
    assert run.heartbeat_kept is True
    assert run.line_ends == ("LF",)


def test_an_out_of_order_stream_is_flagged_by_the_verifier() -> None:
    # Content for a message that was never started.
    events = [RUN[0], RUN[2], RUN[5]]
    run = figures(_exchange([(2, b"".join(map(encode, events)))]))
    assert not run.verified
    assert not run.ok
    assert run.verifier_error is not None
    assert "message-not-open" in run.verifier_error
    assert run.framing_ok  # the framing itself is fine
    assert run.error is None


def test_a_stream_that_stops_mid_run_is_an_error_and_unverified() -> None:
    run = figures(_exchange([(2, encode(RUN[0]) + encode(RUN[1]))]))
    assert run.error is not None
    assert "without RUN_FINISHED" in run.error
    assert run.verifier_error is not None
    assert "run-not-finished" in run.verifier_error


def test_a_silence_beyond_the_promised_heartbeat_is_reported() -> None:
    ex = _exchange([(2, encode(RUN[0]) + encode(RUN[1])), (500, b"".join(map(encode, RUN[2:])))])
    run = figures(ex, heartbeat_s=0.1)
    assert run.silence_max_s == pytest.approx(0.498)
    assert run.heartbeat_kept is False
    assert not run.ok
    assert any("promised heartbeat of 0.1s" in p for p in run.problems())
    assert figures(ex).heartbeat_kept is None  # no promise, no verdict


def test_heartbeats_are_counted_and_not_events() -> None:
    body = [
        (2, encode(RUN[0]) + encode(RUN[1])),
        (3, b": ping\n\n"),
        (4, b"".join(map(encode, RUN[2:]))),
    ]
    run = figures(_exchange(body))
    assert run.heartbeats == 1
    assert run.events == 6
    assert run.silence_max_s == pytest.approx(0.001)


def test_http_errors_and_wrong_content_types_are_run_errors() -> None:
    refused = figures(_exchange([(2, b'{"error":"bad"}')], status=422))
    assert refused.error is not None
    assert refused.error.startswith("HTTP 422")
    plain = _exchange([(2, b"".join(map(encode, RUN)))])
    plain.headers = [(b"content-type", b"application/json")]
    error = figures(plain).error
    assert error is not None
    assert "not text/event-stream" in error


def test_extra_info_is_numbers_and_strings_with_a_prefix() -> None:
    run = figures(_exchange([(2, b"".join(map(encode, RUN)))]))
    info = run.extra_info()
    assert all(key.startswith("agui_") for key in info)
    assert info["agui_events"] == 6
    # What the gate keeps of a benchmark's extra_info: no booleans, None or lists.
    assert info["agui_verified"] == 1
    assert info["agui_framing_ok"] == 1
    assert info["agui_line_ends"] == "LF"
    assert all(type(value) in (int, float, str) for value in info.values()), info
    assert json.loads(json.dumps(info)) == info
    # Figures that were not measured are left out, not published as null.
    unmeasured = {name for name, value in asdict(run).items() if value is None}
    assert "error" in unmeasured
    assert "heartbeat_s" in unmeasured
    # The URL is not a figure (a started target's port differs in every process).
    assert set(info) == {
        f"agui_{name}"
        for name in RunFigures.__dataclass_fields__
        if name not in unmeasured and name != "url"
    }


def test_scalars_turn_verdicts_into_numbers() -> None:
    assert scalars({"a": True, "b": False, "c": None, "d": ("CRLF", "LF"), "e": 1.5}) == {
        "agui_a": 1,
        "agui_b": 0,
        "agui_d": "CRLF,LF",
        "agui_e": 1.5,
    }


def test_gap_percentiles_interpolate() -> None:
    assert gap_percentiles([]) == (None, None, None)
    assert gap_percentiles([0.5]) == (0.5, 0.5, 0.5)
    p50, p95, p99 = gap_percentiles([float(i) for i in range(101)])
    assert (p50, p95, p99) == (50.0, 95.0, 99.0)
