"""One run's figures: what a client of the stream saw, as numbers and two verdicts.

Times are seconds from the moment the request's last byte was sent (`Exchange.sent_ns`), on
CLOCK_MONOTONIC. An event's time is when the read that completed its frame returned, so
events that came in one read share a time (and the gap between them is 0: the client got
them together). The silences are the gaps between any two reads of the body, heartbeats
included, from the response head to the end: what a proxy's idle timeout would see.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from agui_perf.stream.verify import ProtocolError, Verifier
from agui_perf.suite.frames import check_framing, read_frames

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agui_perf.suite.client import Exchange
    from agui_perf.suite.frames import FrameRead

__all__ = [
    "CONTENT_TYPES",
    "EXTRA_INFO_PREFIX",
    "HEARTBEAT_SLACK",
    "Decoded",
    "RunFigures",
    "decode",
    "figures",
    "gap_percentiles",
    "scalars",
]

#: Events that carry content a user sees grow: time to first content is to the first of them.
CONTENT_TYPES: Final = frozenset(
    {
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CHUNK",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_CHUNK",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_CHUNK",
    }
)
#: A server that promises a heartbeat every H seconds sends it H seconds after its last
#: write, and scheduling on a busy host adds to that: a silence up to H x 1.5 keeps the promise.
HEARTBEAT_SLACK: Final = 1.5
#: Keys of `RunFigures.extra_info` start with this, so they never clash with a benchmark's own.
EXTRA_INFO_PREFIX: Final = "agui_"


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What one run of a target looked like to a client. None: there was nothing to measure."""

    url: str
    path: str
    #: HTTP status (0 if no response head arrived).
    status: int
    #: Why the run is not a clean run (transport, HTTP status, undecodable frame, no
    #: RUN_FINISHED), or None. Ordering and framing are judged apart, below.
    error: str | None
    #: Time to first event: the first frame that carried data.
    ttfe_s: float | None
    #: Time to first content event (`CONTENT_TYPES`).
    ttfc_s: float | None
    #: Gaps between consecutive events' arrival times.
    gap_p50_s: float | None
    gap_p95_s: float | None
    gap_p99_s: float | None
    gap_max_s: float | None
    #: Request sent to response end (or to the last byte, for a run that did not end).
    duration_s: float
    events: int
    #: Body bytes (SSE frames, heartbeats included; no HTTP framing).
    bytes: int
    #: `events / duration_s`: one stream's rate, start-up included.
    events_per_s: float | None
    #: Frames with only comments (`: ping`).
    heartbeats: int
    #: The longest time nothing arrived, from the response head to its end.
    silence_max_s: float | None
    #: The heartbeat the server promises (`--agui-heartbeat`), or None if it promises none.
    heartbeat_s: float | None
    #: silence_max_s <= heartbeat_s x HEARTBEAT_SLACK; None without a promise.
    heartbeat_kept: bool | None
    #: The ordering rules (`agui_perf.stream.verify`) hold for the whole stream.
    verified: bool
    verifier_error: str | None
    #: `@ag-ui/client` 1.0 reads the stream (`frames.check_framing`).
    framing_ok: bool
    framing_problem: str | None
    #: The line ends the body used ("LF", "CRLF", "CR").
    line_ends: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """A clean run that keeps the ordering rules, the framing and any promised heartbeat."""
        return (
            self.error is None
            and self.verified
            and self.framing_ok
            and self.heartbeat_kept is not False
        )

    def problems(self) -> list[str]:
        """Every reason `ok` is False, one line each."""
        found = [
            text
            for text in (self.error, self.verifier_error, self.framing_problem)
            if text is not None
        ]
        if self.heartbeat_kept is False:
            found.append(
                f"silent for {self.silence_max_s:.3f}s, beyond the promised heartbeat of "
                f"{self.heartbeat_s:g}s (x{HEARTBEAT_SLACK:g} allowed)"
            )
        return found

    def extra_info(self) -> dict[str, int | float | str]:
        """The figures with `EXTRA_INFO_PREFIX`, for `benchmark.extra_info` (see `scalars`).

        The URL is left out: a started target's port changes from process to process, and the
        gate would keep every process's port in the baseline as one joined string.
        """
        values = asdict(self)
        del values["url"]
        return scalars(values)

    def summary(self) -> str:
        """One line for a person (pytest -s, a failure message)."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1e3:.2f}ms"

        rate = "-" if self.events_per_s is None else f"{self.events_per_s:,.0f}/s"
        return (
            f"{self.url}{self.path}: {self.events} events, {self.bytes:,} B in "
            f"{ms(self.duration_s)} ({rate}); ttfe {ms(self.ttfe_s)}, ttfc {ms(self.ttfc_s)}; "
            f"gaps p50 {ms(self.gap_p50_s)} p95 {ms(self.gap_p95_s)} p99 {ms(self.gap_p99_s)} "
            f"max {ms(self.gap_max_s)}; silence max {ms(self.silence_max_s)}, "
            f"{self.heartbeats} heartbeats; "
            f"{'verified' if self.verified else 'NOT verified'}, "
            f"framing {'ok' if self.framing_ok else 'NOT ok'}"
        )


@dataclass(frozen=True, slots=True)
class Decoded:
    """One exchange's frames, and the JSON of its data frames with each one's arrival time."""

    read: FrameRead
    #: Decoded JSON: usually event objects, but a broken server can send any value.
    events: list[Any]
    #: CLOCK_MONOTONIC ns of the read that completed each of `events`' frames.
    times: list[int]
    #: The first data frame that is not JSON, or None.
    problem: str | None


def decode(exchange: Exchange) -> Decoded:
    """The frames and events of one exchange, read once (`figures` and the load test's
    per-event latencies both work from this)."""
    read = read_frames(exchange.body)
    events: list[Any] = []
    times: list[int] = []
    problem: str | None = None
    for number, frame in enumerate(read.frames, start=1):
        if frame.data is None:
            continue
        try:
            event = json.loads(frame.data)
        except ValueError:
            problem = problem or f"frame {number} is not JSON: {frame.data[:80]!r}"
            continue
        events.append(event)
        times.append(frame.received_ns)
    return Decoded(read, events, times, problem)


def figures(
    exchange: Exchange, *, heartbeat_s: float | None = None, decoded: Decoded | None = None
) -> RunFigures:
    """Read one exchange: frames, events, timings, the verifier and the framing check.

    `decoded`: the exchange already read by `decode`, so that it is not read twice.
    """
    start = exchange.sent_ns
    decoded = decoded or decode(exchange)
    read, events, times, problem = decoded.read, decoded.events, decoded.times, decoded.problem
    ttfc = next((t for e, t in zip(events, times, strict=True) if _type(e) in CONTENT_TYPES), None)
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(times)]
    p50, p95, p99 = gap_percentiles(gaps)
    end = exchange.ended_ns or (exchange.body[-1][0] if exchange.body else start)
    duration = max(end - start, 0) / 1e9
    silence = _longest_silence(exchange)
    verified, verifier_error = _verify(events)
    framing = check_framing(b"".join(data for _, data in exchange.body))
    return RunFigures(
        url=_url(exchange),
        path=exchange.request.path,
        status=exchange.status,
        error=_run_error(exchange, events, problem, read.trailing),
        ttfe_s=(times[0] - start) / 1e9 if times else None,
        ttfc_s=None if ttfc is None else (ttfc - start) / 1e9,
        gap_p50_s=p50,
        gap_p95_s=p95,
        gap_p99_s=p99,
        gap_max_s=max(gaps) if gaps else None,
        duration_s=duration,
        events=len(events),
        bytes=exchange.body_bytes,
        events_per_s=len(events) / duration if duration > 0 and events else None,
        heartbeats=sum(frame.comment for frame in read.frames),
        silence_max_s=silence,
        heartbeat_s=heartbeat_s,
        heartbeat_kept=(
            None
            if heartbeat_s is None or silence is None
            else silence <= heartbeat_s * HEARTBEAT_SLACK
        ),
        verified=verified,
        verifier_error=verifier_error,
        framing_ok=framing.ok,
        framing_problem=framing.problem,
        line_ends=tuple(sorted(read.line_ends)),
    )


def scalars(values: Mapping[str, object]) -> dict[str, int | float | str]:
    """`values` as numbers and strings only, keys prefixed with `EXTRA_INFO_PREFIX`.

    The gate keeps a benchmark's `extra_info` only if every value is a number or a string (a
    baseline is compared key by key), so the figures are published in that form: a verdict
    such as `verified` is 1 or 0, a figure that was not measured (None) is left out, and the
    line ends are one comma-separated string.
    """
    out: dict[str, int | float | str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        elif not isinstance(value, int | float | str):
            value = str(value)
        out[f"{EXTRA_INFO_PREFIX}{key}"] = value
    return out


def gap_percentiles(gaps: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and p99, interpolating between the nearest two (numpy's default)."""
    if not gaps:
        return None, None, None
    if len(gaps) == 1:
        return gaps[0], gaps[0], gaps[0]
    cuts = statistics.quantiles(gaps, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _type(event: object) -> object:
    return event.get("type") if isinstance(event, dict) else None


def _verify(events: list[Any]) -> tuple[bool, str | None]:
    verifier = Verifier()
    try:
        for event in events:
            if not isinstance(event, dict):
                return False, f"event {verifier.events_seen}: not a JSON object"
            verifier.feed(event)
        verifier.finish()
    except ProtocolError as exc:
        return False, str(exc)
    return True, None


def _longest_silence(exchange: Exchange) -> float | None:
    if exchange.head_ns is None:
        return None
    marks = [exchange.head_ns, *(t for t, _ in exchange.body)]
    if exchange.ended_ns is not None:
        marks.append(exchange.ended_ns)
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    return max(gaps) / 1e9 if gaps else 0.0


def _run_error(
    exchange: Exchange, events: list[Any], problem: str | None, trailing: int
) -> str | None:
    if exchange.error is not None:
        return exchange.error
    if exchange.status != 200:
        body = b"".join(data for _, data in exchange.body)[:200]
        return f"HTTP {exchange.status}: {body.decode(errors='replace')}"
    kind = exchange.header(b"content-type") or b""
    if not kind.startswith(b"text/event-stream"):
        return f"content-type is {kind.decode(errors='replace')!r}, not text/event-stream"
    if problem is not None:
        return problem
    if trailing:
        return f"the body ends with {trailing} bytes that do not finish a frame"
    if not events or _type(events[-1]) not in ("RUN_FINISHED", "RUN_ERROR"):
        last = _type(events[-1]) if events else "nothing"
        return f"the stream ended after {last} without RUN_FINISHED or RUN_ERROR"
    if _type(events[-1]) == "RUN_ERROR":
        return f"RUN_ERROR: {str(events[-1].get('message'))[:200]!r}"
    return None


def _url(exchange: Exchange) -> str:
    return f"http://{exchange.request.host}:{exchange.request.port}"
