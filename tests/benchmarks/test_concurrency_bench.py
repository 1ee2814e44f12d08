"""Concurrent streams: N clients at once, each running the account-analysis workflow.

All N requests go out together from one event loop (the lean client of `_sse`: it only
records reads while the streams are open) to our app under uvicorn in another process. Each
run streams its text and tool arguments `TOKEN_DELAY_S` apart, like a fast model, so the
streams stay open side by side; `peak_open_streams` shows how many were.

Errors are counted, never dropped: a refused or reset connection, an HTTP error, a RUN_ERROR,
a run that ends without RUN_FINISHED and a stream still open after the timeout each make one
failed stream. The benchmark does not fail on them; `error_rate` and `concurrent_streams` carry
them to the gate's budgets. A round is one batch of N streams, from the first request to the
last close; the server's CPU time per round (`server_cpu_s`, `agui_perf.suite.server_cpu`) is
read around it.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import TYPE_CHECKING, Final

import pytest

from tests.benchmarks._sse import (
    Capture,
    Run,
    agent_request,
    latency_summary,
    post,
    read_run,
    timed_rounds,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_benchmark.fixture import BenchmarkFixture

    from tests.benchmarks.conftest import Scale, Server

STREAMS: Final = 100
STREAMS_FLOOR: Final = 20
ROUNDS: Final = 5
ROUNDS_FLOOR: Final = 5
#: A pause before each streamed chunk (52 per run), so that every run is a stream held open
#: while its events trickle out, as a model's are, but short enough that the server, not the
#: pacing, decides how long a round of many streams takes.
TOKEN_DELAY_S: Final = 0.001
#: Per stream. Generous: only a stream that hangs should reach it.
TIMEOUT_S: Final = 120.0


async def _streams(host: str, port: int, requests: Sequence[bytes]) -> list[Capture]:
    return await asyncio.gather(*(post(host, port, r, timeout=TIMEOUT_S) for r in requests))


def _peak_open(captures: Sequence[Capture]) -> int:
    """The most streams that were receiving at one moment (first read to last read)."""
    edges = sorted(
        edge
        for capture in captures
        if capture.reads
        for edge in ((capture.reads[0][0], 1), (capture.reads[-1][0], -1))
    )
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def _events_per_s(captures: Sequence[Capture], runs: Sequence[Run]) -> float:
    """Events received by all streams of a round over the round's wall time."""
    start = min(capture.sent_ns for capture in captures)
    end = max((capture.reads[-1][0] for capture in captures if capture.reads), default=start)
    events = sum(len(run.events) for run in runs)
    return events / max(end - start, 1) * 1e9


def test_concurrent_streams(
    benchmark: BenchmarkFixture, agui_server: Server, agui_scale: Scale
) -> None:
    streams = agui_scale.clients(STREAMS, STREAMS_FLOOR)
    rounds = agui_scale.rounds(ROUNDS, ROUNDS_FLOOR)
    host, port = agui_server.host, agui_server.port
    params = {"token_delay": TOKEN_DELAY_S, "stamp": "monotonic"}
    requests = [
        agent_request(
            host, port, workflow="account_analysis", params=params, run_id=f"bench-run-{i}"
        )
        for i in range(streams)
    ]
    cpu = agui_server.cpu()
    warmup, measured = timed_rounds(benchmark, lambda: _streams(host, port, requests), rounds, cpu)

    # The warm-up's streams count as errors too: every stream this benchmark opened.
    warmup_runs = [[read_run(capture) for capture in batch] for batch in warmup]
    runs = [[read_run(capture) for capture in batch] for batch in measured]
    failures = [run.error for batch in warmup_runs + runs for run in batch if run.error]
    opened = streams * (len(warmup) + len(measured))
    latencies = [latency for batch in runs for run in batch for latency in run.latencies_ns()]
    if len(latencies) < 2:
        pytest.fail(
            f"no stream delivered events ({len(failures)} of {opened} failed); "
            f"the first failure: {failures[0] if failures else 'none'}"
        )
    info = benchmark.extra_info
    info["streams"] = streams
    # Held without errors: all N if every stream of every round succeeded, else the number
    # that succeeded in the worst round.
    info["concurrent_streams"] = min(sum(run.error is None for run in batch) for batch in runs)
    info["peak_open_streams"] = min(_peak_open(batch) for batch in measured)
    info["errors"] = len(failures)
    info["error_rate"] = len(failures) / opened
    info["first_error"] = failures[0] if failures else ""
    info["events"] = sum(len(run.events) for batch in runs for run in batch)
    info["events_per_s"] = statistics.median(
        _events_per_s(batch, batch_runs) for batch, batch_runs in zip(measured, runs, strict=True)
    )
    info["token_delay_s"] = TOKEN_DELAY_S
    info.update(latency_summary(latencies))
    info.update(cpu.extra_info(rounds, [sum(len(run.events) for run in batch) for batch in runs]))
