"""One SSE stream over loopback HTTP: our app against the reference and the limit server.

The reference server is built the way the AG-UI docs show; the limit server
(`limit_server`) writes the same frames, encoded beforehand, from a bare ASGI app: what is
left of a server's cost per event when the streaming core costs nothing. Same workload.

Each server runs under uvicorn (one worker) in its own child process, so the client below
does not share a GIL with it; with two cores or more client and server run on one each
(`agui_perf.suite.server_cpu`). A round is one whole run of the burst workflow (`EVENTS`
text chunks), after one warm-up run, read by the benchmarks' lean client (`_sse.post`: it only
records the reads; the frames are counted after the timing, without decoding 20,000 events a
round).
`extra_info["events_per_s"]` is frames delivered per second at the median round, and
`server_cpu_s` the server's CPU time of each round.

The lean client rather than httpx: the server sends whatever the agent queued while it waited
for the socket, so a client that reads more slowly makes the server send fewer, bigger writes
and spend less CPU. httpx reads slowly enough for that, by how much depending on how busy the
client's core is.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import httpx
import orjson
import pytest

from agui_perf.stream.workflows import WORKFLOWS, WorkflowParams
from agui_perf.suite.server_cpu import ServerCpu, pin_server
from agui_perf.suite.target import HOST, parse_target, started
from tests.benchmarks._sse import Capture, agent_request, post, timed_rounds

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_benchmark.fixture import BenchmarkFixture

    from tests.benchmarks.conftest import Scale

EVENTS: Final = 20_000
WORKFLOW: Final = "burst"
PARAMS: Final = {"events": EVENTS}
#: Timed rounds at scale 1 and at the smallest scale (each a whole 20,000-event run): enough
#: for a stable median of the server's CPU time per round, the figure the gate compares.
ROUNDS: Final = 12
ROUNDS_FLOOR: Final = 6
#: The same for the reference server, ten times slower and measured for the ratio only.
REFERENCE_ROUNDS: Final = 3
REFERENCE_ROUNDS_FLOOR: Final = 1
BODY: Final = orjson.dumps(
    {
        "threadId": "bench-thread",
        "runId": "bench-run",
        "messages": [],
        "forwardedProps": {"workflow": WORKFLOW, "params": PARAMS},
    }
)
#: Each served by the suite's starter (a factory is called once in the server process).
SERVERS: Final = {
    "ours": "agui_perf.stream.app:create_app",
    "reference": "tests.benchmarks.reference_server:app",
    "limit": "tests.benchmarks.limit_server:app",
}
TIMEOUT: Final = 120.0


async def _count_events() -> int:
    agent = WORKFLOWS[WORKFLOW]("bench-thread", "bench-run", WorkflowParams(events=EVENTS))
    return sum([1 async for _ in agent])


#: Frames one run must deliver (the workload is deterministic).
EXPECTED_FRAMES: Final = asyncio.run(_count_events())


# The reference and limit servers are measured for the ratios, not guarded: the gate
# deselects them (`-m "not reference"`) so its A/B processes spend their time on our code.
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=[pytest.mark.reference] if name != "ours" else [])
        for name in sorted(SERVERS)
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, ServerCpu]]:
    """(name, port, a CPU recorder) of one server process, pinned to a core of its own."""
    # uvicorn's settings as the `python -m uvicorn --lifespan off` this ran before (conftest).
    with started(parse_target(SERVERS[request.param]), lifespan="off") as child:
        assert child.pid is not None  # an app target, started here
        cores = pin_server(child.pid)
        yield request.param, child.port, ServerCpu(child.pid, cores)


def frames_or_problem(capture: Capture) -> int | str:
    """The number of SSE frames in a captured run, or what went wrong.

    Every frame ends with a blank line (`\\n\\n`), and neither the HTTP head nor the chunked
    framing around the frames (both CRLF) holds two line feeds in a row.
    """
    raw = b"".join(data for _, data in capture.reads)
    if capture.error:
        return capture.error
    if not raw.startswith(b"HTTP/1.1 200 "):
        return f"not HTTP 200: {raw[:40]!r}"
    if not raw.endswith(b"\r\n0\r\n\r\n"):
        return "the body does not end with the last chunk"
    return raw.count(b"\n\n")


def stream_once(client: httpx.Client, url: str) -> bytes:
    """POST one run and read the whole response body as raw bytes."""
    with client.stream(
        "POST", f"{url}/agent", content=BODY, headers={"content-type": "application/json"}
    ) as response:
        response.raise_for_status()
        return b"".join(response.iter_raw())


@pytest.mark.benchmark(group=f"stream-{WORKFLOW}-{EVENTS}")
def test_stream_events_per_second(
    benchmark: BenchmarkFixture, server: tuple[str, int, ServerCpu], agui_scale: Scale
) -> None:
    name, port, cpu = server
    if name == "reference":
        rounds = agui_scale.rounds(REFERENCE_ROUNDS, REFERENCE_ROUNDS_FLOOR)
    else:
        rounds = agui_scale.rounds(ROUNDS, ROUNDS_FLOOR)
    request = agent_request(HOST, port, workflow=WORKFLOW, params=PARAMS)
    _, captures = timed_rounds(
        benchmark, lambda: post(HOST, port, request, timeout=TIMEOUT), rounds, cpu
    )
    frames = [frames_or_problem(capture) for capture in captures]
    assert frames, "no round was run"
    assert all(count == EXPECTED_FRAMES for count in frames), f"{EXPECTED_FRAMES} each: {frames}"
    benchmark.extra_info["server"] = name
    benchmark.extra_info["events"] = EXPECTED_FRAMES
    if benchmark.stats is not None:  # None under --benchmark-disable (a smoke run)
        benchmark.extra_info["events_per_s"] = EXPECTED_FRAMES / benchmark.stats.stats.median
    benchmark.extra_info.update(cpu.extra_info(rounds, EXPECTED_FRAMES))


def test_ours_the_reference_and_the_limit_send_the_same_bytes() -> None:
    bodies = {}
    with httpx.Client(timeout=TIMEOUT) as client:
        for name, target in SERVERS.items():
            with started(parse_target(target), lifespan="off") as server:
                bodies[name] = stream_once(client, server.url)
    assert bodies["ours"] == bodies["reference"]
    assert bodies["ours"] == bodies["limit"]
    assert bodies["ours"].count(b"\n\n") == EXPECTED_FRAMES
