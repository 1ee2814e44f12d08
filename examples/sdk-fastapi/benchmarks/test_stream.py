"""Benchmarks of the app over loopback HTTP: one whole run, and a burst of events.

They use only agui-perf's service suite (its pytest plugin): `pyproject.toml` names the
target (`agui_target = "app:app"`, `agui_path = "/"`), and the plugin serves it under uvicorn
in a process of its own, so that the client (this process) and the server do not share one
GIL. That process imports `app` from this tree's own `src/` (first on the PYTHONPATH it
inherits): the gate runs these files once from the working tree and once from the accepted
commit's worktree, and each side serves its own code.

The workload grows with `AGUI_PERF_SCALE` (1 = full size; the gate sets a smaller one).
Every round checks what it received — a clean run of the expected number of events that
keeps AG-UI's ordering rules and the framing the official client reads — so a server that
breaks fails the benchmark instead of getting faster.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from agui_perf.suite.figures import RunFigures
    from agui_perf.suite.plugin import Runner

SCALE: Final = float(os.environ.get("AGUI_PERF_SCALE", "1"))
#: Text chunks of a typical reply, and of the burst (at least 200 whatever the scale).
RUN_CHUNKS: Final = 20
BURST_CHUNKS: Final = max(200, int(5_000 * SCALE))
#: Events besides the text chunks: run start and end, a tool call (4), message start and end.
FRAMING_EVENTS: Final = 8


def _body(chunks: int) -> dict[str, Any]:
    """A RunAgentInput asking for `chunks` text chunks (`forwardedProps.chunks`)."""
    return {
        "threadId": "bench",
        "runId": "run",
        "state": {},
        "messages": [],
        "tools": [],
        "context": [],
        "forwardedProps": {"chunks": chunks},
    }


def run_checked(agui_run: Runner, body: dict[str, Any], events: int) -> RunFigures:
    """One run, read to its end; fail unless it is clean and holds `events` events."""
    run = agui_run(body)
    if not run.ok or run.events != events:
        problems = "; ".join(run.problems()) or "no other problem"
        pytest.fail(f"expected a clean run of {events} events, got {run.events}: {problems}")
    return run


def test_one_run(benchmark: BenchmarkFixture, agui_run: Runner) -> None:
    """Time to stream one typical run (a tool call and a short reply), request to last byte."""
    body = _body(RUN_CHUNKS)
    run_checked(agui_run, body, RUN_CHUNKS + FRAMING_EVENTS)  # warm-up
    benchmark(run_checked, agui_run, body, RUN_CHUNKS + FRAMING_EVENTS)


def test_burst_events_per_second(benchmark: BenchmarkFixture, agui_run: Runner) -> None:
    """A run of many chunks: the server's cost per event dominates."""
    body = _body(BURST_CHUNKS)
    events = BURST_CHUNKS + FRAMING_EVENTS
    # pytest-benchmark's pedantic is not annotated.
    run = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run_checked, args=(agui_run, body, events), rounds=5, warmup_rounds=1
    )
    # The last round's figures as the client saw them (time to first event, gaps, …).
    agui_run.publish(benchmark, run)
    if benchmark.stats is not None:  # None under --benchmark-disable (a plain test run)
        benchmark.extra_info["events_per_s"] = events / benchmark.stats.stats.median
