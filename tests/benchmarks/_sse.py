"""A lean AG-UI client for the benchmarks: raw HTTP/1.1 over asyncio, SSE read afterwards.

The client must not be what a benchmark measures, least of all with a hundred streams on one
event loop. So `post` is a bare `asyncio.Protocol` whose `data_received` only appends
`(time.monotonic_ns(), bytes)`: the receive time is taken in the loop iteration that read the
socket, and no HTTP, SSE or JSON parsing runs while any stream is still open. `read_run` does
all of that after the run, outside the timed code.

The request says `Connection: close`, so the end of the response is the server closing the
connection; a stream that never ends is cut by the timeout. Afterwards h11 reads the HTTP
(head, chunked body) out of the captured reads, and the suite's SSE reader
(`agui_perf.suite.frames`) the frames out of the body; only frames with `data:` lines are
events (as the official AG-UI clients read them): a `: ping` heartbeat is not.

The receive time of an event is the time of the read that completed its frame. With the
workflows' `stamp="monotonic"`, `metadata.monotonicNs` is the server's CLOCK_MONOTONIC when the
agent yielded the event; CLOCK_MONOTONIC is one clock for every process on a Linux machine, so
the difference is the event's latency through the server, the socket and this client.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from dataclasses import dataclass, field
from time import monotonic_ns
from typing import TYPE_CHECKING, Any, Final, TypeVar

import h11
import orjson
import pytest

from agui_perf.suite import frames as sse
from agui_perf.suite.server_cpu import time_server_rounds

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence

    from pytest_benchmark.fixture import BenchmarkFixture

    from agui_perf.stream.types import Event
    from agui_perf.suite.server_cpu import ServerCpu

__all__ = [
    "LATENCY_KEYS",
    "Capture",
    "Frame",
    "Run",
    "agent_request",
    "client_loop",
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
#: The request's `Connection: close`, as h11 must be told it was sent.
_CLOSE: Final = (("Content-Length", "0"), ("Connection", "close"))


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
    status, body, problem = _read_http(capture)
    read = sse.read_frames(body)
    found = [Frame(f.received_ns, f.data.encode()) for f in read.frames if f.data is not None]
    if problem is None and read.trailing:
        raw = b"".join(data for _, data in body)
        rest = raw[len(raw) - read.trailing :]
        problem = f"the body ends inside a frame: {rest[:80]!r}"
    return status, found, capture.error or problem


def _read_http(capture: Capture) -> tuple[int, list[tuple[int, bytes]], str | None]:
    """Status, the body's pieces (each with the time of the read that brought it), a problem.

    h11 is fed the reads one by one, as if they came off the socket now, so each piece of the
    body keeps the time of its own read; the end of the reads is the server's close.
    """
    conn = h11.Connection(our_role=h11.CLIENT)
    # h11 reads a response only to a request it has seen sent (the real one went out as bytes).
    conn.send(h11.Request(method="POST", target="/", headers=[("Host", "bench"), *_CLOSE]))
    conn.send(h11.EndOfMessage())
    status = 0
    chunked = False
    body: list[tuple[int, bytes]] = []
    reads = [*capture.reads, (capture.reads[-1][0] if capture.reads else 0, b"")]
    try:
        for received_ns, data in reads:
            conn.receive_data(data)
            while (event := conn.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.Response):
                    status = event.status_code
                    chunked = any(
                        name == b"transfer-encoding" and b"chunked" in value.lower()
                        for name, value in event.headers
                    )
                elif isinstance(event, h11.Data):
                    body.append((received_ns, bytes(event.data)))
                elif not isinstance(event, h11.InformationalResponse):
                    # EndOfMessage: the response is complete (what follows is the close).
                    return status, body, None
    except h11.RemoteProtocolError as exc:
        # Also how h11 reports a connection closed before the response ended.
        if not status:
            return 0, body, f"no complete HTTP response head ({exc})"
        if chunked and "incomplete chunked read" in str(exc):
            return status, body, f"the body ended before its last chunk ({exc})"
        return status, body, f"the response is not valid HTTP/1.1 ({exc})"
    # Unreachable: at the end of the reads h11 either ends the response or raises.
    return status, body, "the response did not end"


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


@contextlib.contextmanager
def client_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The timed client's event loop, driven a round at a time with `run_until_complete`.

    Not `asyncio.Runner`: when SIGINT has Python's default handler, `Runner.run` installs a
    handler of its own for every call and, putting the old one back, formats the repr of the
    task it wrapped, whose result here is the whole captured run. That cost landed inside the
    timed round, and only when the gate was started from a terminal: a background job has
    SIGINT ignored, and then the Runner leaves signals alone.
    """
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def timed_rounds(
    benchmark: BenchmarkFixture,
    make: Callable[[], Coroutine[Any, Any, _T]],
    rounds: int,
    cpu: ServerCpu,
    *,
    warmup: int = 1,
) -> tuple[list[_T], list[_T]]:
    """Time `rounds` runs of `make()` after `warmup` ones: (warm-up, measured) results.

    One call a round on one `client_loop`, the server's CPU time read around each
    (`time_server_rounds`). The results are kept for the caller to analyse after the timing
    is over.
    """
    results: list[_T] = []
    with client_loop() as loop:

        def one_round() -> None:
            results.append(loop.run_until_complete(make()))

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
    _, captures = timed_rounds(
        benchmark,
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
