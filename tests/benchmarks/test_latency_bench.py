"""Event latency: from the agent yielding an event to this client reading its frame.

The server (our app under uvicorn) runs in another process, over a real loopback connection.
The paced workflow emits text chunks at `RATE_PER_S`, well below what one stream can carry,
so an event waits for nothing but the path itself: queue, encoder, ASGI send, socket, read.
Each event carries `metadata.monotonicNs` (`stamp="monotonic"`), the server's CLOCK_MONOTONIC
when it was yielded; the client notes the same clock when the read that completed its frame
returned. The latencies of every event of every measured round are pooled.

A round is one whole run (one HTTP request), so the round time is mostly the pacing; the
figures that matter are in `extra_info`, with the server's CPU time per round (`server_cpu_s`,
`agui_perf.suite.server_cpu`), which the pacing does not set.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import pytest

from tests.benchmarks._sse import agent_request, latency_summary, timed_runs

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from tests.benchmarks.conftest import Scale, Server

#: A fast model is ~100 tokens/s; ten times that keeps the run short and still leaves the
#: server idle most of the time between two chunks.
RATE_PER_S: Final = 1000.0
#: Latency samples at scale 1 and at the smallest scale, over all measured rounds.
EVENTS: Final = 1000
EVENTS_FLOOR: Final = 200
ROUNDS: Final = 5
ROUNDS_FLOOR: Final = 3
TIMEOUT_S: Final = 60.0


def test_event_latency(benchmark: BenchmarkFixture, agui_server: Server, agui_scale: Scale) -> None:
    rounds = agui_scale.rounds(ROUNDS, ROUNDS_FLOOR)
    chunks = math.ceil(agui_scale.count(EVENTS, EVENTS_FLOOR) / rounds)
    host, port = agui_server.host, agui_server.port
    request = agent_request(
        host,
        port,
        workflow="paced",
        params={"text_chunks": chunks, "rate_per_s": RATE_PER_S, "stamp": "monotonic"},
    )
    cpu = agui_server.cpu()
    runs = timed_runs(benchmark, host, port, request, rounds, timeout=TIMEOUT_S, cpu=cpu)
    latencies = [latency for run in runs for latency in run.latencies_ns()]
    events = sum(len(run.events) for run in runs)
    assert len(latencies) == events, f"{events - len(latencies)} events carry no monotonicNs"
    if min(latencies) < 0:
        pytest.fail(
            "an event arrived before it was stamped: server and client do not share "
            "CLOCK_MONOTONIC (they must run on one machine)"
        )
    benchmark.extra_info.update(latency_summary(latencies))
    benchmark.extra_info["events"] = events
    benchmark.extra_info["rate_per_s"] = RATE_PER_S
    benchmark.extra_info.update(cpu.extra_info(rounds, [len(run.events) for run in runs]))
