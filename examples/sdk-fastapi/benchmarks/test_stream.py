"""Benchmarks of the app over loopback HTTP: one whole run, and a burst of events.

The workload grows with `AGUI_PERF_SCALE` (1 = full size; the gate sets a smaller one).
Every round checks what it received, so a server that breaks fails the benchmark instead of
getting faster.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Final

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_benchmark.fixture import BenchmarkFixture

SCALE: Final = float(os.environ.get("AGUI_PERF_SCALE", "1"))
#: Text chunks of a typical reply, and of the burst (at least 200 whatever the scale).
RUN_CHUNKS: Final = 20
BURST_CHUNKS: Final = max(200, int(5_000 * SCALE))
#: Events besides the text chunks: run start and end, a tool call (4), message start and end.
FRAMING_EVENTS: Final = 8


def _body(chunks: int) -> bytes:
    run = {
        "threadId": "bench",
        "runId": "run",
        "messages": [],
        "forwardedProps": {"chunks": chunks},
    }
    return json.dumps(run).encode()


def run_once(client: httpx.Client, url: str, body: bytes, events: int) -> None:
    """POST one run and read the whole stream; fail unless it holds `events` events."""
    with client.stream(
        "POST", url, content=body, headers={"content-type": "application/json"}
    ) as response:
        response.raise_for_status()
        frames = b"".join(response.iter_bytes()).count(b"data: ")
    if frames != events:
        pytest.fail(f"expected {events} events, got {frames}")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60.0) as http:
        yield http


def test_one_run(benchmark: BenchmarkFixture, server: str, client: httpx.Client) -> None:
    """Time to stream one typical run (a tool call and a short reply), request to last byte."""
    body = _body(RUN_CHUNKS)
    run_once(client, f"{server}/", body, RUN_CHUNKS + FRAMING_EVENTS)  # warm-up
    benchmark(run_once, client, f"{server}/", body, RUN_CHUNKS + FRAMING_EVENTS)


def test_burst_events_per_second(
    benchmark: BenchmarkFixture, server: str, client: httpx.Client
) -> None:
    """A run of many chunks: the server's cost per event dominates."""
    body = _body(BURST_CHUNKS)
    events = BURST_CHUNKS + FRAMING_EVENTS
    # pytest-benchmark's pedantic is not annotated.
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        run_once, args=(client, f"{server}/", body, events), rounds=5, warmup_rounds=1
    )
    if benchmark.stats is not None:  # None under --benchmark-disable (a plain test run)
        benchmark.extra_info["events_per_s"] = events / benchmark.stats.stats.median
