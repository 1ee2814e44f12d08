"""A lean AG-UI client for the benchmarks: raw HTTP/1.1 over asyncio, SSE read afterwards.

The client must not be what a benchmark measures, least of all with a hundred streams on one
event loop. So `post` is a bare `asyncio.Protocol` whose `data_received` only appends
`(time.monotonic_ns(), bytes)`: the receive time is taken in the loop iteration that read the
socket, and no HTTP, SSE or JSON parsing runs while any stream is still open. `read_run` does
all of that after the run, outside the timed code.

The request says `Connection: close`, so the end of the response is the server closing the
connection; a stream that never ends is cut by the timeout. Frames are split on `\\n\\n` and
only `data:` lines are read (as the official AG-UI clients do): a `: ping` heartbeat is not
an event.

The receive time of an event is the time of the read that completed its frame. With the
workflows' `stamp="monotonic"`, `metadata.monotonicNs` is the server's CLOCK_MONOTONIC when the
agent yielded the event; CLOCK_MONOTONIC is one clock for every process on a Linux machine, so
the difference is the event's latency through the server, the socket and this client.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import statistics
from dataclasses import dataclass, field
from time import monotonic_ns
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson
import pytest

from tests.benchmarks._server_cpu import time_server_rounds

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping, Sequence

    from pytest_benchmark.fixture import BenchmarkFixture

    from agui_perf.stream.types import Event
    from tests.benchmarks._server_cpu import ServerCpu

__all__ = [
    "LATENCY_KEYS",
    "Capture",
    "Frame",
    "Run",
    "agent_request",
    "latency_summary",
    "post",
    "read_frames",
    "read_run",
    "timed_rounds",
    "timed_runs",
]

#: The extra_info keys `latency_summary` returns.
LATENCY_KEYS: Final = (
    "latency_mean_ms",
    "latency_median_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_stddev_ms",
)

_T = TypeVar("_T")


@dataclass(slots=True)
class Capture:
    """One HTTP exchange as it arrived: every socket read with its CLOCK_MONOTONIC time (ns)."""

    sent_ns: int
    reads: list[tuple[int, bytes]] = field(default_factory=list)
    #: Why the exchange did not end normally (refused, reset, timed out), or None.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame that carried data: its payload and when its last byte was read."""

    received_ns: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Run:
    """One AG-UI run as the client saw it. `error` is None only for a clean, finished run."""

    sent_ns: int
    events: list[Event]
    received_ns: list[int]
    error: str | None

    @property
    def finished_ns(self) -> int | None:
        """When RUN_FINISHED arrived, or None."""
        for event, received in zip(reversed(self.events), reversed(self.received_ns), strict=True):
            if event.get("type") == "RUN_FINISHED":
                return received
        return None

    def latencies_ns(self) -> list[int]:
        """Yield-to-receipt time of every event stamped with `metadata.monotonicNs`."""
        latencies = []
        for event, received in zip(self.events, self.received_ns, strict=True):
            stamp = event.get("metadata", {}).get("monotonicNs")
            if isinstance(stamp, int):
                latencies.append(received - stamp)
        return latencies


class _Collector(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[Exception | None]) -> None:
        self.done = done
        self.reads: list[tuple[int, bytes]] = []

    def data_received(self, data: bytes) -> None:
        self.reads.append((monotonic_ns(), data))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(exc)


