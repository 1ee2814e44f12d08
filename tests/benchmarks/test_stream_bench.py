"""One SSE stream over loopback HTTP: our app against the reference server (same workload).

Each server runs under uvicorn (one worker) in its own child process, so the client below
does not share a GIL with it. The client reads the raw byte stream with httpx and counts
frames; a round is one whole run of the burst workflow (`EVENTS` text chunks).
`extra_info["events_per_s"]` is frames delivered per second at the median round.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import httpx
import orjson
import pytest

from agui_perf.stream.workflows import WORKFLOWS, WorkflowParams
from tests._server import running_server_process

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_benchmark.fixture import BenchmarkFixture

EVENTS: Final = 20_000
WORKFLOW: Final = "burst"
BODY: Final = orjson.dumps(
    {
        "threadId": "bench-thread",
        "runId": "bench-run",
        "messages": [],
        "forwardedProps": {"workflow": WORKFLOW, "params": {"events": EVENTS}},
    }
)
SERVERS: Final = {
    "ours": ("agui_perf.stream.app:create_app", True),
    "reference": ("tests.benchmarks.reference_server:app", False),
}
TIMEOUT: Final = 120.0


async def _count_events() -> int:
    agent = WORKFLOWS[WORKFLOW]("bench-thread", "bench-run", WorkflowParams(events=EVENTS))
    return sum([1 async for _ in agent])


#: Frames one run must deliver (the workload is deterministic).
EXPECTED_FRAMES: Final = asyncio.run(_count_events())


# The reference server is measured for the ratio, not guarded: the gate deselects it
# (`-m "not reference"`) so its A/B processes spend their time on our code.
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=[pytest.mark.reference] if name == "reference" else [])
        for name in sorted(SERVERS)
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    target, factory = SERVERS[request.param]
    with running_server_process(target, factory=factory) as url:
        yield request.param, url


def stream_once(client: httpx.Client, url: str) -> bytes:
    """POST one run and read the whole response body as raw bytes."""
    with client.stream(
        "POST", f"{url}/agent", content=BODY, headers={"content-type": "application/json"}
    ) as response:
        response.raise_for_status()
        return b"".join(response.iter_raw())


def count_frames(client: httpx.Client, url: str) -> int:
    """POST one run and count SSE frames in the raw stream without keeping it.

    A frame is `data: <compact JSON>\\n\\n` and compact JSON has no raw newline, so every
    frame holds exactly two newlines, wherever the chunks happen to split it.
    """
    newlines = 0
    with client.stream(
        "POST", f"{url}/agent", content=BODY, headers={"content-type": "application/json"}
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            newlines += chunk.count(b"\n")
    return newlines // 2


@pytest.mark.benchmark(group=f"stream-{WORKFLOW}-{EVENTS}")
def test_stream_events_per_second(benchmark: BenchmarkFixture, server: tuple[str, str]) -> None:
    name, url = server
    with httpx.Client(timeout=TIMEOUT) as client:
        count_frames(client, url)  # warm-up: first connection, imports, caches
        frames = benchmark(count_frames, client, url)
    assert frames == EXPECTED_FRAMES
    benchmark.extra_info["server"] = name
    benchmark.extra_info["events"] = EXPECTED_FRAMES
    if benchmark.stats is not None:  # None under --benchmark-disable (a smoke run)
        benchmark.extra_info["events_per_s"] = EXPECTED_FRAMES / benchmark.stats.stats.median


def test_ours_and_the_reference_send_the_same_bytes() -> None:
    bodies = {}
    with httpx.Client(timeout=TIMEOUT) as client:
        for name, (target, factory) in SERVERS.items():
            with running_server_process(target, factory=factory) as url:
                bodies[name] = stream_once(client, url)
    assert bodies["ours"] == bodies["reference"]
    assert bodies["ours"].count(b"\n\n") == EXPECTED_FRAMES
