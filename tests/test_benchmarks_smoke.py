"""The benchmark suites run and report what the gate reads: a broken benchmark fails CI here.

Also the unit tests of the benchmarks' client (`tests/benchmarks/_sse.py`): a latency is only
as good as the receive time it pairs with each frame.

`nox -s tests` leaves tests/benchmarks out (the gate runs it, timed, in fresh processes), so
this test runs the whole suite once in a child pytest at the smallest scale with the shortest
pytest-benchmark settings, and checks the `--benchmark-json` it writes: every collected
benchmark reported stats, and each known benchmark published the `extra_info` keys the gate's
budgets and report read, and each benchmark that talks to a server process its server's CPU
time per round, which the gate's loader turns into a row of its own. Nothing here is timed;
the child's own timeouts catch a hang.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import orjson
import pytest

from agui_perf.gate.store.results import SERVER_CPU_SUFFIX, load_pytest_benchmark
from agui_perf.stream.app import create_app
from tests._support.server import HOST, running_server, subprocess_env
from tests.benchmarks import _serve as serve
from tests.benchmarks._sse import (
    LATENCY_KEYS,
    Capture,
    Frame,
    agent_request,
    latency_summary,
    post,
    read_frames,
    read_run,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

ROOT: Final = Path(__file__).resolve().parents[1]
#: tests/benchmarks/conftest.py reads these (spelled out: a conftest is not imported).
SCALE_ENV: Final = "AGUI_PERF_SCALE"
COLLECTED_ENV: Final = "AGUI_PERF_COLLECTED"
#: Below every floor, so each benchmark runs at its smallest meaningful size.
SMALLEST_SCALE: Final = "0.001"
#: A guard against a hung child, not a time limit on the suite.
HANG_TIMEOUT_S: Final = 600

#: What every benchmark that talks to a server process publishes (agui_perf.suite.server_cpu).
SERVER_CPU_KEYS: Final = frozenset(
    {"server_cpu_s", "server_cpu_median_s", "server_cpu_per_event_ns", "pinning"}
)
#: The benchmarks that talk to a server process, by test function.
SERVER_BENCHMARKS: Final = frozenset(
    {
        "test_event_latency",
        "test_concurrent_streams",
        "test_workflow_duration",
        "test_stream_events_per_second",
    }
)
#: extra_info keys each benchmark must publish, by test function (every parametrization).
#: A benchmark renamed or removed shows up here too: names key the gate's baseline.
REQUIRED_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "test_event_latency": frozenset({*LATENCY_KEYS, "events", *SERVER_CPU_KEYS}),
    "test_concurrent_streams": frozenset(
        {
            "streams",
            "concurrent_streams",
            "errors",
            "error_rate",
            "events_per_s",
            "latency_p95_ms",
            "latency_p99_ms",
            *SERVER_CPU_KEYS,
        }
    ),
    "test_workflow_duration": frozenset({"workflow_s", "events", *SERVER_CPU_KEYS}),
    "test_stream_events_per_second": frozenset({"events_per_s", *SERVER_CPU_KEYS}),
    "test_encode_account_analysis_run": frozenset({"events_per_s"}),
    "test_build_and_encode_one_event": frozenset({"events_per_s"}),
    "test_verifier_one_run": frozenset({"events_per_s"}),
    "test_iter_account_analysis": frozenset({"events_per_s"}),
    "test_serve_burst_in_process": frozenset({"events_per_s"}),
    "test_serve_per_event_in_process": frozenset({"events_per_s"}),
}


def _run_suite(tmp_path: Path) -> tuple[list[str], list[dict[str, Any]], Path]:
    """Run tests/benchmarks in a child pytest: (collected names, JSON entries, the JSON)."""
    report = tmp_path / "benchmarks.json"
    collected = tmp_path / "collected.json"
    env = subprocess_env({SCALE_ENV: SMALLEST_SCALE, COLLECTED_ENV: str(collected)})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/benchmarks",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--benchmark-json={report}",
            "--benchmark-min-rounds=1",
            "--benchmark-max-time=0.000001",
            "--benchmark-warmup=off",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT_S,
        check=False,
    )
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"the benchmark suite failed:\n{output}"
    assert " skipped" not in result.stdout, f"a benchmark was skipped:\n{output}"
    names: list[str] = orjson.loads(collected.read_bytes())
    entries: list[dict[str, Any]] = orjson.loads(report.read_bytes())["benchmarks"]
    return names, entries, report


def test_every_benchmark_runs_and_reports_its_figures(tmp_path: Path) -> None:
    collected, entries, report = _run_suite(tmp_path)
    by_name = {entry["name"]: entry for entry in entries}

    assert collected, "no benchmark was collected from tests/benchmarks"
    assert sorted(by_name) == sorted(collected), "a collected benchmark reported no result"
    for name, entry in by_name.items():
        assert entry["stats"]["data"], f"{name} has no round times"

    functions = {name.partition("[")[0] for name in by_name}
    assert not set(REQUIRED_KEYS) - functions, "a known benchmark is missing or was renamed"
    for name, entry in by_name.items():
        missing = REQUIRED_KEYS.get(name.partition("[")[0], frozenset()) - set(entry["extra_info"])
        assert not missing, f"{name} did not publish extra_info {sorted(missing)}"

    concurrency = by_name["test_concurrent_streams"]["extra_info"]
    assert concurrency["errors"] == 0, concurrency["first_error"]
    assert concurrency["concurrent_streams"] == concurrency["streams"]

    # The gate reads the server's CPU time of each round as a row of its own.
    rows = load_pytest_benchmark(report).benchmarks
    for name, entry in by_name.items():
        if name.partition("[")[0] not in SERVER_BENCHMARKS:
            assert name + SERVER_CPU_SUFFIX not in rows
            continue
        derived = rows[name + SERVER_CPU_SUFFIX]
        assert derived.data == tuple(entry["extra_info"]["server_cpu_s"])
        assert len(derived.data) == len(entry["stats"]["data"]), f"{name}: a round unsampled"
        assert derived.figure > 0


# --- the client ------------------------------------------------------------------------------

HEAD: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
END: Final = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def frame(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def capture(*reads: bytes, error: str | None = None) -> Capture:
    """Reads at times 1000, 2000, ... (ns) after a request sent at time 0."""
    return Capture(0, [(1000 * (i + 1), data) for i, data in enumerate(reads)], error)


STARTED: Final = {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}
FINISHED: Final = {"type": "RUN_FINISHED", "threadId": "t", "runId": "r"}


def test_a_frame_is_stamped_with_the_read_that_completed_it() -> None:
    first, second = frame({"n": 1}), frame({"n": 2})
    # Reads split the head, a chunk-size line, a frame (between its two newlines) and the
    # chunk's CRLF: only the read carrying a frame's last byte may stamp it.
    body = HEAD + chunk(first + b": ping\n\n" + second[:-1]) + chunk(second[-1:]) + END
    cut_in_frame = body.index(b"\n\n") + 1
    cut_in_second = body.index(b"\r\n1\r\n") - 1
    cuts = [0, 5, cut_in_frame, cut_in_second, len(body) - 7, len(body)]
    reads = [body[start:end] for start, end in itertools.pairwise(cuts)]
    status, frames, problem = read_frames(capture(*reads))
    assert (status, problem) == (200, None)
    assert frames == [Frame(3000, b'{"n":1}'), Frame(4000, b'{"n":2}')]


def test_multi_line_data_is_joined_and_a_body_without_chunking_is_read_to_the_end() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
    status, frames, problem = read_frames(capture(head + b"data: a\ndata:b\nid: 1\n\n"))
    assert (status, frames, problem) == (200, [Frame(1000, b"a\nb")], None)


def test_a_clean_run_has_its_events_receive_times_and_latencies() -> None:
    stamped = {**STARTED, "metadata": {"monotonicNs": 400}}
    run = read_run(capture(HEAD + chunk(frame(stamped)), chunk(frame(FINISHED)) + END))
    assert run.error is None
    assert run.events == [stamped, FINISHED]
    assert run.received_ns == [1000, 2000]
    assert run.finished_ns == 2000
    assert run.latencies_ns() == [600]


@pytest.mark.parametrize(
    ("reads", "error", "expected"),
    [
        ((b"HTTP/1.1 422 Unprocessable\r\n\r\n{}",), None, "HTTP 422"),
        ((HEAD + chunk(frame(STARTED)) + END,), None, "without RUN_FINISHED"),
        (
            (HEAD + chunk(frame(STARTED) + frame({"type": "RUN_ERROR", "message": "boom"})) + END,),
            None,
            "RUN_ERROR: 'boom'",
        ),
        ((HEAD + chunk(frame(STARTED) + frame(FINISHED)),), None, "before its last chunk"),
        ((HEAD + chunk(frame(STARTED))[:-5],), None, "before its last chunk"),
        ((HEAD + b"zz\r\n" + END,), None, "not valid HTTP/1.1"),
        ((HEAD + chunk(frame(FINISHED) + b"data: {") + END,), None, "inside a frame"),
        ((HEAD + chunk(b"data: {\n\n" + frame(FINISHED)) + END,), None, "not JSON"),
        ((b"HTTP/1.1 200",), None, "no complete HTTP response head"),
        ((), "no end of response after 1s", "no end of response after 1s"),
        ((HEAD + chunk(frame(STARTED)),), "connection lost: reset", "connection lost: reset"),
    ],
)
def test_a_failed_run_says_why(reads: tuple[bytes, ...], error: str | None, expected: str) -> None:
    run_error = read_run(capture(*reads, error=error)).error
    assert run_error is not None
    assert expected in run_error


def test_latency_summary_interpolates_percentiles_in_milliseconds() -> None:
    summary = latency_summary([ms * 1_000_000 for ms in range(1, 101)])
    assert tuple(summary) == LATENCY_KEYS
    assert summary["latency_mean_ms"] == pytest.approx(50.5)
    assert summary["latency_median_ms"] == pytest.approx(50.5)
    assert summary["latency_p95_ms"] == pytest.approx(95.05)
    assert summary["latency_p99_ms"] == pytest.approx(99.01)
    assert (summary["latency_min_ms"], summary["latency_max_ms"]) == (1.0, 100.0)
    with pytest.raises(ValueError, match="at least 2"):
        latency_summary([5])


def test_the_request_is_a_run_agent_input_post_that_closes_the_connection() -> None:
    request = agent_request(HOST, 8000, workflow="paced", params={"rate_per_s": 5.0})
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /agent HTTP/1.1\r\n")
    assert b"\r\nConnection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert orjson.loads(body) == {
        "threadId": "bench-thread",
        "runId": "bench-run",
        "messages": [],
        "forwardedProps": {"workflow": "paced", "params": {"rate_per_s": 5.0}},
    }


@pytest.mark.anyio
async def test_post_records_every_read_until_the_server_closes() -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await received.put(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        await writer.drain()
        writer.write(b"data: 1\n\n")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, HOST, 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        result = await post(HOST, port, b"GET / HTTP/1.1\r\n\r\n", timeout=60)
    assert result.error is None
    assert received.get_nowait() == b"GET / HTTP/1.1\r\n\r\n"
    assert b"".join(data for _, data in result.reads).endswith(b"data: 1\n\n")
    assert all(result.sent_ns <= t for t, _ in result.reads)


@pytest.mark.anyio
async def test_post_counts_a_refused_connection_and_a_silent_server_as_errors() -> None:
    with socket.socket() as unused:
        unused.bind((HOST, 0))
        refused_port = unused.getsockname()[1]
    refused = await post(HOST, refused_port, b"GET / HTTP/1.1\r\n\r\n", timeout=60)
    assert refused.error is not None
    assert refused.error.startswith("connection failed")

    client_gone = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()
        await writer.wait_closed()
        client_gone.set()

    server = await asyncio.start_server(never_answer, HOST, 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        silent = await post(HOST, port, b"GET / HTTP/1.1\r\n\r\n", timeout=0.05)
        await asyncio.wait_for(client_gone.wait(), 60)
    assert silent.error == "no end of response after 0.05s"


@pytest.mark.parametrize(
    ("workflow", "events"),
    [("burst", serve.BURST_EVENTS), (serve.PER_EVENT, serve.PER_EVENT_EVENTS)],
)
def test_the_in_process_serve_sends_what_the_server_sends_over_loopback(
    workflow: str, events: int
) -> None:
    """The in-process serve benchmarks measure the real response, not a look-alike: their
    exchange gets the same status and body bytes as a client of the same app under uvicorn."""
    body = serve.request_body(workflow, events)
    app = create_app(workflows=serve.APP_WORKFLOWS)
    loop = serve.server_loop()
    try:
        status, chunks = serve.InProcessExchange(app, loop).serve(body)
    finally:
        loop.close()
    with running_server(app) as url, httpx.Client(timeout=30) as client:
        response = client.post(
            f"{url}/agent", content=body, headers={"content-type": "application/json"}
        )
    assert (status, response.status_code) == (200, 200)
    assert b"".join(chunks) == response.content == serve.expected_body(workflow, events)
    assert response.headers["content-type"].startswith("text/event-stream")