def agent_request(
    host: str,
    port: int,
    *,
    workflow: str,
    params: Mapping[str, Any],
    thread_id: str = "bench-thread",
    run_id: str = "bench-run",
) -> bytes:
    """The bytes of `POST /agent` with a RunAgentInput that selects `workflow` and `params`."""
    body = orjson.dumps(
        {
            "threadId": thread_id,
            "runId": run_id,
            "messages": [],
            "forwardedProps": {"workflow": workflow, "params": dict(params)},
        }
    )
    head = (
        f"POST /agent HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def post(host: str, port: int, request: bytes, *, timeout: float) -> Capture:
    """Send `request` on a new connection and record everything read until the server closes.

    Never raises for a failed exchange: the failure is in `Capture.error`, so that a benchmark
    counts it instead of losing the other streams' results.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Exception | None] = loop.create_future()
    collector = _Collector(done)
    capture = Capture(sent_ns=monotonic_ns(), reads=collector.reads)
    transport: asyncio.Transport | None = None
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(lambda: collector, host, port)
            transport.write(request)
            lost = await done
        if lost is not None:
            capture.error = f"connection lost: {lost!r}"
    except TimeoutError:
        capture.error = f"no end of response after {timeout:g}s"
    except OSError as exc:
        capture.error = f"connection failed: {exc!r}"
    finally:
        if transport is not None and not transport.is_closing():
            transport.abort()
    return capture


def read_frames(capture: Capture) -> tuple[int, list[Frame], str | None]:
    """HTTP status, the data frames and a problem (None if the body ended cleanly)."""
    raw = b"".join(data for _, data in capture.reads)
    read_ends = list(itertools.accumulate(len(data) for _, data in capture.reads))
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return 0, [], capture.error or "no complete HTTP response head"
    status, chunked = _head(raw[:head_end])
    body_start = head_end + 4
    if chunked:
        segments, problem = _dechunk(raw, body_start)
    else:
        segments, problem = [(body_start, len(raw))], None
    body = b"".join(raw[start:end] for start, end in segments)
    # Where each segment starts in `body`, to map a body offset back to a raw offset and
    # from there to the read that brought it.
    body_starts = list(itertools.accumulate((end - start for start, end in segments), initial=0))
    frames: list[Frame] = []
    pos = 0
    while (end := body.find(b"\n\n", pos)) >= 0:
        data = _data(body[pos:end])
        if data is not None:
            last = end + 1
            segment = bisect.bisect_right(body_starts, last) - 1
            raw_last = segments[segment][0] + last - body_starts[segment]
            read = bisect.bisect_right(read_ends, raw_last)
            frames.append(Frame(capture.reads[read][0], data))
        pos = end + 2
    if problem is None and pos < len(body):
        problem = f"the body ends inside a frame: {body[pos : pos + 80]!r}"
    return status, frames, capture.error or problem


def read_run(capture: Capture) -> Run:
    """Decode a captured `POST /agent` and judge it: a clean run ends with RUN_FINISHED."""
    status, frames, problem = read_frames(capture)
    events: list[Event] = []
    received: list[int] = []
    for frame in frames:
        try:
            event = orjson.loads(frame.data)
        except orjson.JSONDecodeError:
            problem = problem or f"a frame is not JSON: {frame.data[:80]!r}"
            continue
        events.append(event)
        received.append(frame.received_ns)
    error = problem
    if status != 200:
        error = f"HTTP {status}" + (f" ({problem})" if problem else "")
    elif error is None:
        errors = [e for e in events if e.get("type") == "RUN_ERROR"]
        if errors:
            error = f"RUN_ERROR: {errors[0].get('message')!r:.200}"
        elif not events or events[-1].get("type") != "RUN_FINISHED":
            last = events[-1].get("type") if events else "nothing"
            error = f"the stream ended after {last} without RUN_FINISHED"
    return Run(capture.sent_ns, events, received, error)


def latency_summary(latencies_ns: Sequence[int]) -> dict[str, float]:
    """Mean, median, p95, p99, min, max and standard deviation in milliseconds.

    Percentiles interpolate between the two nearest samples (`statistics.quantiles`,
    "inclusive", the same as numpy's default).
    """
    if len(latencies_ns) < 2:
        raise ValueError(f"need at least 2 latencies for a summary, got {len(latencies_ns)}")
    ms = [value / 1e6 for value in latencies_ns]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "latency_mean_ms": statistics.fmean(ms),
        "latency_median_ms": statistics.median(ms),
        "latency_p95_ms": cuts[94],
        "latency_p99_ms": cuts[98],
        "latency_min_ms": min(ms),
        "latency_max_ms": max(ms),
        "latency_stddev_ms": statistics.stdev(ms),
    }


def timed_rounds(
    benchmark: BenchmarkFixture,
    runner: asyncio.Runner,
    make: Callable[[], Coroutine[Any, Any, _T]],
    rounds: int,
    cpu: ServerCpu,
    *,
    warmup: int = 1,
) -> tuple[list[_T], list[_T]]:
    """Time `rounds` runs of `make()` on `runner` after `warmup` ones: (warm-up, measured) results.

    One call a round, the server's CPU time read around each (`time_server_rounds`). The
    results are kept for the caller to analyse after the timing is over.
    """
    results: list[_T] = []

    def one_round() -> None:
        results.append(runner.run(make()))

    time_server_rounds(benchmark, one_round, rounds, cpu, warmup=warmup)
    # Under --benchmark-disable pedantic() calls the function once, without a warm-up.
    return results[:-rounds], results[-rounds:]


def timed_runs(
    benchmark: BenchmarkFixture,
    host: str,
    port: int,
    request: bytes,
    rounds: int,
    *,
    timeout: float,
    cpu: ServerCpu,
    warmup: int = 1,
) -> list[Run]:
    """Time `rounds` single-stream runs of `request` (after `warmup` ones) and read them back.

    A failed run fails the benchmark, after the timing, naming the first reason: a run that
    lost events would otherwise look fast.
    """
    with asyncio.Runner() as runner:
        _, captures = timed_rounds(
            benchmark,
            runner,
            lambda: post(host, port, request, timeout=timeout),
            rounds,
            cpu,
            warmup=warmup,
        )
    runs = [read_run(capture) for capture in captures]
    failed = [run.error for run in runs if run.error]
    if failed:
        pytest.fail(f"{len(failed)} of {len(runs)} runs failed; the first: {failed[0]}")
    return runs


def _head(head: bytes) -> tuple[int, bool]:
    """Status code and whether the body is chunked."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return status, chunked


def _dechunk(raw: bytes, pos: int) -> tuple[list[tuple[int, int]], str | None]:
    """The raw (start, end) ranges of a chunked body's data, and a problem or None."""
    segments: list[tuple[int, int]] = []
    while True:
        line_end = raw.find(b"\r\n", pos)
        if line_end < 0:
            return segments, "the body ended before its last chunk"
        size_text = raw[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return segments, f"bad chunk size line {raw[pos:line_end][:40]!r}"
        start = line_end + 2
        if size == 0:
            return segments, None
        if start + size + 2 > len(raw):
            segments.append((start, min(start + size, len(raw))))
            return segments, "the body ended inside a chunk"
        segments.append((start, start + size))
        pos = start + size + 2


def _data(frame: bytes) -> bytes | None:
    """The payload of a frame's `data:` lines (joined by newlines), or None for a comment."""
    data = [
        line[6:] if line.startswith(b"data: ") else line[5:]
        for line in frame.split(b"\n")
        if line.startswith(b"data:")
    ]
    return b"\n".join(data) if data else None
